"""Callbacks: order, thread, exceptions, re-entrance, garbage collection."""

from __future__ import annotations

import gc
import logging
import queue
import threading
import weakref

import pytest

import tether
from conftest import Proxy


def test_on_message_in_order_on_dispatch_thread(port: int, uid: str) -> None:
    topic = f"cb/{uid}"
    got: list[bytes] = []
    threads: set[str] = set()
    done = threading.Event()

    def on_message(m: tether.Message) -> None:
        got.append(m.payload)
        threads.add(threading.current_thread().name)
        if len(got) == 200:
            done.set()

    with tether.Client(uid) as c:
        c.on_message = on_message
        assert c.on_message is on_message
        c.connect("127.0.0.1", port)
        c.subscribe(topic, qos=1)
        for i in range(200):
            c.publish(topic, str(i), qos=1)
        assert done.wait(timeout=10)
        assert got == [str(i).encode() for i in range(200)]
        assert threading.current_thread().name not in threads
        assert c.recv(timeout=0.1) is None  # the callback took them


def test_on_connect_and_on_disconnect(proxy: Proxy, uid: str) -> None:
    events: queue.Queue[object] = queue.Queue()
    c = tether.Client(uid, session_expiry_interval=60, reconnect_min_delay=0.05)
    c.on_connect = events.put
    c.on_disconnect = events.put
    c.connect("127.0.0.1", proxy.port)
    first = events.get(timeout=5)
    assert isinstance(first, tether.ConnAck) and first.session_present is False
    proxy.ok("cut")
    assert events.get(timeout=5) == 0x80  # lost without a reason code
    again = events.get(timeout=10)
    assert isinstance(again, tether.ConnAck) and again.session_present is True
    c.disconnect()
    assert events.get(timeout=5) == 0
    # Reported once: connecting again brings the next ConnAck, not a second disconnect.
    c.connect("127.0.0.1", proxy.port)
    assert isinstance(events.get(timeout=5), tether.ConnAck)
    c.disconnect()
    assert events.get(timeout=5) == 0
    assert events.empty()
    c.on_connect = None
    assert c.on_connect is None


def test_callback_exception_is_logged_and_client_continues(
    port: int, uid: str, caplog: pytest.LogCaptureFixture
) -> None:
    topic = f"cb/{uid}"
    seen: list[bytes] = []
    second = threading.Event()

    def on_message(m: tether.Message) -> None:
        seen.append(m.payload)
        if m.payload == b"boom":
            raise RuntimeError("callback failed on purpose")
        second.set()

    caplog.set_level(logging.ERROR, logger="tether")
    with tether.Client(uid) as c:
        c.on_message = on_message
        c.connect("127.0.0.1", port)
        c.subscribe(topic, qos=1)
        c.publish(topic, b"boom", qos=1)
        c.publish(topic, b"fine", qos=1)
        assert second.wait(timeout=5)
        assert seen == [b"boom", b"fine"]
        assert c.is_connected
    records = [r for r in caplog.records if r.name == "tether"]
    assert len(records) == 1
    assert "on_message" in records[0].getMessage()
    assert records[0].exc_info is not None
    assert isinstance(records[0].exc_info[1], RuntimeError)


def test_waiting_inside_a_callback_raises_instead_of_deadlocking(port: int, uid: str) -> None:
    topic = f"cb/{uid}"
    outcome: queue.Queue[BaseException | str] = queue.Queue()

    with tether.Client(uid) as c:

        def on_message(m: tether.Message) -> None:
            if m.topic != topic:
                outcome.put(m.payload.decode())  # the echo
                return
            try:
                c.subscribe(f"{topic}/other", qos=1)
                outcome.put("subscribe did not raise")
            except tether.Error as e:
                outcome.put(e)
            d = c.publish(f"{topic}/echo", b"from callback", qos=1)  # does not wait: fine
            try:
                d.wait(timeout=1)  # fine if it is complete already, else refused
            except tether.Error as e:
                assert "callback" in str(e)
            with pytest.raises(tether.Error, match="callback"):
                c.flush(timeout=1)
            with pytest.raises(tether.Error, match="callback"):
                c.recv(timeout=1)
            outcome.put("done")

        c.on_message = on_message
        c.connect("127.0.0.1", port)
        c.subscribe(topic, qos=1)
        c.subscribe(f"{topic}/echo", qos=1)
        c.publish(topic, b"go", qos=1)
        first = outcome.get(timeout=5)
        assert isinstance(first, tether.Error)
        assert "callback" in str(first)
        assert outcome.get(timeout=5) == "done"
        assert outcome.get(timeout=5) == "from callback"


def test_disconnect_inside_a_callback(port: int, uid: str) -> None:
    topic = f"cb/{uid}"
    gone = threading.Event()
    c = tether.Client(uid)
    c.on_message = lambda m: c.disconnect()
    c.on_disconnect = lambda code: gone.set()
    c.connect("127.0.0.1", port)
    c.subscribe(topic, qos=1)
    c.publish(topic, b"stop", qos=1)
    assert gone.wait(timeout=5)
    assert not c.is_connected


def test_messages_queued_before_on_message_is_set_come_first(port: int, uid: str) -> None:
    topic = f"cb/{uid}"
    with tether.Client(uid) as c:
        c.connect("127.0.0.1", port)
        c.subscribe(topic, qos=1)
        for i in range(5):
            c.publish(topic, str(i), qos=1)
        c.flush(timeout=5)
        first = c.recv(timeout=5)
        assert first is not None and first.payload == b"0"
        got: list[bytes] = []
        done = threading.Event()

        def on_message(m: tether.Message) -> None:
            got.append(m.payload)
            if len(got) == 5:
                done.set()

        c.on_message = on_message
        c.publish(topic, b"5", qos=1)
        assert done.wait(timeout=5)
        assert got == [b"1", b"2", b"3", b"4", b"5"]


def test_callback_must_be_callable() -> None:
    c = tether.Client("x")
    with pytest.raises(TypeError):
        c.on_message = 42  # type: ignore[assignment]


def test_client_in_a_cycle_through_its_callback_is_collected(port: int, uid: str) -> None:
    def make() -> weakref.ref[tether.Client]:
        c = tether.Client(uid)
        c.on_message = lambda m: c.publish("x", m.payload)  # a cycle: c -> callback -> c
        c.connect("127.0.0.1", port)
        return weakref.ref(c)

    ref = make()
    gc.collect()
    assert ref() is None
