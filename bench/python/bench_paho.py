"""The paho-mqtt 2.x peer (MQTT 5; MQTT 3.1.1 with --protocol 4) under the benchmark workloads;
prints one JSON line.

Used the way paho-mqtt's threaded interface is meant: loop_start() runs the network loop in
its own thread, publish() queues and returns at once, each completion arrives in on_publish
(QoS 0: written; QoS 1: PUBACK; QoS 2: PUBCOMP). We keep at most --window publishes
outstanding by counting completions and raise paho's in-flight limit from 20 to 1000 (the
broker's Receive Maximum; paho-mqtt does not apply it by itself). paho-mqtt has no TCP_NODELAY
option: we set it in its on_socket_open hook, as the other clients have it on.

    python bench_paho.py --workload pub|e2e|lat --port P [--n N] [--qos Q] [--size B] [--protocol 4|5] [--tls-ca CA.pem] ...
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from bench_common import MARKER, Outcome, Tracker, Window, finish, make_payload, paced_count, parse_args  # noqa: E402

INFLIGHT = 1000


def make_client(a, client_id: str, window: Window | None = None, tracker: Tracker | None = None):
    v5 = a.protocol == 5
    if v5:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    else:  # 3.1.1: clean_session here, not clean_start at connect (a 5.0-only argument)
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311, clean_session=True)
    c.max_inflight_messages_set(INFLIGHT)
    c.max_queued_messages_set(0)  # unlimited: our window bounds it
    connected = threading.Event()
    state: dict[str, object] = {}

    def on_socket_open(client, userdata, sock):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, AttributeError):
            pass

    def on_connect(client, userdata, flags, reason_code, properties):
        # paho-mqtt does not apply the server's Receive Maximum, and its own limit cannot change
        # once connected: our window keeps it within the limit instead, as the other clients
        # are ([MQTT-3.3.4-7]; mosquitto's default max_inflight_messages is 20).
        rm = getattr(properties, "ReceiveMaximum", None) if properties is not None else None
        if window is not None and rm and int(rm) < INFLIGHT:
            with window.cv:
                window.limit = min(window.limit, int(rm))
        state["rc"] = reason_code
        connected.set()

    def on_publish(client, userdata, mid, reason_code, properties):
        # Codes below 0x80 (0x10 "no matching subscribers" included) are successes.
        if window is not None:
            window.release(not reason_code.is_failure)

    def on_message(client, userdata, message):
        if tracker is not None:
            tracker.record(message.payload)

    subscribed = threading.Event()

    def on_subscribe(client, userdata, mid, reason_code_list, properties):
        state["suback"] = reason_code_list
        subscribed.set()

    if a.tls_ca:
        # TLS: trust that CA file; paho-mqtt checks the certificate and the host name
        # (127.0.0.1, an IP SAN) by default.
        c.tls_set(ca_certs=a.tls_ca)
    c.on_socket_open = on_socket_open
    c.on_connect = on_connect
    c.on_publish = on_publish
    c.on_message = on_message
    c.on_subscribe = on_subscribe
    if v5:
        c.connect(a.host, a.port, keepalive=60, clean_start=True)
    else:
        c.connect(a.host, a.port, keepalive=60)
    c.loop_start()
    if not connected.wait(10.0):
        raise RuntimeError(f"connect {client_id}: no CONNACK within 10 s")
    rc = state["rc"]
    if rc.is_failure:
        raise RuntimeError(f"connect {client_id}: refused {rc}")
    c._bench_subscribed = subscribed  # type: ignore[attr-defined]
    c._bench_state = state  # type: ignore[attr-defined]
    return c


def send(c, a, w: Window, seq: int, qos: int, deadline: float, stamp: int = 0) -> None:
    if not w.acquire(deadline):
        raise RuntimeError(f"timed out waiting for the window at message {seq}")
    info = c.publish(a.topic, make_payload(a.size, seq, stamp), qos=qos)
    if info.rc != mqtt.MQTT_ERR_SUCCESS:
        w.release(False)
        raise RuntimeError(f"publish {seq}: {mqtt.error_string(info.rc)}")


def run_pub(a, o: Outcome) -> None:
    deadline = time.monotonic() + a.timeout
    w = Window(a.window)
    c = make_client(a, f"paho-py-pub-{os.getpid()}", window=w)
    sock = c.socket()
    if a.tls_ca and hasattr(sock, "cipher"):  # what was negotiated, for the report
        o.tls_session = f"{sock.version()} {sock.cipher()[0]}"
    o.n = a.n
    total = a.n + (1 if a.qos == 0 else 0)
    t0 = time.monotonic_ns()
    try:
        for i in range(a.n):
            send(c, a, w, i, a.qos, deadline)
        if a.qos == 0:
            send(c, a, w, MARKER, 1, deadline)
    except RuntimeError as e:
        o.fail(str(e))
    all_done = o.error is None and w.wait_all(total, deadline)
    o.elapsed_s = (w.last_done_ns - t0) / 1e9
    o.acked = w.completed
    if o.error is None and not all_done:
        o.fail(f"timed out with {w.completed} of {total} complete")
    if w.failed:
        o.fail(f"{w.failed} publishes failed")


def run_e2e(a, o: Outcome, paced: bool) -> None:
    deadline = time.monotonic() + a.timeout
    n = paced_count(a) if paced else a.n
    t = Tracker(n, paced)
    o.tracker = t
    o.n = n
    sub = make_client(a, f"paho-py-sub-{os.getpid()}", tracker=t)
    sub.subscribe(a.topic, qos=a.qos)
    if not sub._bench_subscribed.wait(10.0):
        raise RuntimeError("no SUBACK")
    codes = sub._bench_state["suback"]
    if any(rc.is_failure for rc in codes):
        raise RuntimeError(f"subscribe refused: {codes}")
    w = Window(a.window)
    pub = make_client(a, f"paho-py-pub-{os.getpid()}", window=w)
    period = 1_000_000_000 // a.rate
    t0 = time.monotonic_ns()
    try:
        for i in range(n):
            if paced:
                delay = (t0 + period * i - time.monotonic_ns()) / 1e9
                if delay > 0:
                    time.sleep(delay)
            send(pub, a, w, i, a.qos, deadline, time.monotonic_ns() if paced else 0)
        send(pub, a, w, MARKER, 1 if a.qos == 0 else a.qos, deadline)
    except RuntimeError as e:
        o.fail(str(e))
    done = t.done.wait(max(0.0, deadline - time.monotonic()))
    o.elapsed_s = (t.last_ns - t0) / 1e9 if done else 0.0
    if not done:
        o.fail("timed out waiting for messages")


def main() -> None:
    a = parse_args("paho-mqtt")
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
