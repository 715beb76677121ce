"""TLS: mqtts:// URLs, a CA file, mutual TLS, the failures as TlsError, and a persistent
session kept across TLS connections; against a broker with a TLS listener and throw-away
certificates from the test kit."""

from __future__ import annotations

import asyncio

import pytest

import tether
from conftest import TlsBroker

MISSED = 10


def _tls(b: TlsBroker, **kwargs: object) -> tether.TlsOptions:
    return tether.TlsOptions(ca_file=str(b.dir / "ca.pem"), **kwargs)  # type: ignore[arg-type]


def test_ca_file_by_url(tls_broker: TlsBroker, uid: str) -> None:
    with tether.Client(uid, tls=_tls(tls_broker, alpn=["mqtt"])) as c:
        ack = c.connect(f"mqtts://localhost:{tls_broker.tls_port}")
        assert ack.session_present is False
        assert c.subscribe(f"tls/{uid}", qos=1) == [1]
        c.publish(f"tls/{uid}", b"over TLS", qos=1).wait(timeout=10)
        msg = c.recv(timeout=10)
        assert msg is not None and msg.payload == b"over TLS"


def test_connect_by_ip_and_pathlike_ca(tls_broker: TlsBroker, uid: str) -> None:
    tls = tether.TlsOptions(ca_file=tls_broker.dir / "ca.pem")
    assert tls.verify is True
    with tether.Client(uid, tls=tls) as c:
        c.connect(f"mqtts://127.0.0.1:{tls_broker.tls_port}")
        assert c.is_connected


def test_async_client_over_tls(tls_broker: TlsBroker, uid: str) -> None:
    async def main() -> None:
        async with tether.AsyncClient(uid, tls=_tls(tls_broker)) as c:
            await c.connect(f"mqtts://localhost:{tls_broker.tls_port}")
            assert c.is_connected

    asyncio.run(main())


def test_mutual_tls(mtls_broker: TlsBroker, uid: str) -> None:
    d = mtls_broker.dir
    url = f"mqtts://localhost:{mtls_broker.tls_port}"
    tls = _tls(mtls_broker, cert_file=str(d / "client.pem"), key_file=str(d / "client.key"))
    with tether.Client(uid, tls=tls) as c:
        c.connect(url)
        c.publish(f"tls/{uid}", b"x", qos=1).wait(timeout=10)
    with tether.Client(f"{uid}-none", tls=_tls(mtls_broker)) as c:
        with pytest.raises(tether.TlsError, match="client certificate"):
            c.connect(url)


def test_mutual_tls_from_pem_bytes_only(mtls_broker: TlsBroker, uid: str) -> None:
    d = mtls_broker.dir
    tls = tether.TlsOptions(
        ca_pem=(d / "ca.pem").read_bytes(),
        cert_pem=(d / "client.pem").read_bytes(),
        key_pem=bytearray((d / "client.key").read_bytes()),
    )
    assert tls.ca_file is None and tls.cert_pem == (d / "client.pem").read_bytes()
    with tether.Client(uid, tls=tls) as c:
        c.connect(f"mqtts://localhost:{mtls_broker.tls_port}")
        c.publish(f"tls/{uid}", b"x", qos=1).wait(timeout=10)
    with pytest.raises(tether.TlsError, match="client_key_pem"):
        tether.TlsOptions(cert_pem=(d / "client.pem").read_bytes(), key_pem=b"not a key")
    with pytest.raises(tether.TlsError, match="ca_pem"):
        tether.TlsOptions(ca_pem=b"not PEM")
    with pytest.raises(tether.InvalidArgumentError, match="not both"):
        tether.TlsOptions(
            cert_file=str(d / "client.pem"),
            cert_pem=(d / "client.pem").read_bytes(),
            key_pem=(d / "client.key").read_bytes(),
        )
    with pytest.raises(TypeError, match="key_pem"):
        tether.TlsOptions(key_pem=42)  # type: ignore[arg-type]


def test_untrusted_ca_is_a_tls_error(tls_broker: TlsBroker, uid: str) -> None:
    tls = tether.TlsOptions(ca_file=str(tls_broker.dir / "other-ca.pem"))
    with tether.Client(uid, tls=tls) as c:
        with pytest.raises(tether.TlsError, match="unknown issuer") as info:
            c.connect(f"mqtts://localhost:{tls_broker.tls_port}")
        assert isinstance(info.value, tether.ConnectError)
        assert not c.is_connected


def test_verify_false_accepts_the_certificate(tls_broker: TlsBroker, uid: str) -> None:
    with tether.Client(uid, tls=tether.TlsOptions(verify=False)) as c:
        c.connect(f"mqtts://127.0.0.1:{tls_broker.tls_port}")


def test_bad_files_and_urls_fail_at_the_call(tls_broker: TlsBroker, uid: str) -> None:
    with pytest.raises(tether.TlsError, match=r"/nonexistent/ca\.pem"):
        tether.TlsOptions(ca_file="/nonexistent/ca.pem")
    with pytest.raises(tether.TlsError, match=r"ca\.pem"):
        # A certificate where the key belongs.
        tether.TlsOptions(
            cert_file=tls_broker.dir / "client.pem", key_file=tls_broker.dir / "ca.pem"
        )
    with pytest.raises(tether.InvalidArgumentError):
        tether.TlsOptions(cert_file=tls_broker.dir / "client.pem")
    with pytest.raises(tether.InvalidArgumentError):
        tether.TlsOptions(alpn=[""])
    with tether.Client(uid) as c:
        with pytest.raises(tether.InvalidArgumentError, match="give the port in the URL"):
            c.connect("mqtt://127.0.0.1", 1883)
        with pytest.raises(tether.InvalidArgumentError, match="scheme"):
            c.connect("http://127.0.0.1")


def test_persistent_session_over_tls(tls_broker: TlsBroker, uid: str) -> None:
    url = f"mqtts://localhost:{tls_broker.tls_port}"
    topic = f"tls/s/{uid}"
    forever = tether.SESSION_NEVER_EXPIRES
    c = tether.Client(uid, session_expiry_interval=forever, tls=_tls(tls_broker))
    assert c.connect(url).session_present is False
    assert c.subscribe(topic, qos=1) == [1]
    c.disconnect()

    with tether.Client(f"{uid}-pub", tls=_tls(tls_broker)) as pub:
        pub.connect(url)
        for i in range(MISSED):
            pub.publish(topic, f"m{i}", qos=1)
        pub.flush(timeout=10)

    back = tether.Client(
        uid, clean_start=False, session_expiry_interval=forever, tls=_tls(tls_broker)
    )
    assert back.connect(url).session_present is True
    got = [m.payload for m in back.messages(timeout=2.0)]
    assert got == [f"m{i}".encode() for i in range(MISSED)]
    back.disconnect(session_expiry_interval=0)
