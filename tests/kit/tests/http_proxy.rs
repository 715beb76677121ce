//! The HTTP CONNECT proxy fixture: credentials (407), loopback-only destinations (403), the
//! refusal mode, a working tunnel, its counters, cutting tunnels, and the binary's commands.

// A test fixture runs real processes and sockets with deadlines: it reads the clock on purpose
// (the sans-IO rule of clippy.toml is for core's codec and session).
#![allow(clippy::disallowed_methods)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use tether_testkit::HttpProxy;

const T: Duration = Duration::from_secs(10);

/// Sends `request` to the proxy and returns its status line and the open stream.
fn ask(proxy: &HttpProxy, request: &str) -> (String, TcpStream) {
    let mut s = TcpStream::connect(proxy.addr()).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    // The rest of the header.
    for _ in 0..64 {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
    }
    (status.trim_end().to_string(), s)
}

#[test]
fn credentials_destinations_refusals_and_a_tunnel() {
    let echo = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = echo.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut c, _) = echo.accept().unwrap();
        let mut buf = [0u8; 5];
        c.read_exact(&mut buf).unwrap();
        c.write_all(&buf).unwrap();
        // Held open until the tunnel is cut.
        let _ = c.read(&mut buf);
    });
    let proxy = HttpProxy::with_credentials("user", "pw");
    let good = "Proxy-Authorization: Basic dXNlcjpwdw==\r\n"; // user:pw
    let (status, _) = ask(&proxy, &format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n"));
    assert_eq!(status, "HTTP/1.1 407 Proxy Authentication Required");
    let (status, _) = ask(&proxy, &format!("CONNECT 10.0.0.1:{port} HTTP/1.1\r\n{good}\r\n"));
    assert_eq!(status, "HTTP/1.1 403 Forbidden", "only loopback destinations");
    proxy.set_refuse(Some(502));
    let (status, _) = ask(&proxy, &format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\n{good}\r\n"));
    assert_eq!(status, "HTTP/1.1 502 Bad Gateway");
    proxy.set_refuse(None);
    let (status, mut tunnel) = ask(&proxy, &format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\n{good}\r\n"));
    assert_eq!(status, "HTTP/1.1 200 Connection established");
    assert!(proxy.wait_for_tunnels(1, T));
    tunnel.write_all(b"hello").unwrap();
    let mut back = [0u8; 5];
    tunnel.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"hello");
    assert_eq!(proxy.cut_all(), 1);
    server.join().unwrap();
    let s = proxy.stats();
    assert_eq!(
        (s.requests, s.tunnels, s.auth_failures, s.refused, s.bad_requests, s.cuts),
        (4, 1, 1, 1, 1, 1)
    );
}

#[test]
fn the_binary_answers_its_commands() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tether-testkit"))
        .args(["http-proxy", "--user", "u", "--password", "p"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut stdin = child.stdin.take().unwrap();
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let port: u16 = line.trim().strip_prefix("PORT ").unwrap().parse().unwrap();
    assert!(port > 0);
    let mut command = |c: &str| {
        writeln!(stdin, "{c}").unwrap();
        let mut answer = String::new();
        out.read_line(&mut answer).unwrap();
        answer.trim().to_string()
    };
    assert_eq!(command("refuse 503"), "ok");
    assert!(command("refuse 42").starts_with("error"));
    assert_eq!(command("refuse off"), "ok");
    assert_eq!(command("cut"), "ok 0");
    assert_eq!(command("wait-tunnels 1 10"), "timeout");
    assert!(command("stats").starts_with("{\"requests\":0,"));
    assert_eq!(command("quit"), "ok");
    assert!(child.wait().unwrap().success());
}
