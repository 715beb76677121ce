//! The engine's public vocabulary: its configuration, the commands it takes, the events it
//! emits and the errors it reports.

use std::time::Duration;

use bytes::Bytes;

use super::{Authenticator, QueueLimits};
#[cfg(doc)]
use super::{OverflowPolicy, Session};
use crate::codec::{
    AckProperties, ConnAckProperties, ConnectProperties, ConnectReasonCode, DisconnectReasonCode, LastWill,
    PacketId, ProtocolVersion, PubAckReasonCode, Publish, PublishProperties, QoS, SubAckReasonCode,
    SubscribeProperties, Subscription, UnsubAckReasonCode, UnsubscribeProperties,
};

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
    /// The protocol version spoken; 3.1.1 refuses 5.0-only requests with
    /// [`CommandError::NotSupported`] (see [`super::v311`]).
    pub protocol: ProtocolVersion,
    /// The most QoS>0 messages in flight when the server announces no Receive Maximum, as a
    /// 3.1.1 server never does; always bounded by the queue as well.
    pub max_inflight: u16,
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
            protocol: ProtocolVersion::V5,
            max_inflight: u16::MAX,
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
            .field("protocol", &self.protocol)
            .field("max_inflight", &self.max_inflight)
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
    /// A feature the protocol version in use lacks (a 5.0-only feature on 3.1.1).
    #[error("{0}")]
    NotSupported(String),
    /// The session store could not record the message (disk full, I/O error): it was not
    /// accepted.
    #[error("{0}")]
    Store(String),
}

/// A publish refused at once ([`Session::publish`]), with the request handed back.
#[derive(Debug)]
pub struct Refused {
    pub error: CommandError,
    pub request: PublishRequest,
}

impl Refused {
    pub(super) fn new(error: CommandError, p: Publish) -> Box<Self> {
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
    /// CONNACK refused the connection. `server_reference` is the server's Server Reference,
    /// sent with 0x9C "Use another server" and 0x9D "Server moved" (MQTT 5.0 section 4.11).
    Refused {
        reason_code: ConnectReasonCode,
        reason_string: Option<String>,
        server_reference: Option<String>,
    },
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

    /// The Server Reference of the CONNACK or DISCONNECT that ended the connection: where the
    /// server asked the client to go (with reason code 0x9C or 0x9D), or where it may find
    /// another server.
    ///
    /// ```
    /// use tether_core::{DisconnectCause, DisconnectReasonCode};
    /// let cause = DisconnectCause::Server {
    ///     reason_code: DisconnectReasonCode::ServerMoved,
    ///     reason_string: None,
    ///     server_reference: Some("broker-2.example:1883".into()),
    /// };
    /// assert_eq!(cause.server_reference(), Some("broker-2.example:1883"));
    /// ```
    pub fn server_reference(&self) -> Option<&str> {
        match self {
            DisconnectCause::Server { server_reference, .. }
            | DisconnectCause::Refused { server_reference, .. } => server_reference.as_deref(),
            _ => None,
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
    /// The session store failed to record a change (disk full, I/O error): a crash from now
    /// on may lose or repeat what it concerned.
    StoreError {
        error: String,
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
