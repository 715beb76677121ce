"""Ctrl-C interrupts blocking calls; blocking calls release the GIL; one client, many threads."""

from __future__ import annotations

import _thread
import gc
import threading
import time
import weakref
from collections.abc import Callable

import pytest

import tether


def _interrupt_after(seconds: float) -> threading.Timer:
    t = threading.Timer(seconds, _thread.interrupt_main)
    t.start()
    return t


def _assert_interrupted(call: Callable[[], object]) -> None:
    timer = _interrupt_after(0.3)
    start = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            call()
    finally:
        timer.cancel()
    assert time.monotonic() - start < 1.0


def test_keyboard_interrupt_in_recv(port: int, uid: str) -> None:
    with tether.Client(uid) as c:
        c.connect("127.0.0.1", port)
        c.subscribe(f"sig/{uid}", qos=1)
        _assert_interrupted(lambda: c.recv(timeout=10))
        # The client still works afterwards.
        c.publish(f"sig/{uid}", b"after", qos=1).wait(timeout=5)
        m = c.recv(timeout=5)
        assert m is not None and m.payload == b"after"


def test_keyboard_interrupt_in_delivery_wait_and_flush(uid: str) -> None:
    c = tether.Client(uid)
    d = c.publish(f"sig/{uid}", b"never sent", qos=1)  # not connected: stays queued
    _assert_interrupted(lambda: d.wait(timeout=10))
    _assert_interrupted(lambda: c.flush(timeout=10))
    assert not d.done


def test_keyboard_interrupt_in_messages_iteration(port: int, uid: str) -> None:
    with tether.Client(uid) as c:
        c.connect("127.0.0.1", port)
        _assert_interrupted(lambda: list(c.messages()))


def test_blocking_calls_release_the_gil(port: int, uid: str) -> None:
    counter = 0
    stop = threading.Event()

    def spin() -> None:
        nonlocal counter
        while not stop.is_set():
            counter += 1

    with tether.Client(uid) as c:
        c.connect("127.0.0.1", port)
        t = threading.Thread(target=spin)
        t.start()
        try:
            before = counter
            assert c.recv(timeout=0.5) is None
            during = counter - before
        finally:
            stop.set()
            t.join(timeout=5)
    assert during > 10_000


def test_one_client_shared_by_threads(port: int, uid: str) -> None:
    topic = f"thr/{uid}"
    errors: list[BaseException] = []
    with tether.Client(uid) as c:
        c.connect("127.0.0.1", port)
        c.subscribe(topic, qos=1)

        def publisher(n: int) -> None:
            try:
                ds = [c.publish(topic, f"{n}-{i}", qos=1) for i in range(250)]
                for d in ds:
                    d.wait(timeout=20)
            except BaseException as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=publisher, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        got: set[bytes] = set()
        for m in c.messages(timeout=3.0):
            got.add(m.payload)
            if len(got) == 1000:
                break
        for t in threads:
            t.join(timeout=30)
        assert errors == []
        assert got == {f"{n}-{i}".encode() for n in range(4) for i in range(250)}
        # Per publisher, messages arrive in publish order.
        c.flush(timeout=5)


def test_manual_ack_redelivers_what_was_not_acked(port: int, uid: str) -> None:
    topic = f"ack/{uid}"

    def worker() -> tether.Client:
        c = tether.Client(uid, clean_start=False, manual_ack=True, session_expiry_interval=300)
        c.connect("127.0.0.1", port)
        return c

    first = worker()
    first.subscribe(topic, qos=1)
    with tether.Client(f"{uid}-p") as p:
        p.connect("127.0.0.1", port)
        p.publish(topic, b"work", qos=1).wait(timeout=5)
    m = first.recv(timeout=5)
    assert m is not None and m.payload == b"work" and m.needs_ack and not m.dup
    # The worker dies before it acknowledged the message: the server sends it again.
    ref = weakref.ref(first)
    del first, m
    gc.collect()
    assert ref() is None

    second = worker()
    again = second.recv(timeout=10)
    assert again is not None and again.payload == b"work" and again.dup
    again.ack()
    again.ack()  # a second ack of the same message is harmless
    second.disconnect()

    third = worker()
    assert third.recv(timeout=1.0) is None  # acknowledged: not sent again
    third.disconnect(session_expiry_interval=0)


def test_keyboard_interrupt_in_a_publish_that_waits_for_room(uid: str) -> None:
    c = tether.Client(uid, max_queued=10, queue_overflow="block")  # never connected
    published = 0

    def flood() -> None:
        nonlocal published
        for i in range(100_000):
            c.publish("t", str(i), qos=1)
            published += 1

    _assert_interrupted(flood)
    assert 10 <= published < 100_000
