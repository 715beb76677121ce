"""A server list from Python (`connect([url, ...])`): the client tries the servers in turn
and, when its connection is lost, reconnects to the next one (failover across a cluster's
nodes). The two "nodes" here are a fault proxy in front of the test's broker and the broker
itself, so both know the session and the move resumes it. Failover across a real rmqtt
cluster: test_cluster.py."""

from __future__ import annotations

import asyncio
import queue
import socket

import pytest

import tether
from conftest import Proxy

WAIT = 10.0


def closed_port() -> int:
    """A port nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_bad_server_lists_fail_before_connecting(uid: str) -> None:
    with tether.Client(uid) as client:
        with pytest.raises(tether.InvalidArgumentError, match="at least one"):
            client.connect([])
        with pytest.raises(tether.InvalidArgumentError, match="item 1"):
            client.connect(["mqtt://127.0.0.1:1", "http://127.0.0.1:2"])
        with pytest.raises(tether.InvalidArgumentError, match="port="):
            client.connect(["mqtt://127.0.0.1:1"], 1883)
        with pytest.raises(TypeError, match="item 0"):
            client.connect([b"mqtt://127.0.0.1:1"])  # type: ignore[list-item]
        with pytest.raises(TypeError, match="host must be"):
            client.connect(1883)  # type: ignore[arg-type]
        assert not client.is_connected


def test_a_dead_first_server_is_passed_over(port: int, uid: str) -> None:
    with tether.Client(uid, reconnect_min_delay=0.01, reconnect_max_delay=0.1) as client:
        ack = client.connect([f"mqtt://127.0.0.1:{closed_port()}", f"mqtt://127.0.0.1:{port}"])
        assert not ack.session_present
        assert client.is_connected


def test_a_lost_connection_moves_to_the_next_server_and_resumes(
    port: int, proxy: Proxy, uid: str
) -> None:
    connects: queue.Queue[bool] = queue.Queue()
    got: queue.Queue[bytes] = queue.Queue()
    topic = f"tether-py/failover/{uid}"
    with tether.Client(
        uid, session_expiry_interval=300, reconnect_min_delay=0.01, reconnect_max_delay=0.1
    ) as client:
        client.on_connect = lambda ack: connects.put(ack.session_present)
        client.on_message = lambda m: got.put(m.payload)
        ack = client.connect([f"mqtt://127.0.0.1:{proxy.port}", f"mqtt://127.0.0.1:{port}"])
        assert not ack.session_present
        assert connects.get(timeout=WAIT) is False
        client.subscribe(topic, 1)
        # The first server goes away for good: the client must move to the second.
        proxy.ok("refuse on")
        proxy.ok("cut")
        client.publish(topic, b"after", qos=1).wait(WAIT)
        # Same broker behind both: the session, with its subscription, was resumed.
        assert connects.get(timeout=WAIT) is True
        assert got.get(timeout=WAIT) == b"after"
        client.disconnect()


def test_asyncio_connect_takes_a_server_list(port: int, uid: str) -> None:
    async def main() -> None:
        async with tether.AsyncClient(uid) as client:
            servers = [f"mqtt://127.0.0.1:{closed_port()}", f"mqtt://127.0.0.1:{port}"]
            ack = await client.connect(servers)
            assert not ack.session_present

    asyncio.run(main())
