//! DISCONNECT (3.14), sent by either side.

use bytes::{BufMut, BytesMut};

use super::primitives::Reader;
use super::properties::PropertySet;
use super::{DecodeError, DisconnectProperties, DisconnectReasonCode, Encodable, EncodeError, PacketType};

/// A DISCONNECT packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disconnect {
    /// Why the connection is closing.
    pub reason_code: DisconnectReasonCode,
    /// DISCONNECT properties.
    pub properties: DisconnectProperties,
}

impl Disconnect {
    /// A normal disconnection with no properties.
    pub fn normal() -> Self {
        Self {
            reason_code: DisconnectReasonCode::NormalDisconnection,
            properties: DisconnectProperties::default(),
        }
    }

    /// A DISCONNECT with the given reason and nothing else.
    pub fn with_reason(reason_code: DisconnectReasonCode) -> Self {
        Self { reason_code, properties: DisconnectProperties::default() }
    }

    pub(crate) fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        // 3.14.2.1: remaining length 0 means Normal disconnection without properties.
        if r.is_empty() {
            return Ok(Self::normal());
        }
        let raw = r.u8("reason code")?;
        let reason_code = DisconnectReasonCode::try_from(raw)
            .map_err(|_| DecodeError::InvalidReasonCode { packet: PacketType::Disconnect, code: raw })?;
        // 3.14.2.2.1: remaining length below 2 means no properties.
        let properties =
            if r.is_empty() { DisconnectProperties::default() } else { DisconnectProperties::decode(r)? };
        Ok(Disconnect { reason_code, properties })
    }
}

impl Encodable for Disconnect {
    fn packet_type(&self) -> PacketType {
        PacketType::Disconnect
    }

    fn check(&self) -> Result<(), EncodeError> {
        self.properties.check()
    }

    fn body_len(&self) -> usize {
        match (self.reason_code, self.properties.is_empty()) {
            (DisconnectReasonCode::NormalDisconnection, true) => 0,
            (_, true) => 1,
            (_, false) => 1 + self.properties.encoded_len(),
        }
    }

    fn write_body(&self, buf: &mut BytesMut) {
        match (self.reason_code, self.properties.is_empty()) {
            (DisconnectReasonCode::NormalDisconnection, true) => {}
            (code, true) => buf.put_u8(code as u8),
            (code, false) => {
                buf.put_u8(code as u8);
                self.properties.write(buf);
            }
        }
    }
}

super::impl_encode_methods!(Disconnect);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_util::*;
    use crate::codec::Packet;

    #[test]
    fn short_forms() {
        assert_bytes(&Packet::Disconnect(Disconnect::normal()), &[0xE0, 0x00]);
        assert_bytes(
            &Packet::Disconnect(Disconnect::with_reason(DisconnectReasonCode::DisconnectWithWillMessage)),
            &[0xE0, 0x01, 0x04],
        );
        assert_eq!(decode_ok(&[0xE0, 0x02, 0x00, 0x00]), Packet::Disconnect(Disconnect::normal()));
    }

    #[test]
    fn round_trip_with_every_property() {
        for code in DisconnectReasonCode::ALL {
            let p = Disconnect {
                reason_code: *code,
                properties: DisconnectProperties {
                    session_expiry_interval: Some(0),
                    reason_string: Some("bye".into()),
                    user_properties: users(),
                    server_reference: Some("elsewhere".into()),
                },
            };
            round_trip(&Packet::Disconnect(p));
            round_trip(&Packet::Disconnect(Disconnect::with_reason(*code)));
        }
    }

    #[test]
    fn malformed() {
        assert_eq!(
            decode_err(&[0xE0, 0x01, 0x01]).to_string(),
            "malformed DISCONNECT: invalid reason code 0x01"
        );
        assert_eq!(decode_err(&[0xE1, 0x00]).reason_code() as u8, 0x81);
        // Topic Alias is not a DISCONNECT property.
        assert_eq!(decode_err(&[0xE0, 0x05, 0x00, 0x03, 0x23, 0x00, 0x01]).reason_code() as u8, 0x81);
    }
}
