"""Persistent sessions: what the server keeps while the client is away."""

from __future__ import annotations

import logging
import threading
import time

import pytest

import tether
from conftest import Broker, Proxy

MISSED = 25


def _publish_while_away(port: int, uid: str, topic: str) -> None:
    with tether.Client(f"{uid}-pub") as pub:
        pub.connect("127.0.0.1", port)
        deliveries = [pub.publish(topic, f"m{i}", qos=1) for i in range(MISSED)]
        pub.flush(timeout=10)
        # 0x10: no matching subscribers (the session was not kept)
        assert all(d.reason_code in (0, 0x10) for d in deliveries)


def test_session_never_expires_keeps_messages(port: int, uid: str) -> None:
    topic = f"s/{uid}"
    c = tether.Client(uid, clean_start=True, session_expiry_interval=tether.SESSION_NEVER_EXPIRES)
    first = c.connect("127.0.0.1", port)
    assert first.session_present is False
    assert c.subscribe(topic, qos=1) == [1]
    c.disconnect()

    _publish_while_away(port, uid, topic)

    back = tether.Client(
        uid, clean_start=False, session_expiry_interval=tether.SESSION_NEVER_EXPIRES
    )
    ack = back.connect("127.0.0.1", port)
    assert ack.session_present is True
    got = [m.payload for m in back.messages(timeout=2.0)]
    assert got == [f"m{i}".encode() for i in range(MISSED)]
    # End the session for good.
    back.disconnect(session_expiry_interval=0)
    again = tether.Client(uid, clean_start=False, session_expiry_interval=60)
    assert again.connect("127.0.0.1", port).session_present is False
    again.disconnect()


def test_session_expiry_zero_keeps_nothing(port: int, uid: str) -> None:
    topic = f"s/{uid}"
    c = tether.Client(uid, clean_start=True, session_expiry_interval=0)
    c.connect("127.0.0.1", port)
    c.subscribe(topic, qos=1)
    c.disconnect()

    _publish_while_away(port, uid, topic)

    back = tether.Client(uid, clean_start=False, session_expiry_interval=0)
    ack = back.connect("127.0.0.1", port)
    assert ack.session_present is False
    assert back.recv(timeout=1.0) is None
    back.disconnect()


def test_session_expiry_through_connect_properties(port: int, uid: str) -> None:
    topic = f"s/{uid}"
    props = tether.ConnectProperties(session_expiry_interval=3600)
    c = tether.Client(uid, properties=props)
    c.connect("127.0.0.1", port)
    c.subscribe(topic, qos=1)
    c.disconnect()
    _publish_while_away(port, uid, topic)
    back = tether.Client(uid, clean_start=False, properties=props)
    assert back.connect("127.0.0.1", port).session_present is True
    assert len(list(back.messages(timeout=2.0))) == MISSED
    back.disconnect(session_expiry_interval=0)


def test_clean_start_discards_the_session(port: int, uid: str) -> None:
    topic = f"s/{uid}"
    c = tether.Client(uid, session_expiry_interval=3600)
    c.connect("127.0.0.1", port)
    c.subscribe(topic, qos=1)
    c.disconnect()
    _publish_while_away(port, uid, topic)
    fresh = tether.Client(uid, clean_start=True, session_expiry_interval=0)
    assert fresh.connect("127.0.0.1", port).session_present is False
    assert fresh.recv(timeout=0.5) is None
    fresh.disconnect()


@pytest.mark.parametrize("policy", ["republish", "fail"])
def test_session_lost_while_messages_were_in_flight(broker: Broker, uid: str, policy: str) -> None:
    reported = threading.Event()

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "did not keep the session" in record.getMessage():
                reported.set()

    watch = Watch(logging.WARNING)
    logging.getLogger("tether").addHandler(watch)
    proxy = Proxy(broker.port)
    try:
        c = tether.Client(
            uid,
            session_expiry_interval=1,
            on_session_lost=policy,
            reconnect_min_delay=0.05,
            reconnect_max_delay=0.2,
        )
        c.connect("127.0.0.1", proxy.port)
        proxy.ok("blackhole on")  # the PUBLISHes leave; no PUBACK comes back
        deliveries = [c.publish(f"s/{uid}", f"m{i}", qos=1) for i in range(5)]
        for _ in range(200):
            if c.stats()["inflight"] == 5:
                break
            time.sleep(0.01)
        assert c.stats()["inflight"] == 5
        proxy.ok("refuse on")
        proxy.ok("cut")
        proxy.ok("blackhole off")
        # The server ends the session 1 s after the connection is gone; there is no event to
        # wait for but the clock.
        time.sleep(3.0)
        proxy.ok("refuse off")
        if policy == "fail":
            for d in deliveries:
                with pytest.raises(tether.SessionLostError):
                    d.wait(timeout=10)
        else:
            for d in deliveries:
                d.wait(timeout=10)
                assert d.reason_code in (0, 0x10)
        assert reported.wait(timeout=10)  # logged on the client's dispatch thread
        c.disconnect()
    finally:
        logging.getLogger("tether").removeHandler(watch)
        proxy.close()
