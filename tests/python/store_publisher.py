"""The publisher of test_store.py's crash test, run as its own process (killed with SIGKILL).

Publishes numbered messages (even: QoS 1, odd: QoS 2) through the session store, printing
``ACCEPTED <run> <n> <qos>`` once ``publish()`` returned. With ``--final`` it publishes a few,
waits until every delivery (restored ones included) completed and prints ``DONE``.
"""

from __future__ import annotations

import argparse
import collections
import sys
import threading
import time

import tether


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--run", type=int, required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--final", action="store_true")
    a = parser.parse_args()
    client = tether.Client(
        "py-crash-pub",
        session_expiry_interval=3600,
        reconnect_min_delay=0.02,
        reconnect_max_delay=0.2,
        store=a.store,
        durability="batched",
    )
    restored = client.restored()

    def connect() -> None:
        # The proxy may cut the first attempts; after one success the client reconnects alone.
        for _ in range(400):
            try:
                client.connect("127.0.0.1", a.port, timeout=5)
                return
            except (tether.ConnectError, TimeoutError):
                time.sleep(0.025)

    threading.Thread(target=connect, daemon=True).start()
    pending: collections.deque[tether.Delivery] = collections.deque()
    count = 20 if a.final else 1 << 62
    for n in range(count):
        qos = 1 if n % 2 == 0 else 2
        d = client.publish(f"{a.topic}/q{qos}", f"{a.run} {n}", qos=qos)
        sys.stdout.write(f"ACCEPTED {a.run} {n} {qos}\n")
        sys.stdout.flush()
        pending.append(d)
        # A bounded window of unfinished deliveries keeps the run realistic.
        if len(pending) >= 50:
            try:
                pending.popleft().wait(timeout=5)
            except tether.Error:
                pass
    for d in [*restored, *pending]:
        d.wait(timeout=30)
    sys.stdout.write("DONE\n")
    sys.stdout.flush()
    client.disconnect()


if __name__ == "__main__":
    main()
