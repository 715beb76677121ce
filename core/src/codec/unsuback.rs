//! UNSUBACK (3.11): one reason code per requested filter.

use bytes::{BufMut, BytesMut};

use super::primitives::Reader;
use super::properties::PropertySet;
use super::suback::read_reason_codes;
use super::{
    read_packet_id, AckProperties, DecodeError, Encodable, EncodeError, PacketId, PacketType,
    UnsubAckReasonCode,
};

/// An UNSUBACK packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubAck {
    /// The identifier of the UNSUBSCRIBE being answered.
    pub packet_id: PacketId,
    /// One per filter, in the UNSUBSCRIBE's order ([MQTT-3.11.3-1]).
    pub reason_codes: Vec<UnsubAckReasonCode>,
    /// Reason string and user properties.
    pub properties: AckProperties,
}

impl UnsubAck {
    pub(crate) fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let packet_id = read_packet_id(r)?;
        let properties = AckProperties::decode(r)?;
        let reason_codes = read_reason_codes(r)?;
        Ok(UnsubAck { packet_id, reason_codes, properties })
    }
}

impl Encodable for UnsubAck {
    fn packet_type(&self) -> PacketType {
        PacketType::UnsubAck
    }

    fn check(&self) -> Result<(), EncodeError> {
        if self.reason_codes.is_empty() {
            return Err(EncodeError::InvalidPacket {
                packet: PacketType::UnsubAck,
                detail: "no reason code",
            });
        }
        self.properties.check()
    }

    fn body_len(&self) -> usize {
        2 + self.properties.encoded_len() + self.reason_codes.len()
    }

    fn write_body(&self, buf: &mut BytesMut) {
        buf.put_u16(self.packet_id.get());
        self.properties.write(buf);
        for code in &self.reason_codes {
            buf.put_u8(*code as u8);
        }
    }
}

super::impl_encode_methods!(UnsubAck);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_util::*;
    use crate::codec::Packet;

    #[test]
    fn byte_exact() {
        let p = UnsubAck {
            packet_id: pid(0x0203),
            reason_codes: vec![UnsubAckReasonCode::Success, UnsubAckReasonCode::NoSubscriptionExisted],
            properties: Default::default(),
        };
        assert_bytes(&Packet::UnsubAck(p), &[0xB0, 0x05, 0x02, 0x03, 0x00, 0x00, 0x11]);
    }

    #[test]
    fn round_trip_with_every_property() {
        let p = UnsubAck {
            packet_id: pid(9),
            reason_codes: UnsubAckReasonCode::ALL.to_vec(),
            properties: AckProperties { reason_string: Some("r".into()), user_properties: users() },
        };
        round_trip(&Packet::UnsubAck(p));
    }

    #[test]
    fn malformed() {
        assert_eq!(decode_err(&[0xB0, 0x04, 0x00, 0x01, 0x00, 0x01]).reason_code() as u8, 0x81);
        assert_eq!(decode_err(&[0xB0, 0x03, 0x00, 0x01, 0x00]).reason_code() as u8, 0x82);
        assert_eq!(decode_err(&[0xB0, 0x02, 0x00, 0x01]).reason_code() as u8, 0x81);
    }
}
