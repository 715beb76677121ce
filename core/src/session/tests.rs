//! Deterministic tests of the session engine: a scripted server, virtual time, no sockets.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::*;
use crate::codec::{
    ConnAckProperties, ConnectReasonCode, PubAck, PubAckReasonCode, PubComp, PubRec, PubRel,
    PublishProperties, SubAckReasonCode, SubscribeProperties, Subscription, SubscriptionOptions,
    UnsubAckReasonCode,
};
use crate::store::MemoryStore;

fn pid(n: u16) -> PacketId {
    PacketId::new(n).unwrap()
}

/// The engine plus a clock and everything it produced.
struct Harness {
    s: Session,
    now: Instant,
    sent: Vec<Packet>,
    events: Vec<Event>,
}

impl Harness {
    fn new(config: Config) -> Self {
        // The virtual clock starts anywhere; only differences matter.
        #[allow(clippy::disallowed_methods)]
        let start = Instant::now();
        Harness { s: Session::new(config), now: start, sent: Vec::new(), events: Vec::new() }
    }

    fn with(f: impl FnOnce(&mut Config)) -> Self {
        let mut c = Config::new("client-1");
        f(&mut c);
        Harness::new(c)
    }

    /// Drain every output, as a driver does after each input.
    fn drain(&mut self) {
        while let Some(p) = self.s.poll_transmit(self.now) {
            self.sent.push(p);
        }
        while let Some(e) = self.s.poll_event() {
            self.events.push(e);
        }
    }

    fn take_sent(&mut self) -> Vec<Packet> {
        self.drain();
        std::mem::take(&mut self.sent)
    }

    fn take_events(&mut self) -> Vec<Event> {
        self.drain();
        std::mem::take(&mut self.events)
    }

    /// Open a connection and answer CONNECT with a CONNACK; returns the CONNECT.
    fn connect_with(&mut self, session_present: bool, properties: ConnAckProperties) -> Connect {
        self.s.connection_opened(self.now);
        let sent = self.take_sent();
        let Some(Packet::Connect(connect)) = sent.first().cloned() else {
            panic!("expected CONNECT, got {sent:?}")
        };
        assert_eq!(sent.len(), 1, "only CONNECT before CONNACK: {sent:?}");
        self.s.handle_packet(
            self.now,
            Packet::ConnAck(ConnAck { session_present, reason_code: ConnectReasonCode::Success, properties }),
        );
        connect
    }

    fn connect(&mut self, session_present: bool) -> Connect {
        self.connect_with(session_present, ConnAckProperties::default())
    }

    /// The connection drops; whatever was produced before counts as written.
    fn lose(&mut self) {
        self.drain();
        self.sent.clear();
        self.s.connection_lost(self.now);
    }

    fn publish(&mut self, token: u64, topic: &str, qos: QoS) -> Result<(), CommandError> {
        self.publish_req(
            token,
            PublishRequest {
                topic: topic.into(),
                payload: Bytes::from(format!("m{token}")),
                qos,
                ..Default::default()
            },
        )
    }

    fn publish_req(&mut self, token: u64, request: PublishRequest) -> Result<(), CommandError> {
        self.s.handle_command(self.now, Command::Publish { token, request })
    }

    fn server(&mut self, packet: Packet) {
        self.s.handle_packet(self.now, packet);
    }

    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        // Step through every deadline the engine asks for, as the driver's timer would.
        for _ in 0..10_000 {
            self.drain();
            match self.s.poll_timeout() {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.s.handle_timeout(self.now);
                }
                _ => break,
            }
        }
        self.now = end;
        self.s.handle_timeout(self.now);
        self.drain();
    }
}

fn publishes(packets: &[Packet]) -> Vec<&Publish> {
    packets.iter().filter_map(|p| if let Packet::Publish(p) = p { Some(p) } else { None }).collect()
}

fn server_publish(id: u16, qos: QoS, topic: &str, payload: &str) -> Publish {
    Publish {
        qos,
        topic: topic.into(),
        packet_id: if qos == QoS::AtMostOnce { None } else { Some(pid(id)) },
        payload: Bytes::from(payload.to_owned()),
        ..Default::default()
    }
}

fn done_tokens(events: &[Event]) -> Vec<(u64, bool)> {
    events
        .iter()
        .filter_map(|e| {
            if let Event::PublishDone { token, result, .. } = e {
                Some((*token, result.is_ok()))
            } else {
                None
            }
        })
        .collect()
}

/// How the delivery of `token` failed, if it did.
fn failure(events: &[Event], token: u64) -> Option<PublishError> {
    events.iter().find_map(|e| match e {
        Event::PublishDone { token: t, result: Err(e), failed } if *t == token => {
            assert!(failed.is_some(), "a failure names its message");
            Some(e.clone())
        }
        _ => None,
    })
}

fn messages(events: &[Event]) -> Vec<IncomingMessage> {
    events.iter().filter_map(|e| if let Event::Message(m) = e { Some((**m).clone()) } else { None }).collect()
}

fn no_alias(c: &mut Config) {
    c.auto_topic_alias = false;
}

// ----- CONNECT / CONNACK -------------------------------------------------------------------

#[test]
fn first_connect_uses_clean_start_and_later_ones_resume() {
    let mut h = Harness::with(|c| {
        c.clean_start = true;
        c.properties.session_expiry_interval = Some(SESSION_NEVER_EXPIRES);
    });
    assert!(h.connect(false).clean_start);
    h.lose();
    // Automatic reconnects use clean_start = false so that the session resumes.
    assert!(!h.connect(true).clean_start);
}

#[test]
fn connack_limits_server_assigned_id_and_keep_alive_are_honoured() {
    let mut h = Harness::with(|c| {
        c.client_id = String::new();
        c.keep_alive = 60;
    });
    let props = ConnAckProperties {
        assigned_client_identifier: Some("auto-123".into()),
        server_keep_alive: Some(5),
        maximum_qos: Some(1),
        retain_available: Some(0),
        maximum_packet_size: Some(64),
        ..Default::default()
    };
    h.connect_with(false, props);
    assert_eq!(h.s.client_id(), "auto-123");
    assert_eq!(h.s.keep_alive(), Duration::from_secs(5));
    assert_eq!(
        h.publish(1, "t", QoS::ExactlyOnce),
        Err(CommandError::QoSNotSupported { requested: 2, maximum: 1 })
    );
    let retained = PublishRequest { topic: "t".into(), retain: true, ..Default::default() };
    assert_eq!(h.publish_req(2, retained), Err(CommandError::RetainNotSupported));
    let big =
        PublishRequest { topic: "t".into(), payload: Bytes::from(vec![0u8; 100]), ..Default::default() };
    assert!(matches!(h.publish_req(3, big), Err(CommandError::PacketTooLarge { max: 64, .. })));
    // The reconnect presents the assigned identifier.
    h.lose();
    assert_eq!(h.connect(true).client_id, "auto-123");
}

#[test]
fn refused_connack_reports_reason_and_asks_to_close() {
    let mut h = Harness::with(|_| {});
    h.s.connection_opened(h.now);
    h.take_sent();
    let props = ConnAckProperties { reason_string: Some("go away".into()), ..Default::default() };
    h.server(Packet::ConnAck(ConnAck {
        session_present: false,
        reason_code: ConnectReasonCode::NotAuthorized,
        properties: props,
    }));
    assert!(h.s.wants_close());
    h.lose();
    let events = h.take_events();
    assert!(events.contains(&Event::Disconnected {
        cause: DisconnectCause::Refused {
            reason_code: ConnectReasonCode::NotAuthorized,
            reason_string: Some("go away".into()),
            server_reference: None,
        }
    }));
}

#[test]
fn a_packet_before_connack_is_a_protocol_error() {
    let mut h = Harness::with(|_| {});
    h.s.connection_opened(h.now);
    h.take_sent();
    h.server(Packet::PingResp);
    let sent = h.take_sent();
    assert!(
        matches!(&sent[..], [Packet::Disconnect(d)] if d.reason_code == DisconnectReasonCode::ProtocolError),
        "{sent:?}"
    );
    assert!(h.s.wants_close());
}

// ----- bad input ---------------------------------------------------------------------------

#[test]
fn bad_input_is_refused_before_anything_is_queued() {
    let mut h = Harness::with(|_| {});
    h.connect(false);
    h.take_sent();
    assert!(matches!(h.publish(1, "a/+/b", QoS::AtMostOnce), Err(CommandError::InvalidTopic(_))));
    assert!(matches!(h.publish(2, "", QoS::AtMostOnce), Err(CommandError::InvalidTopic(_))));
    let bad_utf8 = PublishRequest {
        topic: "t".into(),
        payload: Bytes::from_static(&[0xff, 0xfe]),
        properties: PublishProperties { payload_format_indicator: Some(1), ..Default::default() },
        ..Default::default()
    };
    assert!(matches!(h.publish_req(3, bad_utf8), Err(CommandError::InvalidArgument(_))));
    let sub = Command::Subscribe {
        token: 4,
        subscriptions: vec![Subscription { filter: "a/#/b".into(), options: SubscriptionOptions::default() }],
        properties: SubscribeProperties::default(),
    };
    assert!(matches!(h.s.handle_command(h.now, sub), Err(CommandError::InvalidFilter(_))));
    assert!(h.take_sent().is_empty());
    assert_eq!(h.s.queued(), 0);
}

// ----- outgoing flows ----------------------------------------------------------------------

#[test]
fn qos1_and_qos2_flows_complete_only_on_the_final_ack() {
    let mut h = Harness::with(no_alias);
    h.connect(false);
    h.publish(1, "a", QoS::AtLeastOnce).unwrap();
    h.publish(2, "b", QoS::ExactlyOnce).unwrap();
    let sent = h.take_sent();
    let p = publishes(&sent);
    assert_eq!(p.len(), 2);
    let (id1, id2) = (p[0].packet_id.unwrap(), p[1].packet_id.unwrap());
    assert_ne!(id1, id2);
    assert!(!p[0].dup && !p[1].dup);
    assert!(done_tokens(&h.take_events()).is_empty());

    h.server(Packet::PubAck(PubAck::new(id1)));
    h.server(Packet::PubRec(PubRec::new(id2)));
    assert_eq!(h.take_sent(), vec![Packet::PubRel(PubRel::new(id2))]);
    assert_eq!(done_tokens(&h.take_events()), vec![(1, true)]);
    h.server(Packet::PubComp(PubComp::new(id2)));
    assert_eq!(done_tokens(&h.take_events()), vec![(2, true)]);
    assert_eq!(h.s.inflight(), 0);
}

#[test]
fn an_error_puback_or_pubrec_fails_the_delivery_with_the_reason() {
    let mut h = Harness::with(no_alias);
    h.connect(false);
    h.publish(1, "a", QoS::AtLeastOnce).unwrap();
    h.publish(2, "b", QoS::ExactlyOnce).unwrap();
    let sent = h.take_sent();
    let ids: Vec<PacketId> = publishes(&sent).iter().map(|p| p.packet_id.unwrap()).collect();
    let mut nack = PubAck::new(ids[0]);
    nack.reason_code = PubAckReasonCode::NotAuthorized;
    nack.properties.reason_string = Some("acl".into());
    h.server(Packet::PubAck(nack));
    let mut rec = PubRec::new(ids[1]);
    rec.reason_code = PubAckReasonCode::PayloadFormatInvalid;
    h.server(Packet::PubRec(rec));
    // No PUBREL for a refused QoS 2 message (4.3.3): the flow ends at the PUBREC.
    assert!(h.take_sent().is_empty());
    let events = h.take_events();
    assert_eq!(
        failure(&events, 1),
        Some(PublishError::Rejected {
            reason_code: PubAckReasonCode::NotAuthorized,
            reason_string: Some("acl".into())
        })
    );
    assert_eq!(
        failure(&events, 2),
        Some(PublishError::Rejected {
            reason_code: PubAckReasonCode::PayloadFormatInvalid,
            reason_string: None
        })
    );
}

/// 0x97 Quota exceeded means the server did not take the message yet: it goes out again as a
/// new message (new packet identifier, DUP = 0) after a back-off that doubles, until the
/// attempts run out; then the delivery fails with the server's reason.
#[test]
fn a_quota_refusal_is_retried_after_a_back_off_then_fails() {
    let backoff = Duration::from_millis(100);
    let mut h = Harness::with(|c| {
        no_alias(c);
        c.quota_retry = QuotaRetry { attempts: 2, backoff };
    });
    h.connect(false);
    h.publish(1, "q1", QoS::AtLeastOnce).unwrap();
    h.publish(2, "q2", QoS::ExactlyOnce).unwrap();
    let sent = h.take_sent();
    let ids: Vec<PacketId> = publishes(&sent).iter().map(|p| p.packet_id.unwrap()).collect();
    let quota = PubAckReasonCode::QuotaExceeded;
    let refuse = |h: &mut Harness, qos: QoS, id: PacketId| {
        if qos == QoS::AtLeastOnce {
            let mut ack = PubAck::new(id);
            ack.reason_code = quota;
            h.server(Packet::PubAck(ack));
        } else {
            let mut rec = PubRec::new(id);
            rec.reason_code = quota;
            h.server(Packet::PubRec(rec));
        }
    };
    refuse(&mut h, QoS::AtLeastOnce, ids[0]);
    refuse(&mut h, QoS::ExactlyOnce, ids[1]);
    assert!(h.take_sent().is_empty(), "nothing before the back-off");
    assert!(done_tokens(&h.take_events()).is_empty(), "not failed: it will be retried");
    assert_eq!(h.s.poll_timeout(), Some(h.now + backoff));
    h.advance(backoff);
    let sent = h.take_sent();
    let again = publishes(&sent);
    assert_eq!(
        again.iter().map(|p| (p.topic.as_str(), p.dup)).collect::<Vec<_>>(),
        vec![("q1", false), ("q2", false)]
    );
    let new_ids: Vec<PacketId> = again.iter().map(|p| p.packet_id.unwrap()).collect();
    assert!(new_ids.iter().all(|id| !ids.contains(id)), "new messages get new packet identifiers");
    assert_eq!(h.s.stats().quota_retries, 2);
    // Second refusal: the back-off doubles.
    refuse(&mut h, QoS::AtLeastOnce, new_ids[0]);
    h.server(Packet::PubRec(PubRec::new(new_ids[1])));
    h.server(Packet::PubComp(PubComp::new(new_ids[1])));
    assert_eq!(done_tokens(&h.take_events()), vec![(2, true)], "the QoS 2 retry was accepted");
    h.take_sent();
    h.advance(backoff);
    assert!(h.take_sent().is_empty(), "the second back-off is twice the first");
    h.advance(backoff);
    let sent = h.take_sent();
    let third = publishes(&sent)[0].packet_id.unwrap();
    // Attempts used up: the third refusal fails the delivery with the reason.
    refuse(&mut h, QoS::AtLeastOnce, third);
    let events = h.take_events();
    assert_eq!(failure(&events, 1), Some(PublishError::Rejected { reason_code: quota, reason_string: None }));
    assert_eq!(h.s.stats().deliveries_failed, 1);
    assert_eq!(h.s.inflight(), 0);

    // With retries off the first refusal fails at once.
    let mut h = Harness::with(|c| c.quota_retry = QuotaRetry { attempts: 0, backoff });
    h.connect(false);
    h.publish(1, "q", QoS::AtLeastOnce).unwrap();
    let id = publishes(&h.take_sent())[0].packet_id.unwrap();
    refuse(&mut h, QoS::AtLeastOnce, id);
    assert_eq!(
        failure(&h.take_events(), 1),
        Some(PublishError::Rejected { reason_code: quota, reason_string: None })
    );
}

#[test]
fn packet_ids_are_never_reused_while_in_flight() {
    let mut h = Harness::with(no_alias);
    h.connect(false);
    h.s.next_packet_id = u16::MAX - 1;
    for t in 0..5 {
        h.publish(t, "a", QoS::AtLeastOnce).unwrap();
    }
    let sent = h.take_sent();
    let ids: Vec<u16> = publishes(&sent).iter().map(|p| p.packet_id.unwrap().get()).collect();
    assert_eq!(ids, vec![65534, 65535, 1, 2, 3]);
    // Ack all but 2, wrap around again: 2 stays taken.
    for id in [65534u16, 65535, 1, 3] {
        h.server(Packet::PubAck(PubAck::new(pid(id))));
    }
    h.s.next_packet_id = 1;
    for t in 10..13 {
        h.publish(t, "a", QoS::AtLeastOnce).unwrap();
    }
    let sent = h.take_sent();
    let ids: Vec<u16> = publishes(&sent).iter().map(|p| p.packet_id.unwrap().get()).collect();
    assert_eq!(ids, vec![1, 3, 4]);
}

#[test]
fn server_receive_maximum_limits_the_window_and_the_rest_waits_in_order() {
    let mut h = Harness::with(no_alias);
    h.connect_with(false, ConnAckProperties { receive_maximum: Some(2), ..Default::default() });
    for t in 1..=5 {
        h.publish(t, &format!("t/{t}"), QoS::AtLeastOnce).unwrap();
    }
    let sent = h.take_sent();
    let topics: Vec<&str> = publishes(&sent).iter().map(|p| p.topic.as_str()).collect();
    assert_eq!(topics, vec!["t/1", "t/2"]);
    assert_eq!(h.s.queued(), 3);
    let first = publishes(&sent)[0].packet_id.unwrap();
    h.server(Packet::PubAck(PubAck::new(first)));
    let sent = h.take_sent();
    let topics: Vec<&str> = publishes(&sent).iter().map(|p| p.topic.as_str()).collect();
    assert_eq!(topics, vec!["t/3"]);
}

/// The client's own cap (`max_inflight`) applies on top of the server's Receive Maximum.
#[test]
fn our_own_inflight_cap_applies_below_the_servers_receive_maximum() {
    let mut h = Harness::with(|c| {
        no_alias(c);
        c.max_inflight = 3;
    });
    h.connect_with(false, ConnAckProperties { receive_maximum: Some(10), ..Default::default() });
    for t in 1..=5 {
        h.publish(t, &format!("t/{t}"), QoS::AtLeastOnce).unwrap();
    }
    assert_eq!(publishes(&h.take_sent()).len(), 3);
    assert_eq!(h.s.queued(), 2);
}

/// Once the window is full, new messages wait until a quarter of it is free again (here 2 of
/// 8), so that they go out in batches; a window that never filled sends at once.
#[test]
fn a_full_window_is_refilled_in_batches() {
    let mut h = Harness::with(no_alias);
    h.connect_with(false, ConnAckProperties { receive_maximum: Some(8), ..Default::default() });
    for t in 1..=3 {
        h.publish(t, &format!("t/{t}"), QoS::AtLeastOnce).unwrap();
    }
    let sent = h.take_sent();
    let ids: Vec<PacketId> = publishes(&sent).iter().map(|p| p.packet_id.unwrap()).collect();
    h.server(Packet::PubAck(PubAck::new(ids[0])));
    h.publish(4, "t/4", QoS::AtLeastOnce).unwrap();
    let topics =
        |sent: &[Packet]| -> Vec<String> { publishes(sent).iter().map(|p| p.topic.clone()).collect() };
    assert_eq!(topics(&h.take_sent()), vec!["t/4"], "the window never filled: no waiting");
    for t in 5..=13 {
        h.publish(t, &format!("t/{t}"), QoS::AtLeastOnce).unwrap();
    }
    let sent = h.take_sent();
    assert_eq!(topics(&sent), vec!["t/5", "t/6", "t/7", "t/8", "t/9"], "the window is full at 8");
    let mut unacked: VecDeque<PacketId> = ids[1..].iter().copied().collect();
    unacked.extend(publishes(&sent).iter().map(|p| p.packet_id.unwrap()));
    let mut ack = |h: &mut Harness| {
        let id = unacked.pop_front().unwrap();
        h.server(Packet::PubAck(PubAck::new(id)));
        h.take_sent()
    };
    assert!(topics(&ack(&mut h)).is_empty(), "one free slot is not a batch");
    assert_eq!(topics(&ack(&mut h)), vec!["t/10", "t/11"]);
    assert!(topics(&ack(&mut h)).is_empty());
    assert_eq!(topics(&ack(&mut h)), vec!["t/12", "t/13"]);
    assert_eq!(h.s.queued(), 0);
    // Waiting for a batch never holds back what a DISCONNECT should send first.
    for t in 14..=16 {
        h.publish(t, &format!("t/{t}"), QoS::AtLeastOnce).unwrap();
    }
    let after = topics(&ack(&mut h));
    assert!(after.is_empty(), "the window is full again: one free slot waits, sent {after:?}");
    let normal = DisconnectReasonCode::NormalDisconnection;
    let cmd = Command::Disconnect { reason_code: normal, session_expiry_interval: None, reason_string: None };
    h.s.handle_command(h.now, cmd).unwrap();
    let sent = h.take_sent();
    assert_eq!(topics(&sent), vec!["t/14"], "the free slot is used before DISCONNECT");
    assert!(matches!(sent.last(), Some(Packet::Disconnect(_))));
    assert_eq!(h.s.queued(), 2);
}

// ----- session resume ----------------------------------------------------------------------

fn persistent() -> Harness {
    Harness::with(|c| {
        c.clean_start = false;
        c.auto_topic_alias = false;
        c.properties.session_expiry_interval = Some(SESSION_NEVER_EXPIRES);
    })
}

#[test]
fn resume_resends_unacked_publishes_with_dup_and_pubrels_in_original_order_before_new() {
    let mut h = persistent();
    h.connect(false);
    h.publish(1, "q1", QoS::AtLeastOnce).unwrap();
    h.publish(2, "q2", QoS::ExactlyOnce).unwrap();
    h.publish(3, "q2b", QoS::ExactlyOnce).unwrap();
    h.publish(4, "q1b", QoS::AtLeastOnce).unwrap();
    let sent = h.take_sent();
    let ids: Vec<PacketId> = publishes(&sent).iter().map(|p| p.packet_id.unwrap()).collect();
    // q2 reached PUBREC (PUBREL pending); the others are unacknowledged.
    h.server(Packet::PubRec(PubRec::new(ids[1])));
    h.lose();
    h.publish(5, "new", QoS::AtLeastOnce).unwrap();
    h.connect(true);
    let sent = h.take_sent();
    let summary: Vec<String> = sent
        .iter()
        .map(|p| match p {
            Packet::Publish(p) => format!("PUBLISH {} {} dup={}", p.topic, p.packet_id.unwrap(), p.dup),
            Packet::PubRel(r) => format!("PUBREL {}", r.packet_id),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            format!("PUBLISH q1 {} dup=true", ids[0]),
            format!("PUBREL {}", ids[1]),
            format!("PUBLISH q2b {} dup=true", ids[2]),
            format!("PUBLISH q1b {} dup=true", ids[3]),
            format!("PUBLISH new {} dup=false", ids[3].get() + 1),
        ]
    );
    assert_eq!(h.s.stats().retransmissions, 4);
}

#[test]
fn retransmissions_after_resume_respect_the_new_receive_maximum() {
    let mut h = persistent();
    h.connect(false);
    for t in 1..=4 {
        h.publish(t, &format!("t{t}"), QoS::AtLeastOnce).unwrap();
    }
    h.lose();
    h.connect_with(true, ConnAckProperties { receive_maximum: Some(2), ..Default::default() });
    let sent = h.take_sent();
    let p = publishes(&sent);
    // Only two go out: a client that resent all four would get 0x97 Quota Exceeded.
    assert_eq!(
        p.iter().map(|p| (p.topic.as_str(), p.dup)).collect::<Vec<_>>(),
        vec![("t1", true), ("t2", true)]
    );
    let first = p[0].packet_id.unwrap();
    h.server(Packet::PubAck(PubAck::new(first)));
    let sent = h.take_sent();
    assert_eq!(
        publishes(&sent).iter().map(|p| (p.topic.as_str(), p.dup)).collect::<Vec<_>>(),
        vec![("t3", true)]
    );
}

#[test]
fn session_lost_republishes_by_default_as_new_messages() {
    let mut h = persistent();
    h.connect(false);
    h.publish(1, "a", QoS::AtLeastOnce).unwrap();
    h.publish(2, "b", QoS::ExactlyOnce).unwrap();
    h.publish(4, "d", QoS::ExactlyOnce).unwrap();
    let sent = h.take_sent();
    // "d" got its PUBREC: a broker that passes QoS 2 on at PUBREL (mosquitto) has not
    // delivered it yet, so it is not complete either.
    h.server(Packet::PubRec(PubRec::new(publishes(&sent)[2].packet_id.unwrap())));
    h.take_sent();
    h.lose();
    h.publish(3, "c", QoS::AtLeastOnce).unwrap();
    h.take_events();
    h.connect(false);
    let events = h.take_events();
    assert!(events.contains(&Event::SessionLost { republished: 3, failed: 0 }), "{events:?}");
    let sent = h.take_sent();
    // No PUBREL for the lost flow: the server's new session does not know it.
    assert!(!sent.iter().any(|p| matches!(p, Packet::PubRel(_))), "{sent:?}");
    let p = publishes(&sent);
    assert_eq!(
        p.iter().map(|p| (p.topic.as_str(), p.dup)).collect::<Vec<_>>(),
        vec![("a", false), ("b", false), ("d", false), ("c", false)]
    );
    assert!(done_tokens(&events).is_empty());
}

#[test]
fn session_lost_with_fail_policy_fails_each_delivery() {
    let mut h = persistent();
    h.s.config.on_session_lost = SessionLostPolicy::Fail;
    h.connect(false);
    h.publish(1, "a", QoS::AtLeastOnce).unwrap();
    h.publish(2, "b", QoS::ExactlyOnce).unwrap();
    h.take_sent();
    h.lose();
    h.take_events();
    h.connect(false);
    let events = h.take_events();
    assert!(events.contains(&Event::SessionLost { republished: 0, failed: 2 }));
    assert!(failure(&events, 1) == Some(PublishError::SessionLost));
    assert!(failure(&events, 2) == Some(PublishError::SessionLost));
    assert!(publishes(&h.take_sent()).is_empty());
}

// ----- incoming ----------------------------------------------------------------------------

#[test]
fn incoming_qos1_is_acked_and_qos2_is_delivered_exactly_once() {
    let mut h = Harness::with(|_| {});
    h.connect(false);
    h.take_sent();
    h.server(Packet::Publish(server_publish(7, QoS::AtLeastOnce, "a", "x")));
    assert_eq!(h.take_sent(), vec![Packet::PubAck(PubAck::new(pid(7)))]);
    h.server(Packet::Publish(server_publish(8, QoS::ExactlyOnce, "b", "y")));
    assert_eq!(h.take_sent(), vec![Packet::PubRec(PubRec::new(pid(8)))]);
    let mut dup = server_publish(8, QoS::ExactlyOnce, "b", "y");
    dup.dup = true;
    h.server(Packet::Publish(dup));
    assert_eq!(h.take_sent(), vec![Packet::PubRec(PubRec::new(pid(8)))]);
    h.server(Packet::PubRel(PubRel::new(pid(8))));
    assert_eq!(h.take_sent(), vec![Packet::PubComp(PubComp::new(pid(8)))]);
    let msgs = messages(&h.take_events());
    assert_eq!(msgs.iter().map(|m| m.topic.as_str()).collect::<Vec<_>>(), vec!["a", "b"]);
    // Unknown PUBREL: PUBCOMP with 0x92.
    h.server(Packet::PubRel(PubRel::new(pid(99))));
    let mut comp = PubComp::new(pid(99));
    comp.reason_code = PubRelReasonCode::PacketIdentifierNotFound;
    assert_eq!(h.take_sent(), vec![Packet::PubComp(comp)]);
}

/// Incoming QoS 2 with the link cut at every step of the handshake: the application sees the
/// message exactly once.
#[test]
fn incoming_qos2_exactly_once_across_a_cut_at_every_step() {
    for cut_after in 0..4 {
        let mut h = persistent();
        h.connect(false);
        h.take_sent();
        let msg = server_publish(5, QoS::ExactlyOnce, "t", "once");
        h.server(Packet::Publish(msg.clone()));
        let mut steps = 1;
        if cut_after >= 1 {
            // PUBREC went out; the server may or may not have seen it.
            assert_eq!(h.take_sent(), vec![Packet::PubRec(PubRec::new(pid(5)))]);
            steps += 1;
        }
        if cut_after >= 2 {
            h.server(Packet::PubRel(PubRel::new(pid(5))));
            steps += 1;
        }
        let _ = steps;
        h.lose();
        h.connect(true);
        h.take_sent();
        // The server resends what it has not seen completed.
        if cut_after < 2 {
            let mut again = msg.clone();
            again.dup = true;
            h.server(Packet::Publish(again));
            assert_eq!(h.take_sent(), vec![Packet::PubRec(PubRec::new(pid(5)))], "cut_after={cut_after}");
        }
        h.server(Packet::PubRel(PubRel::new(pid(5))));
        let sent = h.take_sent();
        assert!(matches!(&sent[..], [Packet::PubComp(_)]), "cut_after={cut_after}: {sent:?}");
        let delivered = messages(&h.take_events());
        assert_eq!(delivered.len(), 1, "cut_after={cut_after}");
        // After completion the same identifier is a new message.
        h.server(Packet::Publish(server_publish(5, QoS::ExactlyOnce, "t", "second")));
        assert_eq!(messages(&h.take_events()).len(), 1);
    }
}

/// Outgoing QoS 2 with a cut at every step: the delivery completes once, after PUBCOMP.
#[test]
fn outgoing_qos2_survives_a_cut_at_every_step() {
    for cut_after in 0..3 {
        let mut h = persistent();
        h.connect(false);
        h.publish(1, "t", QoS::ExactlyOnce).unwrap();
        let sent = h.take_sent();
        let id = publishes(&sent)[0].packet_id.unwrap();
        if cut_after >= 1 {
            h.server(Packet::PubRec(PubRec::new(id)));
            assert_eq!(h.take_sent(), vec![Packet::PubRel(PubRel::new(id))]);
        }
        h.lose();
        h.connect(true);
        let sent = h.take_sent();
        if cut_after == 0 {
            assert!(matches!(&sent[..], [Packet::Publish(p)] if p.dup && p.packet_id == Some(id)));
            h.server(Packet::PubRec(PubRec::new(id)));
            assert_eq!(h.take_sent(), vec![Packet::PubRel(PubRel::new(id))]);
        } else {
            assert_eq!(sent, vec![Packet::PubRel(PubRel::new(id))]);
        }
        assert!(done_tokens(&h.take_events()).is_empty());
        h.server(Packet::PubComp(PubComp::new(id)));
        assert_eq!(done_tokens(&h.take_events()), vec![(1, true)]);
        // A late duplicate PUBCOMP changes nothing.
        h.server(Packet::PubComp(PubComp::new(id)));
        assert!(done_tokens(&h.take_events()).is_empty());
    }
}

#[test]
fn our_receive_maximum_is_enforced_on_the_server() {
    let mut h = Harness::with(|c| {
        c.manual_ack = true;
        c.properties.receive_maximum = Some(2);
    });
    h.connect(false);
    h.take_sent();
    h.server(Packet::Publish(server_publish(1, QoS::AtLeastOnce, "t", "1")));
    h.server(Packet::Publish(server_publish(2, QoS::AtLeastOnce, "t", "2")));
    assert!(!h.s.wants_close());
    h.server(Packet::Publish(server_publish(3, QoS::AtLeastOnce, "t", "3")));
    let sent = h.take_sent();
    assert!(
        matches!(&sent[..], [Packet::Disconnect(d)] if d.reason_code == DisconnectReasonCode::ReceiveMaximumExceeded)
    );
    assert!(h.s.wants_close());
}

#[test]
fn manual_acks_go_out_in_arrival_order_whatever_order_the_application_acks() {
    let mut h = Harness::with(|c| c.manual_ack = true);
    h.connect(false);
    h.take_sent();
    h.server(Packet::Publish(server_publish(10, QoS::AtLeastOnce, "t", "1")));
    h.server(Packet::Publish(server_publish(11, QoS::ExactlyOnce, "t", "2")));
    h.server(Packet::Publish(server_publish(12, QoS::AtLeastOnce, "t", "3")));
    let ids: Vec<u64> = messages(&h.take_events()).iter().map(|m| m.ack_id.unwrap()).collect();
    assert!(h.take_sent().is_empty(), "nothing acked before the application acks");
    h.s.handle_command(h.now, Command::Ack { ack_id: ids[2] }).unwrap();
    h.s.handle_command(h.now, Command::Ack { ack_id: ids[1] }).unwrap();
    assert!(h.take_sent().is_empty(), "[MQTT-4.6.0-2] the first message is not acked yet");
    h.s.handle_command(h.now, Command::Ack { ack_id: ids[0] }).unwrap();
    assert_eq!(
        h.take_sent(),
        vec![
            Packet::PubAck(PubAck::new(pid(10))),
            Packet::PubRec(PubRec::new(pid(11))),
            Packet::PubAck(PubAck::new(pid(12)))
        ]
    );
    assert!(h.s.handle_command(h.now, Command::Ack { ack_id: ids[0] }).is_err());
}

// ----- topic aliases -----------------------------------------------------------------------

#[test]
fn outgoing_aliases_are_assigned_reset_on_reconnect_and_never_used_on_retransmission() {
    let mut h = Harness::with(|c| {
        c.clean_start = false;
        c.properties.session_expiry_interval = Some(60);
    });
    h.connect_with(false, ConnAckProperties { topic_alias_maximum: Some(5), ..Default::default() });
    h.publish(1, "long/topic", QoS::AtLeastOnce).unwrap();
    h.publish(2, "long/topic", QoS::AtLeastOnce).unwrap();
    let sent = h.take_sent();
    let p = publishes(&sent);
    assert_eq!((p[0].topic.as_str(), p[0].properties.topic_alias), ("long/topic", Some(1)));
    assert_eq!((p[1].topic.as_str(), p[1].properties.topic_alias), ("", Some(1)));
    h.lose();
    h.publish(3, "long/topic", QoS::AtLeastOnce).unwrap();
    h.connect_with(true, ConnAckProperties { topic_alias_maximum: Some(5), ..Default::default() });
    let sent = h.take_sent();
    let p = publishes(&sent);
    assert_eq!(p.len(), 3);
    for resent in &p[..2] {
        assert!(resent.dup);
        assert_eq!((resent.topic.as_str(), resent.properties.topic_alias), ("long/topic", None));
    }
    // The mapping is new on this connection: the first new use establishes it again.
    assert_eq!((p[2].topic.as_str(), p[2].properties.topic_alias), ("long/topic", Some(1)));
}

fn aliased(topic: &str, alias: u16) -> PublishRequest {
    let mut r = PublishRequest { topic: topic.into(), qos: QoS::AtLeastOnce, ..Default::default() };
    r.properties.topic_alias = Some(alias);
    r
}

fn invalid_argument(r: Result<(), CommandError>) -> String {
    match r {
        Err(CommandError::InvalidArgument(m)) => m,
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
}

#[test]
fn an_application_alias_goes_out_as_given_when_automatic_aliases_are_off() {
    let mut h = Harness::with(|c| {
        c.auto_topic_alias = false;
        c.clean_start = false;
        c.properties.session_expiry_interval = Some(60);
    });
    // Before any CONNACK the server's maximum is unknown: taken now, checked when sent.
    h.publish_req(1, aliased("a/b", 3)).unwrap();
    h.publish_req(2, aliased("a/b", 9)).unwrap();
    h.connect_with(false, ConnAckProperties { topic_alias_maximum: Some(5), ..Default::default() });
    let sent = h.take_sent();
    let p = publishes(&sent);
    assert_eq!(p.len(), 1, "alias 9 above the maximum 5 is never sent");
    // The full topic always goes with it: it sets and uses the mapping in one (3.3.2.3.4).
    assert_eq!((p[0].topic.as_str(), p[0].properties.topic_alias), ("a/b", Some(3)));
    let failed = h.take_events().into_iter().find_map(|e| match e {
        Event::PublishDone { token: 2, result: Err(PublishError::NotAdmitted(e)), .. } => Some(e.to_string()),
        _ => None,
    });
    assert!(failed.is_some_and(|m| m.contains("topic_alias 9") && m.contains("Maximum 5")));

    // Once the maximum is known, an alias above it is refused at the call ([MQTT-3.3.2-9]).
    assert!(invalid_argument(h.publish_req(3, aliased("a/b", 6))).contains("Topic Alias Maximum 5"));
    // An automatic alias is never assigned on top of the application's.
    h.publish(4, "a/b", QoS::AtLeastOnce).unwrap();
    assert_eq!(publishes(&h.take_sent())[0].properties.topic_alias, None);

    // Aliases belong to one connection: the retransmission goes without it.
    h.lose();
    h.connect_with(true, ConnAckProperties { topic_alias_maximum: Some(5), ..Default::default() });
    let sent = h.take_sent();
    let resent = publishes(&sent);
    assert!(resent[0].dup);
    assert_eq!((resent[0].topic.as_str(), resent[0].properties.topic_alias), ("a/b", None));
}

#[test]
fn an_application_alias_is_refused_when_zero_or_when_automatic_aliases_are_on() {
    let mut h = Harness::with(|c| c.auto_topic_alias = false);
    h.connect_with(false, ConnAckProperties { topic_alias_maximum: Some(5), ..Default::default() });
    // [MQTT-3.3.2-8]
    assert!(invalid_argument(h.publish_req(1, aliased("a", 0))).contains("topic_alias"));
    // A server without a Topic Alias Maximum allows none ([MQTT-3.3.2-9]).
    let mut h = Harness::with(|c| c.auto_topic_alias = false);
    h.connect(false);
    assert!(invalid_argument(h.publish_req(1, aliased("a", 1))).contains("Maximum 0"));

    let mut h = Harness::with(|_| {});
    h.connect_with(false, ConnAckProperties { topic_alias_maximum: Some(5), ..Default::default() });
    assert!(invalid_argument(h.publish_req(1, aliased("a", 1))).contains("set_auto_topic_alias(false)"));
    assert!(publishes(&h.take_sent()).is_empty());
}

#[test]
fn incoming_aliases_resolve_and_reset_on_reconnect() {
    let mut h = Harness::with(|c| c.properties.topic_alias_maximum = Some(4));
    h.connect(false);
    let mut first = server_publish(0, QoS::AtMostOnce, "x/y", "1");
    first.properties.topic_alias = Some(2);
    h.server(Packet::Publish(first));
    let mut second = server_publish(0, QoS::AtMostOnce, "", "2");
    second.properties.topic_alias = Some(2);
    h.server(Packet::Publish(second.clone()));
    let topics: Vec<String> = messages(&h.take_events()).into_iter().map(|m| m.topic).collect();
    assert_eq!(topics, vec!["x/y", "x/y"]);
    h.lose();
    h.connect(false);
    h.take_sent();
    h.server(Packet::Publish(second));
    let sent = h.take_sent();
    assert!(
        matches!(&sent[..], [Packet::Disconnect(d)] if d.reason_code == DisconnectReasonCode::ProtocolError)
    );
}

#[test]
fn incoming_alias_above_our_maximum_is_topic_alias_invalid() {
    let mut h = Harness::with(|c| c.properties.topic_alias_maximum = Some(1));
    h.connect(false);
    h.take_sent();
    let mut p = server_publish(0, QoS::AtMostOnce, "t", "1");
    p.properties.topic_alias = Some(2);
    h.server(Packet::Publish(p));
    let sent = h.take_sent();
    assert!(
        matches!(&sent[..], [Packet::Disconnect(d)] if d.reason_code == DisconnectReasonCode::TopicAliasInvalid)
    );
}

// ----- keep-alive --------------------------------------------------------------------------

#[test]
fn keep_alive_pings_when_idle_and_declares_the_link_dead_after_one_and_a_half_periods() {
    let mut h = Harness::with(|c| c.keep_alive = 10);
    h.connect(false);
    h.take_sent();
    h.advance(Duration::from_secs(9));
    assert!(h.take_sent().is_empty());
    h.advance(Duration::from_secs(1));
    assert_eq!(h.take_sent(), vec![Packet::PingReq]);
    h.server(Packet::PingResp);
    h.advance(Duration::from_secs(10));
    assert_eq!(h.take_sent(), vec![Packet::PingReq]);
    // No answer this time: dead at 1.5 × keep-alive after the last packet received.
    h.advance(Duration::from_secs(4));
    assert!(!h.s.wants_close());
    h.advance(Duration::from_secs(1));
    assert!(h.s.wants_close());
    h.lose();
    assert!(h.take_events().contains(&Event::Disconnected { cause: DisconnectCause::KeepAliveTimeout }));
}

#[test]
fn a_client_that_only_sends_still_pings() {
    let mut h = Harness::with(|c| c.keep_alive = 10);
    h.connect(false);
    for i in 0..12 {
        h.publish(i, "t", QoS::AtMostOnce).unwrap();
        h.advance(Duration::from_secs(1));
    }
    assert!(h.take_sent().contains(&Packet::PingReq));
}

// ----- queue -------------------------------------------------------------------------------

#[test]
fn queue_overflow_policies() {
    for policy in [OverflowPolicy::Block, OverflowPolicy::Fail, OverflowPolicy::DropOldest] {
        let mut h = Harness::with(|c| {
            c.queue = QueueLimits { max_messages: 2, max_bytes: 1 << 20, overflow: policy };
        });
        h.publish(1, "t", QoS::AtLeastOnce).unwrap();
        h.publish(2, "t", QoS::AtLeastOnce).unwrap();
        let third = h.publish(3, "t", QoS::AtLeastOnce);
        match policy {
            OverflowPolicy::Block | OverflowPolicy::Fail => {
                assert!(matches!(third, Err(CommandError::QueueFull { messages: 2, .. })));
                assert!(!h.s.has_queue_room(1));
            }
            OverflowPolicy::DropOldest => {
                third.unwrap();
                assert!(failure(&h.take_events(), 1) == Some(PublishError::Overflow));
            }
        }
        assert_eq!(h.s.queued(), 2);
    }
}

#[test]
fn queue_byte_limit_applies() {
    let mut h = Harness::with(|c| {
        c.queue = QueueLimits { max_messages: 100, max_bytes: 10, overflow: OverflowPolicy::Fail }
    });
    let req = |n: usize| PublishRequest {
        topic: "t".into(),
        payload: Bytes::from(vec![1u8; n]),
        qos: QoS::AtLeastOnce,
        ..Default::default()
    };
    h.publish_req(1, req(6)).unwrap();
    assert!(matches!(h.publish_req(2, req(6)), Err(CommandError::QueueFull { .. })));
    assert_eq!(h.s.queued_bytes(), 7);
}

#[test]
fn queued_messages_expire_and_sent_ones_carry_the_remaining_interval() {
    let mut h = Harness::with(no_alias);
    let req = |topic: &str, secs| PublishRequest {
        topic: topic.into(),
        qos: QoS::AtLeastOnce,
        properties: PublishProperties { message_expiry_interval: Some(secs), ..Default::default() },
        ..Default::default()
    };
    h.publish_req(1, req("short", 5)).unwrap();
    h.publish_req(2, req("long", 100)).unwrap();
    assert!(h.s.poll_timeout().is_some(), "an expiry deadline is pending");
    h.advance(Duration::from_secs(6));
    assert!(failure(&h.take_events(), 1) == Some(PublishError::Expired));
    assert_eq!(h.s.queued(), 1);
    h.connect(false);
    let sent = h.take_sent();
    let p = publishes(&sent);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].properties.message_expiry_interval, Some(94));
}

// ----- subscribe / unsubscribe / disconnect / auth -----------------------------------------

#[test]
fn subscribe_and_unsubscribe_acks_map_back_to_their_requests() {
    let mut h = Harness::with(|_| {});
    h.connect(false);
    h.take_sent();
    let subs = vec![
        Subscription {
            filter: "a/#".into(),
            options: SubscriptionOptions { qos: QoS::AtLeastOnce, ..Default::default() },
        },
        Subscription { filter: "$share/g/b".into(), options: SubscriptionOptions::default() },
    ];
    let props = SubscribeProperties { subscription_identifier: Some(7), ..Default::default() };
    h.s.handle_command(h.now, Command::Subscribe { token: 40, subscriptions: subs, properties: props })
        .unwrap();
    h.s.handle_command(
        h.now,
        Command::Unsubscribe { token: 41, filters: vec!["c".into()], properties: Default::default() },
    )
    .unwrap();
    let sent = h.take_sent();
    let (Packet::Subscribe(sub), Packet::Unsubscribe(unsub)) = (&sent[0], &sent[1]) else {
        panic!("{sent:?}")
    };
    assert_eq!(sub.properties.subscription_identifier, Some(7));
    h.server(Packet::UnsubAck(UnsubAck {
        packet_id: unsub.packet_id,
        reason_codes: vec![UnsubAckReasonCode::NoSubscriptionExisted],
        properties: Default::default(),
    }));
    h.server(Packet::SubAck(SubAck {
        packet_id: sub.packet_id,
        reason_codes: vec![SubAckReasonCode::GrantedQoS1, SubAckReasonCode::NotAuthorized],
        properties: Default::default(),
    }));
    let events = h.take_events();
    assert!(events.contains(&Event::UnsubscribeDone {
        token: 41,
        reason_codes: vec![UnsubAckReasonCode::NoSubscriptionExisted],
        properties: Default::default()
    }));
    assert!(events.contains(&Event::SubscribeDone {
        token: 40,
        reason_codes: vec![SubAckReasonCode::GrantedQoS1, SubAckReasonCode::NotAuthorized],
        properties: Default::default()
    }));
}

#[test]
fn a_subscribe_in_flight_at_a_cut_is_sent_again() {
    let mut h = persistent();
    h.connect(false);
    let subs = vec![Subscription { filter: "a".into(), options: SubscriptionOptions::default() }];
    h.s.handle_command(
        h.now,
        Command::Subscribe { token: 1, subscriptions: subs, properties: Default::default() },
    )
    .unwrap();
    assert!(matches!(&h.take_sent()[..], [Packet::Subscribe(_)]));
    h.lose();
    h.connect(true);
    assert!(matches!(&h.take_sent()[..], [Packet::Subscribe(_)]));
}

#[test]
fn server_disconnect_is_reported_with_its_reason() {
    let mut h = Harness::with(|_| {});
    h.connect(false);
    let mut d = Disconnect::with_reason(DisconnectReasonCode::SessionTakenOver);
    d.properties.reason_string = Some("another client".into());
    h.server(Packet::Disconnect(d));
    assert!(h.s.wants_close());
    h.lose();
    assert!(h.take_events().contains(&Event::Disconnected {
        cause: DisconnectCause::Server {
            reason_code: DisconnectReasonCode::SessionTakenOver,
            reason_string: Some("another client".into()),
            server_reference: None
        }
    }));
}

/// The cause of the last `Disconnected` event, after the connection is closed.
fn last_cause(h: &mut Harness) -> DisconnectCause {
    h.lose();
    h.take_events()
        .into_iter()
        .rev()
        .find_map(|e| match e {
            Event::Disconnected { cause } => Some(cause),
            _ => None,
        })
        .expect("a Disconnected event")
}

#[test]
fn every_end_of_a_connection_says_who_ended_it() {
    // A server's DISCONNECT 0x8D and our own keep-alive expiry used to share a reason code;
    // the kind tells them apart, and only a packet that was exchanged gives a reason code.
    let mut h = Harness::with(|c| c.keep_alive = 10);
    h.connect(false);
    let mut d = Disconnect::with_reason(DisconnectReasonCode::KeepAliveTimeout);
    d.properties.reason_string = Some("too quiet".into());
    h.server(Packet::Disconnect(d));
    let cause = last_cause(&mut h);
    assert_eq!(cause.kind(), DisconnectKind::Server);
    assert_eq!(cause.reason_code(), Some(0x8D));
    assert_eq!(cause.reason_string(), Some("too quiet"));

    h.connect(true);
    h.take_sent();
    h.advance(Duration::from_secs(15));
    assert!(h.s.wants_close());
    let cause = last_cause(&mut h);
    assert_eq!(
        (cause.kind(), cause.reason_code(), cause.reason_string()),
        (DisconnectKind::KeepAliveTimeout, None, None)
    );

    h.connect(true);
    let cause = last_cause(&mut h);
    assert_eq!(
        (cause.kind(), cause.reason_code(), cause.reason_string()),
        (DisconnectKind::ConnectionLost, None, None)
    );

    h.connect(true);
    h.s.handle_command(
        h.now,
        Command::Disconnect {
            reason_code: DisconnectReasonCode::DisconnectWithWillMessage,
            session_expiry_interval: None,
            reason_string: Some("bye".into()),
        },
    )
    .unwrap();
    h.take_sent();
    let cause = last_cause(&mut h);
    assert_eq!(cause.kind(), DisconnectKind::Client);
    assert_eq!((cause.reason_code(), cause.reason_string()), (Some(0x04), Some("bye")));

    // Our own protocol error: also the client's DISCONNECT, with the code it sent.
    h.connect(true);
    h.s.protocol_violation(h.now, DisconnectReasonCode::MalformedPacket, "bad bytes");
    h.take_sent();
    let cause = last_cause(&mut h);
    assert_eq!((cause.kind(), cause.reason_code()), (DisconnectKind::Client, Some(0x81)));
}

#[test]
fn disconnect_command_sends_the_reason_and_expiry_override() {
    let mut h = Harness::with(|c| c.properties.session_expiry_interval = Some(100));
    h.connect(false);
    h.take_sent();
    h.s.handle_command(
        h.now,
        Command::Disconnect {
            reason_code: DisconnectReasonCode::NormalDisconnection,
            session_expiry_interval: Some(0),
            reason_string: None,
        },
    )
    .unwrap();
    let sent = h.take_sent();
    assert!(matches!(&sent[..], [Packet::Disconnect(d)] if d.properties.session_expiry_interval == Some(0)));
    assert!(h.s.wants_close());

    // [MQTT-3.14.2-2] not allowed when CONNECT sent 0.
    let mut h = Harness::with(|_| {});
    h.connect(false);
    let bad = Command::Disconnect {
        reason_code: DisconnectReasonCode::NormalDisconnection,
        session_expiry_interval: Some(5),
        reason_string: None,
    };
    assert!(matches!(h.s.handle_command(h.now, bad), Err(CommandError::InvalidArgument(_))));
}

struct Scripted {
    rounds: u32,
}

impl Authenticator for Scripted {
    fn method(&self) -> &str {
        "SCRIPT"
    }
    fn initial_data(&mut self) -> Option<Bytes> {
        Some(Bytes::from_static(b"hello"))
    }
    fn challenge(&mut self, data: Option<&Bytes>) -> Result<Option<Bytes>, String> {
        self.rounds += 1;
        match data.map(|d| d.as_ref()) {
            Some(b"challenge") => Ok(Some(Bytes::from_static(b"response"))),
            _ => Err("unexpected challenge".into()),
        }
    }
}

fn auth(code: AuthReasonCode, data: &'static [u8]) -> Packet {
    Packet::Auth(Auth {
        reason_code: code,
        properties: AuthProperties {
            authentication_method: Some("SCRIPT".into()),
            authentication_data: Some(Bytes::from_static(data)),
            ..Default::default()
        },
    })
}

#[test]
fn enhanced_authentication_and_reauthentication() {
    let mut h = Harness::with(|c| c.authenticator = Some(Box::new(Scripted { rounds: 0 })));
    h.s.connection_opened(h.now);
    let sent = h.take_sent();
    let Packet::Connect(c) = &sent[0] else { panic!() };
    assert_eq!(c.properties.authentication_method.as_deref(), Some("SCRIPT"));
    assert_eq!(c.properties.authentication_data.as_deref(), Some(&b"hello"[..]));
    h.server(auth(AuthReasonCode::ContinueAuthentication, b"challenge"));
    let sent = h.take_sent();
    assert!(matches!(&sent[..], [Packet::Auth(a)] if a.reason_code == AuthReasonCode::ContinueAuthentication
        && a.properties.authentication_data.as_deref() == Some(&b"response"[..])));
    h.server(Packet::ConnAck(ConnAck {
        session_present: false,
        reason_code: ConnectReasonCode::Success,
        properties: Default::default(),
    }));
    assert!(h.s.is_connected());

    h.s.handle_command(h.now, Command::Reauthenticate).unwrap();
    let sent = h.take_sent();
    assert!(matches!(&sent[..], [Packet::Auth(a)] if a.reason_code == AuthReasonCode::ReAuthenticate));
    h.server(auth(AuthReasonCode::ContinueAuthentication, b"challenge"));
    h.take_sent();
    h.server(auth(AuthReasonCode::Success, b""));
    assert!(h.take_events().contains(&Event::Reauthenticated { result: Ok(()) }));

    // A challenge the authenticator refuses closes the connection with 0x87.
    h.s.handle_command(h.now, Command::Reauthenticate).unwrap();
    h.take_sent();
    h.server(auth(AuthReasonCode::ContinueAuthentication, b"bogus"));
    let sent = h.take_sent();
    assert!(
        matches!(&sent[..], [Packet::Disconnect(d)] if d.reason_code == DisconnectReasonCode::NotAuthorized)
    );
}

#[test]
fn auth_without_a_method_is_a_protocol_error() {
    let mut h = Harness::with(|_| {});
    h.s.connection_opened(h.now);
    h.take_sent();
    h.server(auth(AuthReasonCode::ContinueAuthentication, b"x"));
    let sent = h.take_sent();
    assert!(
        matches!(&sent[..], [Packet::Disconnect(d)] if d.reason_code == DisconnectReasonCode::ProtocolError)
    );
}

// ----- durability --------------------------------------------------------------------------

#[test]
fn an_engine_rebuilt_from_the_store_resumes_where_the_old_one_stopped() {
    let store = std::sync::Arc::new(std::sync::Mutex::new(MemoryStore::default()));
    let config = || {
        let mut c = Config::new("durable");
        c.clean_start = false;
        c.auto_topic_alias = false;
        c.properties.session_expiry_interval = Some(SESSION_NEVER_EXPIRES);
        c
    };
    // State written, engine dropped before any ack: the process "crashed".
    let mut h = Harness::new(config());
    h.s = Session::with_store(config(), Box::new(store.clone()));
    h.connect(false);
    h.publish(1, "a", QoS::AtLeastOnce).unwrap();
    h.publish(2, "b", QoS::ExactlyOnce).unwrap();
    let sent = h.take_sent();
    let ids: Vec<PacketId> = publishes(&sent).iter().map(|p| p.packet_id.unwrap()).collect();
    h.server(Packet::PubRec(PubRec::new(ids[1])));
    h.server(Packet::Publish(server_publish(9, QoS::ExactlyOnce, "in", "x")));
    h.take_sent();
    h.publish(3, "c", QoS::AtLeastOnce).unwrap();
    h.take_sent();
    h.s.server = ServerLimits { receive_maximum: 3, ..h.s.server };
    assert_eq!(h.s.send_quota(), 0, "three unfinished of three");
    h.publish(4, "q", QoS::AtLeastOnce).unwrap();
    assert_eq!(h.s.queued(), 1);
    drop(h);

    let mut h = Harness::new(config());
    h.s = persistent_restore(&store, config());
    let connect = h.connect(true);
    assert!(!connect.clean_start);
    let sent = h.take_sent();
    let order: Vec<String> = sent
        .iter()
        .map(|p| match p {
            Packet::Publish(p) => format!("P {} dup={}", p.topic, p.dup),
            Packet::PubRel(_) => "REL".into(),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(order, vec!["P a dup=true", "REL", "P c dup=true", "P q dup=false"]);
    // Incoming QoS 2 state survived: the server's re-delivery is not delivered again.
    let mut again = server_publish(9, QoS::ExactlyOnce, "in", "x");
    again.dup = true;
    h.server(Packet::Publish(again));
    assert!(messages(&h.take_events()).is_empty());
}

fn persistent_restore(store: &std::sync::Arc<std::sync::Mutex<MemoryStore>>, config: Config) -> Session {
    Session::restore(config, Box::new(store.clone()))
}

#[test]
fn restored_session_that_the_server_lost_republishes() {
    let store = std::sync::Arc::new(std::sync::Mutex::new(MemoryStore::default()));
    let mut c = Config::new("durable");
    c.auto_topic_alias = false;
    c.properties.session_expiry_interval = Some(60);
    let mut h = Harness::new(Config::new("x"));
    h.s = Session::with_store(c, Box::new(store.clone()));
    h.connect(false);
    h.publish(1, "a", QoS::AtLeastOnce).unwrap();
    h.take_sent();
    drop(h);
    let mut c = Config::new("durable");
    c.auto_topic_alias = false;
    let mut h = Harness::new(Config::new("x"));
    h.s = Session::restore(c, Box::new(store.clone()));
    h.connect(false);
    let events = h.take_events();
    assert!(events.contains(&Event::SessionLost { republished: 1, failed: 0 }));
    let sent = h.take_sent();
    assert!(matches!(&publishes(&sent)[..], [p] if !p.dup && p.topic == "a"));
}

#[test]
fn disconnect_goes_out_after_what_was_handed_over_before_it() {
    let mut h = Harness::with(|c| {
        c.auto_topic_alias = false;
        c.properties.session_expiry_interval = Some(60);
    });
    h.connect_with(false, ConnAckProperties { receive_maximum: Some(1), ..Default::default() });
    h.take_sent();
    h.publish(1, "a", QoS::AtMostOnce).unwrap();
    h.publish(2, "b", QoS::AtLeastOnce).unwrap();
    h.publish(3, "c", QoS::AtLeastOnce).unwrap();
    let normal = DisconnectReasonCode::NormalDisconnection;
    let cmd = Command::Disconnect { reason_code: normal, session_expiry_interval: None, reason_string: None };
    h.s.handle_command(h.now, cmd).unwrap();
    let sent = h.take_sent();
    let names: Vec<String> = sent
        .iter()
        .map(|p| match p {
            Packet::Publish(p) => p.topic.clone(),
            Packet::Disconnect(_) => "DISCONNECT".into(),
            other => format!("{other:?}"),
        })
        .collect();
    // "c" waits for the send quota (Receive Maximum 1) and stays queued for the next session.
    assert_eq!(names, vec!["a", "b", "DISCONNECT"]);
    assert!(h.s.wants_close());
    assert_eq!(h.s.queued(), 1);
}

/// `transmit_into` (what the driver uses, encoding in place) writes exactly the bytes that
/// `poll_transmit` + `encode` would: aliases, remaining expiry, DUP on resend, QoS 0/1/2, and
/// the in-flight copy is left as it was.
#[test]
fn transmit_into_writes_what_poll_transmit_returns() {
    fn script(h: &mut Harness, into: bool) -> Vec<u8> {
        let mut bytes = BytesMut::new();
        let mut drain = |h: &mut Harness| {
            if into {
                while let Some(r) = h.s.transmit_into(h.now, &mut bytes) {
                    r.unwrap();
                }
            } else {
                while let Some(p) = h.s.poll_transmit(h.now) {
                    p.encode(&mut bytes).unwrap();
                }
            }
            while h.s.poll_event().is_some() {}
        };
        h.s.connection_opened(h.now);
        drain(h);
        let props = ConnAckProperties {
            topic_alias_maximum: Some(2),
            receive_maximum: Some(3),
            ..Default::default()
        };
        h.server(Packet::ConnAck(ConnAck {
            session_present: false,
            reason_code: ConnectReasonCode::Success,
            properties: props.clone(),
        }));
        for (i, qos) in
            [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce, QoS::AtLeastOnce, QoS::AtMostOnce]
                .into_iter()
                .enumerate()
        {
            let request = PublishRequest {
                topic: format!("t/{}", i % 2),
                payload: Bytes::from(vec![i as u8; 10]),
                qos,
                properties: PublishProperties { message_expiry_interval: Some(100), ..Default::default() },
                ..Default::default()
            };
            h.s.handle_command(h.now, Command::Publish { token: i as u64, request }).unwrap();
        }
        h.now += Duration::from_secs(3);
        drain(h);
        h.s.connection_lost(h.now);
        h.s.connection_opened(h.now);
        drain(h);
        h.server(Packet::ConnAck(ConnAck {
            session_present: true,
            reason_code: ConnectReasonCode::Success,
            properties: props,
        }));
        drain(h);
        bytes.to_vec()
    }
    let config = || {
        let mut c = Config::new("same");
        c.properties.session_expiry_interval = Some(60);
        c
    };
    let mut a = Harness::new(config());
    let mut b = Harness::new(config());
    b.now = a.now;
    let via_packets = script(&mut a, false);
    let in_place = script(&mut b, true);
    assert!(via_packets.len() > 100);
    assert_eq!(via_packets, in_place);
    // The resends in the second half carry DUP (first byte of a QoS 1 PUBLISH with DUP: 0x3A).
    assert!(in_place.windows(1).any(|w| w[0] == 0x3A));
}

// ----- acknowledgements across a reconnect ------------------------------------------------
//
// An acknowledgement answers a PUBLISH on its own connection. One that could not go out there
// waits for the server's resend on the resumed session ([MQTT-4.4.0-1]) and answers that, once;
// the resend never reaches the application again.

fn resent(id: u16, qos: QoS, payload: &str) -> Packet {
    let mut p = server_publish(id, qos, "t", payload);
    p.dup = true;
    Packet::Publish(p)
}

fn ack_packet(qos: QoS, id: u16) -> Packet {
    match qos {
        QoS::AtLeastOnce => Packet::PubAck(PubAck::new(pid(id))),
        _ => Packet::PubRec(PubRec::new(pid(id))),
    }
}

fn manual_persistent() -> Harness {
    let mut h = persistent();
    h.s.config.manual_ack = true;
    h
}

/// Ack while disconnected: nothing goes out unprompted after CONNACK; the resend is
/// answered once and not delivered again; QoS 2 then completes with PUBREL/PUBCOMP.
#[test]
fn an_ack_made_while_disconnected_answers_the_resend_once() {
    for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let mut h = manual_persistent();
        h.connect(false);
        h.take_sent();
        h.server(Packet::Publish(server_publish(1, qos, "t", "m")));
        let ack_id = messages(&h.take_events())[0].ack_id.unwrap();
        h.lose();
        h.s.handle_command(h.now, Command::Ack { ack_id }).unwrap();
        h.connect(true);
        assert!(h.take_sent().is_empty(), "{qos:?}: no acknowledgement before the resend");
        h.server(resent(1, qos, "m"));
        assert_eq!(h.take_sent(), vec![ack_packet(qos, 1)], "{qos:?}");
        assert!(messages(&h.take_events()).is_empty(), "{qos:?}: the resend is the same message");
        if qos == QoS::ExactlyOnce {
            h.server(Packet::PubRel(PubRel::new(pid(1))));
            assert_eq!(h.take_sent(), vec![Packet::PubComp(PubComp::new(pid(1)))]);
        }
        // A later message reusing the identifier is new again.
        h.server(Packet::Publish(server_publish(1, qos, "t", "next")));
        assert_eq!(messages(&h.take_events()).len(), 1, "{qos:?}");
    }
}

/// The application still holds the message when the resend arrives: nothing goes out and
/// nothing is delivered again; its ack, when it comes, goes out once on this connection.
#[test]
fn an_ack_made_after_the_resend_goes_out_once() {
    for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let mut h = manual_persistent();
        h.connect(false);
        h.take_sent();
        h.server(Packet::Publish(server_publish(1, qos, "t", "m")));
        let ack_id = messages(&h.take_events())[0].ack_id.unwrap();
        h.lose();
        h.connect(true);
        h.server(resent(1, qos, "m"));
        assert!(h.take_sent().is_empty(), "{qos:?}");
        assert!(messages(&h.take_events()).is_empty(), "{qos:?}");
        h.s.handle_command(h.now, Command::Ack { ack_id }).unwrap();
        assert_eq!(h.take_sent(), vec![ack_packet(qos, 1)], "{qos:?}");
        assert!(messages(&h.take_events()).is_empty(), "{qos:?}");
    }
}

/// Acked and answered before the drop: a QoS 2 resend gets PUBREC again and is not
/// delivered again; a QoS 1 resend after a PUBACK that was written may be a new message
/// under a reused identifier, so it is delivered (at least once) and acknowledged.
#[test]
fn an_ack_sent_before_the_drop() {
    for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let mut h = manual_persistent();
        h.connect(false);
        h.take_sent();
        h.server(Packet::Publish(server_publish(1, qos, "t", "m")));
        let ack_id = messages(&h.take_events())[0].ack_id.unwrap();
        h.s.handle_command(h.now, Command::Ack { ack_id }).unwrap();
        assert_eq!(h.take_sent(), vec![ack_packet(qos, 1)]);
        h.lose();
        h.connect(true);
        assert!(h.take_sent().is_empty());
        h.server(resent(1, qos, "m"));
        let delivered = messages(&h.take_events());
        if qos == QoS::ExactlyOnce {
            assert_eq!(h.take_sent(), vec![ack_packet(qos, 1)]);
            assert!(delivered.is_empty());
        } else {
            assert_eq!(delivered.len(), 1);
            assert!(delivered[0].dup);
            h.s.handle_command(h.now, Command::Ack { ack_id: delivered[0].ack_id.unwrap() }).unwrap();
            assert_eq!(h.take_sent(), vec![ack_packet(qos, 1)]);
        }
    }
}

/// Automatic acks: one written before the drop is like the manual case above; one made but
/// never handed to the transport (the link dropped first) answers the resend once, and the
/// resend is not delivered again.
#[test]
fn automatic_acks_across_a_reconnect() {
    for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let mut h = persistent();
        h.connect(false);
        h.take_sent();
        h.server(Packet::Publish(server_publish(1, qos, "t", "m")));
        // The ack is queued but the connection goes before anything is written.
        let mut delivered = 0;
        while let Some(e) = h.s.poll_event() {
            delivered += usize::from(matches!(e, Event::Message(_)));
        }
        assert_eq!(delivered, 1);
        h.s.connection_lost(h.now);
        h.take_events();
        h.connect(true);
        assert!(h.take_sent().is_empty(), "{qos:?}: the unsent ack is not sent unprompted");
        h.server(resent(1, qos, "m"));
        assert_eq!(h.take_sent(), vec![ack_packet(qos, 1)], "{qos:?}");
        assert!(messages(&h.take_events()).is_empty(), "{qos:?}: delivered once");
    }
}

/// The wire: QoS 1 and QoS 2 received, acked while disconnected, resumed; the
/// server's resends cross nothing, each is answered once, and PUBREL completes the QoS 2 flow.
#[test]
fn resends_of_a_qos1_and_a_qos2_message_acked_while_disconnected() {
    let mut h = manual_persistent();
    h.connect(false);
    h.take_sent();
    h.server(Packet::Publish(server_publish(1, QoS::AtLeastOnce, "t", "a")));
    h.server(Packet::Publish(server_publish(2, QoS::ExactlyOnce, "t", "b")));
    let ids: Vec<u64> = messages(&h.take_events()).iter().map(|m| m.ack_id.unwrap()).collect();
    h.lose();
    for id in &ids {
        h.s.handle_command(h.now, Command::Ack { ack_id: *id }).unwrap();
    }
    h.connect(true);
    h.server(resent(1, QoS::AtLeastOnce, "a"));
    h.server(resent(2, QoS::ExactlyOnce, "b"));
    h.server(Packet::PubRel(PubRel::new(pid(2))));
    assert_eq!(
        h.take_sent(),
        vec![
            Packet::PubAck(PubAck::new(pid(1))),
            Packet::PubRec(PubRec::new(pid(2))),
            Packet::PubComp(PubComp::new(pid(2))),
        ]
    );
    assert!(messages(&h.take_events()).is_empty());
}

/// Order on the resumed connection: the second message's ack (made while disconnected) waits
/// behind the first one's resend, which the application has not acked yet ([MQTT-4.6.0-2]).
#[test]
fn kept_acks_keep_the_arrival_order_of_the_resends() {
    let mut h = manual_persistent();
    h.connect(false);
    h.take_sent();
    h.server(Packet::Publish(server_publish(1, QoS::AtLeastOnce, "t", "a")));
    h.server(Packet::Publish(server_publish(2, QoS::ExactlyOnce, "t", "b")));
    let ids: Vec<u64> = messages(&h.take_events()).iter().map(|m| m.ack_id.unwrap()).collect();
    h.lose();
    h.s.handle_command(h.now, Command::Ack { ack_id: ids[1] }).unwrap();
    h.connect(true);
    h.server(resent(1, QoS::AtLeastOnce, "a"));
    h.server(resent(2, QoS::ExactlyOnce, "b"));
    assert!(h.take_sent().is_empty(), "PUBREC 2 waits behind the resend of 1");
    h.s.handle_command(h.now, Command::Ack { ack_id: ids[0] }).unwrap();
    assert_eq!(h.take_sent(), vec![ack_packet(QoS::AtLeastOnce, 1), ack_packet(QoS::ExactlyOnce, 2)]);
    assert!(messages(&h.take_events()).is_empty());
}

/// The session is gone (session_present = 0): kept acknowledgements are dropped with it, and a
/// PUBLISH under the same identifier is a new message.
#[test]
fn kept_acks_die_with_the_session() {
    let mut h = manual_persistent();
    h.connect(false);
    h.take_sent();
    h.server(Packet::Publish(server_publish(1, QoS::ExactlyOnce, "t", "a")));
    let ack_id = messages(&h.take_events())[0].ack_id.unwrap();
    h.lose();
    h.s.handle_command(h.now, Command::Ack { ack_id }).unwrap();
    h.connect(false);
    assert!(h.take_sent().is_empty());
    h.server(Packet::Publish(server_publish(1, QoS::ExactlyOnce, "t", "new")));
    assert_eq!(messages(&h.take_events()).len(), 1);
}

/// The same resume as above through the file store, closed and reopened as a restarted
/// process would: in-flight messages keep their packet identifiers (a new message gets
/// another), QoS 2 past PUBREC resends PUBREL, not the PUBLISH.
#[test]
fn an_engine_rebuilt_from_the_file_store_resumes_with_ids_reserved() {
    use crate::store::{Durability, FileStore};
    let dir = tempfile::tempdir().unwrap();
    let config = || {
        let mut c = Config::new("durable-file");
        c.clean_start = false;
        c.auto_topic_alias = false;
        c.properties.session_expiry_interval = Some(SESSION_NEVER_EXPIRES);
        c
    };
    let mut h = Harness::new(config());
    h.s = Session::with_store(config(), Box::new(FileStore::open(dir.path(), Durability::None).unwrap()));
    h.connect(false);
    h.publish(1, "a", QoS::AtLeastOnce).unwrap();
    h.publish(2, "b", QoS::ExactlyOnce).unwrap();
    let sent = h.take_sent();
    let ids: Vec<PacketId> = publishes(&sent).iter().map(|p| p.packet_id.unwrap()).collect();
    h.server(Packet::PubRec(PubRec::new(ids[1])));
    h.take_sent();
    drop(h);

    let mut h = Harness::new(config());
    h.s = Session::restore(config(), Box::new(FileStore::open(dir.path(), Durability::None).unwrap()));
    assert_eq!(h.s.max_token(), 2);
    let connect = h.connect(true);
    // [MQTT-4.4.0-1] Clean Start 0 and the unacknowledged PUBLISH and PUBREL sent again.
    assert!(!connect.clean_start);
    h.publish(3, "c", QoS::AtLeastOnce).unwrap();
    let sent = h.take_sent();
    let mut order = Vec::new();
    for p in &sent {
        match p {
            // [MQTT-3.3.1-1] DUP on the re-delivery.
            Packet::Publish(p) => {
                order.push(format!("P {} dup={} id={}", p.topic, p.dup, p.packet_id.unwrap()))
            }
            Packet::PubRel(r) => order.push(format!("REL id={}", r.packet_id)),
            _ => {}
        }
    }
    assert_eq!(order[..2], [format!("P a dup=true id={}", ids[0]), format!("REL id={}", ids[1])]);
    let new_id = publishes(&sent).iter().find(|p| p.topic == "c").unwrap().packet_id.unwrap();
    // [MQTT-2.2.1-3] a restored identifier is still in use: the new message gets another.
    assert!(!ids.contains(&new_id), "{new_id} collides with a restored id");
}
