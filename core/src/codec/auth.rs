//! AUTH (3.15): enhanced authentication and re-authentication.

use super::{AuthProperties, AuthReasonCode};

/// An AUTH packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    pub reason_code: AuthReasonCode,
    pub properties: AuthProperties,
}
