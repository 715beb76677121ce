//! Deterministic tests of the engine speaking MQTT 3.1.1: the same engine, level-4 bytes.
//!
//! Everything the driver would write goes through `transmit_into`, so these tests see the
//! exact bytes; server packets are decoded from 3.1.1 bytes where the wire form matters.

use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::*;
use crate::codec::{
    decode, ConnectReasonCode, Decoded, RetainHandling, SubscribeProperties, Subscription,
    SubscriptionOptions, UnsubAckReasonCode, UnsubscribeProperties,
};

const V: ProtocolVersion = ProtocolVersion::V311;

fn pid(n: u16) -> PacketId {
    PacketId::new(n).unwrap()
}

struct Harness {
    s: Session,
    now: Instant,
    events: Vec<Event>,
}

impl Harness {
    fn with(f: impl FnOnce(&mut Config)) -> Self {
        let mut c = Config::new("c1");
        c.protocol = V;
        f(&mut c);
        #[allow(clippy::disallowed_methods)]
        let now = Instant::now();
        Harness { s: Session::new(c), now, events: Vec::new() }
    }

    /// Everything the engine would write now, as bytes, split back into 3.1.1 packets.
    fn wire(&mut self) -> (Vec<u8>, Vec<Packet>) {
        let mut buf = BytesMut::new();
        while let Some(r) = self.s.transmit_into(self.now, &mut buf) {
            r.expect("the engine only sends what 3.1.1 can carry");
        }
        while let Some(e) = self.s.poll_event() {
            self.events.push(e);
        }
        let bytes = buf.to_vec();
        let mut packets = Vec::new();
        while let Ok(Decoded::Packet(p)) = decode(&mut buf, u32::MAX, V) {
            packets.push(p);
        }
        assert!(buf.is_empty());
        (bytes, packets)
    }

    /// Feeds 3.1.1 bytes from the server.
    fn server_bytes(&mut self, bytes: &[u8]) {
        let mut buf = BytesMut::from(bytes);
        while let Ok(Decoded::Packet(p)) = decode(&mut buf, u32::MAX, V) {
            self.s.handle_packet(self.now, p);
        }
        assert!(buf.is_empty(), "the test sent whole 3.1.1 packets");
    }

    /// Opens a connection, answers CONNACK (0x20 0x02 flags 0x00); returns the CONNECT bytes.
    fn connect(&mut self, session_present: bool) -> Vec<u8> {
        self.s.connection_opened(self.now);
        let (bytes, packets) = self.wire();
        assert!(matches!(packets.as_slice(), [Packet::Connect(_)]), "{packets:?}");
        self.server_bytes(&[0x20, 2, u8::from(session_present), 0]);
        bytes
    }

    fn lose(&mut self) {
        self.wire();
        self.s.connection_lost(self.now);
    }

    fn command(&mut self, c: Command) -> Result<(), CommandError> {
        self.s.handle_command(self.now, c)
    }

    fn publish(&mut self, token: u64, qos: QoS) -> Result<(), CommandError> {
        let request = PublishRequest {
            topic: "t".into(),
            payload: Bytes::from_static(b"m"),
            qos,
            ..Default::default()
        };
        self.command(Command::Publish { token, request })
    }

    fn take_events(&mut self) -> Vec<Event> {
        self.wire();
        std::mem::take(&mut self.events)
    }
}

/// The Clean Session bit of CONNECT bytes (3.1.2.4): byte 9 holds the connect flags.
fn clean_session(connect: &[u8]) -> bool {
    connect[9] & 0b10 != 0
}

#[test]
fn connect_is_protocol_level_4_without_properties() {
    let mut h = Harness::with(|c| c.keep_alive = 60);
    let bytes = h.connect(false);
    // 3.1.2: protocol name, level 4, flags (Clean Session), keep alive; payload: client id.
    assert_eq!(bytes, [0x10, 14, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 2, b'c', b'1']);
    assert!(h.s.is_connected());
}

#[test]
fn clean_session_follows_clean_start_and_expiry() {
    // Nothing kept: Clean Session 1 on every connection, reconnects included.
    let mut h = Harness::with(|_| {});
    assert!(clean_session(&h.connect(false)));
    h.lose();
    assert!(clean_session(&h.connect(false)));

    // A session kept beyond the connection: Clean Session 0 from the first connection on,
    // whatever Clean Start says (3.1.1 cannot start afresh and keep).
    for clean_start in [true, false] {
        let mut h = Harness::with(|c| {
            c.clean_start = clean_start;
            c.properties.session_expiry_interval = Some(3600);
        });
        assert!(!clean_session(&h.connect(false)));
        h.lose();
        assert!(!clean_session(&h.connect(true)));
    }
}

#[test]
fn resume_resends_with_dup_after_session_present() {
    let mut h = Harness::with(|c| c.properties.session_expiry_interval = Some(3600));
    h.connect(false);
    h.publish(1, QoS::AtLeastOnce).unwrap();
    h.publish(2, QoS::ExactlyOnce).unwrap();
    let (bytes, _) = h.wire();
    // QoS 1 then QoS 2, DUP clear: 0x32 and 0x34, no property length byte after the id.
    assert_eq!(bytes, [0x32, 6, 0, 1, b't', 0, 1, b'm', 0x34, 6, 0, 1, b't', 0, 2, b'm']);
    h.lose();
    h.connect(true);
    let (bytes, _) = h.wire();
    // [MQTT-3.3.1-1] the same identifiers with DUP set: 0x3A and 0x3C.
    assert_eq!(bytes, [0x3A, 6, 0, 1, b't', 0, 1, b'm', 0x3C, 6, 0, 1, b't', 0, 2, b'm']);
    // PUBACK 1; PUBREC 2 → PUBREL 2; PUBCOMP 2: both delivered, nothing lost.
    h.server_bytes(&[0x40, 2, 0, 1, 0x50, 2, 0, 2]);
    let (bytes, _) = h.wire();
    assert_eq!(bytes, [0x62, 2, 0, 2]);
    h.server_bytes(&[0x70, 2, 0, 2]);
    let done: Vec<u64> = h
        .take_events()
        .iter()
        .filter_map(|e| match e {
            Event::PublishDone { token, result: Ok(_), .. } => Some(*token),
            _ => None,
        })
        .collect();
    assert_eq!(done, [1, 2]);
    assert_eq!(h.s.inflight(), 0);
}

#[test]
fn pubrel_resumes_after_session_present() {
    let mut h = Harness::with(|c| c.properties.session_expiry_interval = Some(3600));
    h.connect(false);
    h.publish(1, QoS::ExactlyOnce).unwrap();
    h.wire();
    h.server_bytes(&[0x50, 2, 0, 1]);
    h.lose();
    h.connect(true);
    // 4.4: PUBREL goes out again (it has no DUP flag).
    assert_eq!(h.wire().0, [0x62, 2, 0, 1]);
}

#[test]
fn five_zero_only_features_are_refused_before_anything_is_sent() {
    let mut h = Harness::with(|_| {});
    h.connect(false);
    let not_supported = |r: Result<(), CommandError>| matches!(r, Err(CommandError::NotSupported(_)));

    let mut request = PublishRequest { topic: "t".into(), ..Default::default() };
    request.properties.topic_alias = Some(1);
    assert!(not_supported(h.command(Command::Publish { token: 1, request: request.clone() })));
    request.properties = Default::default();
    request.properties.user_properties.push(("k".into(), "v".into()));
    assert!(not_supported(h.command(Command::Publish { token: 2, request })));

    let sub = |options| vec![Subscription { filter: "a".into(), options }];
    let no_local = SubscriptionOptions { no_local: true, ..Default::default() };
    assert!(not_supported(h.command(Command::Subscribe {
        token: 3,
        subscriptions: sub(no_local),
        properties: Default::default()
    })));
    let rh = SubscriptionOptions { retain_handling: RetainHandling::DoNotSend, ..Default::default() };
    assert!(not_supported(h.command(Command::Subscribe {
        token: 4,
        subscriptions: sub(rh),
        properties: Default::default()
    })));
    let properties = SubscribeProperties { subscription_identifier: Some(7), ..Default::default() };
    assert!(not_supported(h.command(Command::Subscribe {
        token: 5,
        subscriptions: sub(Default::default()),
        properties
    })));
    let properties = UnsubscribeProperties { user_properties: vec![("k".into(), "v".into())] };
    assert!(not_supported(h.command(Command::Unsubscribe {
        token: 6,
        filters: vec!["a".into()],
        properties
    })));
    assert!(not_supported(h.command(Command::Disconnect {
        reason_code: DisconnectReasonCode::DisconnectWithWillMessage,
        session_expiry_interval: None,
        reason_string: None
    })));
    assert!(not_supported(h.command(Command::Disconnect {
        reason_code: DisconnectReasonCode::NormalDisconnection,
        session_expiry_interval: Some(0),
        reason_string: None
    })));
    assert!(not_supported(h.command(Command::Reauthenticate)));
    // Nothing was queued or sent, and the connection is still up.
    assert_eq!(h.wire().0, []);
    assert_eq!(h.s.queued(), 0);
    assert!(h.s.is_connected());

    // The CONNECT side is checked on the configuration.
    let mut c = Config::new("c");
    c.protocol = V;
    assert_eq!(v311::check_config(&c), Ok(()));
    c.properties.session_expiry_interval = Some(60);
    assert_eq!(v311::check_config(&c), Ok(()));
    c.properties.receive_maximum = Some(10);
    assert!(
        matches!(v311::check_config(&c), Err(CommandError::NotSupported(m)) if m.contains("receive_maximum"))
    );
    // The mapping every face uses.
    let e: crate::Error = CommandError::NotSupported("x".into()).into();
    assert_eq!(e.kind(), crate::ErrorKind::NotSupported);
}

#[test]
fn a_plain_disconnect_is_the_two_bytes_of_3_14() {
    let mut h = Harness::with(|_| {});
    h.connect(false);
    h.command(Command::Disconnect {
        reason_code: DisconnectReasonCode::NormalDisconnection,
        session_expiry_interval: None,
        reason_string: None,
    })
    .unwrap();
    assert_eq!(h.wire().0, [0xE0, 0]);
}

#[test]
fn connack_return_code_5_is_a_refusal() {
    let mut h = Harness::with(|_| {});
    h.s.connection_opened(h.now);
    h.wire();
    h.server_bytes(&[0x20, 2, 0, 5]);
    assert!(h.s.wants_close());
    h.s.connection_lost(h.now);
    let events = h.take_events();
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::Disconnected {
                cause: DisconnectCause::Refused { reason_code: ConnectReasonCode::NotAuthorized, .. }
            }
        )),
        "{events:?}"
    );
}

#[test]
fn the_clients_own_inflight_cap_applies() {
    // No Receive Maximum comes from a 3.1.1 server.
    let mut h = Harness::with(|c| c.max_inflight = 2);
    h.connect(false);
    for t in 1..=3 {
        h.publish(t, QoS::AtLeastOnce).unwrap();
    }
    let (_, packets) = h.wire();
    assert_eq!(packets.len(), 2);
    h.server_bytes(&[0x40, 2, 0, 1]);
    let (_, packets) = h.wire();
    assert!(matches!(packets.as_slice(), [Packet::Publish(p)] if p.packet_id == Some(pid(3))));
}

#[test]
fn unsuback_reports_success_for_every_filter() {
    let mut h = Harness::with(|_| {});
    h.connect(false);
    h.command(Command::Unsubscribe {
        token: 9,
        filters: vec!["a".into(), "b".into()],
        properties: Default::default(),
    })
    .unwrap();
    let (bytes, _) = h.wire();
    assert_eq!(bytes, [0xA2, 8, 0, 1, 0, 1, b'a', 0, 1, b'b']);
    h.server_bytes(&[0xB0, 2, 0, 1]);
    let events = h.take_events();
    assert!(events.iter().any(|e| matches!(
        e,
        Event::UnsubscribeDone { token: 9, reason_codes, .. }
            if reason_codes == &[UnsubAckReasonCode::Success, UnsubAckReasonCode::Success]
    )));
}

#[test]
fn a_server_disconnect_is_a_protocol_error_and_nothing_is_sent() {
    let mut h = Harness::with(|_| {});
    h.connect(false);
    h.server_bytes(&[0xE0, 0]);
    assert!(h.s.wants_close());
    // [MQTT-4.8.0-1] the connection is closed without a DISCONNECT, so the Will stays armed.
    assert_eq!(h.wire().0, []);
}

#[test]
fn subscribe_sends_a_qos_byte_per_filter() {
    let mut h = Harness::with(|_| {});
    h.connect(false);
    let subscriptions = vec![Subscription {
        filter: "a/#".into(),
        options: SubscriptionOptions { qos: QoS::ExactlyOnce, ..Default::default() },
    }];
    h.command(Command::Subscribe { token: 1, subscriptions, properties: Default::default() }).unwrap();
    assert_eq!(h.wire().0, [0x82, 8, 0, 1, 0, 3, b'a', b'/', b'#', 2]);
    h.server_bytes(&[0x90, 3, 0, 1, 0x80]);
    assert!(h.take_events().iter().any(|e| matches!(e, Event::SubscribeDone { token: 1, .. })));
}
