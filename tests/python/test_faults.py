"""A link that breaks: random cuts while QoS 1 messages flow, and nothing is lost."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

import tether
from conftest import Broker, Proxy

COUNT = 2000


@pytest.fixture
def roomy_broker() -> Iterator[Broker]:
    # Room for every message of a subscriber that is cut off for a while.
    b = Broker("max_queued_messages 100000", "max_inflight_messages 100")
    yield b
    b.close()


@pytest.mark.timeout(120)
def test_random_cuts_lose_nothing(roomy_broker: Broker, uid: str) -> None:
    topic = f"f/{uid}"
    proxy = Proxy(roomy_broker.port)
    try:
        # Both ends go through the proxy: the publisher's and the subscriber's links are cut.
        sub = tether.Client(
            f"{uid}-sub",
            session_expiry_interval=tether.SESSION_NEVER_EXPIRES,
            reconnect_min_delay=0.02,
            reconnect_max_delay=0.2,
        )
        received: set[bytes] = set()
        lock = threading.Lock()
        all_in = threading.Event()

        def collect(m: tether.Message) -> None:
            with lock:
                received.add(m.payload)
                if len(received) == COUNT:
                    all_in.set()

        sub.on_message = collect
        sub.connect("127.0.0.1", proxy.port)
        sub.subscribe(topic, qos=1)
        pub = tether.Client(
            f"{uid}-pub",
            session_expiry_interval=tether.SESSION_NEVER_EXPIRES,
            reconnect_min_delay=0.02,
            reconnect_max_delay=0.2,
        )
        pub.connect("127.0.0.1", proxy.port)

        proxy.ok("delay 2")  # slow the flow down so that it spans many cuts
        proxy.ok("random-cuts 7 50 200")
        deliveries: list[tether.Delivery] = []
        for batch in range(COUNT // 50):
            ds = [pub.publish(topic, f"{i}", qos=1) for i in range(batch * 50, batch * 50 + 50)]
            deliveries += ds
            ds[-1].wait(timeout=30)  # pace the publisher; links keep being cut meanwhile
        proxy.ok("stop-random-cuts")
        proxy.ok("delay 0")
        pub.flush(timeout=60)
        assert [d.exception for d in deliveries if d.exception is not None] == []
        assert all(d.done and d.reason_code == 0 for d in deliveries)
        assert all_in.wait(timeout=60), f"{COUNT - len(received)} messages lost"
        with lock:
            assert received == {str(i).encode() for i in range(COUNT)}
        stats = proxy.stats()
        print(f"proxy: {stats}, publisher: {pub.stats()}")
        assert stats["cuts"] >= 2, stats
        assert stats["connections"] >= 4, stats
        pub.disconnect(session_expiry_interval=0)
        sub.disconnect(session_expiry_interval=0)
    finally:
        proxy.close()


def test_cut_while_publishing_retransmits_with_dup(broker: Broker, uid: str) -> None:
    topic = f"f/{uid}"
    proxy = Proxy(broker.port)
    try:
        with tether.Client(f"{uid}-sub") as sub:
            sub.connect("127.0.0.1", broker.port)
            sub.subscribe(topic, qos=1)
            pub = tether.Client(f"{uid}-pub", session_expiry_interval=300, reconnect_min_delay=0.05)
            pub.connect("127.0.0.1", proxy.port)
            proxy.ok("blackhole on")  # PUBLISHes leave the client, acknowledgements never come
            deliveries = [pub.publish(topic, f"{i}", qos=1) for i in range(50)]
            for _ in range(100):
                if pub.stats()["inflight"] > 0:
                    break
                sub.recv(timeout=0.02)
            proxy.ok("blackhole off")
            proxy.ok("cut")
            pub.flush(timeout=30)
            assert all(d.reason_code == 0 for d in deliveries)
            assert proxy.stats()["dup_publishes"] >= 1
            assert pub.stats()["retransmissions"] >= 1
            got = {m.payload for m in sub.messages(timeout=1.0)}
            assert got == {str(i).encode() for i in range(50)}
            pub.disconnect(session_expiry_interval=0)
    finally:
        proxy.close()
