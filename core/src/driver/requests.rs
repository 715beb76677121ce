//! Request bookkeeping: what the client handles hand the driver (publishes on their own
//! bounded channel, everything else as a [`Control`]), and who waits for what: deliveries by
//! token, flushes and the report they return, subscribes and unsubscribes by control token.
//! The engine's events complete them here.

use std::sync::atomic::Ordering;

use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::transport::ServerAddr;
use super::{Driver, Mode};
use crate::codec::{ConnAck, ConnectReasonCode, DisconnectReasonCode, Subscription};
use crate::codec::{SubscribeProperties, UnsubAckReasonCode, UnsubscribeProperties};
use crate::completion::Completer;
use crate::event::{cause_reason_code, describe_cause};
use crate::session::{Command, CommandError, OverflowPolicy, PublishOutcome, PublishRequest};
use crate::{
    DeliveryEvents, DeliveryFailure, Error, Event, FlushReport, Message, PublishCompletion, SubscribeOutcome,
};

/// What a delivery's waiter sees.
pub(crate) type DeliveryResult = Result<PublishOutcome, Error>;

/// A publish handed to the driver.
pub(crate) struct PublishJob {
    pub token: u64,
    pub request: PublishRequest,
    pub done: Completer<DeliveryResult>,
    /// Set when the client already wrote the message's record to the session store under
    /// this sequence number.
    pub seq: Option<u64>,
}

/// Requests other than publishes. They travel on their own unbounded channel so that a full
/// send queue (which holds publishes back) never holds back a disconnect or an ack.
pub(crate) enum Control {
    Connect {
        servers: Option<Vec<ServerAddr>>,
        done: Completer<Result<ConnAck, Error>>,
    },
    Subscribe {
        subscriptions: Vec<Subscription>,
        properties: SubscribeProperties,
        done: Completer<Result<SubscribeOutcome, Error>>,
    },
    Unsubscribe {
        filters: Vec<String>,
        properties: UnsubscribeProperties,
        done: Completer<Result<Vec<UnsubAckReasonCode>, Error>>,
    },
    Ack {
        ack_id: u64,
    },
    /// `upto`: the last publish token the client issued before this request; publishes up to
    /// it are taken from their channel first, so that a flush never overtakes them.
    Flush {
        upto: u64,
        done: Completer<Result<FlushReport, Error>>,
    },
    /// DISCONNECT goes out after every publish up to `upto` has been written (as far as the
    /// send quota allows).
    Disconnect {
        upto: u64,
        reason_code: DisconnectReasonCode,
        session_expiry_interval: Option<u32>,
        done: Completer<Result<(), Error>>,
    },
    /// Stop the driver now, without DISCONNECT (what dropping every handle does).
    Close,
    Reauthenticate,
}

impl Driver {
    pub(super) fn on_publish(&mut self, job: PublishJob, now: std::time::Instant) {
        self.last_token = self.last_token.max(job.token);
        if self.options.queue.overflow == OverflowPolicy::Block
            && (!self.parked.is_empty() || !self.session.has_queue_room(job.request.weight()))
        {
            // Hold it (and with it the publish channel) until the queue has room, behind any
            // publish already held.
            self.deliveries.insert(job.token, None);
            self.parked.push_back(job);
            return;
        }
        self.submit(job, now);
    }

    /// Hand a publish to the engine.
    pub(super) fn submit(&mut self, job: PublishJob, now: std::time::Instant) {
        let PublishJob { token, request, done, seq } = job;
        let accepted = match seq {
            Some(seq) => self.session.publish_stored(now, token, seq, request),
            None => self.session.publish(now, token, request),
        };
        match accepted {
            Ok(()) => {
                self.deliveries.insert(token, Some(done));
            }
            Err(refused) => {
                self.deliveries.remove(token);
                let error = Error::from(refused.error);
                let unseen = done.is_abandoned();
                self.delivery_failed(token, refused.request.topic, None, error.clone(), unseen);
                done.complete(Err(error));
                self.complete_flushes();
            }
        }
    }

    /// Wait with `done` for a message restored from the session store (the client hands its
    /// [`crate::Delivery`] to the application).
    pub(crate) fn adopt_restored(&mut self, token: u64, done: Completer<DeliveryResult>) {
        self.last_token = self.last_token.max(token);
        self.deliveries.insert(token, Some(done));
    }

    pub(super) fn on_control(&mut self, control: Control) {
        let now = Instant::now().into_std();
        match control {
            Control::Connect { servers, done } => {
                if let Some(servers) = servers.filter(|s| !s.is_empty()) {
                    self.options.servers = servers;
                    self.server_index = 0;
                }
                if self.mode == Mode::Running {
                    if self.session.is_connected() {
                        done.complete(Err(Error::InvalidArgument("already connected".into())));
                    } else {
                        self.connect_waiter = Some(done);
                    }
                    return;
                }
                self.connect_waiter = Some(done);
                self.backoff.reset();
                self.mode = Mode::Running;
            }
            Control::Subscribe { subscriptions, properties, done } => {
                let token = self.control_token();
                match self
                    .session
                    .handle_command(now, Command::Subscribe { token, subscriptions, properties })
                {
                    Ok(()) => {
                        self.subscribes.insert(token, done);
                    }
                    Err(e) => done.complete(Err(e.into())),
                }
            }
            Control::Unsubscribe { filters, properties, done } => {
                let token = self.control_token();
                match self.session.handle_command(now, Command::Unsubscribe { token, filters, properties }) {
                    Ok(()) => {
                        self.unsubscribes.insert(token, done);
                    }
                    Err(e) => done.complete(Err(e.into())),
                }
            }
            Control::Ack { ack_id } => {
                if let Err(e) = self.session.handle_command(now, Command::Ack { ack_id }) {
                    debug!(error = %e, "ignored ack");
                }
            }
            Control::Flush { upto, done } => {
                self.take_publishes_upto(upto);
                self.flushes.push((upto, done));
                self.complete_flushes();
            }
            Control::Close => self.mode = Mode::Stopped,
            Control::Disconnect { upto, reason_code, session_expiry_interval, done } => {
                self.take_publishes_upto(upto);
                let command =
                    Command::Disconnect { reason_code, session_expiry_interval, reason_string: None };
                match self.session.handle_command(now, command) {
                    Ok(()) => self.disconnect_waiter = Some(done),
                    Err(CommandError::NotConnected) => {
                        // Not connected (perhaps between reconnects): stop trying.
                        if self.mode == Mode::Running {
                            self.mode = Mode::Idle;
                        }
                        if let Some(c) = self.connect_waiter.take() {
                            c.complete(Err(Error::Closed));
                        }
                        done.complete(Ok(()));
                    }
                    Err(e) => done.complete(Err(e.into())),
                }
            }
            Control::Reauthenticate => {
                if let Err(e) = self.session.handle_command(now, Command::Reauthenticate) {
                    warn!(error = %e, "re-authentication refused");
                }
            }
        }
    }

    /// How many publishes to take from the channel at once: under Block no more than the
    /// queue has slots for, so that they need not be parked.
    pub(super) fn publish_batch_limit(&self) -> usize {
        if self.options.queue.overflow != OverflowPolicy::Block {
            return 256;
        }
        self.session.queue_free_slots().clamp(1, 256)
    }

    /// Is there room in the send queue for a batch of publishes (always true unless the
    /// Block policy holds publishers back)?
    pub(super) fn batch_room(&self) -> bool {
        if self.options.queue.overflow != OverflowPolicy::Block {
            return true;
        }
        let batch = (self.options.queue.max_messages / 8).clamp(1, 64);
        self.session.queue_free_slots() >= batch
    }

    /// Take publishes from their channel until the one with token `upto` (issued before the
    /// request being handled) has been seen; it is already in the channel, since the client
    /// sent it before the request.
    fn take_publishes_upto(&mut self, upto: u64) {
        let now = Instant::now().into_std();
        for _ in 0..1_000_000 {
            if self.last_token >= upto || !self.parked.is_empty() {
                return;
            }
            match self.publishes.try_recv() {
                Ok(job) => self.on_publish(job, now),
                Err(_) => return,
            }
        }
    }

    fn control_token(&mut self) -> u64 {
        self.next_control_token += 1;
        self.next_control_token
    }

    pub(super) fn on_session_event(&mut self, event: crate::session::Event) {
        use crate::session::Event as S;
        match event {
            S::Connected { session_present, properties } => {
                self.connected_at = Some(Instant::now());
                self.counters.connected.store(true, Ordering::Relaxed);
                let c = &self.counters;
                c.server_maximum_qos.store(properties.maximum_qos.unwrap_or(2).min(2) + 1, Ordering::Relaxed);
                c.server_maximum_packet_size
                    .store(properties.maximum_packet_size.unwrap_or(0), Ordering::Relaxed);
                c.server_retain_unavailable.store(properties.retain_available == Some(0), Ordering::Relaxed);
                c.server_topic_alias_maximum
                    .store(u32::from(properties.topic_alias_maximum.unwrap_or(0)) + 1, Ordering::Relaxed);
                let ack = ConnAck {
                    session_present,
                    reason_code: ConnectReasonCode::Success,
                    properties: *properties,
                };
                info!(session_present, "connected");
                if let Some(done) = self.connect_waiter.take() {
                    done.complete(Ok(ack.clone()));
                }
                self.emit(Event::Connected(ack));
            }
            S::Disconnected { cause } => {
                info!(cause = %describe_cause(&cause), "disconnected");
                self.emit(Event::Disconnected { reason_code: cause_reason_code(&cause), cause });
            }
            S::SessionLost { republished, failed } => {
                warn!(republished, failed, "the server did not keep the session");
                self.emit(Event::SessionLost { republished, failed });
            }
            S::Message(m) => {
                let m = *m;
                self.emit(Event::Message(Message {
                    topic: m.topic,
                    payload: m.payload,
                    qos: m.qos,
                    dup: m.dup,
                    retain: m.retain,
                    properties: m.properties,
                    ack_id: m.ack_id,
                }));
            }
            S::PacketIdAssigned { token, packet_id } => {
                if let Some(Some(done)) = self.deliveries.get(token) {
                    done.set_aux(u32::from(packet_id.get()));
                }
            }
            S::PublishDone { token, result, failed } => {
                if let Err(
                    e @ (crate::session::PublishError::Expired | crate::session::PublishError::Overflow),
                ) = &result
                {
                    self.emit(Event::Dropped { token, reason: e.to_string() });
                }
                let result = result.map_err(Error::from);
                let entry = self.deliveries.remove(token).flatten();
                let mode = DeliveryEvents::from_u8(self.counters.delivery_events.load(Ordering::Relaxed));
                match &result {
                    Ok(_) => self.report.note_success(),
                    Err(e) => {
                        let (topic, packet_id) = failed.map(|f| (f.topic, f.packet_id)).unwrap_or_default();
                        let unseen =
                            mode == DeliveryEvents::Off && entry.as_ref().is_none_or(|d| d.is_abandoned());
                        self.delivery_failed(token, topic, packet_id, e.clone(), unseen);
                    }
                }
                if mode != DeliveryEvents::Off {
                    let packet_id = match (&result, &entry) {
                        (Ok(o), _) => o.packet_id,
                        (Err(_), Some(done)) => crate::codec::PacketId::new(done.aux() as u16),
                        (Err(_), None) => None,
                    };
                    // The Delivery completes before the event is out, so that whoever reacts
                    // to the event finds the Delivery done.
                    if let Some(done) = entry {
                        done.complete(result.clone());
                    }
                    if mode == DeliveryEvents::Batched {
                        self.completed.push(PublishCompletion { token, packet_id, result });
                    } else {
                        self.emit(Event::PublishComplete { token, packet_id, result });
                    }
                } else if let Some(done) = entry {
                    done.complete(result);
                }
                self.complete_flushes();
            }
            S::SubscribeDone { token, reason_codes, properties } => {
                if let Some(done) = self.subscribes.remove(&token) {
                    done.complete(Ok(SubscribeOutcome { reason_codes, properties }));
                }
            }
            S::UnsubscribeDone { token, reason_codes, .. } => {
                if let Some(done) = self.unsubscribes.remove(&token) {
                    done.complete(Ok(reason_codes));
                }
            }
            S::RequestFailed { token, error } => {
                let error =
                    Error::Protocol { reason_code: DisconnectReasonCode::ProtocolError, message: error };
                if let Some(done) = self.subscribes.remove(&token) {
                    done.complete(Err(error));
                } else if let Some(done) = self.unsubscribes.remove(&token) {
                    done.complete(Err(error));
                }
            }
            S::Reauthenticated { result } => match result {
                Ok(()) => info!("re-authenticated"),
                Err(e) => warn!(error = %e, "re-authentication failed"),
            },
            S::StoreError { error } => self.emit(Event::StoreError { error: Error::store(error) }),
        }
    }

    /// Every failed delivery is counted and goes into the next flush's report; one that
    /// nobody can see any more (its `Delivery` dropped, no delivery events) is also logged,
    /// once, so that it is never lost silently.
    fn delivery_failed(
        &mut self,
        token: u64,
        topic: String,
        packet_id: Option<crate::codec::PacketId>,
        error: Error,
        unseen: bool,
    ) {
        self.counters.deliveries_failed.fetch_add(1, Ordering::Relaxed);
        let failure = DeliveryFailure { token, topic, packet_id, error };
        if unseen {
            let id = packet_id.map(|p| p.get());
            warn!(topic = %failure.topic, packet_id = ?id, reason = %failure.error, "delivery failed and nobody awaited it");
            self.emit(Event::DeliveryFailed(failure.clone()));
        }
        self.report.note_failure(failure);
    }

    fn complete_flushes(&mut self) {
        if self.flushes.is_empty() {
            return;
        }
        let oldest = self.deliveries.first();
        let taken = self.last_token;
        // Done when every publish up to `upto` has been taken from the channel (one held back
        // behind a parked publish is not yet outstanding) and none of them is outstanding.
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.flushes)
            .into_iter()
            .partition(|(upto, _)| taken >= *upto && oldest.is_none_or(|o| o > *upto));
        self.flushes = waiting;
        for (_, done) in ready {
            // The first flush to complete reports what ended since the previous one.
            done.complete(std::mem::take(&mut self.report).into_result());
        }
    }
}
