"""Fixtures: a real mosquitto broker and the TCP fault proxy, both from the tether-testkit
binary (`cargo build -p tether-testkit`), and helpers to make unique client ids and topics.

The suite tests the installed `tether` wheel: it refuses to run against the source tree.
"""

from __future__ import annotations

import itertools
import json
import os
import select
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import tether

ROOT = Path(__file__).resolve().parents[2]

if Path(tether.__file__).resolve().is_relative_to(ROOT / "python"):
    raise RuntimeError("tests/python must run against the installed wheel, not python/tether")


def testkit_binary() -> str:
    env = os.environ.get("TETHER_TESTKIT")
    if env:
        return env
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    path = target / "debug" / "tether-testkit"
    if not path.exists():
        raise RuntimeError(f"{path} is missing: run `cargo build -p tether-testkit` first")
    return str(path)


class Process:
    """A testkit process that prints `PORT <n>` (or `first`) first and answers line commands."""

    def __init__(self, args: list[str], first: str = "PORT", start_timeout: float = 20.0) -> None:
        self.proc = subprocess.Popen(
            [testkit_binary(), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        line = self.read_line(timeout=start_timeout)
        if not line.startswith(first + " "):
            self.close()
            raise RuntimeError(f"tether-testkit {' '.join(args)} said {line!r}")
        self.first_line = line
        self.port = int(line.split()[1])

    def read_line(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise TimeoutError(f"tether-testkit said nothing within {timeout} s")
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"tether-testkit ended: {err}")
        return line.strip()

    def command(self, line: str, timeout: float = 30.0) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.read_line(timeout)

    def close(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


class Broker(Process):
    """mosquitto, or with TETHER_TEST_BROKER=rmqtt (make test-interop) an rmqtt node, for the
    tests that take the session-wide `broker`/`port` fixtures and no mosquitto config lines."""

    def __init__(self, *config_lines: str) -> None:
        if os.environ.get("TETHER_TEST_BROKER") == "rmqtt" and not config_lines:
            super().__init__(["rmqtt"])
            return
        args = ["broker"]
        for line in config_lines:
            args += ["--config-line", line]
        super().__init__(args)


class RmqttCluster(Process):
    """An rmqtt raft cluster on loopback (`tether-testkit rmqtt --cluster N`; needs rmqttd,
    which make test-interop installs): `ports` of its nodes, `kill(i)` SIGKILLs node i
    (1-based)."""

    def __init__(self, nodes: int = 3) -> None:
        super().__init__(["rmqtt", "--cluster", str(nodes)], first="PORTS", start_timeout=120.0)
        self.ports = [int(p) for p in self.first_line.split()[1:]]

    def kill(self, node: int) -> None:
        answer = self.command(f"kill {node}")
        assert answer == "ok", f"kill {node}: {answer}"


class Proxy(Process):
    """The fault proxy in front of a broker."""

    def __init__(self, upstream_port: int) -> None:
        super().__init__(["proxy", "--upstream", f"127.0.0.1:{upstream_port}"])

    def ok(self, line: str, timeout: float = 30.0) -> None:
        answer = self.command(line, timeout)
        assert answer.startswith("ok"), f"proxy {line!r}: {answer}"

    def stats(self) -> dict[str, int]:
        stats: dict[str, int] = json.loads(self.command("stats"))
        return stats

    def wait_connections(self, n: int, timeout_ms: int) -> bool:
        return self.command(f"wait-connections {n} {timeout_ms}", timeout_ms / 1000 + 10) == "ok"

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self.command("quit", timeout=10)
        except (OSError, RuntimeError, TimeoutError):
            pass
        super().close()


class HttpProxy(Process):
    """The test kit's HTTP CONNECT proxy (`http-proxy`), tunnelling to 127.0.0.1 only; with
    `user` and `password` it answers 407 to requests without those basic credentials."""

    def __init__(self, user: str | None = None, password: str | None = None) -> None:
        args = ["http-proxy"]
        if user is not None and password is not None:
            args += ["--user", user, "--password", password]
        super().__init__(args)

    def ok(self, line: str, timeout: float = 30.0) -> None:
        answer = self.command(line, timeout)
        assert answer.startswith("ok"), f"http-proxy {line!r}: {answer}"

    def stats(self) -> dict[str, int]:
        stats: dict[str, int] = json.loads(self.command("stats"))
        return stats

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self.command("quit", timeout=10)
        except (OSError, RuntimeError, TimeoutError):
            pass
        super().close()


@pytest.fixture
def http_proxy() -> Iterator[HttpProxy]:
    """An HTTP CONNECT proxy requiring user "user", password "s@cret"."""
    p = HttpProxy("user", "s@cret")
    yield p
    p.close()


@pytest.fixture(scope="session")
def broker() -> Iterator[Broker]:
    b = Broker()
    yield b
    b.close()


@pytest.fixture(scope="session")
def port(broker: Broker) -> int:
    return broker.port


@pytest.fixture
def proxy(broker: Broker) -> Iterator[Proxy]:
    p = Proxy(broker.port)
    yield p
    p.close()


_counter = itertools.count()


@pytest.fixture
def uid(request: pytest.FixtureRequest) -> str:
    """A string unique to this test run and test: for client ids and topics."""
    name = request.node.name.replace("[", "-").replace("]", "").replace("/", "-")
    return f"{name[:40]}-{os.getpid()}-{next(_counter)}"


class TlsBroker(Process):
    """A broker with a TLS listener and throw-away certificates (`broker --tls`): `tls_port`,
    and in `dir` ca.pem, client.pem/.key and other-ca.pem (a CA that signed nothing)."""

    def __init__(self, require_certificate: bool = False) -> None:
        args = ["broker", "--tls"] + (["--require-certificate"] if require_certificate else [])
        super().__init__(args)
        assert self.proc.stdout is not None
        # Printed together with PORT: already in the reader's buffer, where select() cannot
        # see them.
        word, value = self.proc.stdout.readline().strip().split(" ", 1)
        assert word == "TLS_PORT", word
        self.tls_port = int(value)
        word, value = self.proc.stdout.readline().strip().split(" ", 1)
        assert word == "TLS_DIR", word
        self.dir = Path(value)


@pytest.fixture(scope="session")
def tls_broker() -> Iterator[TlsBroker]:
    b = TlsBroker()
    yield b
    b.close()


@pytest.fixture(scope="session")
def mtls_broker() -> Iterator[TlsBroker]:
    b = TlsBroker(require_certificate=True)
    yield b
    b.close()


class WsBroker(Process):
    """A broker with WebSocket listeners (`broker --ws --wss`): `ws_port`, `wss_port`, and in
    `dir` the throw-away certificates (ca.pem) of the wss:// listener."""

    def __init__(self) -> None:
        super().__init__(["broker", "--ws", "--wss"])
        assert self.proc.stdout is not None
        lines = dict(self.proc.stdout.readline().strip().split(" ", 1) for _ in range(3))
        self.ws_port = int(lines["WS_PORT"])
        self.wss_port = int(lines["WSS_PORT"])
        self.dir = Path(lines["TLS_DIR"])


@pytest.fixture(scope="session")
def ws_broker() -> Iterator[WsBroker]:
    b = WsBroker()
    yield b
    b.close()


def read_connect(conn: socket.socket) -> bytes:
    """For scripted servers: read one small CONNECT (its remaining length fits in one byte)."""
    data = b""
    for _ in range(64):
        data += conn.recv(512)
        if len(data) >= 2 and data[1] < 0x80 and len(data) >= 2 + data[1]:
            break
    return data
