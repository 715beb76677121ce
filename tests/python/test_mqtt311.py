"""MQTT 3.1.1: the same client with ``protocol=tether.MQTTv311``, against mosquitto."""

from __future__ import annotations

import asyncio

import pytest

import tether
from conftest import Broker, Proxy


def test_protocol_constants_and_argument() -> None:
    assert (tether.MQTTv5, tether.MQTTv311) == (5, 4)
    tether.Client("v", protocol=tether.MQTTv311)
    with pytest.raises(tether.InvalidArgumentError, match="protocol"):
        tether.Client("v", protocol=3)


def test_pubsub_at_every_qos(port: int, uid: str) -> None:
    topic = f"v311/{uid}"
    with (
        tether.Client(f"{uid}-sub", protocol=tether.MQTTv311) as sub,
        tether.Client(f"{uid}-pub", protocol=tether.MQTTv311) as pub,
    ):
        assert sub.connect("127.0.0.1", port).session_present is False
        assert sub.subscribe(topic, qos=2) == [2]
        pub.connect("127.0.0.1", port)
        for qos in (0, 1, 2):
            pub.publish(topic, f"q{qos}", qos=qos)
        pub.flush(timeout=10)
        got = [sub.recv(timeout=5) for _ in range(3)]
        assert [(m.payload, m.qos) for m in got if m is not None] == [
            (b"q0", 0),
            (b"q1", 1),
            (b"q2", 2),
        ]
        # A 3.1.1 UNSUBACK has no codes: Success for each filter.
        assert sub.unsubscribe(topic) == [0]


def test_persistent_session_resumes_after_a_cut_and_loses_nothing(broker: Broker, uid: str) -> None:
    topic = f"v311/{uid}"
    proxy = Proxy(broker.port)
    try:
        with tether.Client(f"{uid}-sub", protocol=tether.MQTTv311) as sub:
            sub.connect("127.0.0.1", broker.port)
            sub.subscribe(topic, qos=1)
            pub = tether.Client(
                f"{uid}-pub",
                protocol=tether.MQTTv311,
                session_expiry_interval=tether.SESSION_NEVER_EXPIRES,
                reconnect_min_delay=0.05,
            )
            pub.connect("127.0.0.1", proxy.port)
            proxy.ok("blackhole on")  # QoS 1 PUBLISHes leave the client, no PUBACK comes back
            deliveries = [pub.publish(topic, f"{i}", qos=1) for i in range(30)]
            for _ in range(200):
                if pub.stats()["inflight"] > 0:
                    break
                sub.recv(timeout=0.02)
            proxy.ok("blackhole off")
            proxy.ok("cut")
            pub.flush(timeout=30)
            assert all(d.reason_code == 0 for d in deliveries)
            # Clean Session 0 found the session; the messages went out again with DUP.
            assert proxy.stats()["dup_publishes"] >= 1
            got = {m.payload for m in sub.messages(timeout=1.0)}
            assert got == {str(i).encode() for i in range(30)}
            pub.disconnect()
    finally:
        proxy.close()


def test_five_zero_only_features_raise_not_supported(port: int, uid: str) -> None:
    with pytest.raises(tether.NotSupportedError, match="receive_maximum"):
        tether.Client(uid, protocol=tether.MQTTv311, receive_maximum=10)
    with tether.Client(uid, protocol=tether.MQTTv311) as c:
        c.connect("127.0.0.1", port)
        props = tether.PublishProperties(user_properties=[("k", "v")])
        with pytest.raises(tether.NotSupportedError):
            c.publish(f"v311/{uid}", b"x", qos=1, properties=props)
        with pytest.raises(tether.NotSupportedError):
            c.subscribe(f"v311/{uid}", qos=1, no_local=True)
        with pytest.raises(tether.NotSupportedError):
            c.subscribe(f"v311/{uid}", qos=1, subscription_identifier=3)
        with pytest.raises(tether.NotSupportedError):
            c.disconnect(reason_code=4)
        # Still connected and usable.
        c.publish(f"v311/{uid}", b"fine", qos=1).wait(timeout=5)


def test_async_client_speaks_3_1_1(port: int, uid: str) -> None:
    async def main() -> None:
        topic = f"v311/{uid}"
        async with tether.AsyncClient(uid, protocol=tether.MQTTv311) as c:
            await c.connect("127.0.0.1", port)
            assert await c.subscribe(topic, qos=1) == [1]
            await (await c.publish(topic, b"hi", qos=1))
            m = await c.recv(timeout=5)
            assert m is not None and m.payload == b"hi"

    asyncio.run(main())
