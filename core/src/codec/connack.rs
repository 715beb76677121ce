//! CONNACK (3.2): the server's answer to CONNECT.

use bytes::{BufMut, BytesMut};

use super::primitives::Reader;
use super::properties::PropertySet;
use super::{ConnAckProperties, ConnectReasonCode, DecodeError, Encodable, EncodeError, PacketType};

/// A CONNACK packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnAck {
    /// Session Present flag (3.2.2.1.1).
    pub session_present: bool,
    /// Connect Reason Code (3.2.2.2).
    pub reason_code: ConnectReasonCode,
    /// CONNACK properties.
    pub properties: ConnAckProperties,
}

impl ConnAck {
    pub(crate) fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let flags = r.u8("connect acknowledge flags")?;
        // [MQTT-3.2.2-1] bits 7-1 are reserved and must be 0.
        if flags & 0xFE != 0 {
            return Err(r.malformed("reserved connect acknowledge flags are set"));
        }
        let raw = r.u8("reason code")?;
        let reason_code = ConnectReasonCode::try_from(raw)
            .map_err(|_| DecodeError::InvalidReasonCode { packet: PacketType::ConnAck, code: raw })?;
        let session_present = flags & 1 != 0;
        // [MQTT-3.2.2-6] Session Present must be 0 with a non-zero reason code.
        if session_present && reason_code != ConnectReasonCode::Success {
            return Err(r.protocol_error("Session Present is set with an error reason code"));
        }
        let properties = ConnAckProperties::decode(r)?;
        if properties.authentication_data.is_some() && properties.authentication_method.is_none() {
            return Err(r.protocol_error("Authentication Data without Authentication Method"));
        }
        Ok(ConnAck { session_present, reason_code, properties })
    }
}

impl Encodable for ConnAck {
    fn packet_type(&self) -> PacketType {
        PacketType::ConnAck
    }

    fn check(&self) -> Result<(), EncodeError> {
        self.properties.check()?;
        let invalid = |detail| EncodeError::InvalidPacket { packet: PacketType::ConnAck, detail };
        if self.session_present && self.reason_code != ConnectReasonCode::Success {
            return Err(invalid("Session Present with an error reason code"));
        }
        if self.properties.authentication_data.is_some() && self.properties.authentication_method.is_none() {
            return Err(invalid("Authentication Data without Authentication Method"));
        }
        Ok(())
    }

    fn body_len(&self) -> usize {
        2 + self.properties.encoded_len()
    }

    fn write_body(&self, buf: &mut BytesMut) {
        buf.put_u8(u8::from(self.session_present));
        buf.put_u8(self.reason_code as u8);
        self.properties.write(buf);
    }
}

super::impl_encode_methods!(ConnAck);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_util::*;
    use crate::codec::Packet;
    use bytes::Bytes;

    fn full() -> ConnAck {
        ConnAck {
            session_present: true,
            reason_code: ConnectReasonCode::Success,
            properties: ConnAckProperties {
                session_expiry_interval: Some(3600),
                receive_maximum: Some(20),
                maximum_qos: Some(1),
                retain_available: Some(0),
                maximum_packet_size: Some(65_536),
                assigned_client_identifier: Some("auto-1".into()),
                topic_alias_maximum: Some(5),
                reason_string: Some("ok".into()),
                user_properties: users(),
                wildcard_subscription_available: Some(1),
                subscription_identifiers_available: Some(0),
                shared_subscription_available: Some(1),
                server_keep_alive: Some(30),
                response_information: Some("resp".into()),
                server_reference: Some("other:1883".into()),
                authentication_method: Some("m".into()),
                authentication_data: Some(Bytes::from_static(b"d")),
            },
        }
    }

    #[test]
    fn byte_exact() {
        let p = ConnAck {
            session_present: false,
            reason_code: ConnectReasonCode::Success,
            properties: Default::default(),
        };
        assert_bytes(&Packet::ConnAck(p), &[0x20, 0x03, 0x00, 0x00, 0x00]);
        // Session present, Receive Maximum 10.
        let p = ConnAck {
            session_present: true,
            reason_code: ConnectReasonCode::Success,
            properties: ConnAckProperties { receive_maximum: Some(10), ..Default::default() },
        };
        assert_bytes(&Packet::ConnAck(p), &[0x20, 0x06, 0x01, 0x00, 0x03, 0x21, 0x00, 0x0A]);
    }

    #[test]
    fn round_trip_with_every_property() {
        round_trip(&Packet::ConnAck(full()));
        for code in ConnectReasonCode::ALL {
            let p = ConnAck { session_present: false, reason_code: *code, properties: Default::default() };
            round_trip(&Packet::ConnAck(p));
        }
    }

    #[test]
    fn malformed() {
        // [MQTT-3.2.2-1] reserved flags.
        assert_eq!(decode_err(&[0x20, 0x03, 0x02, 0x00, 0x00]).reason_code() as u8, 0x81);
        // Unknown reason code.
        assert_eq!(
            decode_err(&[0x20, 0x03, 0x00, 0x01, 0x00]).to_string(),
            "malformed CONNACK: invalid reason code 0x01"
        );
        // [MQTT-3.2.2-6] Session Present with an error.
        assert_eq!(decode_err(&[0x20, 0x03, 0x01, 0x80, 0x00]).reason_code() as u8, 0x82);
        // Missing property length.
        assert_eq!(decode_err(&[0x20, 0x02, 0x00, 0x00]).reason_code() as u8, 0x81);
        // Maximum Packet Size 0.
        assert_eq!(decode_err(&[0x20, 0x08, 0x00, 0x00, 0x05, 0x27, 0, 0, 0, 0]).reason_code() as u8, 0x82);
        let mut p = full();
        p.reason_code = ConnectReasonCode::NotAuthorized;
        assert!(matches!(encode_err(&Packet::ConnAck(p)), EncodeError::InvalidPacket { .. }));
    }
}
