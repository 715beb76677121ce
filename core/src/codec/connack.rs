//! CONNACK (3.2): the server's answer to CONNECT.

use super::{ConnAckProperties, ConnectReasonCode};

/// A CONNACK packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnAck {
    /// Session Present flag (3.2.2.1.1).
    pub session_present: bool,
    pub reason_code: ConnectReasonCode,
    pub properties: ConnAckProperties,
}
