//! The MQTT stream parser used by the proxy, on hand-built byte sequences.

// A test fixture runs real processes and sockets with deadlines: it reads the clock on purpose
// (the sans-IO rule of clippy.toml is for core's codec and session).
#![allow(clippy::disallowed_methods)]

use tether_testkit::mqtt::{self, AckInfo, ParseEvent, PublishInfo, StreamParser};

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
            ParseEvent::Ack(_) | ParseEvent::ConnAck { .. } => {}
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

/// Every event but `Packet`, from the chunks fed in order.
fn heads(chunks: &[&[u8]]) -> (Vec<ParseEvent>, StreamParser) {
    let mut p = StreamParser::new();
    let mut events = Vec::new();
    for c in chunks {
        p.feed(c, |e| {
            if !matches!(e, ParseEvent::Packet { .. }) {
                events.push(e)
            }
        });
    }
    (events, p)
}

/// Checks `data` gives `expected` fed whole, byte by byte, and split at every position.
fn check_all_splits(data: &[u8], expected: &[ParseEvent], malformed: u64) {
    let (events, p) = heads(&[data]);
    assert_eq!(events, expected, "whole");
    assert_eq!(p.malformed(), malformed, "whole");
    let bytes: Vec<&[u8]> = data.chunks(1).collect();
    let (events, p) = heads(&bytes);
    assert_eq!(events, expected, "byte by byte");
    assert_eq!(p.malformed(), malformed, "byte by byte");
    assert!(!p.is_broken());
    for i in 0..=data.len() {
        let (events, p) = heads(&[&data[..i], &data[i..]]);
        assert_eq!(events, expected, "split at {i}");
        assert_eq!(p.malformed(), malformed, "split at {i}");
    }
}

fn ack(packet_type: u8, packet_id: u16, reason_code: u8) -> ParseEvent {
    ParseEvent::Ack(AckInfo { packet_type, packet_id, reason_code })
}

#[test]
fn acks_with_and_without_reason_code() {
    let mut s = Vec::new();
    s.extend_from_slice(&[0x40, 0x02, 0x00, 0x05]); // PUBACK 5, no reason code: Success
    s.extend_from_slice(&[0x50, 0x03, 0x01, 0x02, 0x97]); // PUBREC 0x0102, Quota exceeded
    s.extend_from_slice(&[0x62, 0x04, 0xFF, 0xFF, 0x92, 0x00]); // PUBREL, id not found, no props
                                                                // PUBCOMP 7, success, with a Reason String property "ok".
    s.extend_from_slice(&[0x70, 0x09, 0x00, 0x07, 0x00, 0x05, 0x1F, 0x00, 0x02, b'o', b'k']);
    s.extend_from_slice(&QOS1_DUP);
    let expected = vec![
        ack(mqtt::PUBACK, 5, 0x00),
        ack(mqtt::PUBREC, 0x0102, 0x97),
        ack(mqtt::PUBREL, 0xFFFF, 0x92),
        ack(mqtt::PUBCOMP, 7, 0x00),
        ParseEvent::Publish(expected()[0].clone()),
    ];
    check_all_splits(&s, &expected, 0);
}

#[test]
fn an_ack_too_short_for_its_packet_id_is_malformed() {
    // A PUBACK with a one-byte body, a PUBREC with none, then a valid PUBACK.
    let mut s = vec![0x40, 0x01, 0x00, 0x50, 0x00];
    s.extend_from_slice(&PUBACK);
    check_all_splits(&s, &[ack(mqtt::PUBACK, 5, 0)], 2);
}

/// CONNACK, session present, success, with Receive Maximum 20 among other properties of
/// every value encoding.
fn connack_with_properties() -> Vec<u8> {
    let mut props = vec![
        0x11, 0x00, 0x00, 0x01, 0x2C, // Session Expiry Interval 300 (four bytes)
        0x12, 0x00, 0x03, b'c', b'i', b'd', // Assigned Client Identifier (string)
        0x26, 0x00, 0x01, b'k', 0x00, 0x02, b'v', b'v', // User Property (string pair)
        0x0B, 0x80,
        0x01, // Subscription Identifier 128 (variable byte integer; odd here, but skippable)
        0x24, 0x01, // Maximum QoS 1 (byte)
        0x21, 0x00, 0x14, // Receive Maximum 20
        0x22, 0x00, 0x0A, // Topic Alias Maximum 10
        0x26, 0x00, 0x00, 0x00, 0x00, // User Property with empty name and value
    ];
    // A long Reason String, so the property length takes two bytes.
    props.extend_from_slice(&[0x1F, 0x00, 0xC8]);
    props.extend_from_slice(&[b'r'; 200]);
    let mut body = vec![0x01, 0x00];
    let n = props.len();
    body.extend_from_slice(&[(n as u8 & 0x7F) | 0x80, (n >> 7) as u8]);
    body.extend_from_slice(&props);
    let mut pkt = vec![0x20];
    let m = body.len();
    pkt.extend_from_slice(&[(m as u8 & 0x7F) | 0x80, (m >> 7) as u8]);
    pkt.extend_from_slice(&body);
    pkt
}

#[test]
fn connack_receive_maximum_among_other_properties() {
    let mut s = connack_with_properties();
    s.extend_from_slice(&PUBACK);
    let expected = vec![
        ParseEvent::ConnAck { session_present: true, reason_code: 0, receive_maximum: Some(20) },
        ack(mqtt::PUBACK, 5, 0),
    ];
    check_all_splits(&s, &expected, 0);
}

#[test]
fn connack_without_properties() {
    // MQTT 3.1.1 style (no property length), then MQTT 5 with an empty property list, refused.
    let mut s = vec![0x20, 0x02, 0x00, 0x00, 0x20, 0x03, 0x00, 0x87, 0x00];
    s.extend_from_slice(&PUBACK);
    let expected = vec![
        ParseEvent::ConnAck { session_present: false, reason_code: 0, receive_maximum: None },
        ParseEvent::ConnAck { session_present: false, reason_code: 0x87, receive_maximum: None },
        ack(mqtt::PUBACK, 5, 0),
    ];
    check_all_splits(&s, &expected, 0);
}

#[test]
fn connack_that_cannot_be_followed_is_malformed_but_keeps_the_stream() {
    // Receive Maximum 5, then an unknown property 0x7F: the rest is skipped.
    let mut s = vec![0x20, 0x09, 0x00, 0x00, 0x06, 0x21, 0x00, 0x05, 0x7F, 0x01, 0x02];
    // Property length larger than the body.
    s.extend_from_slice(&[0x20, 0x06, 0x01, 0x00, 0x10, 0x21, 0x00, 0x07]);
    // Property length ending inside Receive Maximum's value.
    s.extend_from_slice(&[0x20, 0x06, 0x00, 0x00, 0x02, 0x21, 0x00, 0x08]);
    // Cut before the reason code: no event.
    s.extend_from_slice(&[0x20, 0x01, 0x00]);
    s.extend_from_slice(&PUBACK);
    let expected = vec![
        ParseEvent::ConnAck { session_present: false, reason_code: 0, receive_maximum: Some(5) },
        ParseEvent::ConnAck { session_present: true, reason_code: 0, receive_maximum: Some(7) },
        ParseEvent::ConnAck { session_present: false, reason_code: 0, receive_maximum: None },
        ack(mqtt::PUBACK, 5, 0),
    ];
    check_all_splits(&s, &expected, 4);
}

#[test]
fn garbage_after_a_connack_header_never_panics() {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for round in 0..500usize {
        // A CONNACK or acknowledgement header with a one-byte length, then random bytes.
        let mut data = vec![[0x20, 0x40, 0x50, 0x62, 0x70][round % 5], (round % 128) as u8];
        for _ in 0..(round % 140) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            data.push(x as u8);
        }
        let mut p = StreamParser::new();
        for c in data.chunks(1 + round % 5) {
            p.feed(c, |_| {});
        }
    }
}
