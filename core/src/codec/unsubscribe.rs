//! UNSUBSCRIBE (3.10).

use bytes::{BufMut, BytesMut};

use super::primitives::{prefixed_len, put_string, Reader};
use super::properties::PropertySet;
use super::topic::validate_topic_filter;
use super::{
    read_packet_id, DecodeError, Encodable, EncodeError, PacketId, PacketType, UnsubscribeProperties,
};

/// An UNSUBSCRIBE packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    /// Packet identifier.
    pub packet_id: PacketId,
    /// At least one ([MQTT-3.10.3-2]).
    pub filters: Vec<String>,
    /// UNSUBSCRIBE properties.
    pub properties: UnsubscribeProperties,
}

impl Unsubscribe {
    pub(crate) fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let packet_id = read_packet_id(r)?;
        let properties = UnsubscribeProperties::decode(r)?;
        let mut filters = Vec::new();
        while !r.is_empty() {
            let filter = r.string("topic filter")?;
            validate_topic_filter(&filter)
                .map_err(|source| DecodeError::TopicFilterInvalid { packet: r.packet(), source })?;
            filters.push(filter);
        }
        // [MQTT-3.10.3-2] at least one topic filter.
        if filters.is_empty() {
            return Err(r.protocol_error("no topic filter"));
        }
        Ok(Unsubscribe { packet_id, filters, properties })
    }
}

impl Encodable for Unsubscribe {
    fn packet_type(&self) -> PacketType {
        PacketType::Unsubscribe
    }

    fn check(&self) -> Result<(), EncodeError> {
        // [MQTT-3.10.3-2] at least one topic filter.
        if self.filters.is_empty() {
            return Err(EncodeError::InvalidPacket {
                packet: PacketType::Unsubscribe,
                detail: "no topic filter",
            });
        }
        for f in &self.filters {
            validate_topic_filter(f).map_err(EncodeError::InvalidTopicFilter)?;
        }
        self.properties.check()
    }

    fn body_len(&self) -> usize {
        2 + self.properties.encoded_len() + self.filters.iter().map(|f| prefixed_len(f.len())).sum::<usize>()
    }

    fn write_body(&self, buf: &mut BytesMut) {
        buf.put_u16(self.packet_id.get());
        self.properties.write(buf);
        for f in &self.filters {
            put_string(buf, f);
        }
    }
}

super::impl_encode_methods!(Unsubscribe);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_util::*;
    use crate::codec::Packet;

    #[test]
    fn byte_exact() {
        let p =
            Unsubscribe { packet_id: pid(3), filters: vec!["a/#".into()], properties: Default::default() };
        assert_bytes(&Packet::Unsubscribe(p), &[0xA2, 0x08, 0x00, 0x03, 0x00, 0x00, 0x03, b'a', b'/', b'#']);
    }

    #[test]
    fn round_trip_with_every_property() {
        let p = Unsubscribe {
            packet_id: pid(3),
            filters: vec!["a/#".into(), "+".into(), "$share/g/x".into()],
            properties: UnsubscribeProperties { user_properties: users() },
        };
        round_trip(&Packet::Unsubscribe(p));
    }

    #[test]
    fn malformed() {
        assert_eq!(decode_err(&[0xA0, 0x04, 0x00, 0x01, 0x00, 0x00]).reason_code() as u8, 0x81);
        assert_eq!(decode_err(&[0xA2, 0x03, 0x00, 0x01, 0x00]).reason_code() as u8, 0x82);
        assert_eq!(decode_err(&[0xA2, 0x04, 0x00, 0x01, 0x00, 0x00]).reason_code() as u8, 0x81);
        // An empty filter [MQTT-4.7.3-1].
        assert_eq!(decode_err(&[0xA2, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00]).reason_code() as u8, 0x8F);
        assert_eq!(
            decode_err(&[0xA2, 0x07, 0x00, 0x01, 0x00, 0x00, 0x02, b'a', b'+']).reason_code() as u8,
            0x8F
        );
        let p = Unsubscribe { packet_id: pid(3), filters: vec![], properties: Default::default() };
        assert!(matches!(encode_err(&Packet::Unsubscribe(p)), EncodeError::InvalidPacket { .. }));
    }
}
