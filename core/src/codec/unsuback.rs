//! UNSUBACK (3.11): one reason code per requested filter.

use super::{AckProperties, PacketId, UnsubAckReasonCode};

/// An UNSUBACK packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubAck {
    pub packet_id: PacketId,
    pub reason_codes: Vec<UnsubAckReasonCode>,
    pub properties: AckProperties,
}
