//! tether-core: an MQTT 5.0 client whose session survives.
//!
//! * [`codec`]: every MQTT 5.0 packet, both directions, no IO, and the same packets in their
//!   MQTT 3.1.1 wire form ([`ProtocolVersion`]);
//! * [`session`]: the sans-IO session engine (resume, flow control, aliases, keep-alive);
//! * [`store`]: the seam for durable session state;
//! * [`sync`]: poison-tolerant locks, shared with the faces;
//! * [`validate`]: the ranges of every integer argument, shared by the three faces;
//! * the client: [`AsyncClient`] (tokio) and [`Client`] (blocking), configured with
//!   [`MqttOptions`], driven by one task per client on the shared [`runtime`].
//!
//! ```no_run
//! use tether_core::{ConnectProperties, MqttOptions};
//! let mut mqttoptions = MqttOptions::new("sensor-1", "127.0.0.1", 1883);
//! let mut properties = ConnectProperties::new();
//! properties.session_expiry_interval = Some(u32::MAX);
//! mqttoptions.set_connect_properties(properties);
//! ```

#![forbid(unsafe_code)]

pub mod codec;
pub mod dispatch;
pub mod runtime;
pub mod session;
pub mod store;
pub mod sync;
pub mod validate;

// The client's vocabulary sits below both the client handles and the driver, so that neither
// imports the other's: completion (a result one side completes and the other awaits), error,
// event, options and report.
mod completion;
mod error;
mod event;
mod options;
mod proxy;
mod report;
mod tls;

mod client;
mod driver;

pub use client::{AsyncClient, Client, Delivery, Stats};
pub use codec::{
    ConnAck, ConnAckProperties, ConnectProperties, ConnectReasonCode, DisconnectReasonCode, LastWill,
    PacketId, ProtocolVersion, PubAckReasonCode, PublishProperties, QoS, RetainHandling, SubAckReasonCode,
    SubscribeProperties, Subscription, SubscriptionOptions, UnsubAckReasonCode, WillProperties,
};
pub use completion::Completion as Pending;
pub use driver::backoff::ReconnectPolicy;
pub use driver::transport::ServerAddr;
pub use error::{Error, ErrorKind};
pub use event::{DeliveryEvents, Event, Message, PublishCompletion};
pub use options::{BeforeConnect, ConnectAttempt, MqttOptions};
pub use proxy::ProxyOptions;
pub use report::{DeliveryFailure, FlushReport, SubscribeOutcome};
/// The rustls this crate is built with, for [`TlsOptions::config`] and
/// [`MqttOptions::set_tls_config`].
pub use rustls;
pub use session::{
    DisconnectCause, DisconnectKind, OverflowPolicy, PublishOutcome, QuotaRetry, SessionLostPolicy,
    SESSION_NEVER_EXPIRES,
};
pub use tls::TlsOptions;
