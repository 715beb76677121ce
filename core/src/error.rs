//! The public error type of the Rust API (the C and Python faces map from it).

use crate::codec::{ConnectReasonCode, DisconnectReasonCode, PubAckReasonCode};
use crate::session::{CommandError, DisconnectCause, PublishError};

/// A coarse class of [`Error`], for mapping to C result codes and Python exceptions without
/// parsing text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    InvalidArgument,
    InvalidTopic,
    PacketTooLarge,
    NotSupported,
    QueueFull,
    NotConnected,
    Timeout,
    ConnectionRefused,
    Io,
    Protocol,
    Rejected,
    SessionLost,
    Dropped,
    Closed,
    /// Deliveries failed since the previous flush ([`Error::DeliveryFailed`]).
    DeliveryFailed,
    /// TLS ([`Error::Tls`]): a certificate, key or CA problem, or a handshake refused.
    Tls,
    /// WebSocket ([`Error::WebSocket`]): the server refused the upgrade or the `mqtt`
    /// subprotocol.
    WebSocket,
    /// An HTTP proxy refused to open the tunnel ([`Error::Proxy`]).
    Proxy,
}

/// Everything that can go wrong, with the server's reason code and reason string where it
/// sent them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("{0}")]
    InvalidTopic(String),
    #[error("packet of {size} bytes exceeds the maximum packet size of {max} bytes")]
    PacketTooLarge { size: usize, max: u32 },
    #[error("{0}")]
    NotSupported(String),
    #[error("{0}")]
    QueueFull(String),
    #[error("not connected")]
    NotConnected,
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("connection refused by the server: {reason_code}{}", suffix(.reason_string))]
    ConnectionRefused { reason_code: ConnectReasonCode, reason_string: Option<String> },
    #[error("I/O error: {0}")]
    Io(String),
    /// A TLS problem that trying again will not fix: an unreadable CA, certificate or key
    /// file (named), a server certificate that is not trusted, expired or for another host,
    /// or a handshake the server refused (for example without the client certificate it
    /// requires). Automatic reconnects stop on it.
    #[error("TLS: {0}")]
    Tls(String),
    /// A WebSocket upgrade the server refused (with the HTTP status it answered), or a reply
    /// that did not confirm the `mqtt` subprotocol. Like [`Error::Tls`], retrying will not
    /// fix it: automatic reconnects stop on it.
    #[error("WebSocket: {0}")]
    WebSocket(String),
    /// The HTTP proxy ([`crate::MqttOptions::set_proxy`]) refused `CONNECT`: `status` is
    /// the HTTP status it answered (407 for missing or wrong credentials, 403 for a
    /// destination it does not allow, 502/503/504 when it could not reach the broker), None
    /// when its reply was not HTTP. The message names the proxy (without credentials), the
    /// broker, the status and the reason. A 5xx is retried like a connection failure; any
    /// other refusal stops automatic reconnects (like [`Error::Tls`]). Failing to reach the
    /// proxy at all is [`Error::Io`].
    ///
    /// ```
    /// let e = tether_core::Error::Proxy { status: Some(407), message: "proxy http://p:3128 refused \
    ///     CONNECT to b:1883: 407 Proxy Authentication Required".into() };
    /// assert_eq!(e.kind(), tether_core::ErrorKind::Proxy);
    /// ```
    #[error("{message}")]
    Proxy { status: Option<u16>, message: String },
    #[error("protocol error ({reason_code}): {message}")]
    Protocol { reason_code: DisconnectReasonCode, message: String },
    #[error("the server refused the message: {reason_code}{}", suffix(.reason_string))]
    Rejected { reason_code: PubAckReasonCode, reason_string: Option<String> },
    #[error("the server did not keep the session; the message was not delivered")]
    SessionLost,
    #[error("{0}")]
    Dropped(String),
    #[error("the client is closed")]
    Closed,
    #[error("disconnected: {0}")]
    Disconnected(String),
    /// From a flush: deliveries failed since the previous flush (the report names them).
    #[error("{0}")]
    DeliveryFailed(Box<crate::report::FlushReport>),
}

fn suffix(reason_string: &Option<String>) -> String {
    reason_string.as_ref().map(|s| format!(": {s}")).unwrap_or_default()
}

/// How a session store failure starts its message ([`Error::store`]).
const STORE_PREFIX: &str = "session store: ";

impl Error {
    /// A session store failure (disk full, I/O error): an [`Error::Io`] whose message says
    /// it came from the store, so that faces can tell it from a network error.
    ///
    /// ```
    /// let e = tether_core::Error::store("no space left on device");
    /// assert!(e.is_store());
    /// assert_eq!(e.to_string(), "I/O error: session store: no space left on device");
    /// ```
    pub fn store(error: impl std::fmt::Display) -> Error {
        Error::Io(format!("{STORE_PREFIX}{error}"))
    }

    /// True for an error made by [`Error::store`].
    pub fn is_store(&self) -> bool {
        matches!(self, Error::Io(m) if m.starts_with(STORE_PREFIX))
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Error::InvalidTopic(_) => ErrorKind::InvalidTopic,
            Error::PacketTooLarge { .. } => ErrorKind::PacketTooLarge,
            Error::NotSupported(_) => ErrorKind::NotSupported,
            Error::QueueFull(_) => ErrorKind::QueueFull,
            Error::NotConnected | Error::Disconnected(_) => ErrorKind::NotConnected,
            Error::Timeout(_) => ErrorKind::Timeout,
            Error::ConnectionRefused { .. } => ErrorKind::ConnectionRefused,
            Error::Io(_) => ErrorKind::Io,
            Error::Tls(_) => ErrorKind::Tls,
            Error::WebSocket(_) => ErrorKind::WebSocket,
            Error::Proxy { .. } => ErrorKind::Proxy,
            Error::Protocol { .. } => ErrorKind::Protocol,
            Error::Rejected { .. } => ErrorKind::Rejected,
            Error::SessionLost => ErrorKind::SessionLost,
            Error::Dropped(_) => ErrorKind::Dropped,
            Error::Closed => ErrorKind::Closed,
            Error::DeliveryFailed(_) => ErrorKind::DeliveryFailed,
        }
    }

    /// The MQTT reason code behind the error, where there is one.
    pub fn reason_code(&self) -> Option<u8> {
        match self {
            Error::ConnectionRefused { reason_code, .. } => Some(*reason_code as u8),
            Error::Protocol { reason_code, .. } => Some(*reason_code as u8),
            Error::Rejected { reason_code, .. } => Some(*reason_code as u8),
            Error::PacketTooLarge { .. } => Some(0x95),
            Error::DeliveryFailed(report) => report.first_failures.first()?.error.reason_code(),
            _ => None,
        }
    }

    /// The server's reason string, where it sent one.
    pub fn reason_string(&self) -> Option<&str> {
        match self {
            Error::ConnectionRefused { reason_string, .. } | Error::Rejected { reason_string, .. } => {
                reason_string.as_deref()
            }
            _ => None,
        }
    }
}

impl From<CommandError> for Error {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::InvalidTopic(m) | CommandError::InvalidFilter(m) => Error::InvalidTopic(m),
            CommandError::InvalidArgument(m) => Error::InvalidArgument(m),
            CommandError::PacketTooLarge { size, max } => Error::PacketTooLarge { size, max },
            e @ (CommandError::QoSNotSupported { .. }
            | CommandError::RetainNotSupported
            | CommandError::NoAuthenticator) => Error::NotSupported(e.to_string()),
            CommandError::NotSupported(m) => Error::NotSupported(m),
            e @ CommandError::QueueFull { .. } => Error::QueueFull(e.to_string()),
            CommandError::NotConnected => Error::NotConnected,
            CommandError::Store(m) => Error::store(m),
        }
    }
}

impl From<PublishError> for Error {
    fn from(e: PublishError) -> Self {
        match e {
            PublishError::Rejected { reason_code, reason_string } => {
                Error::Rejected { reason_code, reason_string }
            }
            PublishError::SessionLost => Error::SessionLost,
            e @ (PublishError::Expired | PublishError::Overflow) => Error::Dropped(e.to_string()),
            PublishError::NotAdmitted(c) => c.into(),
        }
    }
}

impl From<&DisconnectCause> for Error {
    fn from(cause: &DisconnectCause) -> Self {
        match cause {
            DisconnectCause::Refused { reason_code, reason_string, .. } => {
                Error::ConnectionRefused { reason_code: *reason_code, reason_string: reason_string.clone() }
            }
            DisconnectCause::Local { reason_code, reason } if reason_code.is_error() => {
                Error::Protocol { reason_code: *reason_code, message: reason.clone().unwrap_or_default() }
            }
            other => Error::Disconnected(crate::event::describe_cause(other)),
        }
    }
}
