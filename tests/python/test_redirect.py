"""Server redirection (MQTT 5.0 section 4.11) from Python: a scripted server refuses with
CONNACK 0x9D "Server moved" and a Server Reference naming the test's mosquitto; the client
follows it (the default) or, with follow_server_references=False, reports the refusal."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

import tether
from conftest import read_connect


class MovedServer:
    """Answers every CONNECT (at most 10) with CONNACK 0x9D pointing at `reference`."""

    def __init__(self, reference: str) -> None:
        self.reference = reference.encode()
        self.connections = 0
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.listener.settimeout(10)
        self.port: int = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        for _ in range(10):
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.settimeout(10)
                read_connect(conn)
                prop = bytes([0x1C]) + len(self.reference).to_bytes(2, "big") + self.reference
                body = bytes([0, 0x9D, len(prop)]) + prop
                conn.sendall(bytes([0x20, len(body)]) + body)

    def close(self) -> None:
        self.listener.close()
        self.thread.join(timeout=15)


@pytest.fixture
def moved(port: int) -> Iterator[MovedServer]:
    s = MovedServer(f"127.0.0.1:{port}")
    yield s
    s.close()


def test_server_moved_is_followed_to_the_named_server(moved: MovedServer, uid: str) -> None:
    with tether.Client(uid) as client:
        ack = client.connect("127.0.0.1", moved.port)
        assert not ack.session_present
        client.subscribe(f"{uid}/t", qos=1)
        client.publish(f"{uid}/t", b"through the new server", qos=1).wait(10)
        msg = client.recv(timeout=10)
        assert msg is not None and msg.payload == b"through the new server"
        client.disconnect()
    assert moved.connections == 1


def test_with_redirects_off_server_moved_is_a_refusal(moved: MovedServer, uid: str) -> None:
    with tether.Client(uid, follow_server_references=False) as client:
        with pytest.raises(tether.ConnectError) as refused:
            client.connect("127.0.0.1", moved.port)
        assert refused.value.reason_code == 0x9D
    assert moved.connections == 1
