"""tether demo: a session that survives.

1. A subscriber with a session that never expires goes away; messages are published for it
   meanwhile; it comes back with clean_start=False, the server says session_present: True and
   the queued messages arrive.
2. The link of a publisher is cut while QoS 1 messages are in flight (through tether's fault
   proxy): the client reconnects, resends what was not acknowledged with DUP set, and nothing
   is lost.

Usage: python persistent_session.py PORT      (or TETHER_PORT=PORT; a broker on 127.0.0.1)
The fault proxy is the tether-testkit binary ($TETHER_TESTKIT, or target/debug/tether-testkit).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import tether

HOST = "127.0.0.1"
QUEUED = 20
IN_FLIGHT = 500


def say(text: str = "") -> None:
    print(text, flush=True)


class FaultProxy:
    """tether-testkit's TCP fault proxy, driven by line commands."""

    def __init__(self, upstream_port: int) -> None:
        binary = os.environ.get("TETHER_TESTKIT") or str(
            Path(__file__).resolve().parents[2] / "target" / "debug" / "tether-testkit"
        )
        self.proc = subprocess.Popen(
            [binary, "proxy", "--upstream", f"{HOST}:{upstream_port}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.port = int(self._line().split()[1])

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line:
            raise RuntimeError("the fault proxy stopped")
        return line

    def command(self, line: str) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self._line()

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def persistent_session(port: int) -> None:
    say("== 1. A persistent session ==")
    topic = "demo/jobs"
    sub = tether.Client(
        "demo-subscriber",
        clean_start=True,
        session_expiry_interval=tether.SESSION_NEVER_EXPIRES,
    )
    ack = sub.connect(HOST, port)
    say(f"subscriber connected (session never expires): session_present: {ack.session_present}")
    sub.subscribe(topic, qos=1)
    say(f"subscriber subscribed to {topic!r} with QoS 1")
    sub.disconnect()
    say("subscriber went away; the broker keeps its session")

    with tether.Client("demo-publisher") as pub:
        pub.connect(HOST, port)
        deliveries = [pub.publish(topic, f"job {i}", qos=1) for i in range(1, QUEUED + 1)]
        pub.flush(timeout=10)
        acked = sum(d.reason_code == 0 for d in deliveries)
        say(f"publisher sent {QUEUED} QoS 1 messages while the subscriber was away")
        say(f"  ({acked} acknowledged by the broker, queued in the subscriber's session)")

    back = tether.Client(
        "demo-subscriber",
        clean_start=False,
        session_expiry_interval=tether.SESSION_NEVER_EXPIRES,
    )
    ack = back.connect(HOST, port)
    say(f"subscriber is back with clean_start=False: session_present: {ack.session_present}")
    received = [m.payload.decode() for m in back.messages(timeout=2.0)]
    say(f"queued messages delivered: {len(received)} of {QUEUED}: {', '.join(received)}")
    back.disconnect(session_expiry_interval=0)  # end the demo session for good
    if not ack.session_present or len(received) != QUEUED:
        raise SystemExit("the persistent session did not survive")
    say()


def cut_link(port: int) -> None:
    say("== 2. A link cut while QoS 1 messages are in flight ==")
    topic = "demo/sensors"
    proxy = FaultProxy(port)
    try:
        received: set[bytes] = set()
        all_in = threading.Event()
        lock = threading.Lock()

        def on_message(msg: tether.Message) -> None:
            with lock:
                received.add(msg.payload)
                if len(received) == IN_FLIGHT:
                    all_in.set()

        with (
            tether.Client("demo-watcher") as watcher,
            tether.Client(
                "demo-sensor",
                session_expiry_interval=tether.SESSION_NEVER_EXPIRES,
                reconnect_min_delay=0.05,
            ) as sensor,
        ):
            watcher.on_message = on_message
            watcher.connect(HOST, port)
            watcher.subscribe(topic, qos=1)
            sensor.connect(HOST, proxy.port)
            say(f"sensor connected through the fault proxy (port {proxy.port})")
            proxy.command("blackhole on")  # the sensor's PUBLISHes leave, no PUBACK comes back
            deliveries = [sensor.publish(topic, f"reading {i}", qos=1) for i in range(IN_FLIGHT)]
            for _ in range(200):  # until the first PUBLISHes are on the wire (at most 2 s)
                if sensor.stats()["inflight"] > 0:
                    break
                time.sleep(0.01)
            in_flight = sensor.stats()["inflight"]
            proxy.command("blackhole off")
            proxy.command("cut")
            say(f"link cut by the proxy with {in_flight} QoS 1 messages sent but not acknowledged")
            sensor.flush(timeout=30)
            failed = [d for d in deliveries if d.exception is not None]
            stats = sensor.stats()
            say(
                f"sensor reconnected and resumed its session: {stats['reconnects']} reconnect(s), "
                f"{stats['retransmissions']} message(s) resent with DUP"
            )
            all_in.wait(timeout=30)
            dup = json.loads(proxy.command("stats"))["dup_publishes"]
            with lock:
                count = len(received)
            say(f"fault proxy saw dup_publishes: {dup}")
            say(
                f"acknowledged: {len(deliveries) - len(failed)} of {IN_FLIGHT}; "
                f"received: {count} of {IN_FLIGHT} distinct messages"
            )
            sensor.disconnect(session_expiry_interval=0)
            if failed or count != IN_FLIGHT or dup == 0:
                raise SystemExit("messages were lost or not retransmitted")
            say("nothing lost")
    finally:
        proxy.close()


def main() -> None:
    arg = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("TETHER_PORT")
    if not arg:
        raise SystemExit("usage: persistent_session.py PORT (or TETHER_PORT=PORT)")
    port = int(arg)
    say(f"tether {tether.__version__} demo against the broker at {HOST}:{port}")
    say()
    persistent_session(port)
    cut_link(port)


if __name__ == "__main__":
    main()
