//! The fault proxy against plain TCP upstreams.

// A test fixture runs real processes and sockets with deadlines: it reads the clock on purpose
// (the sans-IO rule of clippy.toml is for core's codec and session).
#![allow(clippy::disallowed_methods)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use tether_testkit::mqtt::{CONNACK, PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL};
use tether_testkit::{Broker, Direction, FaultProxy, WireRecord};

const T: Duration = Duration::from_secs(5);

/// What the upstream test server does with each connection.
#[derive(Clone)]
enum Mode {
    /// Echo everything back.
    Echo,
    /// Send these bytes, then keep reading until EOF.
    Send(Vec<u8>),
    /// Read until EOF/error, then report everything received on the channel.
    Record(mpsc::Sender<Vec<u8>>),
}

/// A std TCP server on 127.0.0.1 serving at most 32 connections, each in its own thread
/// with 10 s read timeouts (every loop bounded).
fn upstream(mode: Mode) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    thread::spawn(move || {
        for s in l.incoming().take(32) {
            let Ok(mut s) = s else { continue };
            let mode = mode.clone();
            thread::spawn(move || {
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let mut got = Vec::new();
                if let Mode::Send(b) = &mode {
                    let _ = s.write_all(b);
                }
                let mut buf = [0u8; 4096];
                for _ in 0..100_000 {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            got.extend_from_slice(&buf[..n]);
                            if let Mode::Echo = mode {
                                if s.write_all(&buf[..n]).is_err() {
                                    break;
                                }
                            }
                        }
                    }
                }
                if let Mode::Record(tx) = mode {
                    let _ = tx.send(got);
                }
            });
        }
    });
    addr
}

fn client(proxy: &FaultProxy) -> TcpStream {
    let s = TcpStream::connect(proxy.addr()).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    s
}

fn roundtrip(s: &mut TcpStream, data: &[u8]) {
    s.write_all(data).unwrap();
    let mut back = vec![0u8; data.len()];
    s.read_exact(&mut back).unwrap();
    assert_eq!(back, data);
}

/// Reads until EOF or a reset; fails if the socket stays open (read timeout).
fn read_until_closed(s: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    for _ in 0..10_000 {
        match s.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("connection still open after {T:?}")
            }
            Err(_) => return got, // reset
        }
    }
    panic!("too much data")
}

fn assert_still_open_but_silent(s: &mut TcpStream) {
    s.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let mut buf = [0u8; 16];
    match s.read(&mut buf) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("expected a read timeout, got {other:?}"),
    }
    s.set_read_timeout(Some(T)).unwrap();
}

#[test]
fn forwards_bytes_both_ways_and_counts_them() {
    let proxy = FaultProxy::start(upstream(Mode::Echo));
    let mut c = client(&proxy);
    roundtrip(&mut c, b"hello");
    roundtrip(&mut c, &[7u8; 100_000]);
    let s = proxy.stats();
    assert_eq!(s.connections, 1);
    assert_eq!(s.bytes_up, 100_005);
    assert_eq!(s.bytes_down, 100_005);
    assert_eq!(s.cuts, 0);
    assert_eq!(proxy.active_connections(), 1);
}

#[test]
fn cut_all_closes_the_client_side() {
    let (tx, rx) = mpsc::channel();
    let proxy = FaultProxy::start(upstream(Mode::Record(tx)));
    let mut c = client(&proxy);
    c.write_all(b"abc").unwrap();
    assert!(proxy.wait_for_connections(1, T));
    assert_eq!(proxy.cut_all(), 1);
    assert_eq!(proxy.active_connections(), 0);
    read_until_closed(&mut c);
    // The upstream side is closed too.
    let got = rx.recv_timeout(T).expect("upstream not closed");
    assert_eq!(got, b"abc");
    assert_eq!(proxy.stats().cuts, 1);
    // The proxy still accepts new connections afterwards.
    let mut c2 = client(&proxy);
    c2.write_all(b"x").unwrap();
    assert!(proxy.wait_for_connections(2, T));
}

#[test]
fn blackhole_stops_forwarding_but_keeps_the_socket_open() {
    let proxy = FaultProxy::start(upstream(Mode::Echo));
    let mut c = client(&proxy);
    roundtrip(&mut c, b"before");
    proxy.set_blackhole(true);
    c.write_all(b"lost").unwrap();
    assert_still_open_but_silent(&mut c);
    // New connections are black-holed too.
    let mut c2 = client(&proxy);
    c2.write_all(b"lost too").unwrap();
    assert_still_open_but_silent(&mut c2);
    proxy.set_blackhole(false);
    roundtrip(&mut c, b"after");
    roundtrip(&mut c2, b"after2");
    assert_eq!(proxy.stats().bytes_up, 6 + 5 + 6);
    assert_eq!(proxy.stats().cuts, 0);
}

#[test]
fn refuse_closes_new_connections() {
    let proxy = FaultProxy::start(upstream(Mode::Echo));
    let mut old = client(&proxy);
    roundtrip(&mut old, b"1");
    proxy.set_refuse(true);
    let mut c = client(&proxy);
    let _ = c.write_all(b"x");
    assert!(read_until_closed(&mut c).is_empty());
    assert_eq!(proxy.stats().refused, 1);
    roundtrip(&mut old, b"existing connections are untouched");
    proxy.set_refuse(false);
    let mut c = client(&proxy);
    roundtrip(&mut c, b"back");
    assert_eq!(proxy.stats().connections, 2);
}

#[test]
fn cut_after_bytes_up_forwards_exactly_n() {
    let (tx, rx) = mpsc::channel();
    let proxy = FaultProxy::start(upstream(Mode::Record(tx)));
    proxy.cut_after_bytes(Direction::ClientToServer, 10);
    let mut c = client(&proxy);
    let data: Vec<u8> = (0..100u8).collect();
    let _ = c.write_all(&data);
    read_until_closed(&mut c);
    let got = rx.recv_timeout(T).expect("upstream not closed");
    assert_eq!(got, &data[..10]);
    let s = proxy.stats();
    assert_eq!(s.bytes_up, 10);
    assert_eq!(s.cuts, 1);
}

#[test]
fn cut_after_bytes_is_one_shot() {
    let proxy = FaultProxy::start(upstream(Mode::Echo));
    proxy.cut_after_bytes(Direction::ClientToServer, 3);
    let mut c = client(&proxy);
    c.write_all(b"hello").unwrap();
    let got = read_until_closed(&mut c);
    assert!(got.len() <= 3, "{got:?}");
    let mut c = client(&proxy);
    roundtrip(&mut c, b"hello again");
    assert_eq!(proxy.stats().cuts, 1);
}

#[test]
fn cut_after_bytes_down_delivers_exactly_n() {
    let data: Vec<u8> = (0..200u8).collect();
    let proxy = FaultProxy::start(upstream(Mode::Send(data.clone())));
    proxy.cut_after_bytes(Direction::ServerToClient, 7);
    let mut c = client(&proxy);
    let got = read_until_closed(&mut c);
    assert_eq!(got, &data[..7]);
    assert_eq!(proxy.stats().bytes_down, 7);
}

#[test]
fn seeded_random_cuts_happen() {
    let proxy = FaultProxy::start(upstream(Mode::Echo));
    proxy.random_cuts(42, Duration::from_millis(20), Duration::from_millis(80));
    let start = Instant::now();
    for i in 0..3u64 {
        let mut c = client(&proxy);
        read_until_closed(&mut c);
        assert!(proxy.stats().cuts > i);
    }
    assert!(start.elapsed() < Duration::from_secs(3));
    assert_eq!(proxy.stats().cuts, 3);
    proxy.stop_random_cuts();
    let mut c = client(&proxy);
    roundtrip(&mut c, b"no more cuts");
    assert_still_open_but_silent(&mut c);
    assert_eq!(proxy.stats().cuts, 3);
}

#[test]
fn random_cuts_apply_to_existing_connections() {
    let proxy = FaultProxy::start(upstream(Mode::Echo));
    let mut c = client(&proxy);
    roundtrip(&mut c, b"x");
    proxy.random_cuts(7, Duration::from_millis(10), Duration::from_millis(30));
    read_until_closed(&mut c);
    assert_eq!(proxy.stats().cuts, 1);
}

#[test]
fn delay_slows_each_chunk() {
    let proxy = FaultProxy::start(upstream(Mode::Echo));
    let mut c = client(&proxy);
    roundtrip(&mut c, b"warm");
    proxy.set_delay(Duration::from_millis(150));
    let t = Instant::now();
    roundtrip(&mut c, b"slow");
    assert!(t.elapsed() >= Duration::from_millis(290), "{:?}", t.elapsed());
    proxy.set_delay(Duration::ZERO);
    let t = Instant::now();
    roundtrip(&mut c, b"fast");
    assert!(t.elapsed() < Duration::from_millis(280), "{:?}", t.elapsed());
}

#[test]
fn wait_for_connections_awaits_a_reconnect() {
    let proxy = FaultProxy::start(upstream(Mode::Echo));
    assert!(!proxy.wait_for_connections(1, Duration::from_millis(50)));
    let addr = proxy.addr();
    let h = thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"x").unwrap();
        s
    });
    assert!(proxy.wait_for_connections(1, T));
    let _s = h.join().unwrap();
    assert!(!proxy.wait_for_connections(2, Duration::from_millis(50)));
}

#[tokio::test]
async fn wait_for_connections_async_works_in_a_tokio_test() {
    let proxy = FaultProxy::start(upstream(Mode::Echo));
    let addr = proxy.addr();
    let connect = tokio::spawn(async move { tokio::net::TcpStream::connect(addr).await.unwrap() });
    assert!(proxy.wait_for_connections_async(1, T).await);
    let _s = connect.await.unwrap();
    assert!(!proxy.wait_for_connections_async(2, Duration::from_millis(50)).await);
}

#[test]
fn counts_publishes_by_qos_and_dup() {
    let proxy = FaultProxy::start(upstream(Mode::Echo));
    let mut c = client(&proxy);
    let qos1_dup = [0x3A, 0x08, 0x00, 0x01, b't', 0x00, 0x05, 0x00, b'h', b'i'];
    let qos0 = [0x30, 0x06, 0x00, 0x02, b'a', b'b', 0x00, b'x'];
    let qos2 = [0x34, 0x08, 0x00, 0x03, b'c', b'/', b'd', 0x12, 0x34, 0x00];
    // Split one packet across two writes, mid topic.
    c.write_all(&qos1_dup[..4]).unwrap();
    let mut back = [0u8; 4];
    c.read_exact(&mut back).unwrap();
    let mut rest = qos1_dup[4..].to_vec();
    rest.extend_from_slice(&qos0);
    rest.extend_from_slice(&qos2);
    roundtrip(&mut c, &rest);
    let s = proxy.stats();
    assert_eq!(s.publishes, 3);
    assert_eq!(s.dup_publishes, 1);
    assert_eq!(s.publishes_by_qos, [1, 1, 1]);
    let log = proxy.publish_log();
    assert_eq!(log.len(), 3);
    assert_eq!(log[0].connection, 1);
    assert_eq!(log[0].packet_id, Some(5));
    assert!(log[0].dup);
    assert_eq!(log[0].topic, "t");
    assert_eq!(log[1].packet_id, None);
    assert_eq!(log[2].packet_id, Some(0x1234));
    assert_eq!(log[2].qos, 2);
    assert_eq!(log[2].topic, "c/d");
    // Garbage does not disturb the proxy.
    roundtrip(&mut c, &[0xFF; 64]);
    // The server→client echo counted nothing as CONNACK (no 0x20 byte went down).
    assert_eq!(s.connacks, 0);
}

#[test]
fn drop_closes_everything() {
    let proxy = FaultProxy::start(upstream(Mode::Echo));
    let addr = proxy.addr();
    let mut c = client(&proxy);
    roundtrip(&mut c, b"x");
    drop(proxy);
    read_until_closed(&mut c);
    assert!(TcpStream::connect(addr).is_err());
}

#[test]
fn upstream_down_closes_the_client() {
    // A port with nothing listening.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let proxy = FaultProxy::start(port);
    let mut c = client(&proxy);
    read_until_closed(&mut c);
    let s = proxy.stats();
    assert_eq!(s.upstream_failures, 1);
    assert_eq!(s.connections, 0);
}

/// A hand-driven MQTT 5 client through the proxy: it answers the broker's deliveries itself
/// (PUBACK, PUBREC, PUBCOMP) while waiting for what the test expects.
struct RawClient {
    s: TcpStream,
    deliveries: Vec<(u8, u16)>,
}

impl RawClient {
    fn send(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).unwrap();
    }

    fn publish(&mut self, topic: &str, qos: u8, id: u16) {
        let mut body = vec![0x00, topic.len() as u8];
        body.extend_from_slice(topic.as_bytes());
        body.extend_from_slice(&id.to_be_bytes());
        body.extend_from_slice(&[0x00, b'p']); // no properties, payload "p"
        let mut pkt = vec![0x30 | (qos << 1), body.len() as u8];
        pkt.extend_from_slice(&body);
        self.send(&pkt);
    }

    fn ack(&mut self, first: u8, id: u16) {
        let [hi, lo] = id.to_be_bytes();
        self.send(&[first, 0x02, hi, lo]);
    }

    /// Reads one whole packet: (first byte, body).
    fn read_packet(&mut self) -> (u8, Vec<u8>) {
        let mut b = [0u8; 1];
        self.s.read_exact(&mut b).unwrap();
        let first = b[0];
        let mut len = 0usize;
        for i in 0..4 {
            self.s.read_exact(&mut b).unwrap();
            len |= usize::from(b[0] & 0x7F) << (7 * i);
            if b[0] & 0x80 == 0 {
                break;
            }
        }
        let mut body = vec![0u8; len];
        self.s.read_exact(&mut body).unwrap();
        (first, body)
    }

    /// Reads packets, answering deliveries, until one of `packet_type` for `id` arrives and
    /// `done` holds; returns that packet's body.
    fn until(&mut self, packet_type: u8, id: u16, done: impl Fn(&RawClient) -> bool) -> Vec<u8> {
        let mut found = None;
        for _ in 0..100 {
            let (first, body) = self.read_packet();
            let t = first >> 4;
            let pid = |at: usize| u16::from_be_bytes([body[at], body[at + 1]]);
            if t == PUBLISH {
                let qos = (first >> 1) & 0x03;
                let id = pid(2 + usize::from(pid(0)));
                self.deliveries.push((qos, id));
                self.ack(if qos == 1 { 0x40 } else { 0x50 }, id);
            } else if t == PUBREL {
                self.ack(0x70, pid(0));
            }
            if t == packet_type && (body.len() < 2 || pid(0) == id) {
                found = Some(body);
            }
            if let Some(body) = found.take_if(|_| done(self)) {
                return body;
            }
        }
        panic!("no packet type {packet_type} id {id}")
    }
}

#[test]
fn wire_log_of_qos1_and_qos2_through_mosquitto() {
    let broker = Broker::builder().config_line("max_inflight_messages 7").start().expect("mosquitto");
    let proxy = FaultProxy::start(broker.addr());
    let s = TcpStream::connect(proxy.addr()).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    let mut c = RawClient { s, deliveries: Vec::new() };
    // MQTT 5 CONNECT, client id "w", clean start, keep-alive 60, no properties.
    c.send(&[0x10, 0x0E, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x02, 0x00, 0x3C, 0x00, 0x00, 0x01, b'w']);
    let connack = c.until(CONNACK, 0, |_| true);
    assert_eq!(connack[1], 0x00, "{connack:?}");
    // SUBSCRIBE id 10 to "d" at QoS 2, no properties.
    c.send(&[0x82, 0x07, 0x00, 0x0A, 0x00, 0x00, 0x01, b'd', 0x02]);
    c.until(9, 10, |_| true);

    // Two messages unfinished at once: a QoS 2 one held before its PUBREL, and a QoS 1 one.
    c.publish("u", 2, 3);
    c.until(PUBREC, 3, |_| true);
    c.publish("u", 1, 1);
    c.until(PUBACK, 1, |_| true);
    c.ack(0x62, 3); // PUBREL
    c.until(PUBCOMP, 3, |_| true);
    // Messages to our own subscription, one at a time: the broker's deliveries come back.
    c.publish("d", 1, 4);
    c.until(PUBACK, 4, |c| c.deliveries.len() == 1);
    c.publish("d", 2, 5);
    c.until(PUBREC, 5, |_| true);
    c.ack(0x62, 5);
    c.until(PUBCOMP, 5, |c| c.deliveries.len() == 2);
    // Our answer to the broker's PUBREL went before this PINGREQ, so the proxy saw it.
    c.send(&[0xC0, 0x00]);
    c.until(13, 0, |_| true);

    let log = proxy.wire_log();
    let up = Direction::ClientToServer;
    let down = Direction::ServerToClient;
    let ids = |dir: Direction, t: u8| -> Vec<u16> {
        log.iter().filter(|r| r.direction == dir && r.packet_type == t).filter_map(|r| r.packet_id).collect()
    };
    // mosquitto announces its max_inflight_messages as Receive Maximum.
    assert_eq!(log[0], WireRecord::connack(1, false, 0, Some(7)), "{log:?}");
    assert_eq!(ids(up, PUBLISH), vec![3, 1, 4, 5], "{log:?}");
    assert_eq!(ids(down, PUBACK), vec![1, 4], "{log:?}");
    assert_eq!(ids(down, PUBREC), vec![3, 5], "{log:?}");
    assert_eq!(ids(up, PUBREL), vec![3, 5], "{log:?}");
    assert_eq!(ids(down, PUBCOMP), vec![3, 5], "{log:?}");
    let (d1, d2) = (c.deliveries[0], c.deliveries[1]);
    assert_eq!((d1.0, d2.0), (1, 2), "{:?}", c.deliveries);
    assert_eq!(ids(down, PUBLISH), vec![d1.1, d2.1], "{log:?}");
    assert_eq!(ids(up, PUBACK), vec![d1.1], "{log:?}");
    assert_eq!(ids(up, PUBREC), vec![d2.1], "{log:?}");
    assert_eq!(ids(down, PUBREL), vec![d2.1], "{log:?}");
    assert_eq!(ids(up, PUBCOMP), vec![d2.1], "{log:?}");
    // (The PUBACK of "u" may say 0x10 No matching subscribers: a success.)
    assert!(log.iter().all(|r| r.connection == 1 && r.reason_code < 0x80 && !r.dup), "{log:?}");

    let r = proxy.wire_report();
    assert_eq!(r.records, log.len());
    assert_eq!(r.receive_maximum_up, 7);
    assert_eq!(r.max_unfinished_up, 2, "{r:?}");
    assert_eq!(r.max_unfinished_down, 1, "{r:?}");
    assert_eq!((r.unfinished_up_at_end, r.unfinished_down_at_end), (0, 0), "{r:?}");
    assert!(r.error_acks_from_server.is_empty(), "{r:?}");
    assert!(r.duplicate_acks_from_client.is_empty(), "{r:?}");
    assert!(r.client_acks_without_publish.is_empty(), "{r:?}");
    assert_eq!(r.dropped_records, 0);
    assert_eq!(proxy.stats().malformed_down, 0);

    proxy.clear_wire_log();
    assert!(proxy.wire_log().is_empty());
    assert_eq!(proxy.wire_report().records, 0);
}
