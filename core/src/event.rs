//! What the client tells the application, in order.

use bytes::Bytes;

use crate::codec::{ConnAck, PublishProperties, QoS};
use crate::session::DisconnectCause;

/// A received application message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    pub payload: Bytes,
    pub qos: QoS,
    pub dup: bool,
    pub retain: bool,
    pub properties: PublishProperties,
    /// With manual acks: pass the message to `ack` once processed.
    pub(crate) ack_id: Option<u64>,
}

impl Message {
    /// The id to acknowledge with ([`crate::AsyncClient::ack_id`]) under manual acks.
    pub fn ack_id(&self) -> Option<u64> {
        self.ack_id
    }

    /// True when this message waits for a manual acknowledgement.
    pub fn needs_ack(&self) -> bool {
        self.ack_id.is_some()
    }
}

/// An event of the client's stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A connection was established (also after every automatic reconnect).
    Connected(ConnAck),
    /// The connection ended; `reason_code` is the DISCONNECT or CONNACK reason when there was
    /// one (and, kept as it always was, 0x8D for the client's own keep-alive expiry). Who
    /// ended it, without guessing from a reason code: [`DisconnectCause::kind`],
    /// [`DisconnectCause::reason_code`] and [`DisconnectCause::reason_string`].
    ///
    /// ```no_run
    /// # async fn f(client: tether_core::AsyncClient) {
    /// use tether_core::{DisconnectKind, Event};
    /// if let Some(Event::Disconnected { cause, .. }) = client.recv().await {
    ///     if cause.kind() == DisconnectKind::Server {
    ///         println!("server said {:?}: {:?}", cause.reason_code(), cause.reason_string());
    ///     }
    /// }
    /// # }
    /// ```
    Disconnected { reason_code: Option<u8>, cause: DisconnectCause },
    /// The server did not have the expected session: `republished` messages were queued
    /// again, `failed` deliveries failed.
    SessionLost { republished: usize, failed: usize },
    /// A message arrived.
    Message(Message),
    /// A publish was dropped before it was sent (expired while queued, or overflowed).
    Dropped { token: u64, reason: String },
    /// A publish completed (only with [`crate::MqttOptions::set_delivery_events`]): for
    /// faces that report deliveries through callbacks rather than by waiting.
    PublishComplete {
        token: u64,
        packet_id: Option<crate::codec::PacketId>,
        result: Result<crate::session::PublishOutcome, crate::Error>,
    },
    /// Publishes that completed, in order: what as many `PublishComplete` events would say,
    /// in one (only with [`DeliveryEvents::Batched`]; a batch never holds back another event).
    PublishesComplete(Vec<PublishCompletion>),
    /// A delivery failed that nobody can see any more (its `Delivery` was dropped and
    /// delivery events are off): said once, so that it is never lost silently. It is also
    /// logged at WARN and counted in the next flush's report.
    DeliveryFailed(crate::DeliveryFailure),
    /// A connection attempt failed; another follows after `delay`.
    Reconnecting { attempt: u32, delay: std::time::Duration, error: String },
    /// Automatic reconnecting stopped on a failure that retrying will not fix, such as a
    /// server certificate that is not trusted ([`crate::Error::Tls`]) or an HTTP proxy's 407
    /// or 403 ([`crate::Error::Proxy`]); `connect` starts again.
    /// (A CONNACK refusal is told by [`Event::Disconnected`] instead.)
    ReconnectStopped { error: crate::Error },
    /// The session store ([`crate::MqttOptions::set_store`]) could not record a change after
    /// the message was accepted (disk full, I/O error): a crash from now on may lose or
    /// repeat what it concerned. A publish whose own record fails fails at the call instead.
    StoreError { error: crate::Error },
    /// Opening the session store found records it could not read: they were skipped and the
    /// rest restored.
    StoreCorrupt { skipped: usize },
}

/// One completed publish in [`Event::PublishesComplete`].
#[derive(Debug, Clone, PartialEq)]
pub struct PublishCompletion {
    pub token: u64,
    pub packet_id: Option<crate::codec::PacketId>,
    pub result: Result<crate::session::PublishOutcome, crate::Error>,
}

/// Whether, and how, completed publishes are reported in the event stream.
///
/// ```no_run
/// # fn f(client: &tether_core::AsyncClient) {
/// use tether_core::DeliveryEvents;
/// client.set_delivery_events(DeliveryEvents::Batched);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum DeliveryEvents {
    /// Not reported (await or wait for the `Delivery` instead).
    #[default]
    Off = 0,
    /// One [`Event::PublishComplete`] per publish.
    Each = 1,
    /// [`Event::PublishesComplete`] with every publish completed in one turn of the client:
    /// one event for many under load, which costs much less per message.
    Batched = 2,
}

impl DeliveryEvents {
    /// As kept in an atomic shared with the driver.
    pub(crate) fn to_u8(self) -> u8 {
        self as u8
    }

    pub(crate) fn from_u8(v: u8) -> Self {
        match v {
            v if v == DeliveryEvents::Each as u8 => DeliveryEvents::Each,
            v if v == DeliveryEvents::Batched as u8 => DeliveryEvents::Batched,
            _ => DeliveryEvents::Off,
        }
    }
}

pub(crate) fn cause_reason_code(cause: &DisconnectCause) -> Option<u8> {
    match cause {
        DisconnectCause::Server { reason_code, .. } | DisconnectCause::Local { reason_code, .. } => {
            Some(*reason_code as u8)
        }
        DisconnectCause::Refused { reason_code, .. } => Some(*reason_code as u8),
        DisconnectCause::KeepAliveTimeout => Some(0x8D),
        DisconnectCause::ConnectionLost => None,
    }
}

pub(crate) fn describe_cause(cause: &DisconnectCause) -> String {
    match cause {
        DisconnectCause::Server { reason_code, reason_string, server_reference } => {
            format!(
                "server sent DISCONNECT {reason_code}{}{}",
                reason_string.as_ref().map(|s| format!(": {s}")).unwrap_or_default(),
                server_reference.as_ref().map(|s| format!(" (server reference {s:?})")).unwrap_or_default()
            )
        }
        DisconnectCause::Local { reason_code, reason } => {
            format!(
                "closed by the client with {reason_code}{}",
                reason.as_ref().map(|s| format!(": {s}")).unwrap_or_default()
            )
        }
        DisconnectCause::KeepAliveTimeout => "no packet from the server within 1.5 × keep-alive".into(),
        DisconnectCause::Refused { reason_code, reason_string, server_reference } => {
            format!(
                "connection refused: {reason_code}{}{}",
                reason_string.as_ref().map(|s| format!(": {s}")).unwrap_or_default(),
                server_reference.as_ref().map(|s| format!(" (server reference {s:?})")).unwrap_or_default()
            )
        }
        DisconnectCause::ConnectionLost => "connection lost".into(),
    }
}
