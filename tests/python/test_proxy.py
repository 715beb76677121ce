"""An HTTP CONNECT proxy (`proxy=`): publish and receive through the test kit's proxy with
basic credentials over TCP, TLS (PEM bytes only, mutual TLS), ws:// and wss://, the proxy
counting its tunnels; wrong credentials raise ProxyError with the 407 and are not retried;
bad proxy URLs are refused at construction; and a persistent session survives a cut behind
the proxy with nothing lost."""

from __future__ import annotations

import asyncio
import time

import pytest

import tether
from conftest import Broker, HttpProxy, Proxy, TlsBroker, WsBroker


def _via(p: HttpProxy, password: str = "s%40cret") -> str:
    return f"http://user:{password}@127.0.0.1:{p.port}"


def _round_trip(c: tether.Client, url: str, topic: str) -> None:
    c.connect(url)
    assert c.subscribe(topic, qos=1) == [1]
    c.publish(topic, b"through the proxy", qos=1).wait(timeout=10)
    msg = c.recv(timeout=10)
    assert msg is not None and msg.payload == b"through the proxy"


def test_tcp_through_the_proxy(http_proxy: HttpProxy, port: int, uid: str) -> None:
    with tether.Client(uid, proxy=_via(http_proxy)) as c:
        _round_trip(c, f"mqtt://127.0.0.1:{port}", f"px/{uid}")
    s = http_proxy.stats()
    assert (s["tunnels"], s["auth_failures"]) == (1, 0), s


def test_mutual_tls_from_pem_bytes_through_the_proxy(
    http_proxy: HttpProxy, mtls_broker: TlsBroker, uid: str
) -> None:
    d = mtls_broker.dir
    tls = tether.TlsOptions(
        ca_pem=(d / "ca.pem").read_bytes(),
        cert_pem=(d / "client.pem").read_bytes(),
        key_pem=(d / "client.key").read_bytes(),
    )
    assert tls.ca_pem is not None and tls.key_pem is not None
    assert "BEGIN" not in repr(tls), "PEM (the key) is not shown"
    with tether.Client(uid, tls=tls, proxy=_via(http_proxy)) as c:
        _round_trip(c, f"mqtts://localhost:{mtls_broker.tls_port}", f"px/tls/{uid}")
    assert http_proxy.stats()["tunnels"] == 1


def test_ws_and_wss_through_the_proxy(http_proxy: HttpProxy, ws_broker: WsBroker, uid: str) -> None:
    with tether.Client(uid, proxy=_via(http_proxy)) as c:
        _round_trip(c, f"ws://127.0.0.1:{ws_broker.ws_port}/mqtt", f"px/ws/{uid}")
    tls = tether.TlsOptions(ca_pem=(ws_broker.dir / "ca.pem").read_bytes(), alpn=["mqtt"])

    async def main() -> None:
        async with tether.AsyncClient(f"{uid}-wss", tls=tls, proxy=_via(http_proxy)) as c:
            await c.connect(f"wss://localhost:{ws_broker.wss_port}/mqtt")
            assert c.is_connected

    asyncio.run(main())
    assert http_proxy.stats()["tunnels"] == 2


def test_wrong_credentials_are_a_proxy_error_not_retried(
    http_proxy: HttpProxy, port: int, uid: str
) -> None:
    with tether.Client(uid, proxy=_via(http_proxy, "wrong")) as c:
        with pytest.raises(tether.ProxyError, match="407 Proxy Authentication Required") as e:
            c.connect(f"mqtt://127.0.0.1:{port}")
        assert isinstance(e.value, tether.ConnectError)
        assert "wrong" not in str(e.value)
        assert not c.is_connected
    s = http_proxy.stats()
    assert (s["requests"], s["auth_failures"], s["tunnels"]) == (1, 1, 0), s


def test_a_refusal_during_reconnects_stops_them(http_proxy: HttpProxy, port: int, uid: str) -> None:
    with tether.Client(
        uid, proxy=_via(http_proxy), reconnect_min_delay=0.02, reconnect_max_delay=0.1
    ) as c:
        c.connect(f"mqtt://127.0.0.1:{port}")
        http_proxy.ok("refuse 403")
        http_proxy.ok("cut")
        # Give a reconnect storm time to show itself; there is no event for "nothing happened".
        time.sleep(1.0)
        s = http_proxy.stats()
        assert (s["requests"], s["refused"]) == (2, 1), s
        assert not c.is_connected


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("https://127.0.0.1:3128", "only http://"),
        ("socks5://127.0.0.1:1080", "only http://"),
        ("http://127.0.0.1:0", "port"),
        ("http://a%3Ab:pw@127.0.0.1:3128", "cannot contain ':'"),
    ],
)
def test_bad_proxy_urls_are_refused(uid: str, url: str, match: str) -> None:
    with pytest.raises(tether.InvalidArgumentError, match=match):
        tether.Client(uid, proxy=url)


def test_unix_socket_with_a_proxy_is_refused(uid: str) -> None:
    with tether.Client(uid, proxy="http://127.0.0.1:3128") as c:
        with pytest.raises(tether.InvalidArgumentError, match="proxy"):
            c.connect("unix:///tmp/tether-py-none.sock")


def test_persistent_session_survives_a_cut_behind_the_proxy(
    http_proxy: HttpProxy, broker: Broker, uid: str
) -> None:
    """The seed scenario through the proxy: QoS 1 messages in flight when the link (behind the
    proxy) is cut, the session resumed through a new tunnel, the unacknowledged ones sent
    again with DUP, and the subscriber gets every one."""
    n = 20
    topic = f"px/seed/{uid}"
    forever = tether.SESSION_NEVER_EXPIRES
    faults = Proxy(broker.port)
    try:
        sub = tether.Client(f"{uid}-sub", session_expiry_interval=forever)
        pub = tether.Client(
            uid,
            session_expiry_interval=forever,
            proxy=_via(http_proxy),
            reconnect_min_delay=0.02,
            reconnect_max_delay=0.2,
        )
        with sub, pub:
            sub.connect("127.0.0.1", broker.port)
            assert sub.subscribe(topic, qos=1) == [1]
            pub.connect(f"mqtt://127.0.0.1:{faults.port}")
            faults.ok("blackhole on")  # the PUBLISHes leave; no PUBACK comes back
            deliveries = [pub.publish(topic, f"m{i}", qos=1) for i in range(n)]
            for _ in range(500):
                if pub.stats()["inflight"] == n:
                    break
                time.sleep(0.01)
            assert pub.stats()["inflight"] == n
            faults.ok("cut")
            faults.ok("blackhole off")
            for d in deliveries:
                d.wait(timeout=10)
            assert faults.stats()["dup_publishes"] >= 1
            assert http_proxy.stats()["tunnels"] >= 2, "the session did not resume via the proxy"
            got: set[bytes] = set()
            for m in sub.messages(timeout=5.0):
                got.add(m.payload)
                if len(got) == n:
                    break
            assert got == {f"m{i}".encode() for i in range(n)}
            pub.disconnect(session_expiry_interval=0)
            sub.disconnect(session_expiry_interval=0)
    finally:
        faults.close()
