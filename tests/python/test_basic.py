"""Connect, subscribe, publish, receive: the blocking client against a real mosquitto."""

from __future__ import annotations

from pathlib import Path

import pytest

import tether
from conftest import Broker, Proxy


def test_module_surface() -> None:
    assert tether.SESSION_NEVER_EXPIRES == 0xFFFFFFFF
    assert isinstance(tether.__version__, str)
    for name in tether.__all__:
        assert hasattr(tether, name), name
    for cls in (tether.Client, tether.AsyncClient, tether.Message, tether.Delivery):
        assert cls.__doc__ and len(cls.__doc__) > 40
    assert issubclass(tether.ConnectError, tether.Error)
    assert issubclass(tether.ConnectError, ConnectionError)
    assert issubclass(tether.TimeoutError, TimeoutError)
    assert issubclass(tether.InvalidTopicError, ValueError)
    assert issubclass(tether.SessionLostError, tether.PublishError)


def test_public_methods_have_docstrings() -> None:
    for cls in (tether.Client, tether.AsyncClient, tether.Delivery, tether.Message):
        for name in dir(cls):
            if name.startswith("_"):
                continue
            assert getattr(cls, name).__doc__, f"{cls.__name__}.{name} has no docstring"


def test_connect_returns_connack(port: int, uid: str) -> None:
    with tether.Client(uid) as c:
        ack = c.connect("127.0.0.1", port, timeout=10.0)
        assert isinstance(ack, tether.ConnAck)
        assert ack.session_present is False
        assert ack.reason_code == 0
        assert isinstance(ack.properties, tether.ConnAckProperties)
        assert c.is_connected
        assert "ConnAck(session_present=False" in repr(ack)
    assert not c.is_connected


def test_assigned_client_identifier(port: int) -> None:
    with tether.Client("") as c:
        ack = c.connect("127.0.0.1", port)
        assigned = ack.properties.assigned_client_identifier
        assert assigned is not None and len(assigned) > 0


def test_server_keep_alive_is_reported(uid: str) -> None:
    b = Broker("max_keepalive 30")
    try:
        with tether.Client(uid, keep_alive=120) as c:
            ack = c.connect("127.0.0.1", b.port)
            assert ack.properties.server_keep_alive == 30
    finally:
        b.close()


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_publish_and_receive(port: int, uid: str, qos: int) -> None:
    topic = f"t/{uid}"
    with tether.Client(f"{uid}-s") as sub, tether.Client(f"{uid}-p") as pub:
        sub.connect("127.0.0.1", port)
        assert sub.subscribe(topic, qos=qos) == [qos]
        pub.connect("127.0.0.1", port)
        d = pub.publish(topic, b"hello", qos=qos)
        assert isinstance(d, tether.Delivery)
        d.wait(timeout=5.0)
        assert d.done
        assert d.reason_code == 0
        assert d.qos == qos
        if qos > 0:
            assert d.packet_id is not None and d.packet_id > 0
        m = sub.recv(timeout=5.0)
        assert m is not None
        assert m.topic == topic
        assert m.payload == b"hello"
        assert m.qos == qos
        assert m.dup is False
        assert m.retain is False
        assert "Message(topic=" in repr(m)


def test_payload_kinds(port: int, uid: str) -> None:
    topic = f"t/{uid}"
    with tether.Client(uid) as c:
        c.connect("127.0.0.1", port)
        c.subscribe(topic, qos=1)
        cases: list[tuple[bytes | bytearray | memoryview | str | None, bytes]] = [
            (b"bytes", b"bytes"),
            (bytearray(b"ba"), b"ba"),
            (memoryview(b"mv"), b"mv"),
            ("héllo", "héllo".encode()),
            (None, b""),
        ]
        for payload, expected in cases:
            c.publish(topic, payload, qos=1).wait(timeout=5)
            m = c.recv(timeout=5)
            assert m is not None and m.payload == expected


def test_publish_properties_round_trip(port: int, uid: str) -> None:
    topic = f"t/{uid}"
    with tether.Client(uid) as c:
        c.connect("127.0.0.1", port)
        c.subscribe(topic, qos=1, subscription_identifier=42)
        props = tether.PublishProperties(
            content_type="text/plain",
            user_properties=[("k", "v"), ("k", "w")],
            response_topic="r/1",
            correlation_data=b"id",
            message_expiry_interval=60,
            payload_format_indicator=1,
        )
        c.publish(topic, b"x", qos=1, properties=props).wait(timeout=5)
        m = c.recv(timeout=5)
        assert m is not None
        p = m.properties
        assert p.content_type == "text/plain"
        assert p.user_properties == [("k", "v"), ("k", "w")]
        assert p.response_topic == "r/1"
        assert p.correlation_data == b"id"
        assert p.message_expiry_interval is not None and 0 < p.message_expiry_interval <= 60
        assert p.payload_format_indicator == 1
        assert p.subscription_identifiers == [42]
        assert "content_type='text/plain'" in repr(p)


def test_retain_and_retain_handling(port: int, uid: str) -> None:
    topic = f"t/{uid}"
    with tether.Client(uid) as c:
        c.connect("127.0.0.1", port)
        c.publish(topic, b"kept", qos=1, retain=True).wait(timeout=5)
        c.subscribe(topic, qos=1)
        m = c.recv(timeout=5)
        assert m is not None and m.retain and m.payload == b"kept"
        c.unsubscribe(topic)
        c.subscribe(topic, qos=1, retain_handling=2)
        assert c.recv(timeout=0.3) is None
        c.publish(topic, None, qos=1, retain=True).wait(timeout=5)  # clears the retained message


def test_no_local(port: int, uid: str) -> None:
    topic = f"t/{uid}"
    with tether.Client(uid) as c:
        c.connect("127.0.0.1", port)
        c.subscribe(topic, qos=1, no_local=True)
        c.publish(topic, b"mine", qos=1).wait(timeout=5)
        assert c.recv(timeout=0.3) is None


def test_subscribe_many_and_unsubscribe(port: int, uid: str) -> None:
    with tether.Client(uid) as c:
        c.connect("127.0.0.1", port)
        codes = c.subscribe([(f"a/{uid}", 0), (f"b/{uid}/#", 2), f"c/{uid}/+"], qos=1)
        assert codes == [0, 2, 1]
        assert c.subscribe((f"d/{uid}", 1)) == [1]
        assert c.unsubscribe([f"a/{uid}", f"b/{uid}/#"]) == [0, 0]
        assert c.unsubscribe(f"nothing/{uid}") == [0x11]


def test_messages_iterator(port: int, uid: str) -> None:
    topic = f"t/{uid}"
    with tether.Client(uid) as c:
        c.connect("127.0.0.1", port)
        c.subscribe(topic, qos=1)
        for i in range(5):
            c.publish(topic, str(i), qos=1)
        c.flush(timeout=5)
        got = [m.payload for m in c.messages(timeout=1.0)]
        assert got == [b"0", b"1", b"2", b"3", b"4"]


def test_recv_after_disconnect_returns_none_at_once(port: int, uid: str) -> None:
    import time

    c = tether.Client(uid)
    c.connect("127.0.0.1", port)
    c.disconnect()
    start = time.monotonic()
    assert c.recv(timeout=5.0) is None
    assert time.monotonic() - start < 1.0
    assert list(c.messages()) == []


def test_publish_before_connect_is_queued(port: int, uid: str) -> None:
    topic = f"t/{uid}"
    with tether.Client(f"{uid}-s") as sub:
        sub.connect("127.0.0.1", port)
        sub.subscribe(topic, qos=1)
        pub = tether.Client(f"{uid}-p")
        deliveries = [pub.publish(topic, str(i), qos=1) for i in range(10)]
        assert not any(d.done for d in deliveries)
        pub.connect("127.0.0.1", port)
        pub.flush(timeout=5)
        assert all(d.done and d.reason_code == 0 for d in deliveries)
        got = [m.payload for m in sub.messages(timeout=1.0)]
        assert got == [str(i).encode() for i in range(10)]
        pub.disconnect()


def test_stats(port: int, uid: str) -> None:
    with tether.Client(uid) as c:
        c.connect("127.0.0.1", port)
        c.subscribe(f"t/{uid}", qos=1)
        c.publish(f"t/{uid}", b"x", qos=1).wait(timeout=5)
        assert c.recv(timeout=5) is not None
        s = c.stats()
        assert s["connected"] is True
        assert s["messages_out"] >= 1
        assert s["messages_in"] >= 1


def test_connect_refused_raises_connect_error(uid: str) -> None:
    b = Broker("allow_anonymous false")
    try:
        c = tether.Client(uid)
        with pytest.raises(tether.ConnectError) as info:
            c.connect("127.0.0.1", b.port, timeout=5)
        assert info.value.reason_code in (0x86, 0x87)  # bad user name or password / not authorized
        assert isinstance(info.value, ConnectionError)
        assert "refused" in str(info.value)
        assert not c.is_connected
    finally:
        b.close()


def test_connect_to_closed_port_raises_connect_error(proxy: Proxy) -> None:
    proxy.ok("refuse on")
    c = tether.Client("nobody")
    with pytest.raises(tether.ConnectError) as info:
        c.connect("127.0.0.1", proxy.port, timeout=5)
    assert info.value.reason_code is None


def test_connect_timeout(proxy: Proxy, uid: str) -> None:
    import time

    proxy.ok("blackhole on")
    c = tether.Client(uid)
    start = time.monotonic()
    with pytest.raises(tether.TimeoutError):
        c.connect("127.0.0.1", proxy.port, timeout=0.5)
    assert time.monotonic() - start < 3.0


def test_connect_properties_and_will(port: int, uid: str) -> None:
    topic = f"will/{uid}"
    with tether.Client(f"{uid}-w") as watcher:
        watcher.connect("127.0.0.1", port)
        watcher.subscribe(topic, qos=1)
        will = tether.Will(
            topic,
            b"gone",
            qos=1,
            properties=tether.WillProperties(
                content_type="text/plain", user_properties=[("a", "b")]
            ),
        )
        c = tether.Client(
            uid,
            will=will,
            properties=tether.ConnectProperties(
                session_expiry_interval=0, receive_maximum=10, user_properties=[("site", "a")]
            ),
            username="user",
            password=b"secret",
        )
        c.connect("127.0.0.1", port)
        c.disconnect(reason_code=4)  # disconnect with will message
        m = watcher.recv(timeout=5)
        assert m is not None and m.payload == b"gone"
        assert m.properties.content_type == "text/plain"
        assert m.properties.user_properties == [("a", "b")]


def test_context_manager_disconnects(port: int, uid: str) -> None:
    c = tether.Client(uid)
    with c as same:
        assert same is c
        c.connect("127.0.0.1", port)
        assert c.is_connected
    assert not c.is_connected


def test_context_manager_keeps_the_original_exception(port: int, uid: str) -> None:
    with pytest.raises(KeyError), tether.Client(uid) as c:
        c.connect("127.0.0.1", port)
        raise KeyError("x")


def test_reconnects_after_cut(proxy: Proxy, uid: str) -> None:
    c = tether.Client(uid, session_expiry_interval=60, reconnect_min_delay=0.05)
    c.connect("127.0.0.1", proxy.port)
    assert proxy.wait_connections(1, 5000)
    proxy.ok("cut")
    assert proxy.wait_connections(2, 10000)
    c.subscribe(f"t/{uid}", qos=1)
    c.publish(f"t/{uid}", b"after", qos=1).wait(timeout=10)
    m = c.recv(timeout=5)
    assert m is not None and m.payload == b"after"
    assert c.stats()["reconnects"] >= 1
    c.disconnect()


def test_publish_refused_by_the_server_raises_publish_error(tmp_path: Path, uid: str) -> None:
    acl = tmp_path / "acl"
    acl.write_text("topic readwrite allowed/#\n")
    acl.chmod(0o644)
    b = Broker(f"acl_file {acl}")
    try:
        with tether.Client(uid) as c:
            c.connect("127.0.0.1", b.port)
            c.publish("allowed/x", b"ok", qos=1).wait(timeout=5)
            d = c.publish("denied/x", b"no", qos=1)
            with pytest.raises(tether.PublishError) as info:
                d.wait(timeout=5)
            assert info.value.reason_code == 0x87  # not authorized
            assert d.reason_code == 0x87
            assert isinstance(d.exception, tether.PublishError)
            assert c.is_connected  # a refused message does not end the connection
    finally:
        b.close()
