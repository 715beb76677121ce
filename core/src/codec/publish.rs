//! PUBLISH (3.3): an application message, in either direction.

use bytes::{BufMut, Bytes, BytesMut};

use super::primitives::{check_string, prefixed_len, put_string, Reader, MAX_VARINT};
use super::properties::PropertySet;
use super::topic::validate_topic_name;
use super::{
    read_packet_id, DecodeError, Encodable, EncodeError, PacketId, PacketType, PublishProperties, QoS,
};

/// The largest payload any PUBLISH can carry: the Remaining Length limit ([`MAX_VARINT`],
/// 1.5.5) less a minimal header. The faces refuse a larger payload at the call with it.
pub const MAX_PAYLOAD: usize = MAX_VARINT as usize - 16;

const DUP: u8 = 0b1000;
const RETAIN: u8 = 0b0001;

/// A PUBLISH packet.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Publish {
    /// DUP flag: this is a re-delivery ([MQTT-3.3.1-1]); always false at QoS 0 ([MQTT-3.3.1-2]).
    pub dup: bool,
    /// QoS level (3.3.1.2).
    pub qos: QoS,
    /// RETAIN flag (3.3.1.3).
    pub retain: bool,
    /// May be empty when a topic alias stands for it (3.3.2.3.4).
    pub topic: String,
    /// Present exactly when `qos > 0` ([MQTT-2.2.1-2]).
    pub packet_id: Option<PacketId>,
    /// PUBLISH properties.
    pub properties: PublishProperties,
    /// The application message, a zero-copy slice of the received bytes.
    pub payload: Bytes,
}

impl Publish {
    /// QoS, DUP and RETAIN from the fixed header's flags (3.3.1), the same in 3.1.1.
    pub(super) fn header_flags(flags: u8, r: &Reader) -> Result<(QoS, bool, bool), DecodeError> {
        // [MQTT-3.3.1-4] QoS 3 is malformed.
        let qos = QoS::try_from((flags >> 1) & 0b11).map_err(|_| r.malformed("QoS is 3"))?;
        let dup = flags & DUP != 0;
        // [MQTT-3.3.1-2] DUP must be 0 at QoS 0.
        if dup && qos == QoS::AtMostOnce {
            return Err(r.malformed("DUP is set at QoS 0"));
        }
        Ok((qos, dup, flags & RETAIN != 0))
    }

    pub(crate) fn decode(flags: u8, r: &mut Reader) -> Result<Self, DecodeError> {
        let (qos, dup, retain) = Self::header_flags(flags, r)?;
        let topic = r.string("topic name")?;
        // [MQTT-2.2.1-2] a packet identifier only at QoS 1 and 2.
        let packet_id = if qos == QoS::AtMostOnce { None } else { Some(read_packet_id(r)?) };
        let properties = PublishProperties::decode(r)?;
        if topic.is_empty() {
            // 3.3.2.3.4: an empty topic name needs a Topic Alias (the session resolves it).
            if properties.topic_alias.is_none() {
                return Err(r.protocol_error("empty topic name without a Topic Alias"));
            }
        } else {
            // [MQTT-3.3.2-2] no wildcards in a topic name.
            validate_topic_name(&topic)
                .map_err(|source| DecodeError::TopicNameInvalid { packet: r.packet(), source })?;
        }
        let payload = r.rest();
        Ok(Publish { dup, qos, retain, topic, packet_id, properties, payload })
    }
}

impl Encodable for Publish {
    fn packet_type(&self) -> PacketType {
        PacketType::Publish
    }

    fn flags(&self) -> u8 {
        let mut flags = (self.qos as u8) << 1;
        if self.dup {
            flags |= DUP;
        }
        if self.retain {
            flags |= RETAIN;
        }
        flags
    }

    fn check(&self) -> Result<(), EncodeError> {
        let invalid = |detail| EncodeError::InvalidPacket { packet: PacketType::Publish, detail };
        match (self.qos, self.packet_id) {
            (QoS::AtMostOnce, Some(_)) => return Err(invalid("a packet identifier at QoS 0")),
            (QoS::AtLeastOnce | QoS::ExactlyOnce, None) => {
                return Err(invalid("no packet identifier at QoS 1 or 2"))
            }
            _ => {}
        }
        // [MQTT-3.3.1-2] DUP must be 0 at QoS 0.
        if self.dup && self.qos == QoS::AtMostOnce {
            return Err(invalid("DUP at QoS 0"));
        }
        if self.topic.is_empty() {
            if self.properties.topic_alias.is_none() {
                return Err(invalid("empty topic name without a Topic Alias"));
            }
        } else {
            check_string("topic name", &self.topic)?;
            validate_topic_name(&self.topic).map_err(EncodeError::InvalidTopicName)?;
        }
        self.properties.check()
    }

    fn body_len(&self) -> usize {
        prefixed_len(self.topic.len())
            + if self.packet_id.is_some() { 2 } else { 0 }
            + self.properties.encoded_len()
            + self.payload.len()
    }

    fn write_body(&self, buf: &mut BytesMut) {
        put_string(buf, &self.topic);
        if let Some(id) = self.packet_id {
            buf.put_u16(id.get());
        }
        self.properties.write(buf);
        buf.put_slice(&self.payload);
    }
}

super::impl_encode_methods!(Publish);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_util::*;
    use crate::codec::{decode, Decoded, Packet, ProtocolVersion, TopicError};

    fn full() -> Publish {
        Publish {
            dup: true,
            qos: QoS::ExactlyOnce,
            retain: true,
            topic: "a/b".into(),
            packet_id: Some(pid(10)),
            properties: PublishProperties {
                payload_format_indicator: Some(1),
                message_expiry_interval: Some(60),
                topic_alias: Some(3),
                response_topic: Some("reply/to".into()),
                correlation_data: Some(Bytes::from_static(b"cid")),
                user_properties: users(),
                subscription_identifiers: vec![1, 268_435_455, 128],
                content_type: Some("text/plain".into()),
            },
            payload: Bytes::from_static(b"hello"),
        }
    }

    #[test]
    fn byte_exact_qos1() {
        // QoS 1, topic "a/b", packet id 10, no properties, payload "hi".
        let p = Publish {
            qos: QoS::AtLeastOnce,
            topic: "a/b".into(),
            packet_id: Some(pid(10)),
            payload: Bytes::from_static(b"hi"),
            ..Default::default()
        };
        assert_bytes(
            &Packet::Publish(p),
            &[0x32, 0x0A, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x0A, 0x00, b'h', b'i'],
        );
        // QoS 0, retained, empty payload.
        let p = Publish { retain: true, topic: "t".into(), ..Default::default() };
        assert_bytes(&Packet::Publish(p), &[0x31, 0x04, 0x00, 0x01, b't', 0x00]);
    }

    #[test]
    fn round_trip_with_every_property() {
        round_trip(&Packet::Publish(full()));
        // An empty topic with a Topic Alias.
        round_trip(&Packet::Publish(Publish { topic: String::new(), ..full() }));
        round_trip(&Packet::Publish(Publish { dup: false, qos: QoS::AtMostOnce, packet_id: None, ..full() }));
        // A payload large enough for a 3-byte remaining length.
        let big = Publish { payload: Bytes::from(vec![7u8; 20_000]), ..full() };
        let mut buf = BytesMut::new();
        big.encode(&mut buf).unwrap();
        assert_eq!(buf.len(), big.encoded_len());
        assert_eq!(
            decode(&mut buf, u32::MAX, ProtocolVersion::V5),
            Ok(Decoded::Packet(Packet::Publish(big)))
        );
    }

    #[test]
    fn payload_is_zero_copy() {
        let mut buf = BytesMut::new();
        full().encode(&mut buf).unwrap();
        let start = buf.as_ptr() as usize;
        let end = start + buf.len();
        let Ok(Decoded::Packet(Packet::Publish(p))) = decode(&mut buf, u32::MAX, ProtocolVersion::V5) else {
            panic!()
        };
        let at = p.payload.as_ptr() as usize;
        assert!(at >= start && at < end, "payload points into the receive buffer");
    }

    #[test]
    fn malformed() {
        // [MQTT-3.3.1-4] QoS 3.
        assert_eq!(decode_err(&[0x36, 0x05, 0x00, 0x01, b't', 0x00, 0x00]).reason_code() as u8, 0x81);
        // [MQTT-3.3.1-2] DUP at QoS 0.
        let err = decode_err(&[0x38, 0x04, 0x00, 0x01, b't', 0x00]);
        assert_eq!(err.to_string(), "malformed PUBLISH: DUP is set at QoS 0");
        // Packet identifier 0 at QoS 1.
        assert_eq!(decode_err(&[0x32, 0x06, 0x00, 0x01, b't', 0x00, 0x00, 0x00]).reason_code() as u8, 0x82);
        // [MQTT-3.3.2-2] wildcard in the topic name: Topic Name invalid.
        let err = decode_err(&[0x30, 0x04, 0x00, 0x01, b'#', 0x00]);
        assert_eq!(err.reason_code() as u8, 0x90);
        assert_eq!(
            err.to_string(),
            "invalid topic name in PUBLISH: topic name must not contain wildcard '#'"
        );
        // Empty topic without an alias.
        assert_eq!(decode_err(&[0x30, 0x03, 0x00, 0x00, 0x00]).reason_code() as u8, 0x82);
        // Invalid UTF-8 in the topic.
        assert_eq!(
            decode_err(&[0x30, 0x04, 0x00, 0x01, 0xC0, 0x00]).to_string(),
            "malformed PUBLISH: topic name is not valid UTF-8"
        );
        // Topic Alias 0.
        assert_eq!(
            decode_err(&[0x30, 0x07, 0x00, 0x01, b't', 0x03, 0x23, 0x00, 0x00]).reason_code() as u8,
            0x82
        );
        // Topic length running past the end.
        assert_eq!(decode_err(&[0x30, 0x03, 0x00, 0x05, b't']).reason_code() as u8, 0x81);
    }

    #[test]
    fn encode_errors() {
        let p = Publish { topic: "a/+".into(), ..Default::default() };
        assert_eq!(
            encode_err(&Packet::Publish(p)),
            EncodeError::InvalidTopicName(TopicError::WildcardInName('+'))
        );
        let p = Publish { topic: "t".into(), qos: QoS::AtLeastOnce, ..Default::default() };
        assert!(matches!(encode_err(&Packet::Publish(p)), EncodeError::InvalidPacket { .. }));
        let p = Publish { topic: "t".into(), dup: true, ..Default::default() };
        assert!(matches!(encode_err(&Packet::Publish(p)), EncodeError::InvalidPacket { .. }));
        let p = Publish { topic: "t".into(), packet_id: Some(pid(1)), ..Default::default() };
        assert!(matches!(encode_err(&Packet::Publish(p)), EncodeError::InvalidPacket { .. }));
        let p = Publish::default();
        assert!(matches!(encode_err(&Packet::Publish(p)), EncodeError::InvalidPacket { .. }));
        let p = Publish { topic: "x".repeat(65_536), ..Default::default() };
        assert!(matches!(encode_err(&Packet::Publish(p)), EncodeError::StringTooLong { .. }));
        // The peer's Maximum Packet Size.
        let p = Publish { topic: "t".into(), payload: Bytes::from(vec![0; 100]), ..Default::default() };
        let mut buf = BytesMut::new();
        assert_eq!(
            p.encode_with_max(&mut buf, 100),
            Err(EncodeError::PacketTooLarge { packet: PacketType::Publish, size: 106, max: 100 })
        );
        assert!(buf.is_empty());
        assert_eq!(p.encode_with_max(&mut buf, 106), Ok(106));
    }

    #[test]
    fn packet_too_large_as_soon_as_the_header_is_read() {
        // Remaining length 200, only the header present.
        let mut buf = BytesMut::from(&[0x30, 0xC8, 0x01][..]);
        assert_eq!(
            decode(&mut buf, 100, ProtocolVersion::V5),
            Err(DecodeError::PacketTooLarge { packet: PacketType::Publish, size: 203, max: 100 })
        );
        assert_eq!(decode(&mut buf, 1000, ProtocolVersion::V5), Ok(Decoded::Incomplete { needed: 200 }));
        assert_eq!(buf.len(), 3);
    }
}
