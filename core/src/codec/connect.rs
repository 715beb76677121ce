//! CONNECT (3.1): the first packet the client sends.

use bytes::Bytes;

use super::{ConnectProperties, QoS, WillProperties};

/// A CONNECT packet. The protocol name "MQTT" and level 5 are implied.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Connect {
    /// Clean Start flag (3.1.2.4).
    pub clean_start: bool,
    /// Keep Alive in seconds; 0 turns it off (3.1.2.10).
    pub keep_alive: u16,
    /// May be empty: the server then assigns one (3.1.3.1).
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<Bytes>,
    pub will: Option<LastWill>,
    pub properties: ConnectProperties,
}

/// The Will Message (3.1.3.2–3.1.3.4).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LastWill {
    pub topic: String,
    pub payload: Bytes,
    pub qos: QoS,
    pub retain: bool,
    pub properties: WillProperties,
}
