"""Bad arguments: refused with a clear error, before anything is sent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import tether


@pytest.fixture
def client(port: int, uid: str) -> Iterator[tether.Client]:
    with tether.Client(uid) as c:
        c.connect("127.0.0.1", port)
        yield c


@pytest.mark.parametrize("topic", ["", "a/+/b", "a/#", "nul\x00byte", "x" * 70000])
def test_bad_publish_topic(client: tether.Client, topic: str) -> None:
    before = client.stats()["messages_out"]
    with pytest.raises(tether.InvalidTopicError) as info:
        client.publish(topic, b"x", qos=1)
    assert isinstance(info.value, ValueError)
    assert client.stats()["messages_out"] == before


def test_topic_with_bad_utf8(client: tether.Client) -> None:
    with pytest.raises(tether.InvalidTopicError, match="UTF-8"):
        client.publish("bad/\udc80", b"x")
    with pytest.raises(tether.InvalidTopicError, match="UTF-8"):
        client.publish(b"bad/\xff", b"x")
    with pytest.raises(tether.InvalidTopicError, match="UTF-8"):
        client.subscribe("bad/\udc80")


@pytest.mark.parametrize("qos", [-1, 3, 255, 1000])
def test_qos_out_of_range(client: tether.Client, qos: int) -> None:
    with pytest.raises(ValueError, match="qos"):
        client.publish("t", b"x", qos=qos)
    with pytest.raises(ValueError, match="qos"):
        client.subscribe("t", qos=qos)


@pytest.mark.parametrize("payload", [42, 1.5, object(), ["list"], {"a": 1}])
def test_payload_must_be_bytes_or_str(client: tether.Client, payload: object) -> None:
    with pytest.raises(TypeError, match="payload must be bytes"):
        client.publish("t", payload)  # type: ignore[arg-type]


def test_wrong_argument_types(client: tether.Client) -> None:
    with pytest.raises(TypeError):
        client.publish(42, b"x")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        client.publish("t", b"x", qos="1")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        client.subscribe(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        client.subscribe([("t", "1")])  # type: ignore[list-item]


def test_bad_subscribe_arguments(client: tether.Client) -> None:
    with pytest.raises(tether.InvalidTopicError):
        client.subscribe("a/#/b")
    with pytest.raises(tether.InvalidTopicError):
        client.subscribe("")
    with pytest.raises(tether.InvalidArgumentError):
        client.subscribe([])
    with pytest.raises(ValueError, match="retain_handling"):
        client.subscribe("t", retain_handling=3)
    with pytest.raises(ValueError, match="subscription_identifier"):
        client.subscribe("t", subscription_identifier=0)
    with pytest.raises(ValueError, match="no_local"):
        client.subscribe("$share/g/t", no_local=True)
    with pytest.raises(tether.InvalidTopicError):
        client.unsubscribe("a/#/b")


def test_bad_user_properties(client: tether.Client) -> None:
    with pytest.raises(TypeError, match="pair"):
        tether.PublishProperties(user_properties=[("k",)])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="pair"):
        tether.PublishProperties(user_properties=[("k", 1)])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        tether.PublishProperties(user_properties="kv")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="correlation_data"):
        tether.PublishProperties(correlation_data="text")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        tether.PublishProperties(payload_format_indicator=2)
    p = tether.PublishProperties(user_properties={"a": "b"})
    assert p.user_properties == [("a", "b")]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"keep_alive": -1}, "keep_alive"),
        ({"keep_alive": 70000}, "keep_alive"),
        ({"session_expiry_interval": -1}, "session_expiry_interval"),
        ({"session_expiry_interval": 2**32}, "session_expiry_interval"),
        ({"receive_maximum": 0}, "receive_maximum"),
        ({"max_packet_size": 0}, "max_packet_size"),
        ({"topic_alias_maximum": 70000}, "topic_alias_maximum"),
        ({"queue_overflow": "sometimes"}, "queue_overflow"),
        ({"on_session_lost": "ignore"}, "on_session_lost"),
        ({"max_queued": 0}, "max_queued"),
        ({"reconnect_min_delay": 5.0, "reconnect_max_delay": 1.0}, "reconnect_min_delay"),
        ({"reconnect_min_delay": float("nan")}, "reconnect_min_delay"),
        (
            {
                "session_expiry_interval": 10,
                "properties": tether.ConnectProperties(session_expiry_interval=20),
            },
            "contradicts",
        ),
    ],
)
def test_bad_client_options(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        tether.Client("x", **kwargs)  # type: ignore[arg-type]


def test_bad_connect_and_disconnect_arguments(uid: str) -> None:
    c = tether.Client(uid)
    with pytest.raises(ValueError, match="port"):
        c.connect("127.0.0.1", 0)
    with pytest.raises(ValueError, match="port"):
        c.connect("127.0.0.1", 70000)
    with pytest.raises(ValueError, match="timeout"):
        c.connect("127.0.0.1", 1883, timeout=-1)
    with pytest.raises(ValueError, match="reason code"):
        c.disconnect(reason_code=3)
    with pytest.raises(ValueError, match="session_expiry_interval"):
        c.disconnect(session_expiry_interval=60)  # connected with expiry 0: a protocol error


def test_bad_will() -> None:
    with pytest.raises(tether.InvalidTopicError):
        tether.Will("status/#", b"x")
    with pytest.raises(ValueError):
        tether.Will("status", b"x", qos=5)
    with pytest.raises(TypeError):
        tether.Will("status", 42)  # type: ignore[arg-type]


def test_subscribe_and_unsubscribe_need_a_connection(uid: str) -> None:
    c = tether.Client(uid)
    with pytest.raises(tether.NotConnectedError):
        c.subscribe("t")
    with pytest.raises(tether.NotConnectedError):
        c.unsubscribe("t")


def test_queue_overflow_fail(uid: str) -> None:
    c = tether.Client(uid, max_queued=5, queue_overflow="fail")
    deliveries = [c.publish("t", b"x", qos=1) for _ in range(5)]
    failed = 0
    for _ in range(20):
        try:
            deliveries.append(c.publish("t", b"x", qos=1))
        except tether.QueueFullError:
            failed += 1
    late_failures = 0
    for d in deliveries[5:]:
        with pytest.raises(tether.QueueFullError):
            d.wait(timeout=5)
        late_failures += 1
    assert failed + late_failures == 20


def test_queue_overflow_drop_oldest(uid: str) -> None:
    c = tether.Client(uid, max_queued=3, queue_overflow="drop_oldest")
    deliveries = [c.publish("t", str(i), qos=1) for i in range(6)]
    for d in deliveries[:3]:
        with pytest.raises(tether.DroppedError):
            d.wait(timeout=5)
    assert not any(d.done for d in deliveries[3:])


def test_error_attributes() -> None:
    e = tether.PublishError("refused", reason_code=0x87, reason_string="no")
    assert e.reason_code == 0x87 and e.reason_string == "no" and str(e) == "refused"
    assert tether.ClosedError("x").reason_code is None
