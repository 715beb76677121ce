#!/usr/bin/env python3
"""tether's benchmark harness (standard library only).

Starts its own mosquitto on a free 127.0.0.1 port for each broker setting, builds the benchmark
programs, runs every client (tether from Rust, C and Python; rumqttc, Paho C, libmosquitto,
paho-mqtt) on the same workloads, interleaved round by round, and writes medians and tether/peer
ratios to bench/results/latest.md and bench/results/latest.json (and prints them). raw-c, a reference
publisher (one thread, pre-encoded packets, no library), runs the publish workloads beside them
to show what the broker accepts; it is never part of a ratio.

Each client x workload run is its own process (a small program that prints one JSON line);
CPU time and peak RSS come from wait4() on that child.

Broker settings (each its own mosquitto, all running, the rounds interleaving them):
  tuned            max_inflight_messages 1000, set_tcp_nodelay true, ...: every workload, the
                   MQTT 3.1.1 row (pub_qos1_v311, every client with --protocol 4; not raw-c)
                   and the TLS row (pub_qos1_tls: a second, TLS listener on this mosquitto,
                   certificates made with `openssl` at start, every client given --tls-ca;
                   not raw-c; Paho C through libpaho-mqtt3as) only here
  default          mosquitto's defaults (Nagle on, max_inflight_messages 20, so Receive
                   Maximum 20) but for what the workloads need (anonymous access, a deep queue
                   for the end-to-end subscriber): QoS 1/2 publish and end-to-end QoS 1
  nagle1000        the defaults with max_inflight_messages 1000 (issue 16's setting; only
                   with BROKERS): QoS 1/2 publish

Environment knobs:
  QUICK=1          QoS 0 and QoS 1 publish (tuned) and QoS 1 publish (default) only (no TLS row), one round,
                   ~1 s per run; the last line printed is a JSON object of throughput ratios
                   "<face>/<peer>/<workload>", "@<broker>" appended for a broker other than tuned
  BROKERS=a,b      these broker settings (default: tuned,default)
  ROUNDS=n         rounds (default 3; QUICK: 1)
  TARGET_S=s       seconds one throughput run should last (default 2; QUICK: 1)
  LAT_SECS=s       length of the paced latency stream (default 5)
  LAT_RATE=r       messages/s of the paced stream (default 1000)
  IDLE_CLIENTS=k   idle connected clients in one process (default 10000)
  CLIENTS=a,b      only these clients (names as in the report)
  STORE=1          also QoS 1/2 publish with tether's session store at each durability
                   (tether-rust.store-none|batched|always) and Paho C's file persistence
                   (paho-c.file); e.g. STORE=1 WORKLOADS=pub_qos1,pub_qos2 BROKERS=tuned
  WORKLOADS=a,b    only these workloads (e.g. WORKLOADS=pub_qos1_v311 ROUNDS=1 for the 3.1.1 row,
                   WORKLOADS=pub_qos1_tls for the TLS row, ~70 s at 3 rounds)
  BUDGET_S=s       stop starting runs after this many seconds of measuring (default 1500;
                   QUICK: 75)
  NO_BUILD=1       use the programs already built
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
TARGET = BENCH / "target"
RESULTS = BENCH / "results"
RUST_BIN = TARGET / "release" / "tether-bench"
C_DIR = TARGET / "c"
LAUNCH = C_DIR / "launch"
PEER_VENV_PY = TARGET / "venv" / "bin" / "python"
TETHER_VENV_PY = ROOT / "build" / "venv" / "bin" / "python"
LIBTETHER = ROOT / "target" / "release" / "libtether.so"
TETHER_H = ROOT / "include" / "tether.h"

FACES = ["rust", "c", "python"]
PEERS = ["rumqttc", "paho-c", "libmosquitto", "paho-mqtt"]


def env_int(name: str, default: int) -> int:
    v = os.environ.get(name, "").strip()
    return int(float(v)) if v else default


def env_float(name: str, default: float) -> float:
    v = os.environ.get(name, "").strip()
    return float(v) if v else default


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# workloads and clients


@dataclass
class Workload:
    name: str
    kind: str  # pub | e2e | lat | idle
    qos: int
    size: int
    title: str
    protocol: int = 5  # MQTT protocol level the clients speak: 5 (5.0) or 4 (3.1.1)
    tls: bool = False  # over TLS: the broker's TLS listener, each client given --tls-ca

    @property
    def throughput(self) -> bool:
        return self.kind in ("pub", "e2e")


ALL_WORKLOADS = [
    Workload("pub_qos0", "pub", 0, 64, "publish throughput, QoS 0, 64 B (until the QoS 1 marker after them is acknowledged)"),
    Workload("pub_qos1", "pub", 1, 64, "publish throughput, QoS 1, 64 B (until the last PUBACK)"),
    Workload("pub_qos2", "pub", 2, 64, "publish throughput, QoS 2, 64 B (until the last PUBCOMP)"),
    # 3.1.1 has no Receive Maximum: every client keeps its own limit of 1000 in flight (as at
    # 5.0; tether through max_inflight).
    Workload("pub_qos1_v311", "pub", 1, 64, "publish throughput, QoS 1, 64 B, MQTT 3.1.1 (until the last PUBACK; "
             "no Receive Maximum: every client keeps 1000 in flight)", protocol=4),
    # TLS (mqtts://) to the same broker's TLS listener, certificates made at bench time;
    # every client verifies the server's certificate against the bench's own CA.
    Workload("pub_qos1_tls", "pub", 1, 64, "publish throughput, QoS 1, 64 B, over TLS (mqtts://; until the last PUBACK)",
             tls=True),
    Workload("pub_qos1_16k", "pub", 1, 16384, "publish throughput, QoS 1, 16 KiB (until the last PUBACK)"),
    Workload("e2e_qos0", "e2e", 0, 64, "end-to-end throughput, QoS 0, 64 B (one publisher, one subscriber)"),
    Workload("e2e_qos1", "e2e", 1, 64, "end-to-end throughput, QoS 1, 64 B (one publisher, one subscriber)"),
    Workload("e2e_qos2", "e2e", 2, 64, "end-to-end throughput, QoS 2, 64 B (one publisher, one subscriber)"),
    Workload("lat_qos0", "lat", 0, 64, "latency, QoS 0, 64 B, paced stream, publish-to-receive"),
    Workload("lat_qos1", "lat", 1, 64, "latency, QoS 1, 64 B, paced stream, publish-to-receive"),
    Workload("idle_10k", "idle", 0, 64, "memory of idle connected clients in one process"),
]


@dataclass
class Client:
    name: str
    role: str  # "tether", "peer" or "reference" (shown beside the others, never in a ratio)
    key: str  # face (rust/c/python), peer name, or reference name
    command: list[str]
    workloads: set[str]
    available: bool = True
    note: str = ""
    version: str = ""
    fds_per_client: int = 1  # open files one idle client costs (tether C: socket + event fd)
    protocols: frozenset = frozenset({4, 5})  # MQTT protocol levels it runs (--protocol)
    tls: bool = True  # runs the TLS workloads (--tls-ca)
    tls_command: list[str] | None = None  # the program for TLS workloads, when not `command`
    only: frozenset = frozenset()  # when set, only these workload names (the store variants)

    def runs(self, w: Workload) -> bool:
        return (
            w.kind in self.workloads
            and w.protocol in self.protocols
            and (self.tls or not w.tls)
            and (not self.only or w.name in self.only)
        )

    def command_for(self, w: Workload) -> list[str]:
        return self.tls_command if w.tls and self.tls_command else self.command


def make_clients() -> list[Client]:
    every = {w.kind for w in ALL_WORKLOADS}
    no_idle = every - {"idle"}
    return [
        Client("tether-rust", "tether", "rust", [str(RUST_BIN), "--client", "tether"], every),
        Client("tether-c", "tether", "c", [str(C_DIR / "tether_bench")], every, fds_per_client=2),
        Client("tether-python", "tether", "python", [str(TETHER_VENV_PY), str(BENCH / "python" / "bench_tether.py")], no_idle),
        Client("rumqttc", "peer", "rumqttc", [str(RUST_BIN), "--client", "rumqttc"], every),
        # Paho C's TLS build (libpaho-mqtt3as) for the TLS row; the plain one (libpaho-mqtt3a)
        # for every other row, as before.
        Client("paho-c", "peer", "paho-c", [str(C_DIR / "paho_bench")], no_idle, tls_command=[str(C_DIR / "paho_bench_tls")]),
        Client("libmosquitto", "peer", "libmosquitto", [str(C_DIR / "mosq_bench")], no_idle),
        Client("paho-mqtt", "peer", "paho-mqtt", [str(PEER_VENV_PY), str(BENCH / "python" / "bench_paho.py")], no_idle),
        # MQTT 5 over plain TCP only: a reference, not a peer, so it sits out the 3.1.1 and TLS rows.
        Client("raw-c", "reference", "raw", [str(C_DIR / "raw_bench")], {"pub"}, protocols=frozenset({5}), tls=False),
        *store_variants(),
    ]


# Durable sessions (issue 14): QoS 1/2 publishing with tether's file store at each durability
# level and with Paho C's file persistence, beside the in-memory runs of the same round. Only
# with STORE=1 (or when named in CLIENTS); references, so they never enter a tether ÷ peer ratio.
STORE_WORKLOADS = frozenset({"pub_qos1", "pub_qos2"})
STORE_VARIANTS = {
    "tether-rust.store-none": "tether-rust",
    "tether-rust.store-batched": "tether-rust",
    "tether-rust.store-always": "tether-rust",
    "paho-c.file": "paho-c",
}


def store_variants() -> list[Client]:
    out = [Client(f"tether-rust.store-{d}", "reference", f"rust-store-{d}",
                  [str(RUST_BIN), "--client", "tether", "--store", d], {"pub"}, only=STORE_WORKLOADS)
           for d in ("none", "batched", "always")]
    out.append(Client("paho-c.file", "reference", "paho-c-file", [str(C_DIR / "paho_bench"), "--persist", "file"],
                      {"pub"}, only=STORE_WORKLOADS))
    return out


# ---------------------------------------------------------------------------------------------
# building


def run_quiet(cmd: list[str], cwd: Path | None = None, env: dict | None = None, timeout: float = 900) -> tuple[bool, str]:
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, str(e)
    return p.returncode == 0, p.stdout


def cc() -> str:
    return os.environ.get("CC") or shutil.which("cc") or "gcc"


def build(clients: dict[str, Client], notes: list[str], no_build: bool) -> None:
    C_DIR.mkdir(parents=True, exist_ok=True)
    cflags = ["-O2", "-g", "-Wall", "-std=c11", "-pthread"]

    if not no_build:
        log("building bench/rust (tether + rumqttc, release) ...")
        env = dict(os.environ, CARGO_TARGET_DIR=str(TARGET))
        ok, out = run_quiet(["cargo", "build", "--release", "--manifest-path", str(BENCH / "rust" / "Cargo.toml")], env=env)
        if not ok:
            log(out[-3000:])
    if not RUST_BIN.exists():
        for n in ("tether-rust", "rumqttc"):
            clients[n].available = False
            clients[n].note = "bench/rust did not build"

    # tether's C face: optional.
    c = clients["tether-c"]
    if not (ROOT / "ffi" / "Cargo.toml").exists():
        c.available, c.note = False, "skipped: ffi/ does not exist"
    elif not TETHER_H.exists():
        c.available, c.note = False, "skipped: include/tether.h is missing"
    else:
        if not no_build:
            log("building libtether (cargo build --release -p tether-ffi) ...")
            ok, out = run_quiet(["cargo", "build", "--release", "-p", "tether-ffi"], cwd=ROOT)
            if not ok:
                c.available, c.note = False, "skipped: the ffi crate does not build"
                log(out[-3000:])
        if c.available and not LIBTETHER.exists():
            c.available, c.note = False, "skipped: target/release/libtether.so is missing"
        if c.available and not no_build:
            ok, out = run_quiet(
                [cc(), *cflags, f"-I{ROOT / 'include'}", "-o", str(C_DIR / "tether_bench"), str(BENCH / "c" / "tether_bench.c"),
                 f"-L{LIBTETHER.parent}", "-ltether", f"-Wl,-rpath,{LIBTETHER.parent}"]
            )
            if not ok:
                c.available, c.note = False, "skipped: bench/c/tether_bench.c does not compile against include/tether.h"
                log(out[-3000:])
        if c.available and not (C_DIR / "tether_bench").exists():
            c.available, c.note = False, "skipped: bench/c/tether_bench is not built"

    src = BENCH / "c" / "launch.c"
    if not LAUNCH.exists() or LAUNCH.stat().st_mtime < src.stat().st_mtime:
        ok, out = run_quiet([cc(), "-O2", "-Wall", "-o", str(LAUNCH), str(src)])
        if not ok:
            log(out[-2000:])
    if not LAUNCH.exists():
        notes.append("bench/c/launch.c did not build: CPU and peak RSS come from wait4 in the harness, and "
                     "peak RSS then includes the harness's own ~20 MiB (Linux folds it in at exec)")

    # The C peers, and the reference publisher (plain sockets: no library, no header).
    # libmosquitto's program reads the negotiated TLS version and cipher through OpenSSL (-lssl).
    for name, src, libs, header in (
        ("paho-c", "paho_bench", ["-lpaho-mqtt3a"], "/usr/include/MQTTAsync.h"),
        ("libmosquitto", "mosq_bench", ["-lmosquitto", "-lssl"], "/usr/include/mosquitto.h"),
        ("raw-c", "raw_bench", [], None),
    ):
        p = clients[name]
        if header and not Path(header).exists():
            p.available, p.note = False, f"skipped: {header} missing (run bench/ensure-bench-deps.sh)"
            continue
        if not no_build:
            ok, out = run_quiet([cc(), *cflags, "-o", str(C_DIR / src), str(BENCH / "c" / f"{src}.c"), *libs])
            if not ok:
                p.available, p.note = False, f"skipped: bench/c/{src}.c does not compile"
                log(out[-3000:])
        if p.available and not (C_DIR / src).exists():
            p.available, p.note = False, f"skipped: bench/c/{src} is not built"
    # Paho C over TLS: the same program linked against Paho's OpenSSL build.
    p = clients["paho-c"]
    if p.available and not no_build:
        ok, out = run_quiet([cc(), *cflags, "-o", str(C_DIR / "paho_bench_tls"), str(BENCH / "c" / "paho_bench.c"),
                             "-lpaho-mqtt3as"])
        if not ok:
            p.tls = False
            log(out[-3000:])
    if p.available and (not p.tls or not (C_DIR / "paho_bench_tls").exists()):
        p.tls = False
        notes.append("paho-c: not in the TLS row: bench/c/paho_bench.c does not build against libpaho-mqtt3as")

    t = clients["tether-python"]
    if not TETHER_VENV_PY.exists():
        t.available, t.note = False, "skipped: build/venv does not exist (`make python-wheel` installs the wheel; `make bench` does it first)"
    else:
        ok, out = run_quiet([str(TETHER_VENV_PY), "-c", "import tether"], timeout=60)
        if not ok:
            t.available, t.note = False, "skipped: `import tether` fails in build/venv (run `make python-wheel`)"
    p = clients["paho-mqtt"]
    ok, out = run_quiet([str(PEER_VENV_PY), "-c", "import paho.mqtt; print(paho.mqtt.__version__)"], timeout=60) if PEER_VENV_PY.exists() else (False, "")
    if not ok or not out.strip().startswith("2."):
        p.available, p.note = False, "skipped: paho-mqtt 2.x is not in bench/target/venv (run bench/ensure-bench-deps.sh)"
    else:
        p.version = out.strip()

    for name, base in STORE_VARIANTS.items():
        v = clients[name]
        if not clients[base].available and v.available:
            v.available, v.note = False, f"skipped: {base} is not available"
    for cl in clients.values():
        if not cl.available:
            notes.append(f"{cl.name}: {cl.note}")
            log(f"{cl.name}: {cl.note}")


def versions(clients: dict[str, Client]) -> dict[str, str]:
    v: dict[str, str] = {}
    lock = BENCH / "rust" / "Cargo.lock"
    if lock.exists():
        text = lock.read_text()
        i = text.find('name = "rumqttc"')
        if i >= 0:
            line = text[i:].splitlines()[1]
            v["rumqttc"] = line.split('"')[1]
    for name, pkg in (("paho-c", "libpaho-mqtt1.3"), ("libmosquitto", "libmosquitto1"), ("mosquitto", "mosquitto")):
        ok, out = run_quiet(["dpkg-query", "-W", "-f", "${Version}", pkg], timeout=30)
        if ok:
            v[name] = out.strip()
    if clients["paho-mqtt"].version:
        v["paho-mqtt"] = clients["paho-mqtt"].version
    ok, out = run_quiet(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], timeout=30)
    if ok:
        rev = out.strip()
        ok2, st = run_quiet(["git", "-C", str(ROOT), "status", "--porcelain", "--", "core", "ffi", "python"], timeout=30)
        v["tether"] = rev + ("+local changes" if ok2 and st.strip() else "")
    return v


# ---------------------------------------------------------------------------------------------
# the broker


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mosquitto_binary() -> str:
    for p in (os.environ.get("TETHER_MOSQUITTO"), "/usr/sbin/mosquitto", shutil.which("mosquitto")):
        if p and Path(p).exists():
            return p
    raise SystemExit("bench: mosquitto not found (run bench/ensure-bench-deps.sh)")


@dataclass
class Setting:
    """One broker configuration the workloads run against."""
    name: str
    title: str
    lines: list[str]  # mosquitto.conf lines after the listener
    workloads: set[str]  # which workloads run against it
    quick: set[str]  # ... and which of them in a QUICK run


SETTINGS = [
    Setting("tuned", "tuned: Nagle off (set_tcp_nodelay true), max_inflight_messages 1000 (Receive Maximum 1000)",
            ["allow_anonymous true", "persistence false", "max_inflight_messages 1000", "max_queued_messages 1000000",
             "set_tcp_nodelay true", "max_connections -1"],
            {w.name for w in ALL_WORKLOADS}, {"pub_qos0", "pub_qos1"}),
    # mosquitto 2's defaults: set_tcp_nodelay false (Nagle on), max_inflight_messages 20 (so
    # CONNACK says Receive Maximum 20), persistence false, max_connections -1. Anonymous access
    # is needed to connect at all; the deep queue keeps a busy end-to-end subscriber from
    # losing QoS 1 messages (the default of 1000 queued drops them).
    Setting("default", "mosquitto's defaults: Nagle on, max_inflight_messages 20 (Receive Maximum 20)",
            ["allow_anonymous true", "max_queued_messages 1000000"],
            {"pub_qos1", "pub_qos2", "e2e_qos1"}, {"pub_qos1"}),
    # The setting of issue 16: the defaults with a large window.
    Setting("nagle1000", "Nagle on (mosquitto's default), max_inflight_messages 1000 (Receive Maximum 1000)",
            ["allow_anonymous true", "max_inflight_messages 1000", "max_queued_messages 1000000"],
            {"pub_qos1", "pub_qos2"}, {"pub_qos1"}),
]
DEFAULT_SETTINGS = ["tuned", "default"]


def make_pki(d: Path) -> Path:
    """A throw-away CA and a server certificate for localhost and 127.0.0.1 (ECDSA P-256, valid
    for two days) made with the `openssl` command in `d`: ca.pem, server.pem, server.key.
    Returns the CA file. The key stays as openssl writes it (0600): our mosquitto runs as the
    user we are (as root with `user root` in its config, so it never drops to the `mosquitto`
    user, who could not read it)."""
    openssl = shutil.which("openssl")
    if not openssl:
        raise RuntimeError("the openssl command is missing (run bench/ensure-bench-deps.sh)")
    d.mkdir(parents=True, exist_ok=True)
    (d / "ca.cnf").write_text(
        "[req]\ndistinguished_name = dn\nprompt = no\nx509_extensions = ca\n"
        "[dn]\nCN = tether bench CA\n"
        "[ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n"
        "subjectKeyIdentifier = hash\n")
    (d / "server.cnf").write_text(
        "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = localhost\n"
        "[server]\nbasicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature\n"
        "extendedKeyUsage = serverAuth\nsubjectAltName = DNS:localhost,IP:127.0.0.1\n"
        "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    for cmd in (
        [openssl, "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-config", "ca.cnf"],
        [openssl, "req", *ec, "-keyout", "server.key", "-out", "server.csr", "-config", "server.cnf"],
        [openssl, "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", "2",
         "-days", "2", "-out", "server.pem", "-extfile", "server.cnf", "-extensions", "server"],
    ):
        ok, out = run_quiet(cmd, cwd=d, timeout=60)
        if not ok:
            raise RuntimeError(f"{' '.join(cmd[1:3])}: {out[-1000:]}")
    return d / "ca.pem"


class Broker:
    """Our own mosquitto: config written here, a free 127.0.0.1 port, stopped by PID; with
    `tls`, a second listener for TLS on another free port, with certificates of its own."""

    def __init__(self, setting: Setting, tls: bool = False) -> None:
        self.setting = setting
        self.dir = Path(tempfile.mkdtemp(prefix="broker-", dir=TARGET))
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.tls = tls
        self.tls_port = 0
        self.ca_file: Path | None = None
        self.config = ""

    def config_text(self, port: int, tls_port: int) -> str:
        lines = [
            f"listener {port} 127.0.0.1",
            *self.setting.lines,
            "log_dest file " + str(self.dir / "mosquitto.log"),
            "log_type error",
            "log_type warning",
            "connection_messages false",
        ]
        if os.geteuid() == 0:
            lines.append("user root")
        if tls_port:
            # Last: the lines after a `listener` belong to it. The setting's lines above are
            # global (per_listener_settings false), so they hold here too.
            pki = self.dir / "tls"
            lines += [f"listener {tls_port} 127.0.0.1", f"certfile {pki / 'server.pem'}", f"keyfile {pki / 'server.key'}",
                      f"cafile {pki / 'ca.pem'}"]
        return "\n".join(lines) + "\n"

    def start(self) -> None:
        last = ""
        if self.tls and self.ca_file is None:
            self.ca_file = make_pki(self.dir / "tls")  # RuntimeError when openssl fails
        for _ in range(5):
            port = free_port()
            tls_port = free_port() if self.tls else 0
            if tls_port == port:
                continue
            self.config = self.config_text(port, tls_port)
            conf = self.dir / "mosquitto.conf"
            conf.write_text(self.config)
            self.proc = subprocess.Popen(
                [mosquitto_binary(), "-c", str(conf)],
                stdin=subprocess.DEVNULL,
                stdout=open(self.dir / "stdout.log", "wb"),
                stderr=subprocess.STDOUT,
            )
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                        pass
                    if tls_port:
                        # A whole handshake, verified against our CA: the certificates work.
                        ctx = ssl.create_default_context(cafile=str(self.ca_file))
                        with socket.create_connection(("127.0.0.1", tls_port), timeout=0.5) as raw, \
                                ctx.wrap_socket(raw, server_hostname="127.0.0.1"):
                            pass
                    self.port, self.tls_port = port, tls_port
                    log(f"mosquitto {self.setting.name} (pid {self.proc.pid}) on 127.0.0.1:{port}"
                        + (f", TLS on {tls_port}" if tls_port else ""))
                    return
                except OSError:
                    time.sleep(0.05)
            last = (self.dir / "stdout.log").read_text(errors="replace")
            self.stop()
        raise SystemExit(f"bench: mosquitto did not start: {last[-2000:]}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        p, self.proc = self.proc, None
        if p is None or p.poll() is not None:
            return
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# one run


@dataclass
class Run:
    client: str
    workload: str
    round: int
    n: int
    broker: str = "tuned"
    result: dict = field(default_factory=dict)
    ok: bool = False
    error: str = ""
    cpu_s: float = 0.0
    maxrss_kb: int = 0
    wall_s: float = 0.0
    broker_cpu_s: float | None = None


def cpu_seconds_of(pid: int | None) -> float | None:
    """user+sys CPU seconds a process has used so far (from /proc; None when unreadable)."""
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; the fields after it are fixed.
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_one(client: Client, w: Workload, broker: Broker, n: int, round_no: int, timeout: float, extra: list[str],
            broker_pid: int | None = None) -> Run:
    setting = broker.setting.name
    port = broker.tls_port if w.tls else broker.port
    if w.tls:
        extra = [*extra, "--tls-ca", str(broker.ca_file)]
    args = [
        "--workload", w.kind, "--port", str(port), "--host", "127.0.0.1", "--qos", str(w.qos), "--size", str(w.size),
        "--n", str(n), "--timeout", f"{timeout:.0f}", "--topic", f"bench/{w.name}/{client.name}/{round_no}/{time.monotonic_ns()}",
        "--protocol", str(w.protocol), *extra,
    ]
    run = Run(client.name, w.name, round_no, n, setting)
    hard_timeout = timeout + 15
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(prefix="rusage-", dir=TARGET) as ru_file:
        launched = LAUNCH.exists()
        cmd = client.command_for(w) + args
        if launched:
            # The child is forked by the small launcher so that its ru_maxrss is its own.
            cmd = [str(LAUNCH), "--rusage", ru_file.name, "--timeout", f"{hard_timeout:.0f}", "--", *cmd]
        broker_cpu0 = cpu_seconds_of(broker_pid)
        t0 = time.monotonic()
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        env.pop("RUST_LOG", None)
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env)
        except OSError as e:
            run.error = f"cannot start: {e}"
            return run
        hard_deadline = t0 + hard_timeout + 5
        status = None
        usage = None
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                break
            if time.monotonic() > hard_deadline:
                # The launcher kills its child by PID on SIGTERM; then it is killed itself.
                os.kill(proc.pid, signal.SIGTERM)
                time.sleep(1.0)
                if os.wait4(proc.pid, os.WNOHANG)[0] != proc.pid:
                    os.kill(proc.pid, signal.SIGKILL)
                    os.wait4(proc.pid, 0)
                run.error = f"killed after {hard_timeout + 5:.0f} s"
                break
            time.sleep(0.005)
        proc.returncode = os.waitstatus_to_exitcode(status) if status is not None else -9
        run.wall_s = time.monotonic() - t0
        broker_cpu1 = cpu_seconds_of(broker_pid)
        if broker_cpu0 is not None and broker_cpu1 is not None:
            run.broker_cpu_s = broker_cpu1 - broker_cpu0
        if launched:
            try:
                ru = json.loads(Path(ru_file.name).read_text() or "{}")
            except (OSError, json.JSONDecodeError):
                ru = {}
            run.cpu_s = float(ru.get("utime_s", 0)) + float(ru.get("stime_s", 0))
            run.maxrss_kb = int(ru.get("maxrss_kb", 0))
            if ru.get("timed_out"):
                run.error = run.error or f"killed after {hard_timeout:.0f} s"
            elif ru.get("signal"):
                run.error = run.error or f"died of signal {ru['signal']}"
        elif usage is not None:
            run.cpu_s = usage.ru_utime + usage.ru_stime
            run.maxrss_kb = usage.ru_maxrss
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    lines = [ln for ln in stdout.splitlines() if ln.strip().startswith("{")]
    if lines:
        try:
            run.result = json.loads(lines[-1])
        except json.JSONDecodeError:
            pass
    if not run.result:
        run.error = run.error or f"no result line (exit {proc.returncode}): {(stderr or stdout)[-400:].strip()}"
        return run
    run.ok = bool(run.result.get("ok")) and not run.error
    if not run.ok:
        run.error = run.error or str(run.result.get("error", "failed"))
    return run


# ---------------------------------------------------------------------------------------------
# metrics


# metric name -> (unit, which way is better, how to read it from a run)
def metrics_of(w: Workload) -> list[tuple[str, str, str]]:
    if w.kind in ("pub", "e2e"):
        # broker_cpu_pct is context, not a score: a broker near 100 % of its core is the limit.
        return [("msgs_per_s", "msg/s", "higher"), ("cpu_us_per_msg", "µs", "lower"), ("peak_rss_kb", "KiB", "lower"),
                ("broker_cpu_pct", "% of a core", "context")]
    if w.kind == "lat":
        return [("p50_us", "µs", "lower"), ("p99_us", "µs", "lower"), ("max_us", "µs", "lower"),
                ("cpu_us_per_msg", "µs", "lower"), ("peak_rss_kb", "KiB", "lower")]
    return [("kb_per_client", "KiB", "lower"), ("rss_after_kb", "KiB", "lower"), ("connect_s", "s", "lower")]


def value_of(run: Run, metric: str) -> float | None:
    r = run.result
    if metric == "cpu_us_per_msg":
        n = r.get("n") or run.n
        return run.cpu_s / n * 1e6 if n else None
    if metric == "peak_rss_kb":
        return float(run.maxrss_kb)
    if metric == "broker_cpu_pct":
        # Over the measured window; the broker's share of connect and disconnect is negligible.
        el = r.get("elapsed_s")
        if run.broker_cpu_s is None or not isinstance(el, (int, float)) or el <= 0:
            return None
        return run.broker_cpu_s / el * 100
    v = r.get(metric)
    return float(v) if isinstance(v, (int, float)) else None


# ---------------------------------------------------------------------------------------------
# report


def fmt(v: float | None, metric: str) -> str:
    if v is None:
        return "—"
    if metric == "msgs_per_s":
        return f"{v:,.0f}"
    if metric in ("peak_rss_kb", "rss_after_kb"):
        return f"{v / 1024:,.1f} MiB"
    if metric == "kb_per_client":
        return f"{v:,.1f} KiB"
    if metric == "connect_s":
        return f"{v:.2f} s"
    if metric == "broker_cpu_pct":
        return f"{v:.0f} %"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.2f}"


def ratio_str(r: float | None) -> str:
    return "—" if r is None else f"{r:.2f}"


def main() -> int:
    start = time.monotonic()
    quick = os.environ.get("QUICK", "") not in ("", "0")
    rounds = env_int("ROUNDS", 1 if quick else 3)
    # 2 s (the issue allows 2-5) keeps the whole matrix, two latency runs included, near 15 min.
    target_s = env_float("TARGET_S", 1.0 if quick else 2.0)
    lat_secs = env_float("LAT_SECS", 5.0)
    lat_rate = env_int("LAT_RATE", 1000)
    idle_clients = env_int("IDLE_CLIENTS", 10000)
    budget_s = env_float("BUDGET_S", 75.0 if quick else 1500.0)
    no_build = os.environ.get("NO_BUILD", "") not in ("", "0")

    wanted = [b for b in (os.environ.get("BROKERS") or ",".join(DEFAULT_SETTINGS)).split(",") if b]
    unknown = [b for b in wanted if b not in {st.name for st in SETTINGS}]
    if unknown:
        raise SystemExit(f"bench: unknown broker setting(s) {unknown}; known: {[st.name for st in SETTINGS]}")
    settings = [st for st in SETTINGS if st.name in wanted]
    keep_w = set(os.environ["WORKLOADS"].split(",")) if os.environ.get("WORKLOADS") else None
    # What runs: (broker setting, workload) cells, in report order.
    cells: list[tuple[Setting, Workload]] = [
        (st, w) for st in settings for w in ALL_WORKLOADS
        if w.name in (st.quick if quick else st.workloads) and (keep_w is None or w.name in keep_w)
    ]
    clients = {c.name: c for c in make_clients()}
    notes: list[str] = []
    if os.environ.get("CLIENTS"):
        keep = set(os.environ["CLIENTS"].split(","))
        for c in clients.values():
            if c.name not in keep:
                c.available, c.note = False, "not selected (CLIENTS)"
    elif os.environ.get("STORE", "") in ("", "0"):
        for name in STORE_VARIANTS:
            clients[name].available, clients[name].note = False, "not selected (STORE=1 runs the session-store variants)"

    TARGET.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    build(clients, notes, no_build)
    vers = versions(clients)

    # Thousands of sockets in one process (and in the broker): raise the open-file limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 2 * idle_clients + 2048  # the tether C face holds an event fd beside each socket
    if soft < want:
        for limits in ((want, max(hard, want)), (min(want, hard), hard)):
            try:  # raising the hard limit needs CAP_SYS_RESOURCE; else up to the hard limit
                resource.setrlimit(resource.RLIMIT_NOFILE, limits)
                break
            except (ValueError, OSError):
                continue
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]

    active = [c for c in clients.values() if c.available]
    # One broker per setting, all started up front: an idle mosquitto costs nothing, and the
    # rounds can then interleave the settings as they interleave the clients.
    brokers = {st.name: Broker(st, tls=any(cs is st and w.tls for cs, w in cells))
               for st in settings if any(cs is st for cs, _ in cells)}
    stopping = {"flag": False}

    def on_signal(signum, frame):  # stop cleanly: the brokers are ours to stop
        stopping["flag"] = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    runs: list[Run] = []
    sizes: dict[tuple[str, str, str], int] = {}
    measure_start = time.monotonic()
    cut_short = False
    broker_configs: dict[str, str] = {}
    for b in brokers.values():
        if b.tls:
            try:
                b.ca_file = make_pki(b.dir / "tls")
            except RuntimeError as e:
                notes.append(f"TLS rows ({b.setting.name}) left out: no certificates: {e}")
                log(f"TLS rows ({b.setting.name}) left out: no certificates: {e}")
                b.tls = False
                cells = [(st, w) for st, w in cells if not (st is b.setting and w.tls)]
    try:
        for b in brokers.values():
            b.start()

        def ensure_broker(b: Broker) -> None:
            if not b.alive():
                notes.append(f"mosquitto ({b.setting.name}) exited during the run and was restarted")
                b.stop()
                b.start()

        def over_budget() -> bool:
            return time.monotonic() - measure_start > budget_s

        timeout = max(30.0, 6 * target_s + 20)
        # A client that cannot complete the first few thousand messages in this long (Paho C at
        # mosquitto's defaults does ~50 msg/s) is reported as such rather than measured for
        # minutes.
        calibration_timeout = min(timeout, 10.0)
        lat_extra = ["--rate", str(lat_rate), "--secs", str(lat_secs)]

        # Calibration: size N per client x setting x throughput workload so that a run lasts
        # ~target_s.
        for st, w in cells:
            if not w.throughput:
                continue
            broker = brokers[st.name]
            for c in active:
                if not c.runs(w):
                    continue
                n = 5000 if w.size <= 1024 else 1000
                n_max = 5_000_000 if w.size <= 1024 else 200_000
                rates: list[float] = []
                long_enough = 0
                for _ in range(4):
                    if over_budget() or long_enough >= 2:
                        break
                    ensure_broker(broker)
                    r = run_one(c, w, broker, n, 0, calibration_timeout, [])
                    if not r.ok:
                        notes.append(f"{c.name} {w.name} ({st.name}): not measured, calibration failed "
                                     f"(timeout {calibration_timeout:.0f} s): {r.error}")
                        log(f"calibration {c.name} {w.name} {st.name}: FAILED {r.error}")
                        rates = []
                        break
                    el = float(r.result.get("elapsed_s") or 0)
                    if el <= 0:
                        break
                    rates.append(n / el)
                    if el >= min(0.25, target_s / 4) or n >= n_max:
                        long_enough += 1
                    else:
                        n = min(n_max, int(n * (min(0.5, target_s / 2) / max(el, 1e-3))) + 1)
                # The best rate seen: a client that stalls now and then (Paho C does, with
                # 16 KiB payloads) then runs longer than the target rather than too short.
                rate = max(rates) if rates else None
                if rate:
                    sizes[(c.name, st.name, w.name)] = max(1000, min(n_max, int(rate * target_s)))
                    log(f"calibration {c.name:14s} {w.name:13s} {st.name:9s} ~{rate:,.0f} msg/s -> "
                        f"N={sizes[(c.name, st.name, w.name)]}")

        # The measurement: round by round, each workload at each setting running every client
        # in turn (the starting client rotates), so that the machine's drift cancels out in the
        # ratios.
        for rnd in range(1, rounds + 1):
            for st, w in cells:
                broker = brokers[st.name]
                order = [c for c in active if c.runs(w)]
                if not order:
                    continue
                k = (rnd - 1) % len(order)
                order = order[k:] + order[:k]
                for c in order:
                    if over_budget():
                        cut_short = True
                        break
                    if w.throughput:
                        n = sizes.get((c.name, st.name, w.name))
                        if n is None:
                            continue
                        extra: list[str] = []
                    elif w.kind == "lat":
                        n, extra = int(lat_rate * lat_secs), lat_extra
                    else:
                        n = min(idle_clients, (nofile - 512) // c.fds_per_client)
                        extra = ["--clients", str(n)]
                        if n < idle_clients and rnd == 1:
                            notes.append(f"{c.name} idle: {n:,} clients, not {idle_clients:,}: the open-file limit is "
                                         f"{nofile} and each of its clients holds {c.fds_per_client} files")
                    ensure_broker(broker)
                    r = run_one(c, w, broker, n, rnd, timeout if w.kind != "idle" else max(timeout, 120), extra,
                                broker.proc.pid if broker.proc else None)
                    runs.append(r)
                    shown = ""
                    if r.ok:
                        m = metrics_of(w)[0][0]
                        shown = f"{m}={fmt(value_of(r, m), m)} cpu={r.cpu_s:.2f}s rss={r.maxrss_kb / 1024:.1f}MiB"
                    log(f"round {rnd} {w.name:13s} {st.name:9s} {c.name:14s} {'ok ' if r.ok else 'FAIL'} {shown}{r.error}")
                    if w.kind == "idle":
                        time.sleep(2.0)  # let the broker close thousands of connections
                if cut_short:
                    break
            if cut_short:
                notes.append(f"time budget ({budget_s:.0f} s of measuring) reached in round {rnd}: later runs left out")
                break
    except KeyboardInterrupt:
        notes.append("interrupted")
        log("interrupted")
    finally:
        for name, b in brokers.items():
            broker_configs[name] = b.config
            b.cleanup()
    if stopping["flag"]:
        return 130

    # ---- medians and ratios
    records: list[dict] = []
    medians: dict[tuple[str, str, str, str], float] = {}
    for st, w in cells:
        for c in clients.values():
            rs = [r for r in runs if r.client == c.name and r.workload == w.name and r.broker == st.name]
            if not rs:
                continue
            good = [r for r in rs if r.ok]
            for metric, unit, better in metrics_of(w):
                vals = [v for v in (value_of(r, metric) for r in good) if v is not None]
                med = statistics.median(vals) if vals else None
                if med is not None:
                    medians[(c.name, st.name, w.name, metric)] = med
                records.append({
                    "client": c.name, "role": c.role, {"tether": "face", "peer": "peer"}.get(c.role, "reference"): c.key,
                    "broker": st.name, "workload": w.name, "metric": metric, "unit": unit, "better": better,
                    "median": med, "values": vals, "runs": len(rs), "failed": len(rs) - len(good),
                    "n": good[0].n if good else None,
                })
    ratios: list[dict] = []
    quick_ratios: dict[str, float] = {}
    for st, w in cells:
        for metric, unit, better in metrics_of(w):
            if better == "context":
                continue
            for f in FACES:
                tc = next((c for c in clients.values() if c.role == "tether" and c.key == f), None)
                for p in PEERS:
                    a = medians.get((tc.name, st.name, w.name, metric)) if tc else None
                    b = medians.get((p, st.name, w.name, metric))
                    if a is None or b is None or b == 0:
                        continue
                    ratio = a / b
                    ratios.append({"face": f, "peer": p, "broker": st.name, "workload": w.name, "metric": metric,
                                   "better": better, "ratio": round(ratio, 4)})
                    if metric == "msgs_per_s":
                        at = "" if st.name == "tuned" else f"@{st.name}"
                        quick_ratios[f"{f}/{p}/{w.name}{at}"] = round(ratio, 2)

    # ---- the report
    total_s = time.monotonic() - start
    md: list[str] = []
    md.append("# tether benchmarks")
    md.append("")
    md.append(f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')} · {'QUICK · ' if quick else ''}{rounds} round(s), medians · "
              f"throughput runs sized for ~{target_s:g} s each · latency {lat_rate}/s for {lat_secs:g} s · "
              f"{os.cpu_count()} CPUs · {platform.platform()} · {total_s:.0f} s in all")
    md.append("")
    md.append("Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(vers.items())))
    md.append("")
    md.append("Ratios are tether ÷ peer of the medians: for msg/s above 1 favours tether; for time, CPU "
              "and memory below 1 does. CPU is user+sys of the client process per message (wait4), peak RSS "
              "its ru_maxrss; e2e and latency runs hold both the publisher and the subscriber. broker_cpu_pct is "
              "mosquitto's user+sys CPU (/proc) over the measured window, in % of one core: near 100 % the "
              "single-threaded broker, not the client, sets the pace, and CPU per message compares the clients. "
              "raw-c is a reference, not a peer: one thread, pre-encoded packets, no library; its rows show what "
              "the broker accepts when the client costs almost nothing, and it is in no ratio. Each broker "
              "setting is its own mosquitto; the rounds interleave the settings as they interleave the clients.")
    md.append("")
    # Throughput at every broker setting side by side: what a change to how tether waits for
    # acknowledgements moves (issue 16: QoS 1/2 collapsed when the broker keeps Nagle on).
    pub_cells = [(st, w) for st, w in cells if w.kind == "pub"
                 and any(r.broker == st.name and r.workload == w.name for r in runs)]
    if pub_cells:
        shown = [c for c in clients.values() if any(r.client == c.name for r in runs)]
        md.append("## Publish throughput at each broker setting (msg/s, medians)")
        md.append("")
        head = ["broker", "workload", *[c.name for c in shown], "rust ÷ rumqttc", "rust ÷ libmosquitto"]
        md.append("| " + " | ".join(head) + " |")
        md.append("|" + "---|" * len(head))
        for st, w in pub_cells:
            vals = [fmt(medians.get((c.name, st.name, w.name, "msgs_per_s")), "msgs_per_s") for c in shown]
            rr = [next((r["ratio"] for r in ratios if r["face"] == "rust" and r["peer"] == p and r["broker"] == st.name
                        and r["workload"] == w.name and r["metric"] == "msgs_per_s"), None)
                  for p in ("rumqttc", "libmosquitto")]
            md.append(f"| {st.name} | {w.name} | " + " | ".join(vals) + " | " + " | ".join(ratio_str(x) for x in rr) + " |")
        md.append("")
    for st in settings:
        if st.name not in broker_configs:
            continue
        md.append(f"# Broker: {st.name} — {st.title}")
        md.append("")
        md.append("mosquitto, started by the harness, stopped by PID:")
        md.append("")
        md.append("```")
        md.append(broker_configs[st.name].rstrip())
        md.append("```")
        md.append("")
        for cs, w in cells:
            if cs is not st:
                continue
            here = [r for r in runs if r.workload == w.name and r.broker == st.name]
            present = [c for c in clients.values() if any(r.client == c.name for r in here)]
            if not present:
                continue
            ms = metrics_of(w)
            md.append(f"## {w.name} ({st.name}) — {w.title}")
            md.append("")
            head = ["client", *[f"{m} ({u})" if b == "context" else f"{m} ({u}, {b} is better)" for m, u, b in ms],
                    "N", "ok runs"]
            md.append("| " + " | ".join(head) + " |")
            md.append("|" + "---|" * len(head))
            for c in present:
                rs = [r for r in here if r.client == c.name]
                good = [r for r in rs if r.ok]
                label = c.name + (" (reference)" if c.role == "reference" else "")
                cells_md = [label, *[fmt(medians.get((c.name, st.name, w.name, m)), m) for m, _, _ in ms],
                            f"{good[0].n:,}" if good else "—", f"{len(good)}/{len(rs)}"]
                md.append("| " + " | ".join(cells_md) + " |")
            for m, u, b in ms[: 1 if w.kind == "idle" else 2]:
                mine = [r for r in ratios if r["broker"] == st.name and r["workload"] == w.name and r["metric"] == m]
                faces = [f for f in FACES if any(r["face"] == f for r in mine)]
                if not faces:
                    continue
                md.append("")
                md.append(f"tether ÷ peer, {m} ({b} is better for tether):")
                md.append("")
                md.append("| face | " + " | ".join(PEERS) + " |")
                md.append("|---|" + "---|" * len(PEERS))
                for f in faces:
                    row = [next((r["ratio"] for r in mine if r["face"] == f and r["peer"] == p), None) for p in PEERS]
                    md.append(f"| {f} | " + " | ".join(ratio_str(x) for x in row) + " |")
            fails = [r for r in here if not r.ok]
            lossy = [r for r in here if r.ok and r.result.get("missing")]
            if fails or lossy:
                md.append("")
                for r in fails:
                    md.append(f"* failed: {r.client} round {r.round}: {r.error}")
                for r in lossy:  # only QoS 0 gets here: a QoS 1/2 loss fails the run
                    md.append(f"* {r.client} round {r.round}: {r.result['missing']:,} of {r.result.get('n', r.n):,} "
                              f"messages not received (allowed at QoS 0)")
            md.append("")
    if notes:
        md.append("## Notes")
        md.append("")
        for n in notes:
            md.append(f"* {n}")
        md.append("")
    text = "\n".join(md)
    (RESULTS / "latest.md").write_text(text)
    doc = {
        "meta": {
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "quick": quick, "rounds": rounds, "target_s": target_s,
            "latency": {"rate": lat_rate, "secs": lat_secs}, "idle_clients": idle_clients, "cpus": os.cpu_count(),
            "platform": platform.platform(), "versions": vers, "total_s": round(total_s, 1),
            "broker_config": broker_configs.get("tuned", ""),  # the tuned one, as before there were several
            "brokers": {name: {"title": next(st.title for st in settings if st.name == name), "config": cfg}
                        for name, cfg in broker_configs.items()},
        },
        "records": records,
        "ratios": ratios,
        "notes": notes,
        "runs": [{"client": r.client, "broker": r.broker, "workload": r.workload, "round": r.round, "n": r.n, "ok": r.ok,
                  "error": r.error, "cpu_s": round(r.cpu_s, 4), "maxrss_kb": r.maxrss_kb,
                  "broker_cpu_s": None if r.broker_cpu_s is None else round(r.broker_cpu_s, 3), "wall_s": round(r.wall_s, 3), "result": r.result}
                 for r in runs],
    }
    (RESULTS / "latest.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    print(text)
    print(f"(written to {RESULTS / 'latest.md'} and {RESULTS / 'latest.json'})")
    # The last line: throughput ratios tether ÷ peer, keyed "<face>/<peer>/<workload>" and
    # "@<broker>" appended for a broker setting other than tuned.
    print(json.dumps(quick_ratios, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
