"""The same story gives the same callbacks in Python and C (tests/c/test_same_story.c runs
this script with the C face and expects the same lines):

1. a CONNACK that refuses the connection (an empty client identifier, refused by a broker
   with ``allow_zero_length_clientid false``): "disconnect refused <the CONNACK's code>", and
   no on_connect;
2. a link lost under the client (the fault proxy's ``cut``): "connect 0",
   "disconnect lost 0x80", then "connect 0" again after the automatic reconnect.

Each callback writes one line: "connect <reason code>" or "disconnect <by> <reason code>",
where <reason code> is the one on_disconnect gets and <by> is ``DisconnectInfo.by``."""

from __future__ import annotations

import queue

import pytest

import tether
from conftest import Broker, Proxy


def told(uid: str, **kwargs: object) -> tuple[tether.Client, queue.Queue[str]]:
    lines: queue.Queue[str] = queue.Queue()
    c = tether.Client(uid, **kwargs)  # type: ignore[arg-type]
    c.on_connect = lambda ack: lines.put(f"connect {ack.reason_code}")
    c.on_disconnect = lambda code, info: lines.put(f"disconnect {info.by} 0x{code:02X}")
    return c, lines


def expect_lines(lines: queue.Queue[str], want: list[str]) -> None:
    assert [lines.get(timeout=10) for _ in want] == want


def test_a_refused_connack_goes_to_on_disconnect() -> None:
    b = Broker("allow_zero_length_clientid false")
    try:
        c, lines = told("", reconnect=False)
        with pytest.raises(tether.ConnectError) as refused:
            c.connect("127.0.0.1", b.port, timeout=10)
        code = refused.value.reason_code
        assert code is not None and code >= 0x80
        expect_lines(lines, [f"disconnect refused 0x{code:02X}"])
        with pytest.raises(queue.Empty):  # nothing else: no on_connect for a refusal
            lines.get(timeout=0.3)
        assert c.last_disconnect is not None and c.last_disconnect.reason_code == code
    finally:
        b.close()


def test_a_lost_link_is_0x80_then_a_reconnect(proxy: Proxy, uid: str) -> None:
    c, lines = told(uid, reconnect_min_delay=0.05, reconnect_max_delay=1.0)
    c.connect("127.0.0.1", proxy.port)
    assert lines.get(timeout=10) == "connect 0"
    proxy.ok("cut")
    expect_lines(lines, ["disconnect lost 0x80", "connect 0"])
    c.disconnect()
