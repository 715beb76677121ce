//! SUBACK (3.9): one reason code per requested filter.

use bytes::{BufMut, BytesMut};

use super::primitives::Reader;
use super::properties::PropertySet;
use super::{
    read_packet_id, AckProperties, DecodeError, Encodable, EncodeError, PacketId, PacketType,
    SubAckReasonCode,
};

/// A SUBACK packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    /// The identifier of the SUBSCRIBE being answered.
    pub packet_id: PacketId,
    /// One per filter, in the SUBSCRIBE's order ([MQTT-3.9.3-1]).
    pub reason_codes: Vec<SubAckReasonCode>,
    /// Reason string and user properties.
    pub properties: AckProperties,
}

/// Reads the reason-code list of a SUBACK or UNSUBACK: at least one, each in the packet's set.
pub(crate) fn read_reason_codes<C: TryFrom<u8>>(r: &mut Reader) -> Result<Vec<C>, DecodeError> {
    let mut codes = Vec::with_capacity(r.remaining());
    while !r.is_empty() {
        let raw = r.u8("reason code")?;
        codes.push(
            C::try_from(raw).map_err(|_| DecodeError::InvalidReasonCode { packet: r.packet(), code: raw })?,
        );
    }
    // The SUBSCRIBE / UNSUBSCRIBE had at least one filter, so the answer has a code for it.
    if codes.is_empty() {
        return Err(r.protocol_error("no reason code"));
    }
    Ok(codes)
}

impl SubAck {
    pub(crate) fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let packet_id = read_packet_id(r)?;
        let properties = AckProperties::decode(r)?;
        let reason_codes = read_reason_codes(r)?;
        Ok(SubAck { packet_id, reason_codes, properties })
    }
}

impl Encodable for SubAck {
    fn packet_type(&self) -> PacketType {
        PacketType::SubAck
    }

    fn check(&self) -> Result<(), EncodeError> {
        if self.reason_codes.is_empty() {
            return Err(EncodeError::InvalidPacket { packet: PacketType::SubAck, detail: "no reason code" });
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

super::impl_encode_methods!(SubAck);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_util::*;
    use crate::codec::Packet;

    #[test]
    fn byte_exact() {
        let p = SubAck {
            packet_id: pid(1),
            reason_codes: vec![SubAckReasonCode::GrantedQoS1, SubAckReasonCode::NotAuthorized],
            properties: Default::default(),
        };
        assert_bytes(&Packet::SubAck(p), &[0x90, 0x05, 0x00, 0x01, 0x00, 0x01, 0x87]);
    }

    #[test]
    fn round_trip_with_every_property() {
        let p = SubAck {
            packet_id: pid(9),
            reason_codes: SubAckReasonCode::ALL.to_vec(),
            properties: AckProperties { reason_string: Some("r".into()), user_properties: users() },
        };
        round_trip(&Packet::SubAck(p));
    }

    #[test]
    fn malformed() {
        assert_eq!(
            decode_err(&[0x90, 0x04, 0x00, 0x01, 0x00, 0x03]).to_string(),
            "malformed SUBACK: invalid reason code 0x03"
        );
        assert_eq!(decode_err(&[0x90, 0x03, 0x00, 0x01, 0x00]).reason_code() as u8, 0x82);
        assert_eq!(decode_err(&[0x92, 0x04, 0x00, 0x01, 0x00, 0x00]).reason_code() as u8, 0x81);
        let p = SubAck { packet_id: pid(1), reason_codes: vec![], properties: Default::default() };
        assert!(matches!(encode_err(&Packet::SubAck(p)), EncodeError::InvalidPacket { .. }));
    }
}
