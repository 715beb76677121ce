//! tether-core: an MQTT 5.0 client whose session survives.
//!
//! * [`codec`]: every MQTT 5.0 packet, both directions, no IO;
//! * [`session`]: the sans-IO session engine (resume, flow control, aliases, keep-alive);
//! * [`store`]: the seam for durable session state;
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

pub mod codec;
pub mod dispatch;
pub mod runtime;
pub mod session;
pub mod store;

mod client;
mod driver;

pub use client::validate;
pub use client::{
    AsyncClient, BeforeConnect, Client, ConnectAttempt, Delivery, DeliveryEvents, DeliveryFailure, Error,
    ErrorKind, Event, FlushReport, Message, MqttOptions, Pending, PublishCompletion, Stats, SubscribeOutcome,
};
pub use codec::{
    ConnAck, ConnAckProperties, ConnectProperties, ConnectReasonCode, DisconnectReasonCode, LastWill,
    PacketId, PubAckReasonCode, PublishProperties, QoS, RetainHandling, SubAckReasonCode,
    SubscribeProperties, Subscription, SubscriptionOptions, UnsubAckReasonCode, WillProperties,
};
pub use driver::backoff::ReconnectPolicy;
pub use driver::transport::ServerAddr;
pub use session::{
    DisconnectCause, DisconnectKind, OverflowPolicy, PublishOutcome, QuotaRetry, SessionLostPolicy,
    SESSION_NEVER_EXPIRES,
};
