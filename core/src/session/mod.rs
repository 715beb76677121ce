//! The sans-IO MQTT 5.0 session engine.
//!
//! [`Session`] holds everything MQTT calls session state plus what the application handed over
//! and has not seen completed. It does no IO and never reads a clock: the driver feeds it and
//! drains it, in the manner of quinn-proto's `Connection`:
//!
//! * inputs: [`Session::connection_opened`], [`Session::handle_packet`],
//!   [`Session::handle_command`], [`Session::handle_timeout`],
//!   [`Session::protocol_violation`], [`Session::connection_lost`];
//! * outputs, pulled after every input until they return `None`:
//!   [`Session::poll_transmit`] (packets to write, in order), [`Session::poll_event`]
//!   (what the application must hear), [`Session::poll_timeout`] (when to call
//!   `handle_timeout` next), and [`Session::wants_close`] (close the socket once every
//!   transmit has been written).
//!
//! ```
//! use std::time::Instant;
//! use tether_core::session::{Config, Session};
//! use tether_core::codec::Packet;
//! let now = Instant::now();
//! let mut session = Session::new(Config::new("sensor-1"));
//! session.connection_opened(now);
//! assert!(matches!(session.poll_transmit(now), Some(Packet::Connect(_))));
//! ```

mod alias;
mod auth;
mod incoming;
mod outgoing;
mod queue;
mod types;
pub mod v311;
mod validate;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod v311_tests;
#[cfg(test)]
mod window_tests;

use std::collections::VecDeque;

use rustc_hash::FxHashMap;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

pub use auth::Authenticator;
pub use queue::{OverflowPolicy, QueueLimits};
pub use types::{
    Command, CommandError, Config, DisconnectCause, DisconnectKind, Event, FailedPublish, IncomingMessage,
    PublishError, PublishOutcome, PublishRequest, QuotaRetry, Refused, SessionLostPolicy, Stats,
    SESSION_NEVER_EXPIRES,
};
pub use validate::{check_disconnect_session_expiry, check_topic_alias, validate_publish};

use crate::codec::{
    topic, Auth, AuthProperties, AuthReasonCode, ConnAck, Connect, Disconnect, DisconnectProperties,
    DisconnectReasonCode, EncodeError, Packet, PacketId, ProtocolVersion, PubAck, PubComp, PubRec, PubRel,
    PubRelReasonCode, Publish, QoS, SubAck, Subscribe, UnsubAck, UnsubAckReasonCode, Unsubscribe, MAX_VARINT,
};
use crate::store::{OutgoingState, SessionStore, StoredSession};
use alias::{AliasError, IncomingAliases, OutgoingAliases};
use incoming::{DueAck, Incoming, Redelivery};
use outgoing::{Outgoing, Wire};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Disconnected,
    /// CONNECT sent (and perhaps an AUTH exchange under way); waiting for CONNACK.
    Connecting,
    Connected,
    /// DISCONNECT queued or a fatal error seen: the driver closes after transmitting.
    Closing,
}

#[derive(Debug, Clone)]
enum Control {
    Subscribe { token: u64, subscribe: Subscribe },
    Unsubscribe { token: u64, unsubscribe: Unsubscribe },
}

impl Control {
    fn token(&self) -> u64 {
        match self {
            Control::Subscribe { token, .. } | Control::Unsubscribe { token, .. } => *token,
        }
    }
    fn packet(&self) -> Packet {
        match self {
            Control::Subscribe { subscribe, .. } => Packet::Subscribe(subscribe.clone()),
            Control::Unsubscribe { unsubscribe, .. } => Packet::Unsubscribe(unsubscribe.clone()),
        }
    }
    fn set_packet_id(&mut self, id: PacketId) {
        match self {
            Control::Subscribe { subscribe, .. } => subscribe.packet_id = id,
            Control::Unsubscribe { unsubscribe, .. } => unsubscribe.packet_id = id,
        }
    }
}

/// What the server allows, from CONNACK (3.2.2.3); the defaults apply until one arrives.
#[derive(Debug, Clone, Copy)]
struct ServerLimits {
    receive_maximum: u16,
    maximum_qos: QoS,
    retain_available: bool,
    maximum_packet_size: Option<u32>,
    /// `None` until CONNACK: an application's own alias is then checked when it is sent.
    topic_alias_maximum: Option<u16>,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            receive_maximum: u16::MAX,
            maximum_qos: QoS::ExactlyOnce,
            retain_available: true,
            maximum_packet_size: None,
            topic_alias_maximum: None,
        }
    }
}

/// The MQTT 5.0 client session engine. See the module documentation for the call order.
pub struct Session {
    config: Config,
    state: State,
    /// Connection counter; bumped by `connection_opened`.
    epoch: u64,
    /// True once a session exists on the server (or is believed to, after a restore).
    expect_session: bool,
    /// Session Expiry Interval in force (ours, or the server's override).
    session_expiry: u32,
    keep_alive: Duration,
    server: ServerLimits,
    next_seq: u64,
    next_packet_id: u16,

    queue: queue::SendQueue,
    /// Outgoing QoS>0 messages holding a packet identifier: O(1) per acknowledgement.
    inflight: FxHashMap<PacketId, Outgoing>,
    /// Packet identifiers to send again after a resume, in original order.
    resend: VecDeque<PacketId>,
    /// QoS>0 messages unfinished on the server's side that count against its Receive
    /// Maximum (4.9): sent (or resent) and not yet answered by PUBACK, PUBCOMP or an error
    /// PUBREC. The send quota is the Receive Maximum less this; it is counted rather than
    /// kept as a quota so that a resume can start from what is really unfinished.
    outstanding: u32,
    /// The quota ran out: new messages wait until a batch of it is back (see `refill_at`).
    refilling: bool,
    /// Messages refused with 0x97, waiting out their back-off before they are queued again
    /// (at the front, in `seq` order); at most a window's worth, so a Vec is enough.
    quota_delayed: Vec<(Instant, Outgoing)>,

    controls_waiting: VecDeque<Control>,
    controls_inflight: FxHashMap<PacketId, Control>,

    incoming: Incoming,
    in_aliases: IncomingAliases,
    out_aliases: OutgoingAliases,

    transmit: VecDeque<Packet>,
    events: VecDeque<Event>,
    store: Option<Box<dyn SessionStore>>,

    last_sent: Option<Instant>,
    last_received: Option<Instant>,
    ping_outstanding: bool,
    close_cause: Option<DisconnectCause>,
    /// A DISCONNECT the application asked for, sent once nothing else is ready.
    disconnect_after: Option<Packet>,
    reauth_in_progress: bool,
    stats: Stats,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("state", &self.state)
            .field("epoch", &self.epoch)
            .field("queued", &self.queue.len())
            .field("inflight", &self.inflight.len())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A new engine with no state.
    pub fn new(config: Config) -> Self {
        let session_expiry = config.properties.session_expiry_interval.unwrap_or(0);
        let keep_alive = Duration::from_secs(config.keep_alive.into());
        Session {
            config,
            state: State::Disconnected,
            epoch: 0,
            expect_session: false,
            session_expiry,
            keep_alive,
            server: ServerLimits::default(),
            next_seq: 1,
            next_packet_id: 1,
            queue: queue::SendQueue::default(),
            inflight: FxHashMap::default(),
            resend: VecDeque::new(),
            outstanding: 0,
            refilling: false,
            quota_delayed: Vec::new(),
            controls_waiting: VecDeque::new(),
            controls_inflight: FxHashMap::default(),
            incoming: Incoming::default(),
            in_aliases: IncomingAliases::default(),
            out_aliases: OutgoingAliases::default(),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            store: None,
            last_sent: None,
            last_received: None,
            ping_outstanding: false,
            close_cause: None,
            disconnect_after: None,
            reauth_in_progress: false,
            stats: Stats::default(),
        }
    }

    /// A new engine that reports every durable change to `store`.
    pub fn with_store(config: Config, store: Box<dyn SessionStore>) -> Self {
        let mut session = Session::new(config);
        session.store = Some(store);
        session
    }

    /// Rebuild an engine from what `store` holds (after a process restart): queued messages
    /// wait in order, in-flight ones are sent again (DUP = 1) once the session is resumed, and
    /// the incoming QoS 2 identifiers keep exactly-once delivery.
    ///
    /// A store that cannot be read leaves the engine empty and says so with
    /// [`Event::StoreError`].
    pub fn restore(config: Config, mut store: Box<dyn SessionStore>) -> Self {
        let (loaded, error) = match store.load() {
            Ok(loaded) => (loaded, None),
            Err(e) => (StoredSession::default(), Some(e)),
        };
        let StoredSession { messages, incoming_qos2 } = loaded;
        let mut session = Session::with_store(config, store);
        if let Some(e) = error {
            session.events.push_back(Event::StoreError { error: format!("session store unreadable: {e}") });
        }
        // [MQTT-4.1.0-1] the client keeps its session state (in-flight QoS 1/2 messages and
        // incoming QoS 2 identifiers) for as long as the session lasts: here across a restart.
        session.expect_session = !messages.is_empty() || !incoming_qos2.is_empty();
        session.incoming = Incoming::restore(incoming_qos2);
        let mut queued = Vec::new();
        for m in messages {
            session.next_seq = session.next_seq.max(m.seq + 1);
            let item = Outgoing {
                seq: m.seq,
                token: m.token,
                publish: m.publish,
                state: m.state,
                // Expiry is measured from acceptance, which the store does not keep as an
                // Instant; a restored message carries its interval and the server enforces it.
                expires_at: None,
                sent_epoch: 0,
                quota_refusals: 0,
            };
            match (item.state, item.packet_id()) {
                (OutgoingState::Queued, _) | (_, None) => {
                    queued.push(Outgoing { state: OutgoingState::Queued, ..item })
                }
                (_, Some(id)) => {
                    session.resend.push_back(id);
                    session.inflight.insert(id, item);
                }
            }
        }
        session.queue.push_front_all(queued);
        session
    }

    /// A change the store could not record: the application hears it as an event (the
    /// engine carries on in memory; what was lost is what a crash now would lose).
    fn store_write(&mut self, write: impl FnOnce(&mut dyn SessionStore) -> std::io::Result<()>) {
        let Some(store) = self.store.as_mut() else { return };
        if let Err(e) = write(store.as_mut()) {
            tracing::warn!(error = %e, "session store write failed");
            self.events.push_back(Event::StoreError { error: e.to_string() });
        }
    }

    /// Make the store's records durable before packets that depend on them go out (a no-op
    /// without a store, or for a store whose durability level defers it). The driver calls it
    /// before every write to the network.
    pub fn flush_store(&mut self) {
        self.store_write(|store| store.flush());
    }

    /// The outgoing messages the engine holds (restored ones included), in acceptance order:
    /// (token, topic, QoS).
    pub fn outgoing_messages(&self) -> Vec<(u64, u64, String, QoS)> {
        let delayed = self.quota_delayed.iter().map(|(_, m)| m);
        let mut all: Vec<_> = self
            .queue
            .iter()
            .chain(self.inflight.values())
            .chain(delayed)
            .map(|m| (m.seq, m.token, m.publish.topic.clone(), m.publish.qos))
            .collect();
        all.sort_unstable_by_key(|m| m.0);
        all
    }

    // ----- getters ------------------------------------------------------------------------

    /// True between a successful CONNACK and the end of the connection.
    pub fn is_connected(&self) -> bool {
        self.state == State::Connected
    }

    /// Messages waiting to be sent (not yet in flight).
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Bytes of payload and topic waiting to be sent.
    pub fn queued_bytes(&self) -> usize {
        self.queue.bytes()
    }

    /// Messages the server refused with 0x97 Quota exceeded, waiting out their back-off
    /// before they are queued again.
    pub fn quota_delayed(&self) -> usize {
        self.quota_delayed.len()
    }

    /// Outgoing QoS>0 messages in flight (holding a packet identifier).
    pub fn inflight(&self) -> usize {
        self.inflight.len()
    }

    /// Incoming QoS 2 identifiers waiting for PUBREL.
    pub fn incoming_qos2(&self) -> usize {
        self.incoming.qos2_len()
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The client identifier in use (the server's assignment once one arrived).
    pub fn protocol(&self) -> ProtocolVersion {
        self.config.protocol
    }

    /// The client identifier presented in CONNECT.
    pub fn client_id(&self) -> &str {
        &self.config.client_id
    }

    /// Credentials for the next CONNECT (a before-connect hook may refresh them).
    pub fn set_credentials(&mut self, username: Option<String>, password: Option<Bytes>) {
        self.config.username = username;
        self.config.password = password;
    }

    /// The keep-alive in force (the server's if it sent Server Keep Alive).
    pub fn keep_alive(&self) -> Duration {
        self.keep_alive
    }

    /// True once the engine wants the connection closed; the driver closes it after writing
    /// every packet from [`Session::poll_transmit`] and then calls
    /// [`Session::connection_lost`].
    pub fn wants_close(&self) -> bool {
        self.state == State::Closing
    }

    /// Is there room for a message of `weight` bytes (payload plus topic) in the send queue?
    pub fn has_queue_room(&self, weight: usize) -> bool {
        !self.queue.is_full_for(&self.config.queue, weight)
    }

    /// How many more messages the send queue takes before its message limit.
    pub fn queue_free_slots(&self) -> usize {
        self.config.queue.max_messages.saturating_sub(self.queue.len())
    }

    /// The largest token the engine holds (restored messages keep theirs); new tokens should
    /// be above it.
    pub fn max_token(&self) -> u64 {
        let delayed = self.quota_delayed.iter().map(|(_, m)| m);
        self.queue.iter().chain(self.inflight.values()).chain(delayed).map(|m| m.token).max().unwrap_or(0)
    }

    // ----- inputs -------------------------------------------------------------------------

    /// A transport connection is up: queue CONNECT. Clean Start is the configured one for the
    /// first connection and false afterwards, so that the session resumes.
    pub fn connection_opened(&mut self, now: Instant) {
        self.epoch += 1;
        self.stats.connections += 1;
        self.state = State::Connecting;
        self.transmit.clear();
        self.close_cause = None;
        self.disconnect_after = None;
        self.ping_outstanding = false;
        self.reauth_in_progress = false;
        self.last_received = Some(now);
        self.last_sent = Some(now);
        self.in_aliases.reset();
        self.out_aliases.reset(0);
        self.incoming.connection_opened();
        self.server = ServerLimits::default();
        self.keep_alive = Duration::from_secs(self.config.keep_alive.into());

        let mut clean_start =
            if self.epoch == 1 && !self.expect_session { self.config.clean_start } else { false };
        let mut properties = self.config.properties.clone();
        if self.config.protocol == ProtocolVersion::V311 {
            // 3.1.2.4: Clean Session both starts afresh and ends the session with the
            // connection. A session that expires with the connection is exactly that, on
            // every connection; a session kept beyond it needs Clean Session 0 from the first
            // connection on (3.1.1 cannot start afresh and keep, as 5.0's Clean Start can).
            // The expiry stays ours: it decides whether we expect the session back.
            clean_start = self.session_expiry == 0;
            properties = Default::default();
        }
        if let Some(auth) = self.config.authenticator.as_mut() {
            properties.authentication_method = Some(auth.method().to_owned());
            properties.authentication_data = auth.initial_data();
        }
        self.transmit.push_back(Packet::Connect(Connect {
            clean_start,
            keep_alive: self.config.keep_alive,
            client_id: self.config.client_id.clone(),
            username: self.config.username.clone(),
            password: self.config.password.clone(),
            will: self.config.will.clone(),
            properties,
        }));
        if clean_start {
            // We asked for a new session: whatever the server had is gone, so is ours.
            self.expect_session = false;
        }
    }

    /// The transport is gone. Emits [`Event::Disconnected`]; all session state is kept for
    /// the next connection.
    pub fn connection_lost(&mut self, _now: Instant) {
        if self.state == State::Disconnected {
            return;
        }
        self.state = State::Disconnected;
        // Acknowledgements never handed to the transport are answered on the server's resend.
        for p in self.transmit.drain(..) {
            match p {
                Packet::PubAck(a) => self.incoming.unsent(a.packet_id, QoS::AtLeastOnce),
                Packet::PubRec(r) => self.incoming.unsent(r.packet_id, QoS::ExactlyOnce),
                _ => {}
            }
        }
        // Everything in flight goes out again on the next connection; subscribes in flight
        // are asked again (resubscribing the same filter is harmless).
        let mut pending: Vec<PacketId> = self.controls_inflight.keys().copied().collect();
        pending.sort_by_key(|id| self.controls_inflight[id].token());
        for id in pending.into_iter().rev() {
            if let Some(c) = self.controls_inflight.remove(&id) {
                self.controls_waiting.push_front(c);
            }
        }
        let cause = self.close_cause.take().unwrap_or(DisconnectCause::ConnectionLost);
        self.events.push_back(Event::Disconnected { cause });
        // A session the server keeps beyond the connection is expected back on the next one.
        self.expect_session = self.session_expiry > 0;
    }

    /// The decoder found a malformed packet or the server broke the protocol: send DISCONNECT
    /// with `reason_code` ([MQTT-4.13.1-1]) and close.
    pub fn protocol_violation(
        &mut self,
        _now: Instant,
        reason_code: DisconnectReasonCode,
        reason: impl Into<String>,
    ) {
        self.fail_connection(reason_code, reason.into());
    }

    fn fail_connection(&mut self, reason_code: DisconnectReasonCode, reason: String) {
        if matches!(self.state, State::Disconnected | State::Closing) {
            return;
        }
        self.transmit.clear();
        self.close_cause = Some(DisconnectCause::Local { reason_code, reason: Some(reason.clone()) });
        self.state = State::Closing;
        if self.config.protocol == ProtocolVersion::V311 {
            // [MQTT-4.8.0-1] on a protocol violation a 3.1.1 client closes the connection; a
            // DISCONNECT would say "normal", and the server would drop our Will
            // ([MQTT-3.14.4-3]).
            return;
        }
        let mut properties = DisconnectProperties::default();
        if self.config.properties.request_problem_information != Some(0) {
            properties.reason_string = Some(reason.clone());
        }
        self.transmit.push_back(Packet::Disconnect(Disconnect { reason_code, properties }));
    }

    /// Time passed: keep-alive pings, dead-link detection and message expiry.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.requeue_quota_delayed(now);
        for expired in self.queue.take_expired(now) {
            self.finish(expired, Err(PublishError::Expired));
        }
        if !matches!(self.state, State::Connecting | State::Connected) || self.keep_alive.is_zero() {
            return;
        }
        if let Some(dead_at) = self.dead_deadline() {
            if now >= dead_at {
                // Nothing arrived within 1.5 × keep-alive: the link is dead (3.1.2.10).
                self.transmit.clear();
                self.close_cause = Some(DisconnectCause::KeepAliveTimeout);
                self.state = State::Closing;
                return;
            }
        }
        if self.state == State::Connected && !self.ping_outstanding {
            if let Some(ping_at) = self.ping_deadline() {
                if now >= ping_at {
                    self.transmit.push_back(Packet::PingReq);
                    self.ping_outstanding = true;
                }
            }
        }
    }

    fn dead_deadline(&self) -> Option<Instant> {
        if self.keep_alive.is_zero() {
            return None;
        }
        Some(self.last_received? + self.keep_alive + self.keep_alive / 2)
    }

    fn ping_deadline(&self) -> Option<Instant> {
        if self.keep_alive.is_zero() || self.ping_outstanding {
            return None;
        }
        // Ping when we have been silent, and also when the server has: a client that only
        // sends would otherwise never learn that nothing comes back.
        Some(self.last_sent?.min(self.last_received?) + self.keep_alive)
    }

    /// When [`Session::handle_timeout`] must be called next.
    #[must_use]
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let mut next = self.queue.next_expiry();
        if let Some(at) = self.quota_delayed.iter().map(|(at, _)| *at).min() {
            next = Some(next.map_or(at, |n| n.min(at)));
        }
        if matches!(self.state, State::Connecting | State::Connected) {
            for t in [
                self.dead_deadline(),
                if self.state == State::Connected { self.ping_deadline() } else { None },
            ]
            .into_iter()
            .flatten()
            {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
        next
    }

    /// The next event for the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next packet to write. Acknowledgements come first, then retransmissions after a
    /// resume, then subscribes, then new messages as the send quota allows.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Packet> {
        self.next_wire(now, |wire| match wire {
            Wire::Packet(p) => p,
            Wire::Publish(p) => Packet::Publish(p.clone()),
        })
    }

    /// Encode the next packet into `buf`, as [`Session::poll_transmit`] would return it, but
    /// without copying messages: a PUBLISH is encoded straight from the engine's own copy.
    /// Returns `None` when there is nothing to send.
    pub fn transmit_into(&mut self, now: Instant, buf: &mut BytesMut) -> Option<Result<usize, EncodeError>> {
        let version = self.config.protocol;
        self.next_wire(now, |wire| match wire {
            Wire::Packet(p) => p.encode_for(buf, u32::MAX, version),
            Wire::Publish(p) => p.encode_for(buf, u32::MAX, version),
        })
    }

    /// An application request. Validation errors come back at once and nothing is queued.
    pub fn handle_command(&mut self, now: Instant, command: Command) -> Result<(), CommandError> {
        match command {
            Command::Publish { token, request } => self.publish(now, token, request).map_err(|r| r.error),
            Command::Subscribe { token, subscriptions, properties } => {
                if self.config.protocol == ProtocolVersion::V311 {
                    v311::check_subscribe(&subscriptions, &properties)?;
                }
                if subscriptions.is_empty() {
                    return Err(CommandError::InvalidArgument(
                        "subscribe needs at least one topic filter".into(),
                    ));
                }
                for s in &subscriptions {
                    topic::validate_topic_filter(&s.filter)
                        .map_err(|e| CommandError::InvalidFilter(format!("{:?}: {e}", s.filter)))?;
                }
                if properties.subscription_identifier == Some(0) {
                    return Err(CommandError::InvalidArgument(format!(
                        "subscription identifier must be 1..={MAX_VARINT}"
                    )));
                }
                let placeholder = PacketId::MIN;
                self.controls_waiting.push_back(Control::Subscribe {
                    token,
                    subscribe: Subscribe { packet_id: placeholder, filters: subscriptions, properties },
                });
                Ok(())
            }
            Command::Unsubscribe { token, filters, properties } => {
                if self.config.protocol == ProtocolVersion::V311 {
                    v311::check_unsubscribe(&properties)?;
                }
                if filters.is_empty() {
                    return Err(CommandError::InvalidArgument(
                        "unsubscribe needs at least one topic filter".into(),
                    ));
                }
                for f in &filters {
                    topic::validate_topic_filter(f)
                        .map_err(|e| CommandError::InvalidFilter(format!("{f:?}: {e}")))?;
                }
                self.controls_waiting.push_back(Control::Unsubscribe {
                    token,
                    unsubscribe: Unsubscribe { packet_id: PacketId::MIN, filters, properties },
                });
                Ok(())
            }
            Command::Ack { ack_id } => {
                if !self.incoming.ack(ack_id) {
                    return Err(CommandError::InvalidArgument(format!(
                        "unknown or repeated ack id {ack_id}"
                    )));
                }
                self.flush_acks();
                Ok(())
            }
            Command::Disconnect { reason_code, session_expiry_interval, reason_string } => {
                if self.config.protocol == ProtocolVersion::V311 {
                    v311::check_disconnect(reason_code, session_expiry_interval, reason_string.as_deref())?;
                }
                check_disconnect_session_expiry(
                    self.config.properties.session_expiry_interval,
                    session_expiry_interval,
                )?;
                if let Some(expiry) = session_expiry_interval {
                    self.session_expiry = expiry;
                }
                if !matches!(self.state, State::Connected | State::Connecting) {
                    return Err(CommandError::NotConnected);
                }
                let properties = DisconnectProperties {
                    session_expiry_interval,
                    reason_string: reason_string.clone(),
                    ..DisconnectProperties::default()
                };
                let disconnect = Packet::Disconnect(Disconnect { reason_code, properties });
                self.close_cause = Some(DisconnectCause::Local { reason_code, reason: reason_string });
                if self.state == State::Connected {
                    // What the application handed over before this goes out first (as far as
                    // the send quota allows); then DISCONNECT.
                    self.disconnect_after = Some(disconnect);
                } else {
                    self.transmit.push_back(disconnect);
                    self.state = State::Closing;
                }
                Ok(())
            }
            Command::Reauthenticate => {
                if self.config.protocol == ProtocolVersion::V311 {
                    // 3.1.1 has no AUTH packet (2.2.1: type 15 is reserved).
                    return Err(CommandError::NotSupported(
                        "re-authentication is not available with MQTT 3.1.1".into(),
                    ));
                }
                if self.state != State::Connected {
                    return Err(CommandError::NotConnected);
                }
                let auth = self.config.authenticator.as_mut().ok_or(CommandError::NoAuthenticator)?;
                self.reauth_in_progress = true;
                self.transmit.push_back(Packet::Auth(Auth {
                    reason_code: AuthReasonCode::ReAuthenticate,
                    properties: AuthProperties {
                        authentication_method: Some(auth.method().to_owned()),
                        authentication_data: auth.initial_data(),
                        ..AuthProperties::default()
                    },
                }));
                Ok(())
            }
        }
    }

    fn flush_acks(&mut self) {
        if !matches!(self.state, State::Connected) {
            // Acks wait for a connection; the server resends what it did not see acknowledged.
            return;
        }
        while let Some(due) = self.incoming.pop_due() {
            self.send_ack(due);
        }
    }

    fn send_ack(&mut self, due: DueAck) {
        match due {
            DueAck::PubAck(id) => {
                self.transmit.push_back(Packet::PubAck(PubAck::new(id)));
                self.incoming.flow_completed();
            }
            DueAck::PubRec(id) => self.transmit.push_back(Packet::PubRec(PubRec::new(id))),
        }
    }

    /// A packet from the server.
    pub fn handle_packet(&mut self, now: Instant, packet: Packet) {
        self.last_received = Some(now);
        match (self.state, packet) {
            (State::Disconnected | State::Closing, _) => {}
            (_, Packet::Disconnect(_)) if self.config.protocol == ProtocolVersion::V311 => {
                // 3.14: in 3.1.1 only the client sends DISCONNECT.
                self.fail_connection(
                    DisconnectReasonCode::ProtocolError,
                    "DISCONNECT from the server (MQTT 3.1.1 has none)".into(),
                );
            }
            (State::Connecting, Packet::ConnAck(ack)) => self.on_connack(now, ack),
            (State::Connecting, Packet::Auth(auth)) => self.on_auth(auth),
            (State::Connecting, Packet::Disconnect(d)) => self.on_server_disconnect(d),
            (State::Connecting, other) => {
                // [MQTT-3.2.0-1] the server's first packet must be CONNACK (or AUTH).
                self.fail_connection(
                    DisconnectReasonCode::ProtocolError,
                    format!("expected CONNACK, got {}", name(&other)),
                );
            }
            (State::Connected, packet) => self.on_connected_packet(now, packet),
        }
    }

    fn on_connack(&mut self, now: Instant, ack: ConnAck) {
        if ack.reason_code.is_error() {
            // The server refused: it closes the connection ([MQTT-3.2.2-7]).
            self.close_cause = Some(DisconnectCause::Refused {
                reason_code: ack.reason_code,
                reason_string: ack.properties.reason_string.clone(),
                server_reference: ack.properties.server_reference.clone(),
            });
            self.state = State::Closing;
            return;
        }
        if let Some(auth) = self.config.authenticator.as_mut() {
            if let Err(e) = auth.success(ack.properties.authentication_data.as_ref()) {
                self.fail_connection(DisconnectReasonCode::NotAuthorized, e);
                return;
            }
        }
        let p = &ack.properties;
        self.server = ServerLimits {
            // 3.2.2.3.3 (5.0): absent means 65,535; a 3.1.1 server announces nothing. Our own
            // cap applies on top of whatever the server allows.
            receive_maximum: p.receive_maximum.unwrap_or(u16::MAX).min(self.config.max_inflight).max(1),
            maximum_qos: match p.maximum_qos {
                Some(0) => QoS::AtMostOnce,
                Some(1) => QoS::AtLeastOnce,
                _ => QoS::ExactlyOnce,
            },
            retain_available: p.retain_available != Some(0),
            maximum_packet_size: p.maximum_packet_size,
            topic_alias_maximum: Some(p.topic_alias_maximum.unwrap_or(0)),
        };
        // 4.9 (flow control): the window of a new connection: a QoS 2 message whose PUBREC
        // arrived is unfinished until PUBCOMP, so each PUBREL resent below holds a slot from
        // the start ([MQTT-3.3.4-7] never more than Receive Maximum unfinished). Counting only
        // the PUBLISH resends let a resumed client overrun a small window (mosquitto's default
        // 20) and lose messages to PUBREC 0x97 Quota exceeded. Without a session there is
        // nothing unfinished (the in-flight messages are discarded below).
        self.outstanding = if ack.session_present {
            self.inflight.values().filter(|m| m.state == OutgoingState::AwaitingComp).count() as u32
        } else {
            0
        };
        self.refilling = false;
        // Automatic aliases only when on: with them off the server's maximum is the
        // application's to use (check_topic_alias).
        let auto_maximum = self.server.topic_alias_maximum.filter(|_| self.config.auto_topic_alias);
        self.out_aliases.reset(auto_maximum.unwrap_or(0));
        if let Some(id) = &p.assigned_client_identifier {
            // Keep it: the next connection must present it to resume the session.
            self.config.client_id = id.clone();
        }
        if let Some(ka) = p.server_keep_alive {
            // [MQTT-3.2.2-21] the server's keep-alive replaces ours.
            self.keep_alive = Duration::from_secs(ka.into());
        }
        if let Some(expiry) = p.session_expiry_interval {
            self.session_expiry = expiry;
        }
        self.state = State::Connected;
        self.ping_outstanding = false;
        self.last_received = Some(now);

        let held_state = !self.inflight.is_empty() || self.incoming.qos2_len() > 0;
        if ack.session_present {
            // Resume: everything in flight goes out again, in original order.
            let mut ids: Vec<(u64, PacketId)> =
                self.inflight.values().filter_map(|m| Some((m.seq, m.packet_id()?))).collect();
            ids.sort_unstable();
            self.resend = ids.into_iter().map(|(_, id)| id).collect();
        } else {
            // 4.1 and 3.2.2.1.2 (Session Present): the server has no session: ours is discarded as well, but the
            // application's messages are never dropped silently.
            self.resend.clear();
            self.incoming.session_discarded();
            self.store_write(|store| store.clear_incoming());
            let expected = self.expect_session;
            let (republished, failed) = self.discard_inflight();
            if expected || held_state {
                self.events.push_back(Event::SessionLost { republished, failed });
            }
        }
        self.expect_session = self.session_expiry > 0;
        self.events.push_back(Event::Connected {
            session_present: ack.session_present,
            properties: Box::new(ack.properties),
        });
        self.flush_acks();
    }

    /// The server has no session: in-flight messages lose their packet identifiers. Returns
    /// (republished, failed).
    ///
    /// A QoS 2 message whose PUBREC arrived (PUBREL pending) follows the policy like the
    /// others: brokers such as mosquitto pass a QoS 2 message on only when PUBREL arrives, so
    /// calling it delivered would lose it silently; publishing it again risks a duplicate on
    /// brokers that pass it on at PUBLISH, and a duplicate is the lesser harm.
    fn discard_inflight(&mut self) -> (usize, usize) {
        let mut items: Vec<Outgoing> = self.inflight.drain().map(|(_, m)| m).collect();
        items.sort_by_key(|m| m.seq);
        let mut republish = Vec::new();
        let mut failed = 0;
        for mut item in items {
            match (self.config.on_session_lost, item.state) {
                (SessionLostPolicy::Republish, _) => {
                    item.make_new();
                    let stored = item.to_stored();
                    self.store_write(|store| store.put_outgoing(&stored));
                    republish.push(item);
                }
                (SessionLostPolicy::Fail, _) => {
                    failed += 1;
                    self.finish(item, Err(PublishError::SessionLost));
                }
            }
        }
        let republished = republish.len();
        self.queue.push_front_all(republish);
        // Subscribes in flight belonged to the old session; ask again on the new one.
        (republished, failed)
    }

    fn on_auth(&mut self, auth: Auth) {
        let Some(authenticator) = self.config.authenticator.as_mut() else {
            // 4.12: a server sends AUTH only when CONNECT carried an Authentication Method.
            self.fail_connection(
                DisconnectReasonCode::ProtocolError,
                "AUTH received but no authentication method was sent".into(),
            );
            return;
        };
        if auth.properties.authentication_method.as_deref() != Some(authenticator.method()) {
            // [MQTT-4.12.0-5] the method must stay the same through the exchange.
            self.fail_connection(
                DisconnectReasonCode::ProtocolError,
                "AUTH with a different authentication method".into(),
            );
            return;
        }
        match auth.reason_code {
            AuthReasonCode::ContinueAuthentication => {
                match authenticator.challenge(auth.properties.authentication_data.as_ref()) {
                    Ok(data) => {
                        let method = authenticator.method().to_owned();
                        self.transmit.push_back(Packet::Auth(Auth {
                            reason_code: AuthReasonCode::ContinueAuthentication,
                            properties: AuthProperties {
                                authentication_method: Some(method),
                                authentication_data: data,
                                ..AuthProperties::default()
                            },
                        }));
                    }
                    Err(e) => {
                        if self.reauth_in_progress {
                            self.reauth_in_progress = false;
                            self.events.push_back(Event::Reauthenticated { result: Err(e.clone()) });
                        }
                        self.fail_connection(DisconnectReasonCode::NotAuthorized, e);
                    }
                }
            }
            AuthReasonCode::Success if self.state == State::Connected && self.reauth_in_progress => {
                self.reauth_in_progress = false;
                let result = authenticator.success(auth.properties.authentication_data.as_ref());
                self.events.push_back(Event::Reauthenticated { result: result.clone() });
                if let Err(e) = result {
                    self.fail_connection(DisconnectReasonCode::NotAuthorized, e);
                }
            }
            other => {
                self.fail_connection(DisconnectReasonCode::ProtocolError, format!("unexpected AUTH {other}"));
            }
        }
    }

    fn on_server_disconnect(&mut self, d: Disconnect) {
        self.close_cause = Some(DisconnectCause::Server {
            reason_code: d.reason_code,
            reason_string: d.properties.reason_string,
            server_reference: d.properties.server_reference,
        });
        self.transmit.clear();
        self.state = State::Closing;
    }

    fn on_connected_packet(&mut self, now: Instant, packet: Packet) {
        match packet {
            Packet::Publish(publish) => self.on_publish(publish),
            Packet::PubAck(ack) => self.on_puback(now, ack),
            Packet::PubRec(rec) => self.on_pubrec(now, rec),
            Packet::PubComp(comp) => self.on_pubcomp(comp),
            Packet::PubRel(rel) => self.on_pubrel(rel),
            Packet::SubAck(ack) => self.on_suback(ack),
            Packet::UnsubAck(ack) => self.on_unsuback(ack),
            Packet::PingResp => self.ping_outstanding = false,
            Packet::Disconnect(d) => self.on_server_disconnect(d),
            Packet::Auth(auth) => self.on_auth(auth),
            other => {
                // CONNACK twice, or a packet only a client sends: [MQTT-3.2.0-2] and 4.13.
                self.fail_connection(
                    DisconnectReasonCode::ProtocolError,
                    format!("unexpected {} from the server", name(&other)),
                );
            }
        }
    }

    fn on_publish(&mut self, mut publish: Publish) {
        let our_alias_max = self.config.properties.topic_alias_maximum.unwrap_or(0);
        match self.in_aliases.resolve(&publish.topic, publish.properties.topic_alias, our_alias_max) {
            Ok(Some(topic)) => publish.topic = topic,
            Ok(None) => {}
            Err(AliasError::OutOfRange) => {
                // [MQTT-3.3.2-9]/[MQTT-3.3.2-10] alias 0 or above our Topic Alias Maximum.
                self.fail_connection(
                    DisconnectReasonCode::TopicAliasInvalid,
                    "topic alias out of range".into(),
                );
                return;
            }
            Err(AliasError::Unknown) => {
                self.fail_connection(
                    DisconnectReasonCode::ProtocolError,
                    "empty topic with an unknown topic alias".into(),
                );
                return;
            }
        }
        if publish.topic.is_empty() {
            self.fail_connection(
                DisconnectReasonCode::ProtocolError,
                "PUBLISH without a topic or topic alias".into(),
            );
            return;
        }
        let qos = publish.qos;
        let Some(packet_id) = publish.packet_id.filter(|_| qos > QoS::AtMostOnce) else {
            self.stats.messages_in += 1;
            self.deliver(publish, None);
            return;
        };
        // A 3.1.1 server was never told a Receive Maximum, so none is enforced on it.
        let receive_maximum = match self.config.protocol {
            ProtocolVersion::V5 => self.config.properties.receive_maximum.unwrap_or(u16::MAX),
            ProtocolVersion::V311 => u16::MAX,
        };
        if !self.incoming.admit(receive_maximum) {
            // [MQTT-3.3.4-9] the server sent more QoS>0 PUBLISH than our Receive Maximum.
            self.fail_connection(
                DisconnectReasonCode::ReceiveMaximumExceeded,
                "more unacknowledged messages than our Receive Maximum".into(),
            );
            return;
        }
        match self.incoming.redelivery(qos, packet_id, publish.dup) {
            Redelivery::New => {}
            Redelivery::Held => {
                // The same message: the application has it (or its ack waits for its turn),
                // and the one acknowledgement goes out when due, on this connection.
                self.flush_acks();
                return;
            }
            Redelivery::Answer(due) => {
                self.send_ack(due);
                return;
            }
        }
        self.stats.messages_in += 1;
        let (ack_id, new_qos2) = self.incoming.delivered(qos, packet_id);
        if new_qos2 {
            self.store_write(|store| store.put_incoming_qos2(packet_id));
        }
        if self.config.manual_ack {
            self.deliver(publish, Some(ack_id));
        } else {
            self.deliver(publish, None);
            self.incoming.ack(ack_id);
            self.flush_acks();
        }
    }

    fn deliver(&mut self, publish: Publish, ack_id: Option<u64>) {
        self.events.push_back(Event::Message(Box::new(IncomingMessage {
            topic: publish.topic,
            payload: publish.payload,
            qos: publish.qos,
            dup: publish.dup,
            retain: publish.retain,
            packet_id: publish.packet_id,
            properties: publish.properties,
            ack_id,
        })));
    }

    fn on_pubrel(&mut self, rel: PubRel) {
        let known = self.incoming.release(rel.packet_id);
        if known {
            self.store_write(|store| store.remove_incoming_qos2(rel.packet_id));
        }
        // [MQTT-4.3.3-11] PUBCOMP with the same identifier; 0x92 when we do not know it.
        let mut comp = PubComp::new(rel.packet_id);
        // 3.1.1's PUBCOMP has no reason code: an unknown identifier is completed all the same.
        if !known && self.config.protocol == ProtocolVersion::V5 {
            comp.reason_code = PubRelReasonCode::PacketIdentifierNotFound;
        }
        self.transmit.push_back(Packet::PubComp(comp));
        self.incoming.flow_completed();
    }

    fn on_suback(&mut self, ack: SubAck) {
        match self.controls_inflight.remove(&ack.packet_id) {
            Some(Control::Subscribe { token, subscribe }) => {
                if ack.reason_codes.len() != subscribe.filters.len() {
                    // [MQTT-3.9.3-1] one reason code per filter.
                    self.events.push_back(Event::RequestFailed {
                        token,
                        error: "SUBACK with the wrong number of reason codes".into(),
                    });
                    self.fail_connection(
                        DisconnectReasonCode::ProtocolError,
                        "SUBACK reason code count mismatch".into(),
                    );
                    return;
                }
                self.events.push_back(Event::SubscribeDone {
                    token,
                    reason_codes: ack.reason_codes,
                    properties: ack.properties,
                });
            }
            Some(other) => {
                self.controls_inflight.insert(ack.packet_id, other);
                self.fail_connection(DisconnectReasonCode::ProtocolError, "SUBACK for an UNSUBSCRIBE".into());
            }
            None => {}
        }
    }

    fn on_unsuback(&mut self, ack: UnsubAck) {
        match self.controls_inflight.remove(&ack.packet_id) {
            Some(Control::Unsubscribe { token, unsubscribe }) => {
                let mut ack = ack;
                if self.config.protocol == ProtocolVersion::V311 {
                    // 3.11.3: a 3.1.1 UNSUBACK has no payload; it acknowledges every filter.
                    ack.reason_codes = vec![UnsubAckReasonCode::Success; unsubscribe.filters.len()];
                }
                if ack.reason_codes.len() != unsubscribe.filters.len() {
                    self.events.push_back(Event::RequestFailed {
                        token,
                        error: "UNSUBACK with the wrong number of reason codes".into(),
                    });
                    self.fail_connection(
                        DisconnectReasonCode::ProtocolError,
                        "UNSUBACK reason code count mismatch".into(),
                    );
                    return;
                }
                self.events.push_back(Event::UnsubscribeDone {
                    token,
                    reason_codes: ack.reason_codes,
                    properties: ack.properties,
                });
            }
            Some(other) => {
                self.controls_inflight.insert(ack.packet_id, other);
                self.fail_connection(DisconnectReasonCode::ProtocolError, "UNSUBACK for a SUBSCRIBE".into());
            }
            None => {}
        }
    }
}

fn name(packet: &Packet) -> &'static str {
    match packet {
        Packet::Connect(_) => "CONNECT",
        Packet::ConnAck(_) => "CONNACK",
        Packet::Publish(_) => "PUBLISH",
        Packet::PubAck(_) => "PUBACK",
        Packet::PubRec(_) => "PUBREC",
        Packet::PubRel(_) => "PUBREL",
        Packet::PubComp(_) => "PUBCOMP",
        Packet::Subscribe(_) => "SUBSCRIBE",
        Packet::SubAck(_) => "SUBACK",
        Packet::Unsubscribe(_) => "UNSUBSCRIBE",
        Packet::UnsubAck(_) => "UNSUBACK",
        Packet::PingReq => "PINGREQ",
        Packet::PingResp => "PINGRESP",
        Packet::Disconnect(_) => "DISCONNECT",
        Packet::Auth(_) => "AUTH",
    }
}
