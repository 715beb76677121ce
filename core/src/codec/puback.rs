//! PUBACK (3.4): acknowledges a QoS 1 PUBLISH.

use super::{AckProperties, PacketId, PubAckReasonCode};

/// A PUBACK packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubAck {
    pub packet_id: PacketId,
    pub reason_code: PubAckReasonCode,
    pub properties: AckProperties,
}

impl PubAck {
    /// A successful PUBACK with no properties.
    pub fn new(packet_id: PacketId) -> Self {
        Self { packet_id, reason_code: PubAckReasonCode::Success, properties: AckProperties::default() }
    }
}
