//! SUBACK (3.9): one reason code per requested filter.

use super::{AckProperties, PacketId, SubAckReasonCode};

/// A SUBACK packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    pub packet_id: PacketId,
    pub reason_codes: Vec<SubAckReasonCode>,
    pub properties: AckProperties,
}
