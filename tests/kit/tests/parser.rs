//! The MQTT stream parser used by the proxy, on hand-built byte sequences.

// A test fixture runs real processes and sockets with deadlines: it reads the clock on purpose
// (the sans-IO rule of clippy.toml is for core's codec and session).
#![allow(clippy::disallowed_methods)]

use tether_testkit::mqtt::{ParseEvent, PublishInfo, StreamParser};

/// QoS 1 PUBLISH with DUP, topic "t", packet id 5, empty properties, payload "hi".
const QOS1_DUP: [u8; 10] = [0x3A, 0x08, 0x00, 0x01, b't', 0x00, 0x05, 0x00, b'h', b'i'];
/// QoS 0 PUBLISH (retain), topic "ab", empty properties, payload "x".
const QOS0: [u8; 8] = [0x31, 0x06, 0x00, 0x02, b'a', b'b', 0x00, b'x'];
/// QoS 2 PUBLISH, no DUP, topic "c/d", packet id 0x1234, empty properties, no payload.
const QOS2: [u8; 10] = [0x34, 0x08, 0x00, 0x03, b'c', b'/', b'd', 0x12, 0x34, 0x00];
const PINGREQ: [u8; 2] = [0xC0, 0x00];
/// PUBACK for packet id 5, reason success.
const PUBACK: [u8; 4] = [0x40, 0x02, 0x00, 0x05];

fn stream() -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&QOS1_DUP);
    v.extend_from_slice(&PINGREQ);
    v.extend_from_slice(&QOS0);
    v.extend_from_slice(&PUBACK);
    v.extend_from_slice(&QOS2);
    v
}

fn expected() -> Vec<PublishInfo> {
    vec![
        PublishInfo { packet_id: Some(5), qos: 1, dup: true, retain: false, topic: "t".into() },
        PublishInfo { packet_id: None, qos: 0, dup: false, retain: true, topic: "ab".into() },
        PublishInfo { packet_id: Some(0x1234), qos: 2, dup: false, retain: false, topic: "c/d".into() },
    ]
}

fn parse_chunks(chunks: &[&[u8]]) -> (Vec<u8>, Vec<PublishInfo>, StreamParser) {
    let mut p = StreamParser::new();
    let mut types = Vec::new();
    let mut pubs = Vec::new();
    for c in chunks {
        p.feed(c, |e| match e {
            ParseEvent::Packet { packet_type } => types.push(packet_type),
            ParseEvent::Publish(i) => pubs.push(i),
        });
    }
    (types, pubs, p)
}

#[test]
fn whole_stream_in_one_chunk() {
    let s = stream();
    let (types, pubs, p) = parse_chunks(&[&s]);
    assert_eq!(types, vec![3, 12, 3, 4, 3]);
    assert_eq!(pubs, expected());
    assert!(!p.is_broken());
    assert_eq!(p.malformed(), 0);
}

#[test]
fn split_at_every_position() {
    let s = stream();
    for i in 0..=s.len() {
        let (types, pubs, _) = parse_chunks(&[&s[..i], &s[i..]]);
        assert_eq!(types, vec![3, 12, 3, 4, 3], "split at {i}");
        assert_eq!(pubs, expected(), "split at {i}");
    }
}

#[test]
fn split_at_every_pair_of_positions() {
    let s = stream();
    for i in 0..=s.len() {
        for j in i..=s.len() {
            let (_, pubs, _) = parse_chunks(&[&s[..i], &s[i..j], &s[j..]]);
            assert_eq!(pubs, expected(), "split at {i},{j}");
        }
    }
}

#[test]
fn byte_by_byte() {
    let s = stream();
    let chunks: Vec<&[u8]> = s.chunks(1).collect();
    let (_, pubs, _) = parse_chunks(&chunks);
    assert_eq!(pubs, expected());
}

#[test]
fn multi_byte_remaining_length_and_large_payload() {
    // QoS 1 PUBLISH, topic "big", id 7, props 0, 200 bytes payload: remaining = 2+3+2+1+200 = 208
    let mut pkt = vec![0x32, 0xD0, 0x01, 0x00, 0x03, b'b', b'i', b'g', 0x00, 0x07, 0x00];
    pkt.extend_from_slice(&[0xAB; 200]);
    pkt.extend_from_slice(&QOS1_DUP);
    for i in 0..=pkt.len() {
        let (_, pubs, _) = parse_chunks(&[&pkt[..i], &pkt[i..]]);
        assert_eq!(pubs.len(), 2, "split at {i}");
        assert_eq!(pubs[0].topic, "big");
        assert_eq!(pubs[0].packet_id, Some(7));
        assert!(!pubs[0].dup);
        assert_eq!(pubs[1].packet_id, Some(5));
    }
}

#[test]
fn garbage_never_panics() {
    // Deterministic pseudo-random garbage (xorshift), fed in varying chunk sizes.
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for round in 0..200 {
        let mut data = Vec::new();
        for _ in 0..(round * 7 % 500) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            data.push(x as u8);
        }
        let mut p = StreamParser::new();
        for c in data.chunks(1 + round % 13) {
            p.feed(c, |_| {});
        }
    }
}

#[test]
fn invalid_length_breaks_the_stream_and_qos3_is_malformed() {
    let (_, pubs, p) = parse_chunks(&[&[0x30, 0xFF, 0xFF, 0xFF, 0xFF], &QOS1_DUP]);
    assert!(p.is_broken());
    assert!(pubs.is_empty());

    let mut s = vec![0x36, 0x03, 0x00, 0x01, b'z']; // QoS 3: skipped
    s.extend_from_slice(&QOS1_DUP);
    let (_, pubs, p) = parse_chunks(&[&s]);
    assert_eq!(p.malformed(), 1);
    assert_eq!(pubs.len(), 1);

    let mut s = vec![0x32, 0x03, 0x00, 0x05, b'z']; // topic longer than the packet
    s.extend_from_slice(&QOS0);
    let (_, pubs, p) = parse_chunks(&[&s]);
    assert_eq!(p.malformed(), 1);
    assert_eq!(pubs.len(), 1);
    assert_eq!(pubs[0].topic, "ab");
}
