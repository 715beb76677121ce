"""An application's own Topic Alias: PublishProperties(topic_alias=...) on a client made with
auto_topic_alias=False, against mosquitto (Topic Alias Maximum 10)."""

from __future__ import annotations

import asyncio

import pytest

import tether


def aliased(n: int) -> tether.PublishProperties:
    return tether.PublishProperties(topic_alias=n)


def test_manual_alias_reaches_the_subscriber(port: int, uid: str) -> None:
    topic = f"alias/{uid}"
    with tether.Client(f"{uid}-sub") as sub, tether.Client(uid, auto_topic_alias=False) as pub:
        sub.connect("127.0.0.1", port)
        sub.subscribe(topic, qos=1)
        ack = pub.connect("127.0.0.1", port)
        assert ack.properties.topic_alias_maximum == 10
        for n in (1, 10, 1):
            pub.publish(topic, str(n), qos=1, properties=aliased(n)).wait(timeout=5)
        got = [sub.recv(timeout=5) for _ in range(3)]
        assert [m.topic if m else None for m in got] == [topic] * 3
        # [MQTT-3.3.2-9] above the server's maximum: refused at the call, nothing sent.
        with pytest.raises(tether.InvalidArgumentError, match="topic_alias 11"):
            pub.publish(topic, b"x", qos=1, properties=aliased(11))
        assert pub.is_connected


def test_manual_alias_refused(port: int, uid: str) -> None:
    # [MQTT-3.3.2-8]
    with pytest.raises(tether.InvalidArgumentError, match="topic_alias"):
        tether.PublishProperties(topic_alias=0)
    p = tether.PublishProperties(topic_alias=3)
    assert p.topic_alias == 3 and "topic_alias=3" in repr(p)
    with tether.Client(uid) as c:
        c.connect("127.0.0.1", port)
        with pytest.raises(tether.InvalidArgumentError, match="auto_topic_alias"):
            c.publish("alias/x", b"x", qos=1, properties=p)


def test_async_client_manual_alias(port: int, uid: str) -> None:
    async def main() -> None:
        async with tether.AsyncClient(uid, auto_topic_alias=False) as c:
            await c.connect("127.0.0.1", port)
            await (await c.publish(f"alias/{uid}", b"x", qos=1, properties=aliased(2)))

    asyncio.run(main())
