//! The send window across reconnects, against a model broker that enforces its Receive Maximum
//! the way mosquitto does: a cut at every point of a window full of mixed QoS 1/2 messages, and
//! the number of unfinished messages checked on every packet.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Instant;

use bytes::Bytes;

use super::*;
use crate::codec::{ConnAckProperties, ConnectReasonCode, PubAck, PubAckReasonCode, PubComp, PubRec};

/// A broker's receiving side, as mosquitto keeps it: a QoS 2 message is stored from its first
/// PUBLISH until PUBREL and counts against Receive Maximum all that time; QoS 1 is answered at
/// once. A PUBLISH beyond the window is refused with 0x97 (the server's side of
/// 4.9, flow control) and recorded as a violation.
struct ModelBroker {
    receive_maximum: u16,
    /// QoS 2 messages received and not yet released: packet id → payload.
    stored: HashMap<PacketId, Bytes>,
    delivered: HashMap<Bytes, usize>,
    violations: Vec<String>,
}

impl ModelBroker {
    fn new(receive_maximum: u16) -> Self {
        ModelBroker {
            receive_maximum,
            stored: HashMap::new(),
            delivered: HashMap::new(),
            violations: Vec::new(),
        }
    }

    fn connack(&self, session_present: bool) -> Packet {
        Packet::ConnAck(ConnAck {
            session_present,
            reason_code: ConnectReasonCode::Success,
            properties: ConnAckProperties {
                receive_maximum: Some(self.receive_maximum),
                ..Default::default()
            },
        })
    }

    fn full(&self) -> bool {
        self.stored.len() >= usize::from(self.receive_maximum)
    }

    /// One packet from the client; returns the answer.
    fn handle(&mut self, packet: Packet) -> Option<Packet> {
        match packet {
            Packet::Publish(p) => {
                let id = p.packet_id?;
                match p.qos {
                    QoS::AtLeastOnce => {
                        if self.full() {
                            self.violations
                                .push(format!("QoS 1 PUBLISH {id} beyond {}", self.receive_maximum));
                            let mut ack = PubAck::new(id);
                            ack.reason_code = PubAckReasonCode::QuotaExceeded;
                            return Some(Packet::PubAck(ack));
                        }
                        *self.delivered.entry(p.payload).or_default() += 1;
                        Some(Packet::PubAck(PubAck::new(id)))
                    }
                    _ => {
                        if !self.stored.contains_key(&id) {
                            if self.full() {
                                self.violations
                                    .push(format!("QoS 2 PUBLISH {id} beyond {}", self.receive_maximum));
                                let mut rec = PubRec::new(id);
                                rec.reason_code = PubAckReasonCode::QuotaExceeded;
                                return Some(Packet::PubRec(rec));
                            }
                            self.stored.insert(id, p.payload);
                        }
                        Some(Packet::PubRec(PubRec::new(id)))
                    }
                }
            }
            Packet::PubRel(rel) => {
                let mut comp = PubComp::new(rel.packet_id);
                match self.stored.remove(&rel.packet_id) {
                    Some(payload) => *self.delivered.entry(payload).or_default() += 1,
                    None => comp.reason_code = PubRelReasonCode::PacketIdentifierNotFound,
                }
                Some(Packet::PubComp(comp))
            }
            _ => None,
        }
    }
}

/// The engine, the model broker and a wire each way. One tick moves one packet; the direction
/// alternates so that the broker's answers and the client's next packets cross.
struct Link {
    s: Session,
    now: Instant,
    broker: ModelBroker,
    up: VecDeque<Packet>,
    down: VecDeque<Packet>,
    /// The client's view, carried across cuts: packet ids whose PUBLISH went out and whose
    /// PUBACK, PUBCOMP or error PUBREC has not come back ([MQTT-3.3.4-7]).
    unfinished: HashSet<PacketId>,
    max_unfinished: usize,
    done: HashMap<u64, bool>,
    tick: u64,
}

impl Link {
    fn new(receive_maximum: u16) -> Self {
        let mut config = Config::new("window");
        config.clean_start = false;
        config.auto_topic_alias = false;
        config.properties.session_expiry_interval = Some(SESSION_NEVER_EXPIRES);
        config.queue.max_messages = 100_000;
        #[allow(clippy::disallowed_methods)] // the virtual clock starts anywhere
        let now = Instant::now();
        Link {
            s: Session::new(config),
            now,
            broker: ModelBroker::new(receive_maximum),
            up: VecDeque::new(),
            down: VecDeque::new(),
            unfinished: HashSet::new(),
            max_unfinished: 0,
            done: HashMap::new(),
            tick: 0,
        }
    }

    fn connect(&mut self, session_present: bool) {
        self.up.clear();
        self.down.clear();
        self.s.connection_opened(self.now);
        let connect = self.s.poll_transmit(self.now);
        assert!(matches!(connect, Some(Packet::Connect(_))), "{connect:?}");
        let connack = self.broker.connack(session_present);
        self.s.handle_packet(self.now, connack);
        self.collect();
    }

    fn cut(&mut self) {
        self.collect();
        self.s.connection_lost(self.now);
        self.collect();
    }

    /// Everything the engine wants to send goes onto the up wire; completions are noted.
    fn collect(&mut self) {
        while let Some(p) = self.s.poll_transmit(self.now) {
            if let Packet::Publish(publish) = &p {
                if let Some(id) = publish.packet_id {
                    self.unfinished.insert(id);
                    self.max_unfinished = self.max_unfinished.max(self.unfinished.len());
                }
            }
            self.up.push_back(p);
        }
        while let Some(e) = self.s.poll_event() {
            if let Event::PublishDone { token, result, .. } = e {
                assert!(self.done.insert(token, result.is_ok()).is_none(), "token {token} completed twice");
            }
        }
    }

    /// Move one packet; false when both wires are empty.
    fn tick(&mut self) -> bool {
        self.tick += 1;
        let up_first = self.tick % 2 == 0;
        let from_up = (up_first && !self.up.is_empty()) || self.down.is_empty();
        if from_up {
            let Some(p) = self.up.pop_front() else { return false };
            if let Some(answer) = self.broker.handle(p) {
                self.down.push_back(answer);
            }
        } else {
            let Some(p) = self.down.pop_front() else { return false };
            match &p {
                Packet::PubAck(a) => {
                    self.unfinished.remove(&a.packet_id);
                }
                Packet::PubComp(c) => {
                    self.unfinished.remove(&c.packet_id);
                }
                Packet::PubRec(r) if r.reason_code.is_error() => {
                    self.unfinished.remove(&r.packet_id);
                }
                _ => {}
            }
            self.s.handle_packet(self.now, p);
        }
        self.collect();
        true
    }
}

fn qos_of(n: u64) -> QoS {
    // Mixed so that a window holds both kinds at every cut: 2, 1, 2, 2, 1, ...
    if matches!(n % 5, 1 | 4) {
        QoS::AtLeastOnce
    } else {
        QoS::ExactlyOnce
    }
}

/// Runs `messages` publishes with a cut after `cut_at` ticks (none when past the end) and
/// returns the link at the end.
fn run(receive_maximum: u16, messages: u64, cut_at: u64) -> Link {
    let mut link = Link::new(receive_maximum);
    link.connect(false);
    for n in 0..messages {
        let request = PublishRequest {
            topic: "w".into(),
            payload: Bytes::from(n.to_string()),
            qos: qos_of(n),
            ..Default::default()
        };
        link.s.handle_command(link.now, Command::Publish { token: n, request }).unwrap();
    }
    link.collect();
    let mut cut_done = false;
    for _ in 0..100_000 {
        if !cut_done && link.tick >= cut_at {
            cut_done = true;
            link.cut();
            link.connect(true);
        }
        if !link.tick() {
            if cut_done || cut_at == u64::MAX {
                break;
            }
            // Idle before the cut point: cut here instead.
            link.tick = cut_at;
        }
    }
    link
}

/// [MQTT-3.3.4-7]/4.9: whatever the moment of the cut, the resumed client never has more
/// unfinished QoS 1/2 messages than the server's Receive Maximum (counting the QoS 2 messages
/// whose PUBREL it resends), the broker never refuses one for quota, and every message is
/// delivered, QoS 2 exactly once.
#[test]
fn a_cut_at_every_point_never_overruns_the_receive_maximum() {
    for receive_maximum in [1u16, 2, 20, 65535] {
        let messages = (u64::from(receive_maximum) * 2 + 3).min(45);
        // Ticks of an uncut run: every cut point lies within them.
        let total = run(receive_maximum, messages, u64::MAX).tick;
        for cut_at in 0..=total {
            let link = run(receive_maximum, messages, cut_at);
            let ctx = format!("Receive Maximum {receive_maximum}, cut after tick {cut_at} of {total}");
            assert!(link.broker.violations.is_empty(), "{ctx}: {:?}", link.broker.violations);
            assert!(
                link.max_unfinished <= usize::from(receive_maximum),
                "{ctx}: {} unfinished on the wire",
                link.max_unfinished
            );
            assert_eq!(link.done.len() as u64, messages, "{ctx}: not every delivery completed");
            assert!(link.done.values().all(|ok| *ok), "{ctx}: a delivery failed");
            for n in 0..messages {
                let got = link.broker.delivered.get(n.to_string().as_bytes()).copied().unwrap_or(0);
                match qos_of(n) {
                    QoS::ExactlyOnce => assert_eq!(got, 1, "{ctx}: QoS 2 message {n} delivered {got} times"),
                    _ => assert!(got >= 1, "{ctx}: QoS 1 message {n} lost"),
                }
            }
            assert_eq!(link.s.inflight(), 0, "{ctx}");
        }
    }
}
