//! `tether-testkit`: the broker and fault-proxy fixtures as a process, for the C and Python
//! suites.
//!
//! ```text
//! tether-testkit broker [--persistence] [--config-line LINE]... [--tls [--require-certificate]]
//!                       [--ws] [--wss]
//!     prints "PORT <n>", runs until stdin reaches EOF or SIGTERM/SIGINT, stops the broker.
//!     With --tls it also makes throw-away certificates (tether_testkit::tls::TestPki), adds
//!     a TLS listener showing the server certificate (for localhost and 127.0.0.1), and then
//!     prints "TLS_PORT <n>" and "TLS_DIR <path>"; the folder holds ca.pem, server.pem/.key,
//!     client.pem/.key (a client certificate the CA signed) and other-ca.pem (a CA that
//!     signed nothing there). --require-certificate makes the TLS listener refuse clients
//!     without a client certificate (mutual TLS).
//!     --ws adds a WebSocket listener and prints "WS_PORT <n>" (ws://127.0.0.1:<n>/mqtt);
//!     --wss a WebSocket-over-TLS listener with the same certificates as --tls and prints
//!     "WSS_PORT <n>" and "TLS_DIR <path>" (once, also with --tls).
//! tether-testkit rmqtt [--max-inflight N] [--cluster N]
//!     an rmqtt node (tether_testkit::rmqtt; needs rmqttd, `make test-interop` installs it):
//!     prints "PORT <n>", runs until stdin reaches EOF or SIGTERM/SIGINT, stops the node.
//!     With --cluster N (2..5): N nodes in a raft cluster; prints "PORTS <p1> ... <pN>", then
//!     reads commands, one answer line each: kill I (SIGKILL node I, 1-based) | quit
//!     (EOF on stdin = quit); stops every node at the end.
//! tether-testkit proxy --upstream 127.0.0.1:PORT
//!     prints "PORT <n>", then reads one command per line and answers each with one line:
//!     cut | blackhole on|off | refuse on|off | random-cuts SEED MIN_MS MAX_MS |
//!     stop-random-cuts | cut-after-bytes up|down N | delay MS | stats |
//!     wait-connections N TIMEOUT_MS | wire-report | wire-clear | quit   (EOF on stdin = quit)
//!   wire-report: one-line JSON of the analysis of the wire log (tether_testkit::wire), e.g.
//!     {"records":6,"dropped_records":0,"max_unfinished_up":2,"max_unfinished_down":0,
//!      "unfinished_up_at_end":0,"unfinished_down_at_end":0,"receive_maximum_up":20,
//!      "error_acks_from_server":[{"connection":1,"packet_type":4,"packet_id":7,"reason_code":151}],
//!      "error_acks_from_server_count":1,"duplicate_acks_from_client":[],
//!      "duplicate_acks_from_client_count":0,"client_acks_without_publish":[],
//!      "client_acks_without_publish_count":0}      (lists cut at 100 entries, counts complete)
//!   wire-clear: empties the wire log ("ok"); do it between connections, not during one.
//! tether-testkit http-proxy [--user USER --password PASSWORD] [--refuse STATUS]
//!     an HTTP CONNECT proxy (tether_testkit::HttpProxy) tunnelling to 127.0.0.1 only;
//!     with --user/--password it answers 407 to requests without those basic credentials.
//!     Prints "PORT <n>", then reads one command per line and answers each with one line:
//!     stats | refuse STATUS|off | cut | wait-tunnels N TIMEOUT_MS | quit   (EOF = quit)
//!   stats: {"requests":2,"tunnels":1,"auth_failures":1,"refused":0,"bad_requests":0,
//!           "upstream_failures":0,"cuts":0}
//! ```

// A test fixture runs real processes and sockets with deadlines: it reads the clock on purpose
// (the sans-IO rule of clippy.toml is for core's codec and session).
#![allow(clippy::disallowed_methods)]

use std::io::{self, BufRead, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use tether_testkit::tls::{TestPki, TlsListener};
use tether_testkit::{Broker, ClusterMode, Direction, FaultProxy, HttpProxy, Rmqtt};

const USAGE: &str = "usage:
  tether-testkit broker [--persistence] [--config-line LINE]... [--tls [--require-certificate]]
                        [--ws] [--wss]
  tether-testkit proxy --upstream 127.0.0.1:PORT
  tether-testkit rmqtt [--max-inflight N] [--cluster N]
  tether-testkit http-proxy [--user USER --password PASSWORD] [--refuse STATUS]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("broker") => run_broker(&args[1..]),
        Some("proxy") => run_proxy(&args[1..]),
        Some("rmqtt") => run_rmqtt(&args[1..]),
        Some("http-proxy") => run_http_proxy(&args[1..]),
        Some("-h" | "--help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tether-testkit: {e}");
            ExitCode::from(2)
        }
    }
}

enum Stop {
    Eof,
    Signal(i32),
}

/// Blocks SIGTERM/SIGINT/SIGHUP in this thread (and so in every thread spawned later) and
/// returns the set, to be received by `sigwait` in a dedicated thread.
fn block_stop_signals() -> libc::sigset_t {
    // SAFETY: sigset manipulation on a local, zero-initialised set; pthread_sigmask on the
    // current thread.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGHUP);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

fn run_broker(args: &[String]) -> Result<(), String> {
    let mut builder = Broker::builder();
    let (mut tls, mut require_certificate, mut wss) = (false, false, false);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--persistence" => builder = builder.persistence(true),
            "--tls" => tls = true,
            "--require-certificate" => require_certificate = true,
            "--ws" => builder = builder.ws_listener(),
            "--wss" => wss = true,
            "--config-line" => {
                let line = it.next().ok_or("--config-line needs a value")?;
                builder = builder.config_line(line.clone());
            }
            other => return Err(format!("unknown broker option {other:?}\n{USAGE}")),
        }
    }
    if require_certificate && !tls {
        return Err("--require-certificate needs --tls".into());
    }
    // Lives as long as the broker: the listener reads its files.
    let pki_dir = if tls || wss {
        let dir = tempfile::Builder::new().prefix("tether-pki-").tempdir().map_err(|e| e.to_string())?;
        let pki = TestPki::generate(dir.path()).map_err(|e| format!("certificates: {e}"))?;
        if tls {
            builder = builder.tls_listener(TlsListener::new(&pki.server, &pki.ca_file, require_certificate));
        }
        if wss {
            builder = builder.wss_listener(TlsListener::new(&pki.server, &pki.ca_file, false));
        }
        Some(dir)
    } else {
        None
    };
    // Block the stop signals before any thread exists (the broker child gets a clean mask).
    let set = block_stop_signals();
    let mut broker = builder.start().map_err(|e| format!("broker: {e}"))?;
    println!("PORT {}", broker.port());
    if let Some(port) = broker.tls_port() {
        println!("TLS_PORT {port}");
    }
    if let Some(port) = broker.ws_port() {
        println!("WS_PORT {port}");
    }
    if let Some(port) = broker.wss_port() {
        println!("WSS_PORT {port}");
    }
    if let Some(dir) = &pki_dir {
        println!("TLS_DIR {}", dir.path().display());
    }
    io::stdout().flush().map_err(|e| e.to_string())?;

    wait_for_stop(set);
    broker.stop();
    Ok(())
}

/// Blocks until stdin reaches EOF or a stop signal of `set` arrives.
fn wait_for_stop(set: libc::sigset_t) {
    let (tx, rx) = mpsc::channel();
    let sig_tx = tx.clone();
    std::thread::spawn(move || {
        let mut sig: libc::c_int = 0;
        // SAFETY: `set` is a valid signal set blocked in every thread.
        let rc = unsafe { libc::sigwait(&set, &mut sig) };
        if rc == 0 {
            let _ = sig_tx.send(Stop::Signal(sig));
        }
    });
    std::thread::spawn(move || {
        // Input is ignored; only its end matters.
        let _ = io::copy(&mut io::stdin().lock(), &mut io::sink());
        let _ = tx.send(Stop::Eof);
    });
    match rx.recv() {
        Ok(Stop::Signal(s)) => eprintln!("tether-testkit: signal {s}, stopping broker"),
        Ok(Stop::Eof) | Err(_) => {}
    }
}

fn run_rmqtt(args: &[String]) -> Result<(), String> {
    let mut builder = Rmqtt::builder();
    let mut cluster = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--max-inflight" => {
                let n = it.next().ok_or("--max-inflight needs a value")?;
                builder = builder.max_inflight(n.parse().map_err(|_| format!("bad --max-inflight {n:?}"))?);
            }
            "--cluster" => {
                let n = it.next().ok_or("--cluster needs a node count")?;
                let n: usize = n.parse().map_err(|_| format!("bad --cluster {n:?}"))?;
                if !(2..=5).contains(&n) {
                    return Err(format!("--cluster {n}: 2 to 5 nodes"));
                }
                cluster = Some(n);
            }
            other => return Err(format!("unknown rmqtt option {other:?}\n{USAGE}")),
        }
    }
    let Some(n) = cluster else {
        let set = block_stop_signals();
        let mut node = builder.start().map_err(|e| format!("rmqtt: {e}"))?;
        println!("PORT {}", node.port());
        io::stdout().flush().map_err(|e| e.to_string())?;
        wait_for_stop(set);
        node.stop();
        return Ok(());
    };
    let mut nodes = builder.start_cluster(n, ClusterMode::Raft).map_err(|e| format!("rmqtt cluster: {e}"))?;
    let ports: Vec<String> = nodes.iter().map(|n| n.port().to_string()).collect();
    serve_commands(&format!("PORTS {}", ports.join(" ")), |line| {
        match line.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["kill", i] => match i.parse::<usize>() {
                Ok(i) if (1..=nodes.len()).contains(&i) => {
                    nodes[i - 1].kill();
                    "ok".to_string()
                }
                _ => format!("error no node {i:?} (1..={})", nodes.len()),
            },
            _ => format!("error unknown command {line:?}"),
        }
    })?;
    for node in &mut nodes {
        node.stop();
    }
    Ok(())
}

fn run_proxy(args: &[String]) -> Result<(), String> {
    let mut upstream: Option<SocketAddr> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--upstream" => {
                let v = it.next().ok_or("--upstream needs HOST:PORT")?;
                upstream = Some(v.parse().map_err(|e| format!("bad --upstream {v:?}: {e}"))?);
            }
            other => return Err(format!("unknown proxy option {other:?}\n{USAGE}")),
        }
    }
    let upstream = upstream.ok_or(format!("--upstream is required\n{USAGE}"))?;
    let proxy = FaultProxy::try_start(upstream).map_err(|e| format!("proxy: {e}"))?;
    serve_commands(&format!("PORT {}", proxy.port()), |line| {
        command(&proxy, line).unwrap_or_else(|e| format!("error {e}"))
    })
}

fn run_http_proxy(args: &[String]) -> Result<(), String> {
    let (mut user, mut password, mut refuse) = (None, None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--user" => user = Some(it.next().ok_or("--user needs a value")?.clone()),
            "--password" => password = Some(it.next().ok_or("--password needs a value")?.clone()),
            "--refuse" => refuse = Some(status(it.next().map(String::as_str))?),
            other => return Err(format!("unknown http-proxy option {other:?}\n{USAGE}")),
        }
    }
    let credentials = match (&user, &password) {
        (Some(u), Some(p)) => Some((u.as_str(), p.as_str())),
        (None, None) => None,
        _ => return Err("--user and --password go together".into()),
    };
    let proxy = HttpProxy::try_start(credentials).map_err(|e| format!("http-proxy: {e}"))?;
    proxy.set_refuse(refuse);
    serve_commands(&format!("PORT {}", proxy.port()), |line| {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("stats") => proxy.stats().to_json(),
            Some("cut") => format!("ok {}", proxy.cut_all()),
            Some("refuse") => match words.next() {
                Some("off") => {
                    proxy.set_refuse(None);
                    "ok".into()
                }
                w => match status(w) {
                    Ok(s) => {
                        proxy.set_refuse(Some(s));
                        "ok".into()
                    }
                    Err(e) => format!("error {e}"),
                },
            },
            Some("wait-tunnels") => match (num(words.next(), "N"), num(words.next(), "TIMEOUT_MS")) {
                (Ok(n), Ok(ms)) => {
                    if proxy.wait_for_tunnels(n, Duration::from_millis(ms)) {
                        "ok".into()
                    } else {
                        "timeout".into()
                    }
                }
                (Err(e), _) | (_, Err(e)) => format!("error {e}"),
            },
            Some(other) => format!("error unknown command {other:?}"),
            None => unreachable!("serve_commands skips empty lines"),
        }
    })
}

/// Prints `first` (the "PORT <n>" line), then answers each line on stdin with one line,
/// `answer(line)`, until EOF or `quit` (answered "ok"); empty lines are skipped.
fn serve_commands(first: &str, mut answer: impl FnMut(&str) -> String) -> Result<(), String> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    writeln!(out, "{first}").map_err(|e| e.to_string())?;
    out.flush().map_err(|e| e.to_string())?;
    for line in io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line == "quit" {
            let _ = writeln!(out, "ok");
            let _ = out.flush();
            break;
        }
        let reply = answer(line);
        if writeln!(out, "{reply}").and_then(|_| out.flush()).is_err() {
            break;
        }
    }
    Ok(())
}

/// An HTTP status a proxy may refuse with (400 to 599).
fn status(v: Option<&str>) -> Result<u16, String> {
    match v.and_then(|v| v.parse::<u16>().ok()) {
        Some(s) if (400..600).contains(&s) => Ok(s),
        _ => Err("expected an HTTP status 400..599".into()),
    }
}

fn on_off(v: Option<&str>) -> Result<bool, String> {
    match v {
        Some("on") => Ok(true),
        Some("off") => Ok(false),
        _ => Err("expected on|off".into()),
    }
}

fn num(v: Option<&str>, what: &str) -> Result<u64, String> {
    v.ok_or(format!("missing {what}"))?.parse().map_err(|_| format!("bad {what}"))
}

/// Runs one proxy command line and returns the one-line answer.
fn command(proxy: &FaultProxy, line: &str) -> Result<String, String> {
    let mut words = line.split_whitespace();
    let cmd = words.next().unwrap_or_default();
    let answer = match cmd {
        "cut" => format!("ok {}", proxy.cut_all()),
        "blackhole" => {
            proxy.set_blackhole(on_off(words.next())?);
            "ok".into()
        }
        "refuse" => {
            proxy.set_refuse(on_off(words.next())?);
            "ok".into()
        }
        "random-cuts" => {
            let seed = num(words.next(), "SEED")?;
            let min = num(words.next(), "MIN_MS")?;
            let max = num(words.next(), "MAX_MS")?;
            proxy.random_cuts(seed, Duration::from_millis(min), Duration::from_millis(max));
            "ok".into()
        }
        "stop-random-cuts" => {
            proxy.stop_random_cuts();
            "ok".into()
        }
        "cut-after-bytes" => {
            let dir = match words.next() {
                Some("up") => Direction::ClientToServer,
                Some("down") => Direction::ServerToClient,
                _ => return Err("expected up|down".into()),
            };
            proxy.cut_after_bytes(dir, num(words.next(), "N")?);
            "ok".into()
        }
        "delay" => {
            proxy.set_delay(Duration::from_millis(num(words.next(), "MS")?));
            "ok".into()
        }
        "stats" => proxy.stats().to_json(),
        "wait-connections" => {
            let n = num(words.next(), "N")?;
            let ms = num(words.next(), "TIMEOUT_MS")?;
            if proxy.wait_for_connections(n, Duration::from_millis(ms)) {
                "ok".into()
            } else {
                "timeout".into()
            }
        }
        "wire-report" => proxy.wire_report().to_json(),
        "wire-clear" => {
            proxy.clear_wire_log();
            "ok".into()
        }
        other => return Err(format!("unknown command {other:?}")),
    };
    Ok(answer)
}
