//! PUBACK (3.4): acknowledges a QoS 1 PUBLISH.
//!
//! Also holds the encoding shared by the four publish acknowledgements (PUBACK, PUBREC,
//! PUBREL, PUBCOMP), whose layouts are identical (3.4.2, 3.5.2, 3.6.2, 3.7.2).

use bytes::{BufMut, BytesMut};

use super::primitives::Reader;
use super::properties::PropertySet;
use super::{read_packet_id, AckProperties, DecodeError, PacketId, PubAckReasonCode};

/// A PUBACK packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubAck {
    /// The identifier of the PUBLISH being acknowledged.
    pub packet_id: PacketId,
    /// The outcome; [`PubAckReasonCode::Success`] by default.
    pub reason_code: PubAckReasonCode,
    /// Reason string and user properties.
    pub properties: AckProperties,
}

impl PubAck {
    /// A successful PUBACK with no properties.
    pub fn new(packet_id: PacketId) -> Self {
        Self { packet_id, reason_code: PubAckReasonCode::Success, properties: AckProperties::default() }
    }
}

/// Body length of a publish acknowledgement, using the short forms: 2 bytes for Success with
/// no properties, 3 bytes for another reason with no properties (3.4.2.1, 3.4.2.2.1).
pub(crate) fn ack_body_len(code: u8, props: &AckProperties) -> usize {
    match (code, props.is_empty()) {
        (0, true) => 2,
        (_, true) => 3,
        (_, false) => 3 + props.encoded_len(),
    }
}

/// Writes a publish acknowledgement body in the form [`ack_body_len`] chose.
pub(crate) fn write_ack(buf: &mut BytesMut, id: PacketId, code: u8, props: &AckProperties) {
    buf.put_u16(id.get());
    match (code, props.is_empty()) {
        (0, true) => {}
        (_, true) => buf.put_u8(code),
        (_, false) => {
            buf.put_u8(code);
            props.write(buf);
        }
    }
}

/// Reads a publish acknowledgement body: remaining length 2 means Success without properties,
/// 3 means no properties (3.4.2.1, 3.4.2.2.1).
pub(crate) fn decode_ack<C: TryFrom<u8>>(
    r: &mut Reader,
    success: C,
) -> Result<(PacketId, C, AckProperties), DecodeError> {
    let id = read_packet_id(r)?;
    if r.is_empty() {
        return Ok((id, success, AckProperties::default()));
    }
    let raw = r.u8("reason code")?;
    let code =
        C::try_from(raw).map_err(|_| DecodeError::InvalidReasonCode { packet: r.packet(), code: raw })?;
    let props = if r.is_empty() { AckProperties::default() } else { AckProperties::decode(r)? };
    Ok((id, code, props))
}

/// Implements decoding and encoding for one of the four publish acknowledgements.
macro_rules! ack_packet {
    ($ty:ident, $packet:expr, $code:ty) => {
        impl $ty {
            pub(crate) fn decode(
                r: &mut $crate::codec::primitives::Reader,
            ) -> Result<Self, $crate::codec::DecodeError> {
                let (packet_id, reason_code, properties) =
                    $crate::codec::puback::decode_ack(r, <$code>::Success)?;
                Ok(Self { packet_id, reason_code, properties })
            }
        }

        impl $crate::codec::Encodable for $ty {
            fn packet_type(&self) -> $crate::codec::PacketType {
                $packet
            }
            fn check(&self) -> Result<(), $crate::codec::EncodeError> {
                $crate::codec::properties::PropertySet::check(&self.properties)
            }
            fn body_len(&self) -> usize {
                $crate::codec::puback::ack_body_len(self.reason_code as u8, &self.properties)
            }
            fn write_body(&self, buf: &mut ::bytes::BytesMut) {
                $crate::codec::puback::write_ack(
                    buf,
                    self.packet_id,
                    self.reason_code as u8,
                    &self.properties,
                )
            }
        }

        $crate::codec::impl_encode_methods!($ty);
    };
}
pub(crate) use ack_packet;

ack_packet!(PubAck, super::PacketType::PubAck, PubAckReasonCode);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_util::*;
    use crate::codec::Packet;

    #[test]
    fn short_forms() {
        // 3.4.2.1: Success and no properties: just the packet identifier.
        assert_bytes(&Packet::PubAck(PubAck::new(pid(1))), &[0x40, 0x02, 0x00, 0x01]);
        // Another reason, no properties: the property length is omitted.
        let p = PubAck { reason_code: PubAckReasonCode::NoMatchingSubscribers, ..PubAck::new(pid(0x1234)) };
        assert_bytes(&Packet::PubAck(p), &[0x40, 0x03, 0x12, 0x34, 0x10]);
        // Explicit Success with an empty property block decodes too.
        assert_eq!(decode_ok(&[0x40, 0x04, 0x00, 0x01, 0x00, 0x00]), Packet::PubAck(PubAck::new(pid(1))));
    }

    #[test]
    fn round_trip_with_every_property() {
        for code in PubAckReasonCode::ALL {
            let p = PubAck {
                packet_id: pid(65_535),
                reason_code: *code,
                properties: AckProperties { reason_string: Some("why".into()), user_properties: users() },
            };
            round_trip(&Packet::PubAck(p.clone()));
            assert_eq!(p.encoded_len(), Packet::PubAck(p).encoded_len());
            round_trip(&Packet::PubAck(PubAck { reason_code: *code, ..PubAck::new(pid(7)) }));
        }
    }

    #[test]
    fn malformed() {
        // Packet identifier 0.
        assert_eq!(decode_err(&[0x40, 0x02, 0x00, 0x00]).reason_code() as u8, 0x82);
        // Reason code 0x01 is not a PUBACK reason.
        let err = decode_err(&[0x40, 0x03, 0x00, 0x01, 0x01]);
        assert_eq!(err.to_string(), "malformed PUBACK: invalid reason code 0x01");
        // Remaining length 1.
        assert!(decode_err(&[0x40, 0x01, 0x00]).to_string().contains("packet identifier"));
        // Flags must be 0.
        assert_eq!(decode_err(&[0x42, 0x02, 0x00, 0x01]).reason_code() as u8, 0x81);
        // Property length larger than the rest.
        assert!(decode_err(&[0x40, 0x05, 0x00, 0x01, 0x00, 0x02, 0x1F]).reason_code() as u8 == 0x81);
        // A CONNACK-only property.
        assert!(decode_err(&[0x40, 0x06, 0x00, 0x01, 0x00, 0x02, 0x24, 0x01]).reason_code() as u8 == 0x81);
    }
}
