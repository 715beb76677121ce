//! mosquitto behind the fault proxy, with a hand-written MQTT 5 CONNECT.

// A test fixture runs real processes and sockets with deadlines: it reads the clock on purpose
// (the sans-IO rule of clippy.toml is for core's codec and session).
#![allow(clippy::disallowed_methods)]

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use tether_testkit::{Broker, Direction, FaultProxy};

/// MQTT 5 CONNECT, client id "a", clean start, keep-alive 60, no properties.
const CONNECT: [u8; 16] =
    [0x10, 0x0E, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x02, 0x00, 0x3C, 0x00, 0x00, 0x01, b'a'];

fn connect(proxy: &FaultProxy) -> TcpStream {
    let mut s = TcpStream::connect(proxy.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(&CONNECT).unwrap();
    s
}

/// Reads one whole MQTT packet (fixed header, varint length, body).
fn read_packet(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut pkt = vec![0u8; 1];
    s.read_exact(&mut pkt)?;
    let mut len = 0usize;
    for i in 0..4 {
        let mut b = [0u8; 1];
        s.read_exact(&mut b)?;
        pkt.push(b[0]);
        len |= usize::from(b[0] & 0x7F) << (7 * i);
        if b[0] & 0x80 == 0 {
            break;
        }
    }
    let mut body = vec![0u8; len];
    s.read_exact(&mut body)?;
    pkt.extend_from_slice(&body);
    Ok(pkt)
}

#[test]
fn connack_through_the_proxy() {
    let broker = Broker::start();
    let proxy = FaultProxy::start(broker.addr());
    let mut s = connect(&proxy);
    let connack = read_packet(&mut s).expect("CONNACK");
    assert_eq!(connack[0], 0x20, "{connack:?}");
    assert_eq!(connack[3], 0x00, "reason code: {connack:?}");
    // A QoS 1 PUBLISH (topic "t", id 1, no properties, payload "p") gets a PUBACK.
    s.write_all(&[0x32, 0x07, 0x00, 0x01, b't', 0x00, 0x01, 0x00, b'p']).unwrap();
    let puback = read_packet(&mut s).expect("PUBACK");
    assert_eq!(puback[0], 0x40, "{puback:?}");
    let st = proxy.stats();
    assert_eq!(st.connacks, 1);
    assert_eq!(st.publishes, 1);
    assert_eq!(st.publishes_by_qos, [0, 1, 0]);
    assert!(broker.log().contains("New client connected"), "{}", broker.log());
}

#[test]
fn cut_in_the_middle_of_the_connack_and_reconnect() {
    let broker = Broker::start();
    let proxy = FaultProxy::start(broker.addr());
    proxy.cut_after_bytes(Direction::ServerToClient, 2);
    let mut s = connect(&proxy);
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    for _ in 0..100 {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("not cut")
            }
            Err(_) => break,
        }
    }
    assert_eq!(got.len(), 2, "{got:?}");
    let mut s = connect(&proxy);
    assert_eq!(read_packet(&mut s).unwrap()[0], 0x20);
    assert!(proxy.wait_for_connections(2, Duration::from_secs(1)));
}
