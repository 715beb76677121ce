"""Who ended the connection: tether.DisconnectInfo through on_disconnect(code, info) and
Client.last_disconnect, for a server's DISCONNECT, a lost link, the client's own keep-alive
expiry and the client's DISCONNECT; the one-argument on_disconnect keeps its old values."""

from __future__ import annotations

import asyncio
import queue
import socket
import threading
from collections.abc import Iterator

import pytest

import tether
from conftest import Proxy, read_connect

Seen = tuple[int, tether.DisconnectInfo]


class DisconnectingServer:
    """A scripted one-connection server: CONNACK, then DISCONNECT 0x8E with a reason string.

    mosquitto 2.0.11 closes a taken-over connection without DISCONNECT 0x8E, so it cannot be
    the server here."""

    def __init__(self) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.listener.settimeout(10)
        self.port: int = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            conn.settimeout(10)
            read_connect(conn)
            reason = b"taken over"
            props = bytes([0x1F, 0, len(reason)]) + reason
            disconnect = bytes([0xE0, 2 + len(props), 0x8E, len(props)]) + props
            conn.sendall(bytes([0x20, 3, 0, 0, 0]) + disconnect)
            try:
                conn.recv(64)  # until the client closes
            except OSError:
                pass

    def close(self) -> None:
        self.thread.join(timeout=15)
        self.listener.close()


@pytest.fixture
def disconnecting_server() -> Iterator[DisconnectingServer]:
    s = DisconnectingServer()
    yield s
    s.close()


def watched(uid: str, **kwargs: object) -> tuple[tether.Client, queue.Queue[Seen]]:
    seen: queue.Queue[Seen] = queue.Queue()
    c = tether.Client(uid, **kwargs)  # type: ignore[arg-type]

    def on_disconnect(code: int, info: tether.DisconnectInfo) -> None:
        seen.put((code, info))

    c.on_disconnect = on_disconnect
    return c, seen


def test_server_disconnect_says_server_with_its_reason(
    disconnecting_server: DisconnectingServer, uid: str
) -> None:
    c, seen = watched(uid, reconnect=False)
    assert c.last_disconnect is None
    c.connect("127.0.0.1", disconnecting_server.port)
    code, info = seen.get(timeout=10)
    assert (info.by, info.reason_code, info.reason_string) == ("server", 0x8E, "taken over")
    assert code == 0x8E
    assert c.last_disconnect == info
    assert "by='server'" in repr(info) and "0x8E" in repr(info)


def test_lost_link_says_lost_without_a_reason_code(proxy: Proxy, uid: str) -> None:
    c, seen = watched(uid, reconnect_min_delay=0.05)
    acks: queue.Queue[tether.ConnAck] = queue.Queue()
    c.on_connect = acks.put
    c.connect("127.0.0.1", proxy.port)
    acks.get(timeout=10)
    proxy.ok("cut")
    code, info = seen.get(timeout=10)
    assert (info.by, info.reason_code, info.reason_string) == ("lost", None, None)
    assert code == 0x80  # the one-argument value, kept as it was
    acks.get(timeout=10)  # reconnected by itself
    c.disconnect()
    _, info = seen.get(timeout=10)
    assert (info.by, info.reason_code) == ("client", 0)


def test_keep_alive_expiry_is_not_a_server_disconnect(proxy: Proxy, uid: str) -> None:
    c, seen = watched(uid, keep_alive=1, reconnect=False)
    c.connect("127.0.0.1", proxy.port)
    proxy.ok("blackhole on")
    try:
        code, info = seen.get(timeout=10)
    finally:
        proxy.ok("blackhole off")
    assert (info.by, info.reason_code, info.reason_string) == ("keep_alive", None, None)
    assert code == 0x8D
    assert c.last_disconnect == info


def test_one_argument_callbacks_keep_working(port: int, uid: str) -> None:
    codes: queue.Queue[int] = queue.Queue()
    with tether.Client(uid) as c:
        # Optional second parameters do not count: put(item, block=True, timeout=None).
        c.on_disconnect = codes.put
        c.connect("127.0.0.1", port)
        c.disconnect()
        assert codes.get(timeout=5) == 0
        last = c.last_disconnect
        assert last is not None and last.by == "client"


def test_async_client_reports_who_ended_it(
    disconnecting_server: DisconnectingServer, uid: str
) -> None:
    async def main() -> tether.DisconnectInfo | None:
        seen: queue.Queue[Seen] = queue.Queue()
        c = tether.AsyncClient(uid, reconnect=False)
        c.on_disconnect = lambda code, info: seen.put((code, info))
        await c.connect("127.0.0.1", disconnecting_server.port)
        await asyncio.get_running_loop().run_in_executor(None, lambda: seen.get(timeout=10))
        return c.last_disconnect

    info = asyncio.run(main())
    assert info is not None and (info.by, info.reason_code) == ("server", 0x8E)
