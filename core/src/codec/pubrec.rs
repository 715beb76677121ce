//! PUBREC (3.5): first acknowledgement of a QoS 2 PUBLISH.

use super::{AckProperties, PacketId, PubRecReasonCode};

/// A PUBREC packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubRec {
    pub packet_id: PacketId,
    pub reason_code: PubRecReasonCode,
    pub properties: AckProperties,
}

impl PubRec {
    /// A successful PUBREC with no properties.
    pub fn new(packet_id: PacketId) -> Self {
        Self { packet_id, reason_code: PubRecReasonCode::Success, properties: AckProperties::default() }
    }
}
