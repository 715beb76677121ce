//! Outgoing application messages: [`Outgoing`], one message as the engine tracks it from
//! acceptance to completion, and the engine's sending side: accepting a publish, choosing what
//! goes out next (resends, subscribes, new messages within the server's window), the wire form
//! (remaining expiry, topic alias, DUP), and the acknowledgements that end each flow,
//! including the retry after 0x97 Quota exceeded.

use std::time::{Duration, Instant};

use super::alias::{AliasUse, OutgoingAliases};
use super::validate::validate_publish;
use super::{
    CommandError, Event, FailedPublish, OverflowPolicy, PublishError, PublishOutcome, PublishRequest,
    Refused, Session, State,
};
use crate::codec::{
    AckProperties, DisconnectReasonCode, Packet, PacketId, ProtocolVersion, PubAck, PubAckReasonCode,
    PubComp, PubRec, PubRel, PubRelReasonCode, Publish, QoS,
};
use crate::store::{OutgoingState, StoredMessage};

/// An outgoing message. `publish.topic` is always the full topic; aliases are applied only to
/// the copy that goes on the wire.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub seq: u64,
    pub token: u64,
    pub publish: Publish,
    pub state: OutgoingState,
    /// When the Message Expiry Interval runs out, measured from acceptance.
    pub expires_at: Option<Instant>,
    /// The connection (epoch) on which the PUBLISH or PUBREL last went out; anything from an
    /// earlier epoch must be sent again after a resume.
    pub sent_epoch: u64,
    /// Times the server refused it with 0x97 Quota exceeded; see [`super::QuotaRetry`].
    pub quota_refusals: u8,
}

impl Outgoing {
    /// Bytes this message counts against the queue's byte limit.
    pub fn weight(&self) -> usize {
        self.publish.payload.len() + self.publish.topic.len()
    }

    pub fn packet_id(&self) -> Option<PacketId> {
        self.publish.packet_id
    }

    /// Back to the queue as a new message, one the server never accepted: no packet
    /// identifier (a new one when it goes out again), DUP = 0.
    pub fn make_new(&mut self) {
        self.publish.packet_id = None;
        self.publish.dup = false;
        self.state = OutgoingState::Queued;
        self.sent_epoch = 0;
    }

    pub fn to_stored(&self) -> StoredMessage {
        StoredMessage { seq: self.seq, token: self.token, publish: self.publish.clone(), state: self.state }
    }
}

/// What goes out next, before it is turned into bytes or a packet.
#[allow(clippy::large_enum_variant)] // see AtMostOnce
enum Next {
    /// PUBREL resends and subscribes: rare, so boxed to keep `Next` small.
    Packet(Box<Packet>),
    /// A QoS 0 message, no longer the engine's once sent. Not boxed: one per message, and a
    /// move costs less than an allocation.
    AtMostOnce(Outgoing),
    /// A message in flight, by identifier: sent for the first time or again after a resume.
    Inflight { id: PacketId, resend: bool },
}

/// What [`Session::next_wire`] hands to its sink. Moved once and never stored, so its size
/// costs a copy, where boxing the packet would cost an allocation per acknowledgement.
#[allow(clippy::large_enum_variant)]
pub(super) enum Wire<'a> {
    Packet(Packet),
    Publish(&'a Publish),
}

/// The fields of an in-flight message that the wire form changes, to put back after encoding.
struct Restore {
    topic: Option<String>,
    alias: Option<u16>,
    expiry: Option<u32>,
    dup: bool,
}

impl Restore {
    fn apply(self, publish: &mut Publish) {
        if let Some(topic) = self.topic {
            publish.topic = topic;
        }
        publish.properties.topic_alias = self.alias;
        publish.properties.message_expiry_interval = self.expiry;
        publish.dup = self.dup;
    }
}

impl Session {
    /// The one place that decides what goes out next; `sink` sees it as an owned packet or as
    /// a PUBLISH borrowed from the engine with its wire form applied (and put back after).
    pub(super) fn next_wire<R>(&mut self, now: Instant, sink: impl FnOnce(Wire<'_>) -> R) -> Option<R> {
        let out = match self.transmit.pop_front() {
            Some(p) => sink(Wire::Packet(p)),
            None if self.state == State::Connected => match self.next_outgoing(now) {
                Some(Next::Packet(p)) => sink(Wire::Packet(*p)),
                Some(Next::AtMostOnce(mut item)) => {
                    let auto = self.config.auto_topic_alias;
                    Self::to_wire(
                        &mut self.out_aliases,
                        auto,
                        now,
                        &mut item.publish,
                        item.expires_at,
                        false,
                    );
                    sink(Wire::Publish(&item.publish))
                }
                Some(Next::Inflight { id, resend }) => {
                    let auto = self.config.auto_topic_alias;
                    let item = self.inflight.get_mut(&id)?;
                    let r = Self::to_wire(
                        &mut self.out_aliases,
                        auto,
                        now,
                        &mut item.publish,
                        item.expires_at,
                        resend,
                    );
                    let out = sink(Wire::Publish(&item.publish));
                    r.apply(&mut item.publish);
                    out
                }
                None => {
                    sink(Wire::Packet(self.disconnect_after.take().inspect(|_| self.state = State::Closing)?))
                }
            },
            None => return None,
        };
        self.last_sent = Some(now);
        Some(out)
    }

    fn next_outgoing(&mut self, now: Instant) -> Option<Next> {
        // 1. Retransmissions, in original order, before anything new ([MQTT-4.4.0-1]).
        while let Some(&id) = self.resend.front() {
            let quota = self.send_quota();
            let Some(item) = self.inflight.get_mut(&id) else {
                self.resend.pop_front();
                continue;
            };
            if item.sent_epoch == self.epoch {
                self.resend.pop_front();
                continue;
            }
            match item.state {
                OutgoingState::AwaitingComp => {
                    item.sent_epoch = self.epoch;
                    self.resend.pop_front();
                    self.stats.retransmissions += 1;
                    return Some(Next::Packet(Box::new(Packet::PubRel(PubRel::new(id)))));
                }
                _ => {
                    if quota == 0 {
                        return None;
                    }
                    self.outstanding += 1;
                    item.sent_epoch = self.epoch;
                    self.resend.pop_front();
                    self.stats.retransmissions += 1;
                    return Some(Next::Inflight { id, resend: true });
                }
            }
        }
        // 2. Subscribes and unsubscribes.
        if let Some(mut control) = self.controls_waiting.pop_front() {
            match self.allocate_packet_id() {
                Some(id) => {
                    control.set_packet_id(id);
                    let packet = control.packet();
                    self.controls_inflight.insert(id, control);
                    return Some(Next::Packet(Box::new(packet)));
                }
                None => self.controls_waiting.push_front(control),
            }
        }
        // 3. New messages.
        self.requeue_quota_delayed(now);
        loop {
            for expired in self.queue.take_expired(now) {
                self.finish(expired, Err(PublishError::Expired));
            }
            let front = self.queue.front()?;
            if let Err(e) = self.admissible(front.publish.qos, front.publish.retain, &front.publish) {
                let item = self.queue.pop_front()?;
                self.finish(item, Err(PublishError::NotAdmitted(e)));
                continue;
            }
            if front.publish.qos == QoS::AtMostOnce {
                let item = self.queue.pop_front()?;
                self.stats.messages_out += 1;
                self.events.push_back(Event::PublishDone {
                    token: item.token,
                    result: Ok(PublishOutcome {
                        reason_code: PubAckReasonCode::Success,
                        packet_id: None,
                        properties: AckProperties::default(),
                    }),
                    failed: None,
                });
                return Some(Next::AtMostOnce(item));
            }
            if self.send_quota() == 0 {
                return None;
            }
            // Once the window was full, refill it in batches rather than one message per
            // acknowledgement (the silly-window rule of TCP): a broker such as mosquitto then
            // gets fewer, larger writes. Only a client that fills the window waits.
            // A DISCONNECT waiting behind the queue takes whatever quota is free: what fits
            // goes out before it rather than staying queued.
            if self.refilling && self.disconnect_after.is_none() {
                if self.send_quota() < self.refill_at() {
                    return None;
                }
                self.refilling = false;
            }
            let id = self.allocate_packet_id()?;
            let mut item = self.queue.pop_front()?;
            self.outstanding += 1;
            if self.send_quota() == 0 {
                self.refilling = true;
            }
            item.publish.packet_id = Some(id);
            item.state = OutgoingState::AwaitingAck;
            item.sent_epoch = self.epoch;
            let stored = item.to_stored();
            self.store_write(|store| store.put_outgoing(&stored));
            self.events.push_back(Event::PacketIdAssigned { token: item.token, packet_id: id });
            self.stats.messages_out += 1;
            self.inflight.insert(id, item);
            return Some(Next::Inflight { id, resend: false });
        }
    }

    /// Turn `publish` (a message as stored) into what goes on the wire, in place: remaining
    /// expiry, topic alias, DUP. Returns what must be put back afterwards for a message that
    /// stays in flight.
    fn to_wire(
        out_aliases: &mut OutgoingAliases,
        auto_alias: bool,
        now: Instant,
        publish: &mut Publish,
        expires_at: Option<Instant>,
        resend: bool,
    ) -> Restore {
        let restore = Restore {
            topic: None,
            alias: publish.properties.topic_alias,
            expiry: publish.properties.message_expiry_interval,
            dup: publish.dup,
        };
        if let Some(at) = expires_at {
            // The receiver gets what is left of the interval (3.3.2.3.3), rounded up so that
            // a message never arrives with 0.
            let left = at.saturating_duration_since(now);
            let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            publish.properties.message_expiry_interval = Some(secs.clamp(1, u64::from(u32::MAX)) as u32);
        }
        if resend {
            // [MQTT-3.3.1-1] DUP set on re-delivery; the same packet identifier; the full
            // topic and no alias, since aliases belong to one connection.
            publish.dup = true;
            publish.properties.topic_alias = None;
            return restore;
        }
        if auto_alias {
            match out_aliases.lookup(&publish.topic) {
                AliasUse::None => {}
                AliasUse::Establish(alias) => publish.properties.topic_alias = Some(alias),
                AliasUse::Reuse(alias) => {
                    publish.properties.topic_alias = Some(alias);
                    return Restore { topic: Some(std::mem::take(&mut publish.topic)), ..restore };
                }
            }
        }
        restore
    }

    /// A packet identifier not in use by any outgoing flow ([MQTT-2.2.1-3] not reused while
    /// in flight). Sequential, so with acks arriving in order the first candidate is free.
    fn allocate_packet_id(&mut self) -> Option<PacketId> {
        for _ in 0..u16::MAX {
            let candidate = PacketId::new(self.next_packet_id)?;
            self.next_packet_id = self.next_packet_id.checked_add(1).unwrap_or(1);
            if !self.inflight.contains_key(&candidate) && !self.controls_inflight.contains_key(&candidate) {
                return Some(candidate);
            }
        }
        None
    }

    /// [`Command::Publish`](super::Command::Publish), handing the request back when it is refused, so that the caller
    /// can name the message in its report without keeping a copy of every request.
    pub fn publish(&mut self, now: Instant, token: u64, request: PublishRequest) -> Result<(), Box<Refused>> {
        self.accept(now, token, request, None)
    }

    /// [`Session::publish`] for a message whose record the caller already wrote to the store
    /// with sequence number `seq` (the client writes it on the publishing thread, so that the
    /// message is durable before `publish` returns). A refusal removes the record again.
    pub fn publish_stored(
        &mut self,
        now: Instant,
        token: u64,
        seq: u64,
        request: PublishRequest,
    ) -> Result<(), Box<Refused>> {
        let qos = request.qos;
        let result = self.accept(now, token, request, Some(seq));
        if result.is_err() && qos > QoS::AtMostOnce {
            self.store_write(|store| store.remove_outgoing(seq));
        }
        result
    }

    fn accept(
        &mut self,
        now: Instant,
        token: u64,
        request: PublishRequest,
        stored_seq: Option<u64>,
    ) -> Result<(), Box<Refused>> {
        if let Err(error) = validate_publish(&request) {
            return Err(Box::new(Refused { error, request }));
        }
        if self.config.protocol == ProtocolVersion::V311 {
            if let Err(error) = super::v311::check_publish(&request) {
                return Err(Box::new(Refused { error, request }));
            }
        }
        let publish = Publish {
            dup: false,
            qos: request.qos,
            retain: request.retain,
            topic: request.topic,
            packet_id: None,
            properties: request.properties,
            payload: request.payload,
        };
        // Checked against what is known now; checked again when it leaves the queue, since
        // a later CONNACK may bring tighter limits.
        if let Err(error) = self.admissible(publish.qos, publish.retain, &publish) {
            return Err(Refused::new(error, publish));
        }
        let expires_at =
            publish.properties.message_expiry_interval.map(|s| now + Duration::from_secs(s.into()));
        let item = Outgoing {
            seq: stored_seq.unwrap_or(self.next_seq),
            token,
            publish,
            state: OutgoingState::Queued,
            expires_at,
            sent_epoch: 0,
            quota_refusals: 0,
        };
        let weight = item.weight();
        if self.queue.is_full_for(&self.config.queue, weight) {
            match self.config.queue.overflow {
                OverflowPolicy::Block | OverflowPolicy::Fail => {
                    let error =
                        CommandError::QueueFull { messages: self.queue.len(), bytes: self.queue.bytes() };
                    return Err(Refused::new(error, item.publish));
                }
                OverflowPolicy::DropOldest => {
                    while self.queue.is_full_for(&self.config.queue, weight) {
                        let Some(oldest) = self.queue.pop_front() else { break };
                        self.finish(oldest, Err(PublishError::Overflow));
                    }
                }
            }
        }
        self.next_seq = self.next_seq.max(item.seq + 1);
        if item.publish.qos > QoS::AtMostOnce && stored_seq.is_none() {
            if let Some(store) = self.store.as_mut() {
                // Not accepted unless recorded: the caller hears the store's error.
                if let Err(e) = store.put_outgoing(&item.to_stored()) {
                    let error = CommandError::Store(e.to_string());
                    return Err(Refused::new(error, item.publish));
                }
            }
        }
        self.queue.push_back(item);
        Ok(())
    }

    /// Report a publish's end and forget it.
    pub(super) fn finish(&mut self, item: Outgoing, result: Result<PublishOutcome, PublishError>) {
        if item.publish.qos > QoS::AtMostOnce {
            self.store_write(|store| store.remove_outgoing(item.seq));
        }
        let failed = result.is_err().then(|| {
            self.stats.deliveries_failed += 1;
            Box::new(FailedPublish { topic: item.publish.topic, packet_id: item.publish.packet_id })
        });
        self.events.push_back(Event::PublishDone { token: item.token, result, failed });
    }

    /// A refusal with 0x97 Quota exceeded: the message goes back to the queue after a
    /// back-off, as a new message, unless it was refused too often. True when it was kept.
    fn retry_after_quota_refusal(&mut self, now: Instant, reason: PubAckReasonCode, id: PacketId) -> bool {
        let retry = self.config.quota_retry;
        let Some(item) = self.inflight.get(&id) else { return false };
        if reason != PubAckReasonCode::QuotaExceeded || item.quota_refusals >= retry.attempts {
            return false;
        }
        let Some(mut item) = self.inflight.remove(&id) else { return false };
        self.release_quota();
        let delay = retry.backoff.saturating_mul(1u32 << item.quota_refusals.min(16));
        item.quota_refusals += 1;
        // Not accepted by the server, so a new message: a new packet identifier and DUP = 0.
        item.make_new();
        let stored = item.to_stored();
        self.store_write(|store| store.put_outgoing(&stored));
        self.stats.quota_retries += 1;
        self.quota_delayed.push((now + delay, item));
        true
    }

    /// Messages whose back-off after a quota refusal is over go to the front of the queue.
    pub(super) fn requeue_quota_delayed(&mut self, now: Instant) {
        if self.quota_delayed.iter().all(|(at, _)| *at > now) {
            return;
        }
        let (due, waiting): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.quota_delayed).into_iter().partition(|(at, _)| *at <= now);
        self.quota_delayed = waiting;
        self.queue.push_front_all(due.into_iter().map(|(_, m)| m).collect());
    }

    /// Free quota at which new messages go out again after the window was full: a quarter
    /// of the server's Receive Maximum, at most 256.
    fn refill_at(&self) -> u16 {
        (self.server.receive_maximum / 4).clamp(1, 256)
    }

    /// QoS>0 PUBLISH we may still send on this connection (4.9): the server's Receive Maximum
    /// less what is unfinished.
    pub(super) fn send_quota(&self) -> u16 {
        let free = u32::from(self.server.receive_maximum).saturating_sub(self.outstanding);
        free as u16
    }

    /// A message stopped counting against the window (PUBACK, PUBCOMP, or PUBREC >= 0x80).
    fn release_quota(&mut self) {
        self.outstanding = self.outstanding.saturating_sub(1);
    }

    pub(super) fn on_puback(&mut self, now: Instant, ack: PubAck) {
        let Some(item) = self.inflight.get(&ack.packet_id) else { return };
        if item.publish.qos != QoS::AtLeastOnce {
            self.fail_connection(
                DisconnectReasonCode::ProtocolError,
                format!("PUBACK for QoS 2 packet {}", ack.packet_id),
            );
            return;
        }
        if self.retry_after_quota_refusal(now, ack.reason_code, ack.packet_id) {
            return;
        }
        let Some(item) = self.inflight.remove(&ack.packet_id) else { return };
        self.release_quota();
        let result = if ack.reason_code.is_error() {
            // 0x80 and above: the server did not accept the message; it is not delivered.
            Err(PublishError::Rejected {
                reason_code: ack.reason_code,
                reason_string: ack.properties.reason_string,
            })
        } else {
            Ok(PublishOutcome {
                reason_code: ack.reason_code,
                packet_id: Some(ack.packet_id),
                properties: ack.properties,
            })
        };
        self.finish(item, result);
    }

    pub(super) fn on_pubrec(&mut self, now: Instant, rec: PubRec) {
        let Some(item) = self.inflight.get_mut(&rec.packet_id) else {
            // Unknown identifier: PUBREL with 0x92 Packet Identifier not found (3.6.2.1), so that
            // the server can finish the flow.
            let mut rel = PubRel::new(rec.packet_id);
            // 3.1.1's PUBREL has no reason code: the plain PUBREL lets the server finish.
            if self.config.protocol == ProtocolVersion::V5 {
                rel.reason_code = PubRelReasonCode::PacketIdentifierNotFound;
            }
            self.transmit.push_back(Packet::PubRel(rel));
            return;
        };
        if item.publish.qos != QoS::ExactlyOnce {
            self.fail_connection(
                DisconnectReasonCode::ProtocolError,
                format!("PUBREC for QoS 1 packet {}", rec.packet_id),
            );
            return;
        }
        if rec.reason_code.is_error() {
            if self.retry_after_quota_refusal(now, rec.reason_code, rec.packet_id) {
                return;
            }
            let Some(item) = self.inflight.remove(&rec.packet_id) else { return };
            self.release_quota();
            self.finish(
                item,
                Err(PublishError::Rejected {
                    reason_code: rec.reason_code,
                    reason_string: rec.properties.reason_string,
                }),
            );
            return;
        }
        item.sent_epoch = self.epoch;
        if item.state == OutgoingState::AwaitingAck {
            item.state = OutgoingState::AwaitingComp;
            // Recorded before PUBREL is queued: a restart then resends PUBREL, never the
            // PUBLISH the server has already passed on.
            let stored = item.to_stored();
            self.store_write(|store| store.put_outgoing(&stored));
        }
        // [MQTT-4.3.3-4] PUBREL with the same identifier (again, for a repeated PUBREC).
        self.transmit.push_back(Packet::PubRel(PubRel::new(rec.packet_id)));
    }

    pub(super) fn on_pubcomp(&mut self, comp: PubComp) {
        match self.inflight.get(&comp.packet_id) {
            Some(item) if item.state == OutgoingState::AwaitingComp => {}
            _ => return,
        }
        let Some(item) = self.inflight.remove(&comp.packet_id) else { return };
        self.release_quota();
        let outcome = PublishOutcome {
            reason_code: PubAckReasonCode::Success,
            packet_id: Some(comp.packet_id),
            properties: comp.properties,
        };
        self.finish(item, Ok(outcome));
    }
}
