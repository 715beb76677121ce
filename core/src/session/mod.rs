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

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod window_tests;

use std::collections::VecDeque;

use rustc_hash::FxHashMap;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

pub use auth::Authenticator;
pub use queue::{OverflowPolicy, QueueLimits};

use crate::codec::{
    topic, AckProperties, Auth, AuthProperties, AuthReasonCode, ConnAck, ConnAckProperties, Connect,
    ConnectProperties, ConnectReasonCode, Disconnect, DisconnectProperties, DisconnectReasonCode,
    EncodeError, LastWill, Packet, PacketId, PubAck, PubAckReasonCode, PubComp, PubRec, PubRel,
    PubRelReasonCode, Publish, PublishProperties, QoS, SubAck, SubAckReasonCode, Subscribe,
    SubscribeProperties, Subscription, UnsubAck, UnsubAckReasonCode, Unsubscribe, UnsubscribeProperties,
    MAX_PAYLOAD, MAX_STRING_LEN, MAX_VARINT,
};
use crate::store::{OutgoingState, SessionStore, StoredSession};
use alias::{AliasError, AliasUse, IncomingAliases, OutgoingAliases};
use incoming::{DueAck, Incoming, Redelivery};
use outgoing::Outgoing;

/// `session_expiry_interval` value meaning the session never expires (3.1.2.11.2).
pub const SESSION_NEVER_EXPIRES: u32 = u32::MAX;

/// What to do with the application's unacknowledged messages when the server answers
/// `session_present = false` although the client held session state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SessionLostPolicy {
    /// Publish them again as new messages (new packet identifiers, DUP = 0), before anything
    /// accepted later.
    #[default]
    Republish,
    /// Fail their deliveries with [`PublishError::SessionLost`].
    Fail,
}

/// Everything the engine needs to know up front.
pub struct Config {
    pub client_id: String,
    /// Clean Start for the first connection; later connections always resume (`false`).
    pub clean_start: bool,
    /// Seconds; 0 turns keep-alive off.
    pub keep_alive: u16,
    pub username: Option<String>,
    pub password: Option<Bytes>,
    pub will: Option<LastWill>,
    /// CONNECT properties; `session_expiry_interval`, `receive_maximum`,
    /// `maximum_packet_size` and `topic_alias_maximum` here are what we announce and enforce.
    pub properties: ConnectProperties,
    pub queue: QueueLimits,
    pub on_session_lost: SessionLostPolicy,
    /// Assign outgoing topic aliases automatically when the server allows them.
    pub auto_topic_alias: bool,
    /// The application acknowledges each incoming QoS>0 message with [`Command::Ack`].
    pub manual_ack: bool,
    pub authenticator: Option<Box<dyn Authenticator>>,
    /// What to do when the server refuses a message with 0x97 Quota exceeded.
    pub quota_retry: QuotaRetry,
}

/// A message the server refused with PUBACK/PUBREC 0x97 (Quota exceeded) was not accepted:
/// the server asks the client to come back later, so it is published again as a new message
/// after `backoff` (doubling with each refusal), at most `attempts` times; after that its
/// delivery fails with the server's reason. Other refusals (>= 0x80) fail at once.
///
/// ```
/// use std::time::Duration;
/// use tether_core::session::{Config, QuotaRetry};
/// let mut config = Config::new("sensor-1");
/// config.quota_retry = QuotaRetry { attempts: 0, backoff: Duration::ZERO }; // never retry
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaRetry {
    pub attempts: u8,
    pub backoff: Duration,
}

impl Default for QuotaRetry {
    /// Five attempts, the first after 100 ms: up to 3.1 s in all.
    fn default() -> Self {
        QuotaRetry { attempts: 5, backoff: Duration::from_millis(100) }
    }
}

impl Config {
    /// Defaults: clean start, keep-alive 60 s, session expiry 0, automatic aliases on.
    pub fn new(client_id: impl Into<String>) -> Self {
        Config {
            client_id: client_id.into(),
            clean_start: true,
            keep_alive: 60,
            username: None,
            password: None,
            will: None,
            properties: ConnectProperties::default(),
            queue: QueueLimits::default(),
            on_session_lost: SessionLostPolicy::default(),
            auto_topic_alias: true,
            manual_ack: false,
            authenticator: None,
            quota_retry: QuotaRetry::default(),
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("client_id", &self.client_id)
            .field("clean_start", &self.clean_start)
            .field("keep_alive", &self.keep_alive)
            .field("properties", &self.properties)
            .field("queue", &self.queue)
            .field("on_session_lost", &self.on_session_lost)
            .field("manual_ack", &self.manual_ack)
            .field("quota_retry", &self.quota_retry)
            .finish_non_exhaustive()
    }
}

/// A message to publish, as the application describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishRequest {
    pub topic: String,
    pub payload: Bytes,
    pub qos: QoS,
    pub retain: bool,
    pub properties: PublishProperties,
}

impl PublishRequest {
    /// Bytes this message counts against the send queue's byte limit (what
    /// [`Session::has_queue_room`] takes): topic and payload, as once it is queued.
    pub fn weight(&self) -> usize {
        self.payload.len() + self.topic.len()
    }
}

/// An application request. Each operation that completes carries the caller's `token`, which
/// comes back in the completion event.
#[derive(Debug, Clone)]
pub enum Command {
    Publish {
        token: u64,
        request: PublishRequest,
    },
    Subscribe {
        token: u64,
        subscriptions: Vec<Subscription>,
        properties: SubscribeProperties,
    },
    Unsubscribe {
        token: u64,
        filters: Vec<String>,
        properties: UnsubscribeProperties,
    },
    /// Manual acknowledgement of an incoming message ([`IncomingMessage::ack_id`]).
    Ack {
        ack_id: u64,
    },
    /// Close the connection with DISCONNECT; `session_expiry_interval` overrides the one sent
    /// in CONNECT (not allowed when that was 0, [MQTT-3.14.2-2]).
    Disconnect {
        reason_code: DisconnectReasonCode,
        session_expiry_interval: Option<u32>,
        reason_string: Option<String>,
    },
    /// Start a re-authentication with the configured [`Authenticator`] (4.12.1).
    Reauthenticate,
}

/// Why a command was refused at once (nothing was queued or sent).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("invalid topic: {0}")]
    InvalidTopic(String),
    #[error("invalid topic filter: {0}")]
    InvalidFilter(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("packet of {size} bytes exceeds the maximum packet size of {max} bytes")]
    PacketTooLarge { size: usize, max: u32 },
    #[error("QoS {requested} exceeds the server's Maximum QoS {maximum}")]
    QoSNotSupported { requested: u8, maximum: u8 },
    #[error("the server does not support retained messages")]
    RetainNotSupported,
    #[error("the send queue is full ({messages} messages, {bytes} bytes)")]
    QueueFull { messages: usize, bytes: usize },
    #[error("not connected")]
    NotConnected,
    #[error("no authenticator configured")]
    NoAuthenticator,
}

/// A publish refused at once ([`Session::publish`]), with the request handed back.
#[derive(Debug)]
pub struct Refused {
    pub error: CommandError,
    pub request: PublishRequest,
}

impl Refused {
    fn new(error: CommandError, p: Publish) -> Box<Self> {
        let request = PublishRequest {
            topic: p.topic,
            payload: p.payload,
            qos: p.qos,
            retain: p.retain,
            properties: p.properties,
        };
        Box::new(Refused { error, request })
    }
}

/// Why a publish did not complete successfully.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The server answered PUBACK or PUBREC with a reason code of 0x80 or above: it did not
    /// accept the message.
    #[error("the server refused the message: {reason_code}{}", reason_suffix(.reason_string))]
    Rejected { reason_code: PubAckReasonCode, reason_string: Option<String> },
    /// The server lost the session and the policy is [`SessionLostPolicy::Fail`].
    #[error("the server did not keep the session; the message was not delivered")]
    SessionLost,
    /// The Message Expiry Interval ran out while the message waited to be sent.
    #[error("the message expired before it could be sent")]
    Expired,
    /// Dropped to make room ([`OverflowPolicy::DropOldest`]).
    #[error("dropped from a full send queue")]
    Overflow,
    /// The server's limits (learned after the message was queued) do not admit it.
    #[error("{0}")]
    NotAdmitted(CommandError),
}

fn reason_suffix(reason_string: &Option<String>) -> String {
    reason_string.as_ref().map(|s| format!(": {s}")).unwrap_or_default()
}

/// A received application message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingMessage {
    pub topic: String,
    pub payload: Bytes,
    pub qos: QoS,
    pub dup: bool,
    pub retain: bool,
    pub packet_id: Option<PacketId>,
    pub properties: PublishProperties,
    /// With manual acks, the id to pass in [`Command::Ack`]; `None` for QoS 0 or auto-ack.
    pub ack_id: Option<u64>,
}

/// Why the connection ended, as the engine knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisconnectCause {
    /// The server sent DISCONNECT.
    Server {
        reason_code: DisconnectReasonCode,
        reason_string: Option<String>,
        server_reference: Option<String>,
    },
    /// We closed it with DISCONNECT (application request or a protocol error of the server).
    Local { reason_code: DisconnectReasonCode, reason: Option<String> },
    /// Nothing arrived within 1.5 × keep-alive.
    KeepAliveTimeout,
    /// CONNACK refused the connection.
    Refused { reason_code: ConnectReasonCode, reason_string: Option<String> },
    /// The transport failed or the server closed it without DISCONNECT.
    ConnectionLost,
}

/// Who ended a connection: the one classification every face (Rust, C, Python) reports, so
/// that a reason code never has to be guessed from. A server's DISCONNECT 0x8D "Keep Alive
/// timeout" is [`DisconnectKind::Server`]; the client's own keep-alive expiry is
/// [`DisconnectKind::KeepAliveTimeout`] and carries no reason code (no DISCONNECT went
/// either way).
///
/// ```
/// use tether_core::{DisconnectCause, DisconnectKind};
/// let cause = DisconnectCause::ConnectionLost;
/// assert_eq!(cause.kind(), DisconnectKind::ConnectionLost);
/// assert_eq!(cause.kind().as_str(), "lost");
/// assert_eq!(cause.reason_code(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisconnectKind {
    /// The server sent DISCONNECT (its reason code and reason string are reported).
    Server,
    /// The client sent DISCONNECT: the application asked for it, or the server broke the
    /// protocol and the client closed with the matching reason code ([MQTT-4.13.1-1]).
    Client,
    /// Nothing arrived from the server within 1.5 × keep-alive (3.1.2.10); the client closed
    /// the network connection without DISCONNECT.
    KeepAliveTimeout,
    /// The network connection failed or the server closed it without DISCONNECT.
    ConnectionLost,
    /// The server refused the connection in CONNACK (reason code 0x80 or above).
    Refused,
}

impl DisconnectKind {
    /// The short name every face uses: "server", "client", "keep_alive", "lost", "refused".
    ///
    /// ```
    /// assert_eq!(tether_core::DisconnectKind::KeepAliveTimeout.as_str(), "keep_alive");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            DisconnectKind::Server => "server",
            DisconnectKind::Client => "client",
            DisconnectKind::KeepAliveTimeout => "keep_alive",
            DisconnectKind::ConnectionLost => "lost",
            DisconnectKind::Refused => "refused",
        }
    }
}

impl DisconnectCause {
    /// Who ended the connection.
    ///
    /// ```
    /// use tether_core::{DisconnectCause, DisconnectKind};
    /// assert_eq!(DisconnectCause::KeepAliveTimeout.kind(), DisconnectKind::KeepAliveTimeout);
    /// ```
    pub fn kind(&self) -> DisconnectKind {
        match self {
            DisconnectCause::Server { .. } => DisconnectKind::Server,
            DisconnectCause::Local { .. } => DisconnectKind::Client,
            DisconnectCause::KeepAliveTimeout => DisconnectKind::KeepAliveTimeout,
            DisconnectCause::Refused { .. } => DisconnectKind::Refused,
            DisconnectCause::ConnectionLost => DisconnectKind::ConnectionLost,
        }
    }

    /// The reason code of the packet that ended the connection: the DISCONNECT received
    /// ([`DisconnectKind::Server`]) or sent ([`DisconnectKind::Client`]), or the CONNACK's
    /// refusal. `None` when no such packet exists: a lost connection or the client's
    /// keep-alive expiry.
    ///
    /// ```
    /// use tether_core::{DisconnectCause, DisconnectReasonCode};
    /// let cause = DisconnectCause::Server {
    ///     reason_code: DisconnectReasonCode::SessionTakenOver,
    ///     reason_string: None,
    ///     server_reference: None,
    /// };
    /// assert_eq!(cause.reason_code(), Some(0x8E));
    /// assert_eq!(DisconnectCause::KeepAliveTimeout.reason_code(), None);
    /// ```
    pub fn reason_code(&self) -> Option<u8> {
        match self {
            DisconnectCause::Server { reason_code, .. } | DisconnectCause::Local { reason_code, .. } => {
                Some(*reason_code as u8)
            }
            DisconnectCause::Refused { reason_code, .. } => Some(*reason_code as u8),
            DisconnectCause::KeepAliveTimeout | DisconnectCause::ConnectionLost => None,
        }
    }

    /// The reason string of that packet, when it had one (for [`DisconnectKind::Client`]:
    /// the one the client sent).
    ///
    /// ```
    /// use tether_core::DisconnectCause;
    /// assert_eq!(DisconnectCause::ConnectionLost.reason_string(), None);
    /// ```
    pub fn reason_string(&self) -> Option<&str> {
        match self {
            DisconnectCause::Server { reason_string, .. }
            | DisconnectCause::Refused { reason_string, .. } => reason_string.as_deref(),
            DisconnectCause::Local { reason, .. } => reason.as_deref(),
            DisconnectCause::KeepAliveTimeout | DisconnectCause::ConnectionLost => None,
        }
    }
}

/// What the application must hear, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// CONNACK with Success.
    Connected {
        session_present: bool,
        properties: Box<ConnAckProperties>,
    },
    /// The connection ended (or was refused); a reconnect resumes the session.
    Disconnected {
        cause: DisconnectCause,
    },
    /// The server did not have the session the client expected (clean_start = false,
    /// session_present = false). `republished` messages were queued again, `failed` failed.
    SessionLost {
        republished: usize,
        failed: usize,
    },
    Message(Box<IncomingMessage>),
    /// A QoS>0 publish was given its packet identifier (it is now in flight).
    PacketIdAssigned {
        token: u64,
        packet_id: PacketId,
    },
    /// A publish completed: for QoS 0 when written, QoS 1 on PUBACK, QoS 2 on PUBCOMP.
    PublishDone {
        token: u64,
        result: Result<PublishOutcome, PublishError>,
        /// What the failure report needs to name the message (only when `result` is `Err`).
        failed: Option<Box<FailedPublish>>,
    },
    SubscribeDone {
        token: u64,
        reason_codes: Vec<SubAckReasonCode>,
        properties: AckProperties,
    },
    UnsubscribeDone {
        token: u64,
        reason_codes: Vec<UnsubAckReasonCode>,
        properties: AckProperties,
    },
    /// A subscribe or unsubscribe the engine gave up on (the server lost the session before
    /// answering, or a protocol failure).
    RequestFailed {
        token: u64,
        error: String,
    },
    /// An AUTH exchange (re-authentication) finished.
    Reauthenticated {
        result: Result<(), String>,
    },
}

/// The message behind a failed delivery, for reports and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedPublish {
    pub topic: String,
    /// The packet identifier it last had, if it was ever in flight.
    pub packet_id: Option<PacketId>,
}

/// A successful delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishOutcome {
    /// Success or NoMatchingSubscribers for QoS 1/2; Success for QoS 0.
    pub reason_code: PubAckReasonCode,
    pub packet_id: Option<PacketId>,
    pub properties: AckProperties,
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
enum Wire<'a> {
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

/// Counters for observability.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub messages_in: u64,
    pub messages_out: u64,
    pub retransmissions: u64,
    pub connections: u64,
    /// Messages published again after the server refused them with 0x97 Quota exceeded.
    pub quota_retries: u64,
    /// Deliveries that ended in failure (refused, expired, dropped, lost with the session).
    pub deliveries_failed: u64,
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
    pub fn restore(config: Config, mut store: Box<dyn SessionStore>) -> Self {
        let StoredSession { messages, incoming_qos2 } = store.load();
        let mut session = Session::with_store(config, store);
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

        let clean_start =
            if self.epoch == 1 && !self.expect_session { self.config.clean_start } else { false };
        let mut properties = self.config.properties.clone();
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
        let mut properties = DisconnectProperties::default();
        if self.config.properties.request_problem_information != Some(0) {
            properties.reason_string = Some(reason.clone());
        }
        self.transmit.push_back(Packet::Disconnect(Disconnect { reason_code, properties }));
        self.close_cause = Some(DisconnectCause::Local { reason_code, reason: Some(reason) });
        self.state = State::Closing;
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

    /// The one place that decides what goes out next; `sink` sees it as an owned packet or as
    /// a PUBLISH borrowed from the engine with its wire form applied (and put back after).
    fn next_wire<R>(&mut self, now: Instant, sink: impl FnOnce(Wire<'_>) -> R) -> Option<R> {
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
            if let Some(store) = self.store.as_mut() {
                store.put_outgoing(&item.to_stored());
            }
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

    /// Encode the next packet into `buf`, as [`Session::poll_transmit`] would return it, but
    /// without copying messages: a PUBLISH is encoded straight from the engine's own copy.
    /// Returns `None` when there is nothing to send.
    pub fn transmit_into(&mut self, now: Instant, buf: &mut BytesMut) -> Option<Result<usize, EncodeError>> {
        self.next_wire(now, |wire| match wire {
            Wire::Packet(p) => p.encode(buf),
            Wire::Publish(p) => p.encode(buf),
        })
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

    fn admissible(&self, qos: QoS, retain: bool, publish: &Publish) -> Result<(), CommandError> {
        if qos > self.server.maximum_qos {
            // [MQTT-3.2.2-11] never above the server's Maximum QoS.
            return Err(CommandError::QoSNotSupported {
                requested: qos as u8,
                maximum: self.server.maximum_qos as u8,
            });
        }
        if retain && !self.server.retain_available {
            // [MQTT-3.2.2-14] no retained messages when Retain Available is 0.
            return Err(CommandError::RetainNotSupported);
        }
        check_topic_alias(
            publish.properties.topic_alias,
            self.config.auto_topic_alias,
            self.server.topic_alias_maximum,
        )?;
        if let Some(max) = self.server.maximum_packet_size {
            // [MQTT-3.1.2-24] never a packet above the server's Maximum Packet Size.
            let size = wire_len(publish);
            if size > max as usize {
                return Err(CommandError::PacketTooLarge { size, max });
            }
        }
        Ok(())
    }

    /// An application request. Validation errors come back at once and nothing is queued.
    pub fn handle_command(&mut self, now: Instant, command: Command) -> Result<(), CommandError> {
        match command {
            Command::Publish { token, request } => self.publish(now, token, request).map_err(|r| r.error),
            Command::Subscribe { token, subscriptions, properties } => {
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
                if let Some(expiry) = session_expiry_interval {
                    if self.config.properties.session_expiry_interval.unwrap_or(0) == 0 && expiry != 0 {
                        // [MQTT-3.14.2-2] a non-zero expiry after CONNECT said 0 is a Protocol Error.
                        return Err(CommandError::InvalidArgument(
                            "session expiry cannot be set on DISCONNECT when CONNECT sent 0".into(),
                        ));
                    }
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

    /// [`Command::Publish`], handing the request back when it is refused, so that the caller
    /// can name the message in its report without keeping a copy of every request.
    pub fn publish(&mut self, now: Instant, token: u64, request: PublishRequest) -> Result<(), Box<Refused>> {
        if let Err(error) = validate_publish(&request) {
            return Err(Box::new(Refused { error, request }));
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
            seq: self.next_seq,
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
        self.next_seq += 1;
        if item.publish.qos > QoS::AtMostOnce {
            if let Some(store) = self.store.as_mut() {
                store.put_outgoing(&item.to_stored());
            }
        }
        self.queue.push_back(item);
        Ok(())
    }

    /// Report a publish's end and forget it.
    fn finish(&mut self, item: Outgoing, result: Result<PublishOutcome, PublishError>) {
        if item.publish.qos > QoS::AtMostOnce {
            if let Some(store) = self.store.as_mut() {
                store.remove_outgoing(item.seq);
            }
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
        item.publish.packet_id = None;
        item.publish.dup = false;
        item.state = OutgoingState::Queued;
        item.sent_epoch = 0;
        if let Some(store) = self.store.as_mut() {
            store.put_outgoing(&item.to_stored());
        }
        self.stats.quota_retries += 1;
        self.quota_delayed.push((now + delay, item));
        true
    }

    /// Messages whose back-off after a quota refusal is over go to the front of the queue.
    fn requeue_quota_delayed(&mut self, now: Instant) {
        if self.quota_delayed.iter().all(|(at, _)| *at > now) {
            return;
        }
        let (due, waiting): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.quota_delayed).into_iter().partition(|(at, _)| *at <= now);
        self.quota_delayed = waiting;
        self.queue.push_front_all(due.into_iter().map(|(_, m)| m).collect());
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
            (State::Connecting, Packet::ConnAck(ack)) => self.on_connack(now, ack),
            (State::Connecting, Packet::Auth(auth)) => self.on_auth(auth),
            (State::Connecting, Packet::Disconnect(d)) => self.on_server_disconnect(d),
            (State::Connecting, other) => {
                // [MQTT-3.2.0-1]... the server's first packet must be CONNACK (or AUTH).
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
            receive_maximum: p.receive_maximum.unwrap_or(u16::MAX).max(1),
            maximum_qos: match p.maximum_qos {
                Some(0) => QoS::AtMostOnce,
                Some(1) => QoS::AtLeastOnce,
                _ => QoS::ExactlyOnce,
            },
            retain_available: p.retain_available != Some(0),
            maximum_packet_size: p.maximum_packet_size,
            topic_alias_maximum: Some(p.topic_alias_maximum.unwrap_or(0)),
        };
        // [MQTT-4.9.0-1]... the window of a new connection: a QoS 2 message whose PUBREC
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
            // [MQTT-4.1.0-2]... the server has no session: ours is discarded as well, but the
            // application's messages are never dropped silently.
            self.resend.clear();
            self.incoming.session_discarded();
            if let Some(store) = self.store.as_mut() {
                store.clear_incoming();
            }
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
                    item.publish.packet_id = None;
                    item.publish.dup = false;
                    item.state = OutgoingState::Queued;
                    item.sent_epoch = 0;
                    if let Some(store) = self.store.as_mut() {
                        store.put_outgoing(&item.to_stored());
                    }
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
            // [MQTT-4.12.0-5]... the method must stay the same through the exchange.
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
        let receive_maximum = self.config.properties.receive_maximum.unwrap_or(u16::MAX);
        if !self.incoming.admit(receive_maximum) {
            // [MQTT-3.3.4-9] the server sent more QoS>0 PUBLISH than our Receive Maximum.
            self.fail_connection(
                DisconnectReasonCode::ReceiveMaximumExceeded,
                "more unacknowledged messages than our Receive Maximum".into(),
            );
            return;
        }
        match self.incoming.redelivery(qos, packet_id) {
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
            if let Some(store) = self.store.as_mut() {
                store.put_incoming_qos2(packet_id);
            }
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
            if let Some(store) = self.store.as_mut() {
                store.remove_incoming_qos2(rel.packet_id);
            }
        }
        // [MQTT-4.3.3-11] PUBCOMP with the same identifier; 0x92 when we do not know it.
        let mut comp = PubComp::new(rel.packet_id);
        if !known {
            comp.reason_code = PubRelReasonCode::PacketIdentifierNotFound;
        }
        self.transmit.push_back(Packet::PubComp(comp));
        self.incoming.flow_completed();
    }

    /// Free quota at which new messages go out again after the window was full: a quarter
    /// of the server's Receive Maximum, at most 256.
    fn refill_at(&self) -> u16 {
        (self.server.receive_maximum / 4).clamp(1, 256)
    }

    /// QoS>0 PUBLISH we may still send on this connection (4.9): the server's Receive Maximum
    /// less what is unfinished.
    fn send_quota(&self) -> u16 {
        let free = u32::from(self.server.receive_maximum).saturating_sub(self.outstanding);
        free as u16
    }

    /// A message stopped counting against the window (PUBACK, PUBCOMP, or PUBREC >= 0x80).
    fn release_quota(&mut self) {
        self.outstanding = self.outstanding.saturating_sub(1);
    }

    fn on_puback(&mut self, now: Instant, ack: PubAck) {
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

    fn on_pubrec(&mut self, now: Instant, rec: PubRec) {
        let Some(item) = self.inflight.get_mut(&rec.packet_id) else {
            // Unknown identifier: PUBREL with 0x92 Packet Identifier not found (3.6.2.1), so that
            // the server can finish the flow.
            let mut rel = PubRel::new(rec.packet_id);
            rel.reason_code = PubRelReasonCode::PacketIdentifierNotFound;
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
        if item.state == OutgoingState::AwaitingAck {
            item.state = OutgoingState::AwaitingComp;
            let stored = item.to_stored();
            if let Some(store) = self.store.as_mut() {
                store.put_outgoing(&stored);
            }
        }
        item.sent_epoch = self.epoch;
        // [MQTT-4.3.3-4] PUBREL with the same identifier (again, for a repeated PUBREC).
        self.transmit.push_back(Packet::PubRel(PubRel::new(rec.packet_id)));
    }

    fn on_pubcomp(&mut self, comp: PubComp) {
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

/// Checks a publish request against everything that does not depend on the server: topic,
/// properties, UTF-8. The facades call it so that bad input fails at the call, before anything
/// is queued or sent; the engine calls it again.
///
/// ```
/// use tether_core::session::{validate_publish, PublishRequest};
/// let bad = PublishRequest { topic: "a/#".into(), ..Default::default() };
/// assert!(validate_publish(&bad).is_err());
/// ```
pub fn validate_publish(request: &PublishRequest) -> Result<(), CommandError> {
    topic::validate_topic_name(&request.topic)
        .map_err(|e| CommandError::InvalidTopic(format!("{:?}: {e}", request.topic)))?;
    let p = &request.properties;
    if p.topic_alias == Some(0) {
        // [MQTT-3.3.2-8] a Topic Alias of 0 is not allowed.
        return Err(CommandError::InvalidArgument("topic_alias must be 1..=65535, not 0".into()));
    }
    if !p.subscription_identifiers.is_empty() {
        // [MQTT-3.3.4-6] a client PUBLISH never carries a Subscription Identifier.
        return Err(CommandError::InvalidArgument(
            "a published message cannot carry subscription identifiers".into(),
        ));
    }
    if let Some(rt) = &p.response_topic {
        // [MQTT-3.3.2-14] the Response Topic is a topic name, without wildcards.
        topic::validate_topic_name(rt)
            .map_err(|e| CommandError::InvalidTopic(format!("response topic {rt:?}: {e}")))?;
    }
    if matches!(p.payload_format_indicator, Some(f) if f > 1) {
        return Err(CommandError::InvalidArgument("payload format indicator must be 0 or 1".into()));
    }
    if p.payload_format_indicator == Some(1) && std::str::from_utf8(&request.payload).is_err() {
        // 3.3.2.3.2: a payload announced as UTF-8 (Payload Format Indicator 1) must be
        // well-formed UTF-8.
        return Err(CommandError::InvalidArgument(
            "payload format indicator says UTF-8 but the payload is not valid UTF-8".into(),
        ));
    }
    let strings = p.content_type.iter().chain(p.user_properties.iter().flat_map(|(k, v)| [k, v]));
    for s in strings {
        check_string(s)?;
    }
    if request.payload.len() > MAX_PAYLOAD {
        return Err(CommandError::PacketTooLarge { size: request.payload.len(), max: MAX_PAYLOAD as u32 });
    }
    Ok(())
}

/// Checks an application's own Topic Alias against the client's settings and the server's
/// Topic Alias Maximum (`None` before the first CONNACK of a connection: then it is checked
/// again when the message is sent, and the delivery fails if the server does not admit it).
/// The alias goes out with the full topic, which both sets and uses the mapping (3.3.2.3.4),
/// so the server never depends on an earlier message having arrived.
///
/// ```
/// use tether_core::session::check_topic_alias;
/// assert!(check_topic_alias(Some(3), false, Some(10)).is_ok());
/// assert!(check_topic_alias(Some(11), false, Some(10)).is_err()); // above the maximum
/// assert!(check_topic_alias(Some(3), true, Some(10)).is_err()); // automatic aliases are on
/// ```
pub fn check_topic_alias(
    alias: Option<u16>,
    auto: bool,
    server_maximum: Option<u16>,
) -> Result<(), CommandError> {
    let Some(alias) = alias else { return Ok(()) };
    if auto {
        // The engine's own assignment would reuse the same numbers for other topics.
        return Err(CommandError::InvalidArgument(
            "topic_alias needs automatic topic aliases turned off (set_auto_topic_alias(false))".into(),
        ));
    }
    if alias == 0 {
        // [MQTT-3.3.2-8]
        return Err(CommandError::InvalidArgument("topic_alias must be 1..=65535, not 0".into()));
    }
    match server_maximum {
        // [MQTT-3.3.2-9] never above the Topic Alias Maximum of the server's CONNACK.
        Some(maximum) if alias > maximum => Err(CommandError::InvalidArgument(format!(
            "topic_alias {alias} exceeds the server's Topic Alias Maximum {maximum}"
        ))),
        _ => Ok(()),
    }
}

/// The size of `publish` on the wire once it has a packet identifier (a queued QoS>0 message
/// has none yet), without copying it.
fn wire_len(publish: &Publish) -> usize {
    let len = publish.encoded_len();
    if publish.qos == QoS::AtMostOnce || publish.packet_id.is_some() {
        return len;
    }
    // len = 1 + varint_len(rest) + rest; the identifier adds two bytes to `rest`.
    let rest = (1..=4)
        .map(|v| len - 1 - v)
        .find(|r| crate::codec::primitives::varint_len(*r) == len - 1 - r)
        .unwrap_or(len);
    let rest = rest + 2;
    1 + crate::codec::primitives::varint_len(rest) + rest
}

/// [MQTT-1.5.4-1]/[MQTT-1.5.4-2] UTF-8 strings: at most 65,535 bytes, no U+0000.
pub(crate) fn check_string(s: &str) -> Result<(), CommandError> {
    if s.len() > MAX_STRING_LEN {
        return Err(CommandError::InvalidArgument(format!("string of {} bytes exceeds 65,535", s.len())));
    }
    if s.contains('\0') {
        return Err(CommandError::InvalidArgument(format!("string {s:?} contains U+0000")));
    }
    Ok(())
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
