"""tether.AsyncClient on a running asyncio loop."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import tether
from conftest import Proxy


def test_connect_subscribe_publish_recv(port: int, uid: str) -> None:
    async def main() -> None:
        topic = f"a/{uid}"
        async with tether.AsyncClient(uid) as c:
            ack = await c.connect("127.0.0.1", port)
            assert isinstance(ack, tether.ConnAck) and ack.reason_code == 0
            assert await c.subscribe(topic, qos=1) == [1]
            d = await c.publish(topic, b"hi", qos=1)
            assert isinstance(d, tether.Delivery)
            await d
            assert d.done and d.reason_code == 0
            m = await c.recv(timeout=5)
            assert m is not None and m.payload == b"hi" and m.topic == topic
            assert await c.unsubscribe(topic) == [0]
        assert not c.is_connected

    asyncio.run(main())


def test_async_for_messages(port: int, uid: str) -> None:
    async def main() -> list[bytes]:
        topic = f"a/{uid}"
        async with tether.AsyncClient(uid) as c:
            await c.connect("127.0.0.1", port)
            await c.subscribe(topic, qos=2)
            for i in range(100):
                await c.publish(topic, str(i), qos=2)
            await c.flush(timeout=10)
            return [m.payload async for m in c.messages(timeout=1.0)]

    assert asyncio.run(main()) == [str(i).encode() for i in range(100)]


def test_many_deliveries_awaited_together(port: int, uid: str) -> None:
    async def main() -> None:
        async with tether.AsyncClient(uid) as c:
            await c.connect("127.0.0.1", port)
            deliveries = [await c.publish(f"a/{uid}", b"x", qos=1) for _ in range(500)]
            await asyncio.wait_for(asyncio.gather(*deliveries), timeout=20)
            assert all(d.reason_code in (0, 0x10) for d in deliveries)

    asyncio.run(main())


def test_loop_is_not_blocked_while_waiting(port: int, uid: str) -> None:
    async def main() -> None:
        async with tether.AsyncClient(uid) as c:
            await c.connect("127.0.0.1", port)
            await c.subscribe(f"a/{uid}", qos=1)
            ticks = 0

            async def ticker() -> None:
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1

            task = asyncio.create_task(ticker())
            assert await c.recv(timeout=0.5) is None
            task.cancel()
            assert ticks >= 10

    asyncio.run(main())


def test_coroutines_are_real_coroutines(port: int, uid: str) -> None:
    async def main() -> None:
        c = tether.AsyncClient(uid)
        task = asyncio.create_task(c.connect("127.0.0.1", port))
        ack = await task
        assert ack.reason_code == 0
        await c.disconnect()

    asyncio.run(main())


def test_cancelled_recv_loses_no_message(port: int, uid: str) -> None:
    async def main() -> None:
        topic = f"a/{uid}"
        async with tether.AsyncClient(uid) as c:
            await c.connect("127.0.0.1", port)
            await c.subscribe(topic, qos=1)
            received: list[bytes] = []
            for i in range(200):
                await c.publish(topic, str(i), qos=1)
                # Race recv against a very short timeout: cancelled receives must not eat messages.
                try:
                    m = await asyncio.wait_for(c.recv(), timeout=0.0005)
                    if m is not None:
                        received.append(m.payload)
                except asyncio.TimeoutError:
                    pass
            await c.flush(timeout=10)
            async for m in c.messages(timeout=1.0):
                received.append(m.payload)
            assert sorted(received, key=int) == [str(i).encode() for i in range(200)]
            assert len(received) == 200

    asyncio.run(main())


def test_async_connect_errors(proxy: Proxy, uid: str) -> None:
    async def main() -> None:
        proxy.ok("blackhole on")
        c = tether.AsyncClient(uid)
        start = time.monotonic()
        with pytest.raises(tether.TimeoutError):
            await c.connect("127.0.0.1", proxy.port, timeout=0.3)
        assert time.monotonic() - start < 3
        proxy.ok("blackhole off")
        proxy.ok("refuse on")
        with pytest.raises(tether.ConnectError):
            await c.connect("127.0.0.1", proxy.port, timeout=5)

    asyncio.run(main())


def test_async_subscribe_needs_connection(uid: str) -> None:
    async def main() -> None:
        c = tether.AsyncClient(uid)
        with pytest.raises(tether.NotConnectedError):
            await c.subscribe("t", qos=1)
        with pytest.raises(tether.InvalidTopicError):
            await c.publish("bad/#", b"x")
        assert await c.recv(timeout=0.1) is None

    asyncio.run(main())


def test_sync_client_delivery_is_not_awaitable(uid: str) -> None:
    async def main(d: tether.Delivery) -> None:
        with pytest.raises(TypeError):
            await d

    c = tether.Client(uid)
    d = c.publish(f"a/{uid}", b"x", qos=1)  # queued: not connected
    assert not d.done
    asyncio.run(main(d))


def test_two_loops_in_two_threads(port: int, uid: str) -> None:
    errors: list[BaseException] = []

    def run(n: int) -> None:
        async def main() -> None:
            topic = f"a/{uid}/{n}"
            async with tether.AsyncClient(f"{uid}-{n}") as c:
                await c.connect("127.0.0.1", port)
                await c.subscribe(topic, qos=1)
                for i in range(50):
                    await (await c.publish(topic, str(i), qos=1))
                got = [m.payload async for m in c.messages(timeout=1.0)]
                assert got == [str(i).encode() for i in range(50)]

        try:
            asyncio.run(main())
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []


def test_publish_waits_for_room_and_cancelling_it_sends_nothing(port: int, uid: str) -> None:
    topic = f"a/{uid}"

    async def main(sub: tether.Client) -> int:
        c = tether.AsyncClient(uid, max_queued=10, queue_overflow="block")
        deliveries: list[tether.Delivery] = []
        blocked_at = None
        for i in range(3000):  # the queue (10) and the client's request buffer fill up
            try:
                deliveries.append(await asyncio.wait_for(c.publish(topic, str(i), qos=1), 0.5))
            except asyncio.TimeoutError:
                blocked_at = i
                break
        assert blocked_at is not None and blocked_at >= 10
        await c.connect("127.0.0.1", port)
        await c.flush(timeout=30)
        assert all(d.done and d.reason_code == 0 for d in deliveries)
        await c.disconnect()
        return blocked_at

    with tether.Client(f"{uid}-sub") as sub:
        sub.connect("127.0.0.1", port)
        sub.subscribe(topic, qos=1)
        published = asyncio.run(main(sub))
        got = [m.payload for m in sub.messages(timeout=1.0)]
        # Everything taken arrives, in order; the cancelled publish sent nothing.
        assert got == [str(i).encode() for i in range(published)]
