//! PUBCOMP (3.7): completes the QoS 2 exchange.

use super::{AckProperties, PacketId, PubCompReasonCode};

/// A PUBCOMP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubComp {
    pub packet_id: PacketId,
    pub reason_code: PubCompReasonCode,
    pub properties: AckProperties,
}

impl PubComp {
    /// A successful PUBCOMP with no properties.
    pub fn new(packet_id: PacketId) -> Self {
        Self { packet_id, reason_code: PubCompReasonCode::Success, properties: AckProperties::default() }
    }
}
