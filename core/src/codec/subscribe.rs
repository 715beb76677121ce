//! SUBSCRIBE (3.8): one or more topic filters with their options.

use bytes::{BufMut, BytesMut};

use super::primitives::{prefixed_len, put_string, Reader};
use super::properties::PropertySet;
use super::topic::validate_topic_filter;
use super::{
    read_packet_id, DecodeError, Encodable, EncodeError, PacketId, PacketType, QoS, SubscribeProperties,
};

/// A SUBSCRIBE packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    /// Packet identifier.
    pub packet_id: PacketId,
    /// At least one ([MQTT-3.8.3-2]).
    pub filters: Vec<Subscription>,
    /// SUBSCRIBE properties.
    pub properties: SubscribeProperties,
}

/// One topic filter and its subscription options (3.8.3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The topic filter, possibly `$share/{ShareName}/{filter}`.
    pub filter: String,
    /// Its options.
    pub options: SubscriptionOptions,
}

/// Subscription options byte (3.8.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SubscriptionOptions {
    /// Maximum QoS.
    pub qos: QoS,
    /// No Local: do not receive our own publications.
    pub no_local: bool,
    /// Retain As Published.
    pub retain_as_published: bool,
    /// Retain Handling.
    pub retain_handling: RetainHandling,
}

/// Retain Handling option (3.8.3.1): when retained messages are sent for a new subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum RetainHandling {
    /// Send retained messages at the time of the subscribe.
    #[default]
    SendAtSubscribe = 0,
    /// Send them only if the subscription did not exist yet.
    SendIfNew = 1,
    /// Do not send them.
    DoNotSend = 2,
}

impl TryFrom<u8> for RetainHandling {
    type Error = u8;
    fn try_from(value: u8) -> Result<Self, u8> {
        match value {
            0 => Ok(RetainHandling::SendAtSubscribe),
            1 => Ok(RetainHandling::SendIfNew),
            2 => Ok(RetainHandling::DoNotSend),
            other => Err(other),
        }
    }
}

const NO_LOCAL: u8 = 0b0000_0100;
const RETAIN_AS_PUBLISHED: u8 = 0b0000_1000;

impl SubscriptionOptions {
    /// The options byte.
    pub fn to_byte(self) -> u8 {
        let mut b = self.qos as u8 | ((self.retain_handling as u8) << 4);
        if self.no_local {
            b |= NO_LOCAL;
        }
        if self.retain_as_published {
            b |= RETAIN_AS_PUBLISHED;
        }
        b
    }

    fn from_byte(b: u8, r: &Reader) -> Result<Self, DecodeError> {
        // [MQTT-3.8.3-5] reserved bits 6 and 7 must be 0.
        if b & 0b1100_0000 != 0 {
            return Err(r.malformed("reserved subscription option bits are set"));
        }
        // [MQTT-3-8.3-1]/3.8.3.1: QoS 3 is malformed.
        let qos = QoS::try_from(b & 0b11).map_err(|_| r.malformed("subscription QoS is 3"))?;
        // 3.8.3.1: Retain Handling 3 is a Protocol Error.
        let retain_handling = RetainHandling::try_from((b >> 4) & 0b11)
            .map_err(|_| r.protocol_error("Retain Handling is 3"))?;
        Ok(SubscriptionOptions {
            qos,
            no_local: b & NO_LOCAL != 0,
            retain_as_published: b & RETAIN_AS_PUBLISHED != 0,
            retain_handling,
        })
    }
}

fn is_shared(filter: &str) -> bool {
    filter.starts_with("$share/")
}

impl Subscribe {
    pub(crate) fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let packet_id = read_packet_id(r)?;
        let properties = SubscribeProperties::decode(r)?;
        let mut filters = Vec::new();
        while !r.is_empty() {
            let filter = r.string("topic filter")?;
            validate_topic_filter(&filter)
                .map_err(|source| DecodeError::TopicFilterInvalid { packet: r.packet(), source })?;
            let options = SubscriptionOptions::from_byte(r.u8("subscription options")?, r)?;
            // [MQTT-3.8.3-4] No Local on a shared subscription is a Protocol Error.
            if options.no_local && is_shared(&filter) {
                return Err(r.protocol_error("No Local is set on a shared subscription"));
            }
            filters.push(Subscription { filter, options });
        }
        // [MQTT-3.8.3-2] at least one topic filter.
        if filters.is_empty() {
            return Err(r.protocol_error("no topic filter"));
        }
        Ok(Subscribe { packet_id, filters, properties })
    }
}

impl Encodable for Subscribe {
    fn packet_type(&self) -> PacketType {
        PacketType::Subscribe
    }

    fn check(&self) -> Result<(), EncodeError> {
        let invalid = |detail| EncodeError::InvalidPacket { packet: PacketType::Subscribe, detail };
        // [MQTT-3.8.3-2] at least one topic filter.
        if self.filters.is_empty() {
            return Err(invalid("no topic filter"));
        }
        for s in &self.filters {
            validate_topic_filter(&s.filter).map_err(EncodeError::InvalidTopicFilter)?;
            // [MQTT-3.8.3-4]
            if s.options.no_local && is_shared(&s.filter) {
                return Err(invalid("No Local on a shared subscription"));
            }
        }
        self.properties.check()
    }

    fn body_len(&self) -> usize {
        2 + self.properties.encoded_len()
            + self.filters.iter().map(|s| prefixed_len(s.filter.len()) + 1).sum::<usize>()
    }

    fn write_body(&self, buf: &mut BytesMut) {
        buf.put_u16(self.packet_id.get());
        self.properties.write(buf);
        for s in &self.filters {
            put_string(buf, &s.filter);
            buf.put_u8(s.options.to_byte());
        }
    }
}

super::impl_encode_methods!(Subscribe);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_util::*;
    use crate::codec::{Packet, TopicError};

    fn sub(filter: &str, options: SubscriptionOptions) -> Subscription {
        Subscription { filter: filter.into(), options }
    }

    fn full() -> Subscribe {
        Subscribe {
            packet_id: pid(2),
            filters: vec![
                sub(
                    "a/+/c",
                    SubscriptionOptions {
                        qos: QoS::ExactlyOnce,
                        no_local: true,
                        retain_as_published: true,
                        retain_handling: RetainHandling::DoNotSend,
                    },
                ),
                sub(
                    "#",
                    SubscriptionOptions {
                        qos: QoS::AtLeastOnce,
                        retain_handling: RetainHandling::SendIfNew,
                        ..Default::default()
                    },
                ),
                sub("$share/g/x/#", SubscriptionOptions::default()),
            ],
            properties: SubscribeProperties {
                subscription_identifier: Some(268_435_455),
                user_properties: users(),
            },
        }
    }

    #[test]
    fn byte_exact() {
        // Packet id 1, no properties, "a/b" at QoS 1.
        let p = Subscribe {
            packet_id: pid(1),
            filters: vec![sub("a/b", SubscriptionOptions { qos: QoS::AtLeastOnce, ..Default::default() })],
            properties: Default::default(),
        };
        assert_bytes(
            &Packet::Subscribe(p),
            &[0x82, 0x09, 0x00, 0x01, 0x00, 0x00, 0x03, b'a', b'/', b'b', 0x01],
        );
        let o = SubscriptionOptions {
            qos: QoS::ExactlyOnce,
            no_local: true,
            retain_as_published: true,
            retain_handling: RetainHandling::DoNotSend,
        };
        assert_eq!(o.to_byte(), 0b0010_1110);
    }

    #[test]
    fn round_trip_with_every_property() {
        round_trip(&Packet::Subscribe(full()));
    }

    #[test]
    fn malformed() {
        let base = [0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, b'a', 0x00];
        assert!(matches!(decode_ok(&base), Packet::Subscribe(_)));
        // [MQTT-2.1.3-1] flags must be 0b0010.
        let mut b = base;
        b[0] = 0x80;
        assert_eq!(decode_err(&b).reason_code() as u8, 0x81);
        // [MQTT-3.8.3-5] reserved option bits.
        let mut b = base;
        b[8] = 0x40;
        assert_eq!(decode_err(&b).reason_code() as u8, 0x81);
        // QoS 3.
        let mut b = base;
        b[8] = 0x03;
        assert_eq!(decode_err(&b).reason_code() as u8, 0x81);
        // Retain Handling 3.
        let mut b = base;
        b[8] = 0x30;
        assert_eq!(decode_err(&b).reason_code() as u8, 0x82);
        // [MQTT-3.8.3-2] no filter.
        assert_eq!(decode_err(&[0x82, 0x03, 0x00, 0x01, 0x00]).reason_code() as u8, 0x82);
        // Invalid filter.
        let mut b = base;
        b[7] = b'+';
        assert!(matches!(decode_ok(&b), Packet::Subscribe(_)));
        let err = decode_err(&[0x82, 0x08, 0x00, 0x01, 0x00, 0x00, 0x02, b'a', b'#', 0x00]);
        assert_eq!(err.reason_code() as u8, 0x8F);
        // [MQTT-3.8.3-4] No Local on a shared subscription.
        let bytes = [&[0x82, 0x10, 0x00, 0x01, 0x00, 0x00, 0x0A][..], b"$share/g/a", &[0x04]].concat();
        assert_eq!(decode_err(&bytes).reason_code() as u8, 0x82);
        // Options byte missing.
        let err = decode_err(&[0x82, 0x06, 0x00, 0x01, 0x00, 0x00, 0x01, b'a']);
        assert_eq!(
            err.to_string(),
            "malformed SUBSCRIBE: subscription options runs past the end of the packet"
        );
    }

    #[test]
    fn encode_errors() {
        let p = Subscribe { filters: vec![], ..full() };
        assert!(matches!(encode_err(&Packet::Subscribe(p)), EncodeError::InvalidPacket { .. }));
        let p = Subscribe { filters: vec![sub("a#", Default::default())], ..full() };
        assert_eq!(
            encode_err(&Packet::Subscribe(p)),
            EncodeError::InvalidTopicFilter(TopicError::MisplacedMultiLevelWildcard)
        );
        let o = SubscriptionOptions { no_local: true, ..Default::default() };
        let p = Subscribe { filters: vec![sub("$share/g/a", o)], ..full() };
        assert!(matches!(encode_err(&Packet::Subscribe(p)), EncodeError::InvalidPacket { .. }));
        let p = Subscribe {
            properties: SubscribeProperties { subscription_identifier: Some(0), ..Default::default() },
            ..full()
        };
        assert!(matches!(encode_err(&Packet::Subscribe(p)), EncodeError::ValueOutOfRange { .. }));
    }
}
