//! DISCONNECT (3.14), sent by either side.

use super::{DisconnectProperties, DisconnectReasonCode};

/// A DISCONNECT packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disconnect {
    pub reason_code: DisconnectReasonCode,
    pub properties: DisconnectProperties,
}

impl Disconnect {
    /// A normal disconnection with no properties.
    pub fn normal() -> Self {
        Self { reason_code: DisconnectReasonCode::NormalDisconnection, properties: DisconnectProperties::default() }
    }

    /// A DISCONNECT with the given reason and nothing else.
    pub fn with_reason(reason_code: DisconnectReasonCode) -> Self {
        Self { reason_code, properties: DisconnectProperties::default() }
    }
}
