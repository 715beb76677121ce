//! The mosquitto fixture: start, connect, stop by PID, restart on the same port.

// A test fixture runs real processes and sockets with deadlines: it reads the clock on purpose
// (the sans-IO rule of clippy.toml is for core's codec and session).
#![allow(clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use tether_testkit::Broker;

fn pid_alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks existence.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
}

/// MQTT 5 CONNECT, client id "a", clean start, keep-alive 60, no properties.
const CONNECT: [u8; 16] =
    [0x10, 0x0E, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x02, 0x00, 0x3C, 0x00, 0x00, 0x01, b'a'];

fn connack(addr: std::net::SocketAddr) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(&CONNECT).unwrap();
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).expect("read CONNACK");
    buf[..n].to_vec()
}

#[test]
fn starts_on_free_port_and_accepts_connections() {
    let broker = Broker::start();
    assert_ne!(broker.port(), 0);
    assert_ne!(broker.port(), 1883);
    assert_eq!(broker.addr().ip().to_string(), "127.0.0.1");
    let pid = broker.pid().expect("running");
    assert!(pid_alive(pid));
    let ack = connack(broker.addr());
    assert_eq!(ack.first(), Some(&0x20), "expected a CONNACK, got {ack:?}");
    let conf = std::fs::read_to_string(broker.config_path()).unwrap();
    assert!(conf.contains(&format!("listener {} 127.0.0.1", broker.port())));
    assert!(broker.log().contains("mosquitto version"), "log: {}", broker.log());
}

#[test]
fn two_brokers_get_different_ports() {
    let a = Broker::start();
    let b = Broker::start();
    assert_ne!(a.port(), b.port());
}

#[test]
fn stop_kills_the_process() {
    let mut broker = Broker::start();
    let pid = broker.pid().unwrap();
    broker.stop();
    assert!(!pid_alive(pid), "mosquitto {pid} still alive after stop()");
    assert!(broker.pid().is_none());
    assert!(TcpStream::connect(broker.addr()).is_err());
}

#[test]
fn kill_is_abrupt_and_removes_the_process() {
    let mut broker = Broker::start();
    let pid = broker.pid().unwrap();
    broker.kill();
    assert!(!pid_alive(pid));
}

#[test]
fn drop_stops_the_process() {
    let broker = Broker::start();
    let pid = broker.pid().unwrap();
    let dir = broker.dir().to_path_buf();
    drop(broker);
    assert!(!pid_alive(pid));
    assert!(!dir.exists(), "temp folder left behind");
}

#[test]
fn restart_reuses_the_port() {
    let mut broker = Broker::builder().persistence(true).start().unwrap();
    let port = broker.port();
    let pid = broker.pid().unwrap();
    broker.restart();
    assert_eq!(broker.port(), port);
    let new_pid = broker.pid().unwrap();
    assert_ne!(pid, new_pid);
    assert!(!pid_alive(pid));
    assert_eq!(connack(broker.addr())[0], 0x20);
    // restart after a kill works too
    broker.kill();
    broker.restart();
    assert_eq!(broker.port(), port);
    assert_eq!(connack(broker.addr())[0], 0x20);
}

#[test]
fn persistence_writes_its_database_on_stop() {
    let mut broker =
        Broker::builder().persistence(true).config_line("max_inflight_messages 20").start().unwrap();
    let conf = std::fs::read_to_string(broker.config_path()).unwrap();
    assert!(conf.contains("persistence true"));
    assert!(conf.contains("max_inflight_messages 20"));
    if unsafe { libc::geteuid() } == 0 {
        assert!(conf.contains("user root"));
    }
    let _ = connack(broker.addr());
    broker.stop();
    assert!(broker.dir().join("data").join("mosquitto.db").exists(), "no database; log:\n{}", broker.log());
}

#[test]
fn fixed_port_and_bad_config_fail_with_the_log() {
    let port = tether_testkit::broker::free_port().unwrap();
    let b = Broker::builder().port(port).start().unwrap();
    assert_eq!(b.port(), port);
    // A second broker on the same port cannot start; the error explains why.
    let err = Broker::builder().port(port).start().unwrap_err();
    assert!(err.to_string().contains("mosquitto"), "{err}");
    let err = Broker::builder().config_line("no_such_option 1").start().unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("no_such_option") || err.to_string().contains("exited"),
        "{err}"
    );
}
