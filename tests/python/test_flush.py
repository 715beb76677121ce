"""flush() reports the deliveries that failed since the previous flush: a failure nobody
awaited is never silent (PublishError with .failed and .failures, one warning on the
`tether` logger per failure)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import tether
from conftest import Broker


@pytest.fixture
def acl_broker(tmp_path: Path) -> Iterator[Broker]:
    acl = tmp_path / "acl.conf"
    acl.write_text("topic readwrite acl/allowed/#\n")
    acl.chmod(0o644)
    tmp_path.chmod(0o755)
    b = Broker(f"acl_file {acl}")
    yield b
    b.close()


class Unseen(logging.Handler):
    """Collects the `tether` logger's "nobody awaited" warnings (logged on the client's
    dispatch thread) and says when `n` have come."""

    def __init__(self, n: int) -> None:
        super().__init__(logging.WARNING)
        self.n = n
        self.messages: list[str] = []
        self.done = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "nobody awaited" in record.getMessage():
            self.messages.append(record.getMessage())
            if len(self.messages) >= self.n:
                self.done.set()


def test_flush_raises_publish_error_for_failures_nobody_awaited(
    acl_broker: Broker, uid: str
) -> None:
    unseen = Unseen(2)
    logger = logging.getLogger("tether")
    logger.addHandler(unseen)
    try:
        with tether.Client(uid) as c:
            # The Delivery objects are dropped at once: nobody awaits them. Queued before the
            # connection exists, so that none is still held when its refusal comes back.
            c.publish("acl/allowed/1", b"x", qos=1)
            c.publish("acl/denied/1", b"x", qos=1)
            c.publish("acl/allowed/2", b"x", qos=2)
            c.publish("acl/denied/2", b"x", qos=2)
            c.connect("127.0.0.1", acl_broker.port)
            with pytest.raises(tether.PublishError) as raised:
                c.flush(timeout=10)
            err = raised.value
            assert err.failed == 2
            assert [f[0] for f in err.failures] == ["acl/denied/1", "acl/denied/2"]
            assert all(isinstance(f[1], int) for f in err.failures)
            assert err.reason_code == 0x87  # Not authorized, from mosquitto's ACL
            assert "2 of 4 deliveries failed" in str(err)
            # Reported once: the next flush covers only what ended since.
            c.publish("acl/allowed/3", b"x", qos=1)
            c.flush(timeout=10)
            assert c.stats()["deliveries_failed"] == 2
            # Said once each, at warning level, on the client's dispatch thread.
            assert unseen.done.wait(timeout=10), unseen.messages
    finally:
        logger.removeHandler(unseen)
    assert len(unseen.messages) == 2, unseen.messages
    assert "acl/denied/1" in unseen.messages[0] and "acl/denied/2" in unseen.messages[1]


def test_a_held_delivery_reports_its_own_failure_and_is_not_logged(
    acl_broker: Broker, uid: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tether")
    with tether.Client(uid) as c:
        c.connect("127.0.0.1", acl_broker.port)
        d = c.publish("acl/denied/held", b"x", qos=1)
        with pytest.raises(tether.PublishError) as raised:
            d.wait(timeout=10)
        assert raised.value.reason_code == 0x87
        # flush still counts it: failures are reported whoever else saw them.
        with pytest.raises(tether.PublishError) as flushed:
            c.flush(timeout=10)
        assert flushed.value.failed == 1
    assert not [
        r for r in caplog.records if r.name == "tether" and "nobody awaited" in r.getMessage()
    ]
