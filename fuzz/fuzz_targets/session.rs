//! Fuzz the session engine: arbitrary server packets (decoded from the input), interleaved
//! with commands, connection losses and time. The engine must never panic, and every packet
//! it asks to send must encode.
#![no_main]
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use tether_core::codec::{self, ConnAck, ConnectReasonCode, Decoded, Packet, QoS, Subscription, SubscriptionOptions};
use tether_core::session::{Command, Config, PublishRequest, Session, SESSION_NEVER_EXPIRES};

fn drain(s: &mut Session, now: Instant) {
    let mut out = BytesMut::new();
    for _ in 0..100_000 {
        match s.poll_transmit(now) {
            Some(p) => {
                out.clear();
                p.encode(&mut out).expect("the engine produced a packet that does not encode");
            }
            None => break,
        }
    }
    while s.poll_event().is_some() {}
    if s.wants_close() {
        s.connection_lost(now);
    }
}

fuzz_target!(|data: &[u8]| {
    let mut config = Config::new("fuzz");
    config.clean_start = false;
    config.properties.session_expiry_interval = Some(SESSION_NEVER_EXPIRES);
    config.properties.topic_alias_maximum = Some(10);
    config.properties.receive_maximum = Some(20);
    config.keep_alive = 10;
    config.manual_ack = data.first().is_some_and(|b| b & 1 == 1);
    let mut s = Session::new(config);
    let mut now = Instant::now();
    let mut buf = BytesMut::from(data);
    let mut token = 0u64;
    for _ in 0..10_000 {
        if buf.is_empty() {
            break;
        }
        let op = buf[0];
        buf.advance(1);
        match op % 10 {
            0 => {
                token += 1;
                let request = PublishRequest {
                    topic: format!("t/{}", op >> 4),
                    payload: Bytes::from_static(b"x"),
                    qos: QoS::try_from((op >> 4) % 3).unwrap_or_default(),
                    ..Default::default()
                };
                let _ = s.handle_command(now, Command::Publish { token, request });
            }
            1 => {
                s.connection_lost(now);
                s.connection_opened(now);
                drain(&mut s, now);
                let ack = ConnAck { session_present: op & 0x10 != 0, reason_code: ConnectReasonCode::Success, properties: Default::default() };
                s.handle_packet(now, Packet::ConnAck(ack));
            }
            2 => {
                now += Duration::from_secs(u64::from(op >> 4));
                s.handle_timeout(now);
            }
            3 => {
                token += 1;
                let subscriptions = vec![Subscription { filter: "t/#".into(), options: SubscriptionOptions::default() }];
                let _ = s.handle_command(now, Command::Subscribe { token, subscriptions, properties: Default::default() });
            }
            4 => {
                let _ = s.handle_command(now, Command::Ack { ack_id: u64::from(op >> 4) });
            }
            5 => s.connection_lost(now),
            _ => match codec::decode(&mut buf, u32::MAX, codec::ProtocolVersion::V5) {
                Ok(Decoded::Packet(p)) => s.handle_packet(now, p),
                Ok(Decoded::Incomplete { .. }) => break,
                Err(e) => {
                    s.protocol_violation(now, e.reason_code(), e.to_string());
                    if !buf.is_empty() {
                        buf.advance(1);
                    }
                }
            },
        }
        drain(&mut s, now);
    }
});
