//! Property test: any sequence of commands, server packets and connection losses keeps the
//! engine's promises.
//!
//! * no packet identifier is reused while in flight ([MQTT-2.2.1-3]);
//! * nothing is reported delivered that the server did not acknowledge;
//! * nothing is lost without an event: every accepted publish is completed exactly once or is
//!   still held;
//! * an incoming QoS 2 message reaches the application exactly once, across reconnects.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::codec::{ConnectReasonCode, PubAck, PubAckReasonCode, PubComp, PubRec, PubRel};

#[derive(Debug, Clone)]
enum Op {
    Publish {
        qos: u8,
        topic: u8,
    },
    /// Acknowledge the n-th (mod len) outstanding outgoing flow, successfully or not.
    Ack {
        pick: usize,
        ok: bool,
    },
    /// The server sends a new QoS 2 message to the client; with `cut`, the link drops before
    /// anything the client answers reaches the server.
    ServerQos2 {
        cut: bool,
    },
    /// The server sends PUBREL for the n-th message the client has PUBREC'd.
    ServerRelease {
        pick: usize,
    },
    Lose,
    Reconnect {
        session_present: bool,
    },
    Advance {
        secs: u8,
    },
    /// Move the allocator's cursor back, as a long-lived session wrapping around the 65,535
    /// identifiers would, so that it meets identifiers still in flight.
    Wrap {
        to: u16,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..3, 0u8..3).prop_map(|(qos, topic)| Op::Publish { qos, topic }),
        4 => (any::<usize>(), prop::bool::weighted(0.85)).prop_map(|(pick, ok)| Op::Ack { pick, ok }),
        2 => prop::bool::weighted(0.3).prop_map(|cut| Op::ServerQos2 { cut }),
        2 => any::<usize>().prop_map(|pick| Op::ServerRelease { pick }),
        1 => Just(Op::Lose),
        1 => prop::bool::weighted(0.8).prop_map(|session_present| Op::Reconnect { session_present }),
        1 => (0u8..40).prop_map(|secs| Op::Advance { secs }),
        1 => (1u16..40).prop_map(|to| Op::Wrap { to }),
    ]
}

/// A scripted server that keeps just enough state to check the client.
#[derive(Default)]
struct Model {
    connected: bool,
    /// Outgoing flows the server knows about: packet id -> (qos, PUBREC seen).
    flows: HashMap<PacketId, (QoS, bool)>,
    /// Successful final acknowledgements (PUBACK, PUBCOMP) the server sent and no completion
    /// has claimed yet, per packet id.
    final_ok: HashMap<PacketId, u32>,
    /// Refusals (PUBACK/PUBREC >= 0x80) not yet claimed.
    final_err: HashMap<PacketId, u32>,
    accepted: HashSet<u64>,
    done: HashSet<u64>,
    token_pid: HashMap<u64, PacketId>,
    token_qos: HashMap<u64, QoS>,
    /// Incoming QoS 2: packet id -> (message number, PUBREC received).
    server_out: HashMap<PacketId, (u32, bool)>,
    next_server_id: u16,
    next_message: u32,
    delivered: HashMap<u32, u32>,
    next_token: u64,
}

fn run(ops: Vec<Op>, id_start: u16) -> Result<(), TestCaseError> {
    let mut config = Config::new("prop");
    config.clean_start = false;
    config.properties.session_expiry_interval = Some(SESSION_NEVER_EXPIRES);
    config.queue = QueueLimits { max_messages: 50, max_bytes: 1 << 20, overflow: OverflowPolicy::DropOldest };
    config.keep_alive = 30;
    let mut s = Session::new(config);
    // Start near the end of the identifier space so that allocation wraps within a case.
    s.next_packet_id = id_start;
    let mut m = Model::default();
    #[allow(clippy::disallowed_methods)]
    let mut now = Instant::now();

    for op in ops {
        match op {
            Op::Publish { qos, topic } => {
                m.next_token += 1;
                let token = m.next_token;
                let qos = QoS::try_from(qos).unwrap_or(QoS::AtLeastOnce);
                let request = PublishRequest {
                    topic: format!("t/{topic}"),
                    payload: Bytes::from(token.to_string()),
                    qos,
                    ..Default::default()
                };
                if s.handle_command(now, Command::Publish { token, request }).is_ok() {
                    m.accepted.insert(token);
                    m.token_qos.insert(token, qos);
                }
            }
            Op::Ack { pick, ok } if m.connected && !m.flows.is_empty() => {
                let mut ids: Vec<PacketId> = m.flows.keys().copied().collect();
                ids.sort();
                let id = ids[pick % ids.len()];
                let (qos, rec) = m.flows[&id];
                let code = if ok { PubAckReasonCode::Success } else { PubAckReasonCode::QuotaExceeded };
                match (qos, rec) {
                    (QoS::AtLeastOnce, _) => {
                        let mut ack = PubAck::new(id);
                        ack.reason_code = code;
                        m.flows.remove(&id);
                        *(if ok { &mut m.final_ok } else { &mut m.final_err }).entry(id).or_default() += 1;
                        s.handle_packet(now, Packet::PubAck(ack));
                    }
                    (_, false) => {
                        let mut rec = PubRec::new(id);
                        rec.reason_code = code;
                        if ok {
                            m.flows.insert(id, (qos, true));
                        } else {
                            m.flows.remove(&id);
                            *m.final_err.entry(id).or_default() += 1;
                        }
                        s.handle_packet(now, Packet::PubRec(rec));
                    }
                    (_, true) => {
                        m.flows.remove(&id);
                        *m.final_ok.entry(id).or_default() += 1;
                        s.handle_packet(now, Packet::PubComp(PubComp::new(id)));
                    }
                }
            }
            Op::Ack { .. } => {}
            Op::ServerQos2 { cut } if m.connected => {
                m.next_server_id = m.next_server_id % 200 + 1;
                let id = PacketId::new(m.next_server_id).unwrap();
                if !m.server_out.contains_key(&id) {
                    m.next_message += 1;
                    m.server_out.insert(id, (m.next_message, false));
                    s.handle_packet(now, Packet::Publish(server_qos2(id, m.next_message, false)));
                    if cut {
                        s.connection_lost(now);
                        m.connected = false;
                    }
                }
            }
            Op::ServerQos2 { .. } => {}
            Op::ServerRelease { pick } if m.connected => {
                let mut ids: Vec<PacketId> =
                    m.server_out.iter().filter(|(_, v)| v.1).map(|(k, _)| *k).collect();
                ids.sort();
                if !ids.is_empty() {
                    let id = ids[pick % ids.len()];
                    m.server_out.remove(&id);
                    s.handle_packet(now, Packet::PubRel(PubRel::new(id)));
                }
            }
            Op::ServerRelease { .. } => {}
            Op::Lose => {
                s.connection_lost(now);
                m.connected = false;
            }
            Op::Reconnect { session_present } => {
                if m.connected {
                    s.connection_lost(now);
                }
                s.connection_opened(now);
                // What the client wrote before CONNACK is only CONNECT.
                while let Some(p) = s.poll_transmit(now) {
                    prop_assert!(matches!(p, Packet::Connect(_)), "before CONNACK: {p:?}");
                }
                if !session_present {
                    // A new session on the server: no flows, nothing to resend.
                    m.flows.clear();
                    m.server_out.clear();
                }
                let ack = ConnAck {
                    session_present,
                    reason_code: ConnectReasonCode::Success,
                    properties: Default::default(),
                };
                s.handle_packet(now, Packet::ConnAck(ack));
                m.connected = true;
                // The server resends its unfinished QoS 2 flows ([MQTT-4.4.0-1]).
                let mut resend: Vec<(PacketId, (u32, bool))> =
                    m.server_out.iter().map(|(k, v)| (*k, *v)).collect();
                resend.sort();
                for (id, (n, rec)) in resend {
                    if rec {
                        s.handle_packet(now, Packet::PubRel(PubRel::new(id)));
                        m.server_out.remove(&id);
                    } else {
                        s.handle_packet(now, Packet::Publish(server_qos2(id, n, true)));
                    }
                }
            }
            Op::Wrap { to } => s.next_packet_id = to,
            Op::Advance { secs } => {
                now += Duration::from_secs(secs.into());
                s.handle_timeout(now);
            }
        }
        drain(&mut s, &mut m, now)?;
    }
    // Nothing lost without an event.
    let held = s.queued() + s.inflight() + s.quota_delayed();
    prop_assert_eq!(m.accepted.len(), m.done.len() + held, "accepted = completed + held");
    for (n, times) in &m.delivered {
        prop_assert_eq!(*times, 1, "incoming QoS 2 message {} delivered {} times", n, times);
    }
    Ok(())
}

fn claim(counts: &mut HashMap<PacketId, u32>, id: PacketId) -> bool {
    match counts.get_mut(&id) {
        Some(n) if *n > 0 => {
            *n -= 1;
            true
        }
        _ => false,
    }
}

fn server_qos2(id: PacketId, n: u32, dup: bool) -> Publish {
    Publish {
        dup,
        qos: QoS::ExactlyOnce,
        topic: "in".into(),
        packet_id: Some(id),
        payload: Bytes::from(n.to_string()),
        ..Default::default()
    }
}

fn drain(s: &mut Session, m: &mut Model, now: Instant) -> Result<(), TestCaseError> {
    for _ in 0..10_000 {
        let Some(p) = s.poll_transmit(now) else { break };
        if !m.connected {
            continue;
        }
        match p {
            Packet::Publish(p) if p.qos > QoS::AtMostOnce => {
                let id = p.packet_id.expect("QoS>0 PUBLISH has a packet id");
                if !p.dup {
                    // [MQTT-2.2.1-3] a new PUBLISH never takes an identifier still in flight.
                    prop_assert!(!m.flows.contains_key(&id), "packet id {} reused while in flight", id);
                }
                m.flows.entry(id).or_insert((p.qos, false));
            }
            Packet::PubRel(r) => {
                if let Some(flow) = m.flows.get_mut(&r.packet_id) {
                    flow.1 = true;
                }
            }
            Packet::PubRec(r) => {
                if let Some(v) = m.server_out.get_mut(&r.packet_id) {
                    v.1 = true;
                }
            }
            _ => {}
        }
    }
    while let Some(e) = s.poll_event() {
        match e {
            Event::PacketIdAssigned { token, packet_id } => {
                m.token_pid.insert(token, packet_id);
            }
            Event::PublishDone { token, result, .. } => {
                prop_assert!(m.accepted.contains(&token), "completion for a token never accepted");
                prop_assert!(m.done.insert(token), "token {} completed twice", token);
                let qos = m.token_qos[&token];
                let id = m.token_pid.get(&token).copied();
                match (&result, qos, id) {
                    (Ok(_), QoS::AtMostOnce, _) => {}
                    (Ok(_), _, None) => {
                        prop_assert!(false, "QoS>0 token {} delivered without a packet id", token)
                    }
                    (Ok(_), _, Some(id)) => {
                        // Nothing reported delivered that the server did not acknowledge: a
                        // final ack, or (the session lost after PUBREC) the PUBREC it sent.
                        let claimed = claim(&mut m.final_ok, id);
                        prop_assert!(
                            claimed,
                            "token {} (packet {}) reported delivered without an ack",
                            token,
                            id
                        );
                    }
                    (Err(PublishError::Rejected { .. }), _, Some(id)) => {
                        prop_assert!(
                            claim(&mut m.final_err, id),
                            "token {} rejected without a refusal",
                            token
                        );
                    }
                    (Err(PublishError::Rejected { .. }), _, None) => {
                        prop_assert!(false, "rejected before sending")
                    }
                    (Err(_), _, _) => {}
                }
            }
            Event::Message(msg) if msg.qos == QoS::ExactlyOnce => {
                let n: u32 = std::str::from_utf8(&msg.payload).unwrap().parse().unwrap();
                *m.delivered.entry(n).or_default() += 1;
            }
            _ => {}
        }
    }
    if s.wants_close() {
        s.connection_lost(now);
        m.connected = false;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
    #[test]
    fn any_sequence_keeps_the_invariants(ops in prop::collection::vec(op(), 1..160), id_start in 65_500u16..=65_535) {
        run(ops, id_start)?;
    }
}
