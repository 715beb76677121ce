//! The `tether-testkit` binary used by the C and Python suites.

// A test fixture runs real processes and sockets with deadlines: it reads the clock on purpose
// (the sans-IO rule of clippy.toml is for core's codec and session).
#![allow(clippy::disallowed_methods)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_tether-testkit");

fn pid_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks existence.
    unsafe { libc::kill(pid, 0) == 0 }
}

fn read_port(r: &mut impl BufRead) -> u16 {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    line.trim()
        .strip_prefix("PORT ")
        .unwrap_or_else(|| panic!("expected PORT, got {line:?}"))
        .parse()
        .unwrap()
}

/// PIDs of the direct children of `pid` (from /proc).
fn children(pid: u32) -> Vec<i32> {
    let path = format!("/proc/{pid}/task/{pid}/children");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

#[test]
fn broker_mode_stops_on_stdin_eof() {
    let mut child = Command::new(BIN)
        .args(["broker", "--persistence", "--config-line", "max_inflight_messages 20"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let port = read_port(&mut out);
    TcpStream::connect(("127.0.0.1", port)).expect("broker listening");
    let kids = children(child.id());
    assert_eq!(kids.len(), 1, "one mosquitto child expected: {kids:?}");
    drop(child.stdin.take()); // EOF
    let status = child.wait().unwrap();
    assert!(status.success());
    assert!(!pid_alive(kids[0]), "mosquitto left behind");
}

#[test]
fn broker_mode_stops_on_sigterm() {
    let mut child =
        Command::new(BIN).arg("broker").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let port = read_port(&mut out);
    TcpStream::connect(("127.0.0.1", port)).expect("broker listening");
    let kids = children(child.id());
    assert_eq!(kids.len(), 1);
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(!pid_alive(kids[0]), "mosquitto left behind");
}

#[test]
fn proxy_mode_commands() {
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let up_addr = upstream.local_addr().unwrap();
    let mut child = Command::new(BIN)
        .args(["proxy", "--upstream", &up_addr.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut input = child.stdin.take().unwrap();
    let port = read_port(&mut out);
    let mut ask = |cmd: &str| {
        writeln!(input, "{cmd}").unwrap();
        input.flush().unwrap();
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        line.trim().to_string()
    };
    assert_eq!(ask("wait-connections 1 50"), "timeout");
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (mut server, _) = upstream.accept().unwrap();
    assert_eq!(ask("wait-connections 1 5000"), "ok");
    c.write_all(&[0x30, 0x03, 0x00, 0x01, b't']).unwrap();
    server.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 5];
    std::io::Read::read_exact(&mut server, &mut buf).unwrap();
    let stats = ask("stats");
    assert!(stats.starts_with('{') && stats.ends_with('}'), "{stats}");
    assert!(stats.contains("\"connections\":1"), "{stats}");
    assert!(stats.contains("\"publishes_by_qos\":[1,0,0]"), "{stats}");
    assert!(stats.contains("\"bytes_up\":5"), "{stats}");
    for cmd in [
        "blackhole on",
        "blackhole off",
        "refuse on",
        "refuse off",
        "random-cuts 1 1000 2000",
        "stop-random-cuts",
        "cut-after-bytes up 100",
        "delay 0",
    ] {
        assert_eq!(ask(cmd), "ok", "{cmd}");
    }
    // The server refuses a QoS 1 message: PUBACK id 7, 0x97 Quota exceeded.
    server.write_all(&[0x40, 0x03, 0x00, 0x07, 0x97]).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    std::io::Read::read_exact(&mut c, &mut buf).unwrap();
    let report = ask("wire-report");
    assert!(report.starts_with("{\"records\":1,") && report.ends_with('}'), "{report}");
    assert!(report.contains("\"receive_maximum_up\":65535"), "{report}");
    assert!(
        report.contains(
            "\"error_acks_from_server\":[{\"connection\":1,\"packet_type\":4,\"packet_id\":7,\"reason_code\":151}]"
        ),
        "{report}"
    );
    assert_eq!(ask("wire-clear"), "ok");
    assert!(ask("wire-report").starts_with("{\"records\":0,"));
    assert_eq!(ask("cut"), "ok 1");
    assert!(ask("stats").contains("\"cuts\":1"));
    assert!(ask("frobnicate").starts_with("error"));
    assert!(ask("blackhole maybe").starts_with("error"));
    assert_eq!(ask("quit"), "ok");
    assert!(child.wait().unwrap().success());
}

#[test]
fn bad_arguments_fail() {
    let out = Command::new(BIN).arg("nope").output().unwrap();
    assert!(!out.status.success());
    let out = Command::new(BIN).args(["proxy"]).stdin(Stdio::null()).output().unwrap();
    assert!(!out.status.success());
}
