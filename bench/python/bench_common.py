"""What both Python benchmark programs share (standard library only): arguments, payloads
with a sequence number and a timestamp, the receiver's sequence check, latency percentiles,
a window of outstanding publishes, RSS, and the one JSON result line."""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import threading
import time

MARKER = 2**64 - 1
_HEAD = struct.Struct("<QQ")


def parse_args(client: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=f"{client} benchmark run (one JSON line)")
    p.add_argument("--client", default=client)
    p.add_argument("--workload", required=True, choices=["pub", "e2e", "lat"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--qos", type=int, default=1, choices=[0, 1, 2])
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--rate", type=int, default=1000)
    p.add_argument("--secs", type=float, default=5.0)
    p.add_argument("--clients", type=int, default=10_000)
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--topic", default=f"bench/{os.getpid()}")
    p.add_argument("--window", type=int, default=4096)
    p.add_argument("--protocol", type=int, default=5, choices=[4, 5], help="MQTT protocol level: 5 (5.0) or 4 (3.1.1)")
    p.add_argument("--tls-ca", default=None, help="TLS to host:port, trusting the CA certificates of this PEM file")
    a = p.parse_args()
    a.size = max(16, a.size)
    a.n = max(1, a.n)
    a.rate = max(1, a.rate)
    return a


def paced_count(a: argparse.Namespace) -> int:
    return max(1, round(a.rate * a.secs))


def make_payload(size: int, seq: int, stamp: int = 0) -> bytes:
    return _HEAD.pack(seq, stamp) + b"\x5a" * (size - 16)


class Tracker:
    """Every sequence number 0..n once; `done` once all are in (or the end marker came)."""

    def __init__(self, n: int, paced: bool) -> None:
        self.n = n
        self.seen = bytearray(n)
        self.unique = self.duplicates = self.out_of_order = self.foreign = 0
        self.next = 0
        self.marker = False
        self.lat: list[int] | None = [] if paced else None
        self.last_ns = 0
        self.done = threading.Event()

    def record(self, payload: bytes) -> None:
        now = time.monotonic_ns()
        if self.done.is_set():
            return
        if len(payload) < 16:
            self.foreign += 1
            return
        seq, stamp = _HEAD.unpack_from(payload)
        if seq == MARKER:
            self.marker = True
        elif seq < self.n:
            if self.seen[seq]:
                self.duplicates += 1
            else:
                self.seen[seq] = 1
                self.unique += 1
            if seq != self.next:
                self.out_of_order += 1
            self.next = seq + 1
            if self.lat is not None:
                self.lat.append(max(0, now - stamp))
        else:
            self.foreign += 1
        if self.marker or self.unique == self.n:
            self.last_ns = now
            self.done.set()


class Window:
    """At most `limit` publishes outstanding (published, not yet completed)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.outstanding = 0
        self.completed = 0
        self.failed = 0
        self.last_done_ns = 0
        self.cv = threading.Condition()

    def acquire(self, deadline: float) -> bool:
        with self.cv:
            while self.outstanding >= self.limit:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cv.wait(min(left, 0.05))
            self.outstanding += 1
            return True

    def release(self, ok: bool) -> None:
        with self.cv:
            self.outstanding -= 1
            if ok:
                self.completed += 1
            else:
                self.failed += 1
            self.last_done_ns = time.monotonic_ns()
            self.cv.notify_all()

    def wait_all(self, total: int, deadline: float) -> bool:
        with self.cv:
            while self.completed + self.failed < total:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cv.wait(min(left, 0.05))
            return True


class Outcome:
    def __init__(self, a: argparse.Namespace) -> None:
        self.a = a
        self.ok = True
        self.error: str | None = None
        self.n = 0
        self.elapsed_s = 0.0
        self.acked: int | None = None
        self.tracker: Tracker | None = None
        self.tls_session: str | None = None  # "TLSv1.3 TLS_AES_256_GCM_SHA384", when the client tells

    def fail(self, msg: str) -> None:
        if self.error is None:
            self.error = msg
        self.ok = False

    def emit(self) -> int:
        a = self.a
        r: dict[str, object] = {
            "client": a.client,
            "workload": a.workload,
            "qos": a.qos,
            "protocol": a.protocol,
            "tls": a.tls_ca is not None,
            "size": a.size,
            "n": self.n,
        }
        if self.elapsed_s > 0:
            r["elapsed_s"] = self.elapsed_s
            if a.workload != "lat":
                r["msgs_per_s"] = self.n / self.elapsed_s
        if self.acked is not None:
            r["acked"] = self.acked
        if self.tls_session:
            r["tls_session"] = self.tls_session
        t = self.tracker
        if t is not None:
            missing = t.n - t.unique
            r.update(received=t.unique, missing=missing, duplicates=t.duplicates, out_of_order=t.out_of_order)
            if a.qos > 0 and missing:
                self.fail(f"{missing} of {t.n} messages missing")
            if t.lat is not None:
                lat = sorted(t.lat)
                c = len(lat)

                def at(q: float) -> float:
                    return lat[min(c - 1, int(c * q))] / 1000.0 if c else 0.0

                r.update(
                    samples=c,
                    p50_us=at(0.50),
                    p99_us=at(0.99),
                    max_us=lat[-1] / 1000.0 if c else 0.0,
                    mean_us=(sum(lat) / c / 1000.0) if c else 0.0,
                )
        r["ok"] = self.ok and self.error is None
        if self.error is not None:
            r["error"] = self.error
        sys.stdout.write(json.dumps(r) + "\n")
        sys.stdout.flush()
        return 0 if r["ok"] else 1


def finish(code: int) -> None:
    """Leave at once: client threads need no orderly teardown for a measurement."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
