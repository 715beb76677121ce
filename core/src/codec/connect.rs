//! CONNECT (3.1): the first packet the client sends.

use bytes::{BufMut, Bytes, BytesMut};

use super::primitives::{check_binary, check_string, prefixed_len, put_binary, put_string, Reader};
use super::properties::PropertySet;
use super::topic::validate_topic_name;
use super::{ConnectProperties, DecodeError, Encodable, EncodeError, PacketType, QoS, WillProperties};

/// The protocol name (3.1.2.1), the same in 3.1.1.
pub(super) const PROTOCOL_NAME: &str = "MQTT";
/// The protocol level of MQTT 5.0 (3.1.2.2).
const PROTOCOL_LEVEL: u8 = 5;

// Connect flags (3.1.2.3); 3.1.1 has them at the same places (its Clean Session is Clean Start).
pub(super) const RESERVED: u8 = 0b0000_0001;
pub(super) const CLEAN_START: u8 = 0b0000_0010;
pub(super) const WILL: u8 = 0b0000_0100;
pub(super) const WILL_QOS_SHIFT: u8 = 3;
pub(super) const WILL_RETAIN: u8 = 0b0010_0000;
pub(super) const PASSWORD: u8 = 0b0100_0000;
pub(super) const USERNAME: u8 = 0b1000_0000;

/// A CONNECT packet. The protocol name "MQTT" and level 5 are implied.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Connect {
    /// Clean Start flag (3.1.2.4).
    pub clean_start: bool,
    /// Keep Alive in seconds; 0 turns it off (3.1.2.10).
    pub keep_alive: u16,
    /// May be empty: the server then assigns one (3.1.3.1).
    pub client_id: String,
    /// User Name (3.1.3.5).
    pub username: Option<String>,
    /// Password (3.1.3.6); MQTT 5.0 allows it without a user name.
    pub password: Option<Bytes>,
    /// The Will Message, if any.
    pub will: Option<LastWill>,
    /// CONNECT properties.
    pub properties: ConnectProperties,
}

/// The Will Message (3.1.3.2–3.1.3.4).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LastWill {
    /// Will Topic: a topic name.
    pub topic: String,
    /// Will Payload.
    pub payload: Bytes,
    /// Will QoS.
    pub qos: QoS,
    /// Will Retain.
    pub retain: bool,
    /// Will properties.
    pub properties: WillProperties,
}

impl Connect {
    /// The connect flags byte, the same for 5.0 and 3.1.1.
    pub(super) fn flags(&self) -> u8 {
        let mut flags = 0;
        if self.clean_start {
            flags |= CLEAN_START;
        }
        if let Some(will) = &self.will {
            flags |= WILL | ((will.qos as u8) << WILL_QOS_SHIFT);
            if will.retain {
                flags |= WILL_RETAIN;
            }
        }
        if self.password.is_some() {
            flags |= PASSWORD;
        }
        if self.username.is_some() {
            flags |= USERNAME;
        }
        flags
    }

    pub(crate) fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        // [MQTT-3.1.2-1] the protocol name is "MQTT".
        if r.string("protocol name")? != PROTOCOL_NAME {
            return Err(r.protocol_error("protocol name is not \"MQTT\""));
        }
        // [MQTT-3.1.2-2] only protocol level 5 is supported here.
        if r.u8("protocol level")? != PROTOCOL_LEVEL {
            return Err(r.protocol_error("unsupported protocol level (only 5 is supported)"));
        }
        let flags = r.u8("connect flags")?;
        // [MQTT-3.1.2-3] the reserved flag must be 0.
        if flags & RESERVED != 0 {
            return Err(r.malformed("reserved connect flag is set"));
        }
        let will_qos = (flags >> WILL_QOS_SHIFT) & 0b11;
        let will_flag = flags & WILL != 0;
        // [MQTT-3.1.2-12] Will QoS 3 is malformed.
        let will_qos = QoS::try_from(will_qos).map_err(|_| r.malformed("Will QoS is 3"))?;
        if !will_flag {
            // [MQTT-3.1.2-11] without a Will, Will QoS must be 0.
            if will_qos != QoS::AtMostOnce {
                return Err(r.malformed("Will QoS is set without a Will"));
            }
            // [MQTT-3.1.2-13] without a Will, Will Retain must be 0.
            if flags & WILL_RETAIN != 0 {
                return Err(r.malformed("Will Retain is set without a Will"));
            }
        }
        let keep_alive = r.u16("keep alive")?;
        let properties = ConnectProperties::decode(r)?;
        // 3.1.2.11.10: Authentication Data without an Authentication Method.
        if properties.authentication_data.is_some() && properties.authentication_method.is_none() {
            return Err(r.protocol_error("Authentication Data without Authentication Method"));
        }
        let client_id = r.string("client identifier")?;
        let will = if will_flag {
            let properties = WillProperties::decode(r)?;
            let topic = r.string("will topic")?;
            validate_topic_name(&topic)
                .map_err(|source| DecodeError::TopicNameInvalid { packet: r.packet(), source })?;
            let payload = r.binary("will payload")?;
            Some(LastWill { topic, payload, qos: will_qos, retain: flags & WILL_RETAIN != 0, properties })
        } else {
            None
        };
        // [MQTT-3.1.2-17], [MQTT-3.1.2-19]: the flags say whether the fields are present.
        let username = if flags & USERNAME != 0 { Some(r.string("user name")?) } else { None };
        let password = if flags & PASSWORD != 0 { Some(r.binary("password")?) } else { None };
        Ok(Connect {
            clean_start: flags & CLEAN_START != 0,
            keep_alive,
            client_id,
            username,
            password,
            will,
            properties,
        })
    }
}

impl Encodable for Connect {
    fn packet_type(&self) -> PacketType {
        PacketType::Connect
    }

    fn check(&self) -> Result<(), EncodeError> {
        self.properties.check()?;
        if self.properties.authentication_data.is_some() && self.properties.authentication_method.is_none() {
            return Err(EncodeError::InvalidPacket {
                packet: PacketType::Connect,
                detail: "Authentication Data without Authentication Method",
            });
        }
        check_string("client identifier", &self.client_id)?;
        if let Some(will) = &self.will {
            will.properties.check()?;
            validate_topic_name(&will.topic).map_err(EncodeError::InvalidTopicName)?;
            check_binary("will payload", &will.payload)?;
        }
        if let Some(username) = &self.username {
            check_string("user name", username)?;
        }
        if let Some(password) = &self.password {
            check_binary("password", password)?;
        }
        Ok(())
    }

    fn body_len(&self) -> usize {
        let mut len = prefixed_len(PROTOCOL_NAME.len()) + 1 + 1 + 2;
        len += self.properties.encoded_len();
        len += prefixed_len(self.client_id.len());
        if let Some(will) = &self.will {
            len += will.properties.encoded_len()
                + prefixed_len(will.topic.len())
                + prefixed_len(will.payload.len());
        }
        if let Some(username) = &self.username {
            len += prefixed_len(username.len());
        }
        if let Some(password) = &self.password {
            len += prefixed_len(password.len());
        }
        len
    }

    fn write_body(&self, buf: &mut BytesMut) {
        put_string(buf, PROTOCOL_NAME);
        buf.put_u8(PROTOCOL_LEVEL);
        buf.put_u8(self.flags());
        buf.put_u16(self.keep_alive);
        self.properties.write(buf);
        put_string(buf, &self.client_id);
        if let Some(will) = &self.will {
            will.properties.write(buf);
            put_string(buf, &will.topic);
            put_binary(buf, &will.payload);
        }
        if let Some(username) = &self.username {
            put_string(buf, username);
        }
        if let Some(password) = &self.password {
            put_binary(buf, password);
        }
    }
}

super::impl_encode_methods!(Connect);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_util::*;
    use crate::codec::{Packet, TopicError};

    fn full() -> Connect {
        Connect {
            clean_start: true,
            keep_alive: 65_535,
            client_id: "client-ü".into(),
            username: Some("user".into()),
            password: Some(Bytes::from_static(&[0, 1, 2, 0xFF])),
            will: Some(LastWill {
                topic: "will/topic".into(),
                payload: Bytes::from_static(b"bye"),
                qos: QoS::ExactlyOnce,
                retain: true,
                properties: WillProperties {
                    will_delay_interval: Some(10),
                    payload_format_indicator: Some(1),
                    message_expiry_interval: Some(u32::MAX),
                    content_type: Some("text/plain".into()),
                    response_topic: Some("resp/x".into()),
                    correlation_data: Some(Bytes::from_static(b"\x00id")),
                    user_properties: users(),
                },
            }),
            properties: ConnectProperties {
                session_expiry_interval: Some(u32::MAX),
                receive_maximum: Some(100),
                maximum_packet_size: Some(1 << 20),
                topic_alias_maximum: Some(10),
                request_response_information: Some(1),
                request_problem_information: Some(0),
                user_properties: users(),
                authentication_method: Some("SCRAM-SHA-1".into()),
                authentication_data: Some(Bytes::from_static(b"data")),
            },
        }
    }

    #[test]
    fn byte_exact_minimal() {
        // 3.1: client id "a", keep alive 60, Clean Start, no properties.
        let p = Connect { clean_start: true, keep_alive: 60, client_id: "a".into(), ..Default::default() };
        assert_bytes(
            &Packet::Connect(p),
            &[0x10, 0x0E, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x02, 0x00, 0x3C, 0x00, 0x00, 0x01, b'a'],
        );
    }

    #[test]
    fn byte_exact_with_will_and_credentials() {
        // Will QoS 1 retained on "w" with payload "x", user "u", password [0x70], keep alive 0,
        // session expiry 0xFFFFFFFF.
        let p = Connect {
            client_id: String::new(),
            username: Some("u".into()),
            password: Some(Bytes::from_static(b"p")),
            will: Some(LastWill {
                topic: "w".into(),
                payload: Bytes::from_static(b"x"),
                qos: QoS::AtLeastOnce,
                retain: true,
                properties: WillProperties::default(),
            }),
            properties: ConnectProperties { session_expiry_interval: Some(u32::MAX), ..Default::default() },
            ..Default::default()
        };
        #[rustfmt::skip]
        let expected = [
            0x10, 0x1F,
            0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05,
            0b1110_1100, // username, password, will retain, will QoS 1, will
            0x00, 0x00,
            0x05, 0x11, 0xFF, 0xFF, 0xFF, 0xFF,
            0x00, 0x00, // empty client id
            0x00, // will properties
            0x00, 0x01, b'w',
            0x00, 0x01, b'x',
            0x00, 0x01, b'u',
            0x00, 0x01, b'p',
        ];
        assert_bytes(&Packet::Connect(p), &expected);
    }

    #[test]
    fn round_trip_with_every_property() {
        round_trip(&Packet::Connect(full()));
        // Password without user name is allowed in MQTT 5.0 (3.1.2.9).
        round_trip(&Packet::Connect(Connect { username: None, will: None, ..full() }));
        round_trip(&Packet::Connect(Connect::default()));
        assert_eq!(full().encoded_len(), Packet::Connect(full()).encoded_len());
    }

    fn minimal_with_flags(flags: u8) -> Vec<u8> {
        vec![0x10, 0x0D, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, flags, 0x00, 0x3C, 0x00, 0x00, 0x00]
    }

    #[test]
    fn malformed() {
        assert!(matches!(decode_ok(&minimal_with_flags(0x02)), Packet::Connect(_)));
        // [MQTT-3.1.2-3] reserved flag.
        let err = decode_err(&minimal_with_flags(0x03));
        assert_eq!(err.to_string(), "malformed CONNECT: reserved connect flag is set");
        // [MQTT-3.1.2-11] Will QoS without Will.
        assert_eq!(decode_err(&minimal_with_flags(0x08)).reason_code() as u8, 0x81);
        // [MQTT-3.1.2-12] Will QoS 3.
        assert_eq!(decode_err(&minimal_with_flags(0x1C)).reason_code() as u8, 0x81);
        // [MQTT-3.1.2-13] Will Retain without Will.
        assert_eq!(decode_err(&minimal_with_flags(0x20)).reason_code() as u8, 0x81);
        // Username flag but no username.
        assert!(decode_err(&minimal_with_flags(0x80)).to_string().contains("user name"));
        // Protocol name and level.
        let mut bytes = minimal_with_flags(0);
        bytes[4] = b'm';
        assert_eq!(decode_err(&bytes).reason_code() as u8, 0x82);
        let mut bytes = minimal_with_flags(0);
        bytes[8] = 4;
        assert_eq!(decode_err(&bytes).reason_code() as u8, 0x82);
    }

    #[test]
    fn encode_errors() {
        let mut p = full();
        p.will.as_mut().unwrap().topic = "a/+".into();
        assert_eq!(
            encode_err(&Packet::Connect(p)),
            EncodeError::InvalidTopicName(TopicError::WildcardInName('+'))
        );
        let mut p = full();
        p.client_id = "a\0".into();
        assert!(matches!(encode_err(&Packet::Connect(p)), EncodeError::StringContainsNul { .. }));
        let mut p = full();
        p.properties.authentication_method = None;
        assert!(matches!(encode_err(&Packet::Connect(p)), EncodeError::InvalidPacket { .. }));
        let mut p = full();
        p.properties.receive_maximum = Some(0);
        assert!(matches!(encode_err(&Packet::Connect(p)), EncodeError::ValueOutOfRange { .. }));
    }
}
