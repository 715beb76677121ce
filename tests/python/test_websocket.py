"""WebSocket: ws:// and wss:// URLs against mosquitto's WebSocket listeners, ws_headers=,
a refused upgrade as WebSocketError, and a persistent session kept across WebSocket
connections."""

from __future__ import annotations

import asyncio
import http.server
import threading
from collections.abc import Iterator

import pytest

import tether
from conftest import WsBroker

MISSED = 10


def test_pubsub_over_ws_with_headers(ws_broker: WsBroker, uid: str) -> None:
    headers = {"Authorization": "Bearer py-token", "X-Client": uid}
    with tether.Client(uid, ws_headers=headers) as c:
        ack = c.connect(f"ws://127.0.0.1:{ws_broker.ws_port}/mqtt")
        assert ack.session_present is False
        assert c.subscribe(f"ws/{uid}", qos=1) == [1]
        c.publish(f"ws/{uid}", b"over WebSocket", qos=1).wait(timeout=10)
        big = b"x" * 200_000
        c.publish(f"ws/{uid}", big, qos=1).wait(timeout=10)
        first = c.recv(timeout=10)
        second = c.recv(timeout=10)
        assert first is not None and first.payload == b"over WebSocket"
        assert second is not None and second.payload == big


def test_pubsub_over_wss(ws_broker: WsBroker, uid: str) -> None:
    tls = tether.TlsOptions(ca_file=str(ws_broker.dir / "ca.pem"))
    with tether.Client(uid, tls=tls) as c:
        c.connect(f"wss://localhost:{ws_broker.wss_port}")
        assert c.subscribe(f"wss/{uid}", qos=2) == [2]
        c.publish(f"wss/{uid}", "over wss", qos=2).wait(timeout=10)
        msg = c.recv(timeout=10)
        assert msg is not None and msg.payload == b"over wss"


def test_async_client_over_ws(ws_broker: WsBroker, uid: str) -> None:
    async def main() -> None:
        async with tether.AsyncClient(uid, ws_headers={"X-Test": "1"}) as c:
            await c.connect(f"ws://127.0.0.1:{ws_broker.ws_port}/mqtt")
            await c.subscribe(f"ws/a/{uid}", qos=1)
            await c.publish(f"ws/a/{uid}", b"async", qos=1)
            msg = await asyncio.wait_for(c.recv(), 10)
            assert msg is not None and msg.payload == b"async"

    asyncio.run(main())


def test_bad_ws_headers_are_refused(uid: str) -> None:
    with pytest.raises(tether.InvalidArgumentError, match="bad name"):
        tether.Client(uid, ws_headers={"bad name": "x"})
    with pytest.raises(tether.InvalidArgumentError):
        tether.Client(uid, ws_headers={"Sec-WebSocket-Protocol": "other"})
    with pytest.raises(TypeError):
        tether.Client(uid, ws_headers={"X-Number": 1})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        tether.Client(uid, ws_headers=["X-List"])  # type: ignore[arg-type]


class _NotFound(http.server.BaseHTTPRequestHandler):
    # A WebSocket client takes no HTTP/1.0 answer at all, refusal or not.
    protocol_version = "HTTP/1.1"
    requests = 0

    def do_GET(self) -> None:
        type(self).requests += 1
        self.send_error(404)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_404() -> Iterator[http.server.HTTPServer]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_refused_upgrade_is_a_websocket_error(http_404: http.server.HTTPServer, uid: str) -> None:
    port = http_404.server_address[1]
    with tether.Client(uid) as c:
        with pytest.raises(tether.WebSocketError, match="upgrade refused: 404 Not Found") as e:
            c.connect(f"ws://127.0.0.1:{port}/mqtt")
        assert isinstance(e.value, tether.ConnectError)
        assert not c.is_connected
    assert _NotFound.requests == 1


def test_persistent_session_over_ws(ws_broker: WsBroker, uid: str) -> None:
    url = f"ws://127.0.0.1:{ws_broker.ws_port}/mqtt"
    topic = f"ws/s/{uid}"
    forever = tether.SESSION_NEVER_EXPIRES
    c = tether.Client(uid, session_expiry_interval=forever)
    assert c.connect(url).session_present is False
    assert c.subscribe(topic, qos=1) == [1]
    c.disconnect()

    with tether.Client(f"{uid}-pub") as pub:
        pub.connect(url)
        for i in range(MISSED):
            pub.publish(topic, f"m{i}", qos=1)
        pub.flush(timeout=10)

    back = tether.Client(uid, clean_start=False, session_expiry_interval=forever)
    assert back.connect(url).session_present is True
    got = [m.payload for m in back.messages(timeout=2.0)]
    assert got == [f"m{i}".encode() for i in range(MISSED)]
    back.disconnect(session_expiry_interval=0)
