"""`python -m tether sub|pub` against the fixture broker."""

from __future__ import annotations

import subprocess
import sys

import tether


def tether_cli(
    *args: str, timeout: float = 20.0, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tether", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        input=stdin,
    )


def test_pub_then_sub_retained(port: int, uid: str) -> None:
    topic = f"cli/{uid}"
    p = tether_cli("pub", "-p", str(port), "-t", topic, "-m", "21.5", "-q", "1", "-r")
    assert p.returncode == 0, p.stderr
    s = tether_cli("sub", "-p", str(port), "-t", topic, "-C", "1", "-v", "-W", "10")
    assert s.returncode == 0, s.stderr
    assert s.stdout == f"{topic} 21.5\n"
    tether_cli("pub", "-p", str(port), "-t", topic, "-n", "-r")  # clear the retained message


def test_persistent_session_from_the_command_line(port: int, uid: str) -> None:
    topic = f"cli/{uid}"
    session = ["-p", str(port), "-i", uid, "-c", "-x", "3600", "-q", "1", "-t", topic]
    # The subscriber registers its session, then goes away (-W: exit after 0.5 s).
    first = tether_cli("sub", *session, "-W", "0.5", "-d")
    assert first.returncode == 27, first.stderr
    assert "session_present: False" in first.stderr
    for i in range(3):
        p = tether_cli("pub", "-p", str(port), "-t", topic, "-m", f"queued {i}", "-q", "1")
        assert p.returncode == 0, p.stderr
    back = tether_cli("sub", *session, "-C", "3", "-d", "-W", "10")
    assert back.returncode == 0, back.stderr
    assert "session_present: True" in back.stderr
    assert back.stdout.splitlines() == ["queued 0", "queued 1", "queued 2"]
    with tether.Client(uid, clean_start=False, session_expiry_interval=3600) as c:
        c.connect("127.0.0.1", port)
        c.disconnect(session_expiry_interval=0)


def test_user_properties_and_lines(port: int, uid: str) -> None:
    topic = f"cli/{uid}"
    with tether.Client(uid) as c:
        c.connect("127.0.0.1", port)
        c.subscribe(topic, qos=1)
        p = tether_cli(
            "pub",
            "-p",
            str(port),
            "-t",
            topic,
            "-l",
            "-q",
            "1",
            "-D",
            "publish",
            "user-property",
            "k",
            "v",
            "--user-property",
            "site",
            "a",
            stdin="one\ntwo\n",
        )
        assert p.returncode == 0, p.stderr
        got = list(c.messages(timeout=2.0))
        assert [m.payload for m in got] == [b"one", b"two"]
        assert got[0].properties.user_properties == [("site", "a"), ("k", "v")]


def test_errors_are_reported(port: int) -> None:
    p = tether_cli("pub", "-p", "1", "-t", "x", "-m", "y")
    assert p.returncode == 1
    assert "error:" in p.stderr
    bad = tether_cli("pub", "-t", "bad/#", "-m", "y", "-p", str(port))
    assert bad.returncode == 1
    assert "bad/#" in bad.stderr
    usage = tether_cli("sub")
    assert usage.returncode == 2
    assert "-t" in usage.stderr
