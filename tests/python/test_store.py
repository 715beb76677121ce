"""Durable sessions from Python: ``Client(store=..., durability=...)``.

The crash test kills a publisher process with SIGKILL at random moments (20 times, its link
cut at random by the fault proxy meanwhile), restarts it on the same store each time, and
checks at a subscriber that every message whose ``publish()`` returned arrived: QoS 1 at least
once, QoS 2 exactly once."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

import tether
from conftest import Broker, Proxy

HERE = Path(__file__).parent
KILLS = 20


def test_store_arguments_are_checked(tmp_path: Path, uid: str) -> None:
    with pytest.raises(tether.InvalidArgumentError, match="durability"):
        tether.Client(uid, store=str(tmp_path), durability="sometimes")  # type: ignore[arg-type]
    with pytest.raises(tether.InvalidArgumentError, match="store"):
        tether.Client(uid, store="")
    with pytest.raises(TypeError):
        tether.Client(uid, store=42)  # type: ignore[arg-type]
    # A path object is fine, and a second opener of the same store is refused clearly.
    first = tether.Client(uid, store=tmp_path, durability="always")
    with pytest.raises(OSError, match="in use"):
        tether.Client(f"{uid}-2", store=tmp_path)
    assert first.restored() == []


def test_a_store_of_a_newer_format_is_refused(tmp_path: Path, uid: str) -> None:
    # A header record of format version 0xFFFF: length 11, CRC, kind 0, magic, version.
    import zlib

    body = bytes([0]) + b"TETHSTOR" + (0xFFFF).to_bytes(2, "little")
    crc = zlib.crc32(body).to_bytes(4, "little")
    (tmp_path / "session.log").write_bytes(len(body).to_bytes(4, "little") + crc + body)
    with pytest.raises(OSError, match="newer"):
        tether.Client(uid, store=tmp_path)


def test_async_client_takes_a_store(tmp_path: Path, uid: str) -> None:
    import asyncio

    async def run() -> int:
        async with tether.AsyncClient(uid, store=tmp_path, durability="none") as c:
            await c.publish("t", b"x", qos=1)
            return len(c.restored())

    assert asyncio.run(run()) == 0


@pytest.fixture
def roomy_broker() -> Iterator[Broker]:
    b = Broker("max_queued_messages 0")
    yield b
    b.close()


def spawn(store: Path, port: int, run: int, topic: str, final: bool) -> subprocess.Popen[str]:
    args = [sys.executable, str(HERE / "store_publisher.py")]
    args += ["--store", str(store), "--port", str(port), "--run", str(run), "--topic", topic]
    if final:
        args.append("--final")
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def read_accepted(
    proc: subprocess.Popen[str], accepted: dict[tuple[int, int], int], done: list[bool]
) -> None:
    assert proc.stdout is not None
    with proc.stdout:
        for line in proc.stdout:
            words = line.split()
            if len(words) == 4 and words[0] == "ACCEPTED":
                accepted[(int(words[1]), int(words[2]))] = int(words[3])
            elif words == ["DONE"]:
                done.append(True)


@pytest.mark.timeout(180)
def test_publisher_killed_at_random_moments_loses_nothing(
    roomy_broker: Broker, tmp_path: Path, uid: str
) -> None:
    topic = f"crash/{uid}"
    seed = int(os.environ.get("TETHER_CRASH_SEED", random.randrange(1 << 32)))
    print(f"crash test seed {seed} (TETHER_CRASH_SEED to repeat)")
    rng = random.Random(seed)
    received: Counter[tuple[int, int]] = Counter()
    lock = threading.Lock()

    def collect(m: tether.Message) -> None:
        run, n = m.payload.decode().split()
        with lock:
            received[(int(run), int(n))] += 1

    sub = tether.Client(f"{uid}-sub", session_expiry_interval=3600)
    sub.on_message = collect
    sub.connect("127.0.0.1", roomy_broker.port)
    sub.subscribe(f"{topic}/#", qos=2)
    proxy = Proxy(roomy_broker.port)
    store = tmp_path / "store"
    accepted: dict[tuple[int, int], int] = {}
    done: list[bool] = []
    try:
        proxy.ok(f"random-cuts {seed} 30 300")
        for run in range(KILLS):
            proc = spawn(store, proxy.port, run, topic, final=False)
            reader = threading.Thread(target=read_accepted, args=(proc, accepted, done))
            reader.start()
            time.sleep(rng.uniform(0.15, 0.8))  # a random moment to kill it: the point of the test
            proc.kill()  # SIGKILL
            proc.wait(timeout=30)
            reader.join(timeout=30)
        proxy.ok("stop-random-cuts")
        proc = spawn(store, proxy.port, KILLS, topic, final=True)
        read_accepted(proc, accepted, done)
        assert proc.wait(timeout=60) == 0, "the final run failed"
        assert done, "the final run saw every delivery complete"
        runs = {r for r, _ in accepted}
        assert len(runs) > KILLS // 2, f"only runs {sorted(runs)} published anything"
        deadline = time.monotonic() + 30
        while True:
            with lock:
                missing = [k for k in accepted if k not in received]
            if not missing:
                break
            assert time.monotonic() < deadline, (
                f"{len(missing)} of {len(accepted)} accepted messages never arrived"
            )
            time.sleep(0.05)  # polling a count, bounded by the deadline
        time.sleep(0.5)  # a moment for a duplicate to show up
        with lock:
            got = dict(received)
        for key, qos in accepted.items():
            if qos == 2:
                assert got[key] == 1, f"QoS 2 message {key} arrived {got[key]} times"
        for (run, n), count in got.items():
            if n % 2 == 1:
                assert count == 1, f"QoS 2 message ({run}, {n}) arrived {count} times"
        qos2 = sum(1 for q in accepted.values() if q == 2)
        dup1 = sum(1 for k, q in accepted.items() if q == 1 and got[k] > 1)
        print(
            f"crash test: {KILLS} kills; {len(accepted)} accepted ({qos2} QoS 2), all delivered; "
            f"QoS 1 duplicates {dup1}, QoS 2 duplicates 0"
        )
    finally:
        proxy.close()
        sub.disconnect()
