//! PUBREL (3.6): releases a QoS 2 message after PUBREC.

use super::{AckProperties, PacketId, PubRelReasonCode};

/// A PUBREL packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubRel {
    pub packet_id: PacketId,
    pub reason_code: PubRelReasonCode,
    pub properties: AckProperties,
}

impl PubRel {
    /// A successful PUBREL with no properties.
    pub fn new(packet_id: PacketId) -> Self {
        Self { packet_id, reason_code: PubRelReasonCode::Success, properties: AckProperties::default() }
    }
}
