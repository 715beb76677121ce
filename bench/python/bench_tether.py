"""tether's Python face (the `tether` wheel) under the benchmark workloads; prints one JSON line.

Used the way tether's Python contract describes: publish() returns a Delivery at once and does
not block (a full send queue makes it wait), flush() waits until every delivery so far is
complete, received messages arrive in on_message on the client's dispatch thread.

    python bench_tether.py --workload pub|e2e|lat --port P [--n N] [--qos Q] [--size B] [--protocol 4|5] [--tls-ca CA.pem] ...

--protocol 4 speaks MQTT 3.1.1 (`protocol=tether.MQTTv311`); the default is MQTT 5.0.
--tls-ca CA.pem connects over TLS (`tls=tether.TlsOptions(ca_file=...)`, `connect("mqtts://host:port")`).
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tether  # noqa: E402

from bench_common import MARKER, Outcome, Tracker, finish, make_payload, paced_count, parse_args  # noqa: E402


def protocol(a) -> int:
    return tether.MQTTv311 if a.protocol == 4 else tether.MQTTv5


def window(a) -> int:
    # No Receive Maximum on 3.1.1: the same window of 1000 the peers are given.
    return 1000 if a.protocol == 4 else 65535


def tls(a):
    # TLS (--tls-ca): trust that CA file; connect() then goes to an mqtts:// URL.
    return tether.TlsOptions(ca_file=a.tls_ca) if a.tls_ca else None


def connect(c, a):
    if a.tls_ca:
        return c.connect(f"mqtts://{a.host}:{a.port}", timeout=10.0)
    return c.connect(a.host, a.port, timeout=10.0)


def make_client(a, client_id: str):
    c = tether.Client(client_id, clean_start=True, keep_alive=60, protocol=protocol(a), max_inflight=window(a), tls=tls(a))
    ack = connect(c, a)
    if ack.reason_code >= 0x80:
        raise RuntimeError(f"connect {client_id}: refused {ack.reason_code}")
    return c


def run_pub(a, o: Outcome) -> None:
    c = make_client(a, f"tether-py-pub-{os.getpid()}")
    o.n = a.n
    topic, size, qos = a.topic, a.size, a.qos
    t0 = time.monotonic_ns()
    last = None
    for i in range(a.n):
        last = c.publish(topic, make_payload(size, i), qos=qos)
    if qos == 0:
        last = c.publish(topic, make_payload(size, MARKER), qos=1)
    # Waiting for the last Delivery first, then flush: every publish is then complete.
    if last is not None:
        last.wait(timeout=a.timeout)
    c.flush(timeout=a.timeout)
    o.elapsed_s = (time.monotonic_ns() - t0) / 1e9
    s = c.stats()
    if s.get("inflight", 0) or s.get("queued", 0) or s.get("retransmissions", 0):
        o.fail(f"incomplete after flush: {s}")
    o.acked = a.n + (1 if qos == 0 else 0) if o.error is None else None
    try:
        c.disconnect(timeout=1.0)
    except tether.Error:
        pass


def run_e2e(a, o: Outcome, paced: bool) -> None:
    deadline = time.monotonic() + a.timeout
    n = paced_count(a) if paced else a.n
    t = Tracker(n, paced)
    o.tracker = t
    o.n = n
    sub = tether.Client(
        f"tether-py-sub-{os.getpid()}", clean_start=True, keep_alive=60, protocol=protocol(a), max_inflight=window(a), tls=tls(a)
    )
    sub.on_message = lambda m: t.record(m.payload)
    ack = connect(sub, a)
    if ack.reason_code >= 0x80:
        raise RuntimeError(f"subscriber connect refused {ack.reason_code}")
    codes = sub.subscribe(a.topic, qos=a.qos, timeout=10.0)
    if any(rc >= 0x80 for rc in codes):
        raise RuntimeError(f"subscribe refused: {codes}")
    pub = make_client(a, f"tether-py-pub-{os.getpid()}")
    topic, size, qos = a.topic, a.size, a.qos
    period = 1_000_000_000 // a.rate
    t0 = time.monotonic_ns()
    for i in range(n):
        if paced:
            delay = (t0 + period * i - time.monotonic_ns()) / 1e9
            if delay > 0:
                time.sleep(delay)
            pub.publish(topic, make_payload(size, i, time.monotonic_ns()), qos=qos)
        else:
            pub.publish(topic, make_payload(size, i), qos=qos)
    pub.publish(topic, make_payload(size, MARKER), qos=1 if qos == 0 else qos)
    done = t.done.wait(max(0.0, deadline - time.monotonic()))
    o.elapsed_s = (t.last_ns - t0) / 1e9 if done else 0.0
    if not done:
        o.fail("timed out waiting for messages")


def main() -> None:
    a = parse_args("tether-python")
    o = Outcome(a)
    try:
        if a.workload == "pub":
            run_pub(a, o)
        else:
            run_e2e(a, o, paced=a.workload == "lat")
    except Exception as e:  # report any failure as the result line
        o.fail(f"{type(e).__name__}: {e}")
    finish(o.emit())


if __name__ == "__main__":
    main()
