"""A link that breaks: random cuts while QoS 1 and QoS 2 messages flow, and nothing is lost,
nothing is delivered twice at QoS 2, and the client never exceeds the server's Receive Maximum."""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

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


# ----- random cuts against the server's Receive Maximum ---------------------------------------
#
# mosquitto announces `max_inflight_messages` as its CONNACK Receive Maximum (20 by default);
# `max_queued_messages 0` lifts the cap on what it queues for a subscriber, so it never drops a
# message it accepted. Each case streams numbered messages, two QoS 1 then one QoS 2, through the
# fault proxy (random cuts every 50-300 ms, a few ms of delay each way so the window stays full),
# either on the publisher's link or on the subscriber's, and checks the result at the subscriber
# and on the wire. The broker's own window towards the subscriber (max_unfinished_down) is
# reported, not asserted: mosquitto goes beyond max_inflight_messages there even without cuts.
# The counts still unfinished at the end may include the end marker's acknowledgements.

RECEIVE_MAXIMUMS = [2, 20, 1000]
SIDES = ["publisher", "subscriber"]
# Messages per case: the window of 2 moves two messages per round trip, keep its case short;
# the large window gets more than it can hold at once.
MESSAGES = {2: 600, 20: 1500, 1000: 3000}
PROXY_DELAY_MS = 3
CUT_MIN_MS, CUT_MAX_MS = 50, 300


def fault_seed(receive_maximum: int, side: str) -> int:
    """The random-cuts seed of a case: TETHER_FAULT_SEED to replay one, else fixed per case."""
    env = os.environ.get("TETHER_FAULT_SEED")
    if env:
        return int(env, 0)
    return 0x7E7E + 10 * receive_maximum + SIDES.index(side)


def report_line(line: str) -> None:
    """Shows a case's numbers (pytest -s) and appends them to $TETHER_FAULT_REPORT if set."""
    print(line)
    path = os.environ.get("TETHER_FAULT_REPORT")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


class Inbox:
    """What the subscriber got: how often each numbered message arrived, per QoS topic."""

    def __init__(self, prefix: str, total: int) -> None:
        self.q1_topic = f"{prefix}/q1"
        self.q2_topic = f"{prefix}/q2"
        self.end_topic = f"{prefix}/end"
        self.total = total
        self.lock = threading.Lock()
        self.q1: Counter[int] = Counter()
        self.q2: Counter[int] = Counter()
        self.unexpected: list[str] = []
        self.dup_flags = 0
        # Set when a quarter, half, three quarters of the distinct messages are in.
        self.progress = [threading.Event() for _ in range(3)]
        self.all_in = threading.Event()  # every distinct message is in
        self.end = threading.Event()  # the end marker is in

    def __call__(self, m: tether.Message) -> None:
        with self.lock:
            self.dup_flags += m.dup
            if m.topic == self.end_topic:
                self.end.set()
                return
            try:
                n = int(m.payload)
            except ValueError:
                self.unexpected.append(f"{m.topic}:{m.payload!r}")
                return
            if m.topic == self.q1_topic:
                self.q1[n] += 1
            elif m.topic == self.q2_topic:
                self.q2[n] += 1
            else:
                self.unexpected.append(m.topic)
            distinct = len(self.q1) + len(self.q2)
            for k, event in enumerate(self.progress):
                if distinct * 4 >= self.total * (k + 1):
                    event.set()
            if distinct >= self.total:
                self.all_in.set()


def persistent_client(client_id: str, total: int) -> tether.Client:
    return tether.Client(
        client_id,
        clean_start=False,
        session_expiry_interval=tether.SESSION_NEVER_EXPIRES,
        # Reconnect fast: a connection never lives long enough here to count as stable.
        reconnect_min_delay=0.01,
        reconnect_max_delay=0.1,
        # Every message fits the queue: publish() never blocks, the window stays full.
        max_queued=total + 100,
    )


@pytest.mark.timeout(60)
@pytest.mark.parametrize("side", SIDES, ids=lambda s: f"{s}-behind-proxy")
@pytest.mark.parametrize("receive_maximum", RECEIVE_MAXIMUMS, ids=lambda r: f"rm{r}")
def test_random_cuts_respect_receive_maximum(receive_maximum: int, side: str, uid: str) -> None:
    total = MESSAGES[receive_maximum]
    n1 = total - total // 3  # messages 0, 1 of every 3 are QoS 1, message 2 is QoS 2
    n2 = total // 3
    seed = fault_seed(receive_maximum, side)
    inbox = Inbox(f"rm/{uid}", total)
    with ExitStack() as stack:
        broker = Broker(f"max_inflight_messages {receive_maximum}", "max_queued_messages 0")
        stack.callback(broker.close)
        proxy = Proxy(broker.port)
        stack.callback(proxy.close)
        sub_port = proxy.port if side == "subscriber" else broker.port
        pub_port = proxy.port if side == "publisher" else broker.port

        sub = persistent_client(f"{uid}-sub", total)
        stack.callback(sub.disconnect, session_expiry_interval=0)
        sub.on_message = inbox
        sub.connect("127.0.0.1", sub_port)
        assert sub.subscribe(f"rm/{uid}/#", qos=2) == [2]
        pub = persistent_client(f"{uid}-pub", total)
        stack.callback(pub.disconnect, session_expiry_interval=0)
        pub.connect("127.0.0.1", pub_port)

        proxy.ok(f"delay {PROXY_DELAY_MS}")
        proxy.ok(f"random-cuts {seed} {CUT_MIN_MS} {CUT_MAX_MS}")
        started = time.monotonic()
        deliveries: list[tether.Delivery] = []
        for i in range(total):
            if i % 3 == 2:
                deliveries.append(pub.publish(inbox.q2_topic, str(i // 3), qos=2))
            else:
                deliveries.append(pub.publish(inbox.q1_topic, str(i - i // 3), qos=1))
        # Three cuts more, at a quarter, half and three quarters of the stream, whatever the
        # random cuts do: a large window moves the whole stream between two of them.
        for progress in inbox.progress:
            progress.wait(timeout=30)
            proxy.ok("cut")
        flush_error: tether.PublishError | None = None
        try:
            pub.flush(timeout=45)
        except tether.PublishError as e:
            flush_error = e
        # The subscriber's link keeps being cut until it has everything (or gives up waiting).
        inbox.all_in.wait(timeout=30)
        elapsed = time.monotonic() - started
        proxy.ok("stop-random-cuts")
        proxy.ok("delay 0")

        # A marker after everything: whatever the broker forwards for the stream comes first.
        pub.publish(inbox.end_topic, "end", qos=2).wait(timeout=30)
        assert inbox.end.wait(timeout=30), "the end marker never arrived"
        stats = proxy.stats()
        wire: dict[str, Any] = json.loads(proxy.command("wire-report"))
        pub_stats = pub.stats()
        sub_stats = sub.stats()

    with inbox.lock:
        q1, q2 = dict(inbox.q1), dict(inbox.q2)
        unexpected, dup_flags = list(inbox.unexpected), inbox.dup_flags
    missing1 = [n for n in range(n1) if n not in q1]
    missing2 = [n for n in range(n2) if n not in q2]
    twice2 = {n: c for n, c in q2.items() if c > 1}
    failed = [(i, d.exception) for i, d in enumerate(deliveries) if d.exception is not None]
    report_line(
        f"faults rm={receive_maximum} {side}-behind-proxy seed={seed}: "
        f"sent q1={n1} q2={n2}; delivered q1={len(q1)} q2={len(q2)}; "
        f"duplicated q1={sum(c - 1 for c in q1.values())} q2={sum(c - 1 for c in q2.values())}; "
        f"failed={len(failed)}; cuts={stats['cuts']} connections={stats['connections']} "
        f"dup_publishes={stats['dup_publishes']} dup_received={dup_flags} "
        f"pub_retransmissions={pub_stats['retransmissions']} "
        f"reconnects pub={pub_stats['reconnects']} sub={sub_stats['reconnects']}; "
        f"receive_maximum_up={wire['receive_maximum_up']} "
        f"max_unfinished_up={wire['max_unfinished_up']} "
        f"max_unfinished_down={wire['max_unfinished_down']} "
        f"unfinished_at_end up={wire['unfinished_up_at_end']} "
        f"down={wire['unfinished_down_at_end']} "
        f"error_acks={wire['error_acks_from_server_count']} "
        f"duplicate_client_acks={wire['duplicate_acks_from_client_count']} "
        f"client_acks_without_publish={wire['client_acks_without_publish_count']} "
        f"dropped_records={wire['dropped_records']}; {elapsed:.1f} s"
    )

    # The setup did what it says: mosquitto announced the window, the proxy logged everything.
    assert wire["receive_maximum_up"] == receive_maximum, wire
    assert wire["dropped_records"] == 0, wire
    # Nothing failed, nothing lost, nothing twice at QoS 2 (4.3.3).
    assert flush_error is None, (flush_error, getattr(flush_error, "failures", None))
    assert failed == [], failed[:10]
    assert unexpected == [], unexpected[:10]
    assert missing1 == [], f"QoS 1 lost: {missing1[:50]} ({len(missing1)})"
    assert missing2 == [], f"QoS 2 lost: {missing2[:50]} ({len(missing2)})"
    assert twice2 == {}, f"QoS 2 delivered more than once: {dict(list(twice2.items())[:50])}"
    # The server never refused a message (0x97 Quota exceeded or any other failure).
    assert wire["error_acks_from_server_count"] == 0, wire["error_acks_from_server"]
    # The cuts happened, with messages in flight.
    assert stats["cuts"] > 0, stats
    if side == "subscriber":
        # The client acknowledged each delivery once, and only deliveries.
        assert wire["duplicate_acks_from_client_count"] == 0, wire["duplicate_acks_from_client"]
        assert wire["client_acks_without_publish_count"] == 0, wire["client_acks_without_publish"]
    if side == "publisher":
        # The client stayed within the server's Receive Maximum (3.3.4), resumes included.
        assert wire["max_unfinished_up"] <= receive_maximum, wire
        assert stats["dup_publishes"] > 0, stats
