"""Acknowledgements across a reconnect (the Python face of core/tests/acks.rs): a subscriber
with manual acks receives a QoS 1 and a QoS 2 message, its link drops, the application
acknowledges both while disconnected, the session resumes; the proxy's wire report shows one
acknowledgement per PUBLISH per connection and none sent unprompted, and the resends never
reach the application again."""

from __future__ import annotations

import json
import queue
from typing import Any

import tether
from conftest import Broker, Proxy


def test_acks_made_while_disconnected_answer_the_resends_once(broker: Broker, uid: str) -> None:
    proxy = Proxy(broker.port)
    connects: queue.Queue[bool] = queue.Queue()
    disconnects: queue.Queue[int] = queue.Queue()
    try:
        with (
            tether.Client(
                f"{uid}-sub",
                clean_start=False,
                session_expiry_interval=tether.SESSION_NEVER_EXPIRES,
                manual_ack=True,
                reconnect_min_delay=0.02,
                reconnect_max_delay=0.1,
            ) as sub,
            tether.Client(f"{uid}-pub") as pub,
        ):
            sub.on_connect = lambda ack: connects.put(ack.session_present)
            sub.on_disconnect = lambda code: disconnects.put(code)
            sub.connect("127.0.0.1", proxy.port)
            assert connects.get(timeout=10) is False
            assert sub.subscribe(f"acks/{uid}/#", qos=2) == [2]
            pub.connect("127.0.0.1", broker.port)
            pub.publish(f"acks/{uid}/q1", b"a", qos=1).wait(timeout=10)
            pub.publish(f"acks/{uid}/q2", b"b", qos=2).wait(timeout=10)
            held = [sub.recv(timeout=10), sub.recv(timeout=10)]
            assert [m.qos for m in held if m is not None] == [1, 2]

            # The link drops while the application holds both; nothing reconnects meanwhile.
            proxy.ok("refuse on")
            proxy.ok("cut")
            disconnects.get(timeout=10)
            for m in held:
                assert m is not None
                m.ack()
            proxy.ok("refuse off")
            assert connects.get(timeout=10) is True

            # What the broker delivers after the resume comes before this marker.
            pub.publish(f"acks/{uid}/end", b"end", qos=1).wait(timeout=10)
            after = sub.recv(timeout=10)
            assert after is not None
            assert after.topic == f"acks/{uid}/end", f"a message came twice: {after.topic}"
            after.ack()
            sub.disconnect()
        wire: dict[str, Any] = json.loads(proxy.command("wire-report"))
    finally:
        proxy.close()
    assert wire["duplicate_acks_from_client_count"] == 0, wire
    assert wire["client_acks_without_publish_count"] == 0, wire
