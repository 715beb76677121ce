//! UNSUBSCRIBE (3.10).

use super::{PacketId, UnsubscribeProperties};

/// An UNSUBSCRIBE packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    pub packet_id: PacketId,
    /// At least one ([MQTT-3.10.3-2]).
    pub filters: Vec<String>,
    pub properties: UnsubscribeProperties,
}
