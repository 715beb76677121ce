//! AUTH (3.15): enhanced authentication and re-authentication.

use bytes::{BufMut, BytesMut};

use super::primitives::Reader;
use super::properties::PropertySet;
use super::{AuthProperties, AuthReasonCode, DecodeError, Encodable, EncodeError, PacketType};

/// An AUTH packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// Authenticate Reason Code (3.15.2.1).
    pub reason_code: AuthReasonCode,
    /// AUTH properties.
    pub properties: AuthProperties,
}

impl Auth {
    pub(crate) fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        // 3.15.2.1: remaining length 0 means Success without properties.
        if r.is_empty() {
            return Ok(Auth { reason_code: AuthReasonCode::Success, properties: AuthProperties::default() });
        }
        let raw = r.u8("reason code")?;
        let reason_code = AuthReasonCode::try_from(raw)
            .map_err(|_| DecodeError::InvalidReasonCode { packet: PacketType::Auth, code: raw })?;
        let properties = if r.is_empty() { AuthProperties::default() } else { AuthProperties::decode(r)? };
        Ok(Auth { reason_code, properties })
    }
}

impl Encodable for Auth {
    fn packet_type(&self) -> PacketType {
        PacketType::Auth
    }

    fn check(&self) -> Result<(), EncodeError> {
        self.properties.check()
    }

    fn body_len(&self) -> usize {
        if self.reason_code == AuthReasonCode::Success && self.properties.is_empty() {
            0
        } else {
            1 + self.properties.encoded_len()
        }
    }

    fn write_body(&self, buf: &mut BytesMut) {
        if self.reason_code == AuthReasonCode::Success && self.properties.is_empty() {
            return;
        }
        buf.put_u8(self.reason_code as u8);
        self.properties.write(buf);
    }
}

super::impl_encode_methods!(Auth);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_util::*;
    use crate::codec::Packet;
    use bytes::Bytes;

    #[test]
    fn byte_exact() {
        let p = Auth { reason_code: AuthReasonCode::Success, properties: Default::default() };
        assert_bytes(&Packet::Auth(p), &[0xF0, 0x00]);
        let p = Auth { reason_code: AuthReasonCode::ContinueAuthentication, properties: Default::default() };
        assert_bytes(&Packet::Auth(p), &[0xF0, 0x02, 0x18, 0x00]);
    }

    #[test]
    fn round_trip_with_every_property() {
        for code in AuthReasonCode::ALL {
            let p = Auth {
                reason_code: *code,
                properties: AuthProperties {
                    authentication_method: Some("SCRAM-SHA-256".into()),
                    authentication_data: Some(Bytes::from_static(&[0, 1, 2])),
                    reason_string: Some("more".into()),
                    user_properties: users(),
                },
            };
            round_trip(&Packet::Auth(p));
            round_trip(&Packet::Auth(Auth { reason_code: *code, properties: Default::default() }));
        }
    }

    #[test]
    fn malformed() {
        assert_eq!(decode_err(&[0xF0, 0x01, 0x01]).reason_code() as u8, 0x81);
        assert_eq!(decode_err(&[0xF2, 0x00]).reason_code() as u8, 0x81);
        // Duplicate Authentication Method.
        let err = decode_err(&[0xF0, 0x0A, 0x18, 0x08, 0x15, 0x00, 0x01, b'a', 0x15, 0x00, 0x01, b'b']);
        assert_eq!(err.to_string(), "protocol error in AUTH: Authentication Method appears more than once");
    }
}
