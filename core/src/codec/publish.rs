//! PUBLISH (3.3): an application message, in either direction.

use bytes::Bytes;

use super::{PacketId, PublishProperties, QoS};

/// A PUBLISH packet.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Publish {
    /// DUP flag: this is a re-delivery ([MQTT-3.3.1-1]); always false at QoS 0 ([MQTT-3.3.1-2]).
    pub dup: bool,
    pub qos: QoS,
    pub retain: bool,
    /// May be empty when a topic alias stands for it (3.3.2.3.4).
    pub topic: String,
    /// Present exactly when `qos > 0` ([MQTT-2.2.1-2]).
    pub packet_id: Option<PacketId>,
    pub properties: PublishProperties,
    pub payload: Bytes,
}
