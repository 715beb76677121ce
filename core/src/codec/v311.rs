//! MQTT 3.1.1 (protocol level 4) wire forms of the same [`Packet`] values.
//!
//! There is one packet model: a 3.1.1 packet is a 5.0 packet with no properties, success or
//! granted reason codes and default subscription options. This module only writes and reads
//! that subset at level 4; the fixed header, size checks and the primitives are shared with
//! 5.0 through [`encode_packet`](super::encode_packet) and [`decode`](super::decode). A field
//! 3.1.1 cannot carry is an [`EncodeError::NotInV311`] at encode, never dropped.
//!
//! Section numbers and statement ids in this file are those of OASIS mqtt-v3.1.1-os.

use bytes::{BufMut, BytesMut};

// The protocol name and the connect flags sit where they do in 5.0 (3.1.2.1, 3.1.2.3); the
// Clean Session flag is 5.0's Clean Start.
use super::connect::{
    CLEAN_START as CLEAN_SESSION, PASSWORD, PROTOCOL_NAME, RESERVED, USERNAME, WILL, WILL_QOS_SHIFT,
    WILL_RETAIN,
};
use super::primitives::{check_binary, check_string, prefixed_len, put_binary, put_string, Reader};
use super::properties::PropertySet;
use super::topic::{validate_topic_filter, validate_topic_name};
use super::{
    read_packet_id, ConnAck, Connect, ConnectReasonCode, DecodeError, Disconnect, DisconnectReasonCode,
    Encodable, EncodeError, LastWill, Packet, PacketId, PacketType, PubAck, PubComp, PubRec, PubRel, Publish,
    QoS, SubAck, SubAckReasonCode, Subscribe, Subscription, SubscriptionOptions, UnsubAck, Unsubscribe,
};

/// The protocol level of MQTT 3.1.1 (3.1.2.2).
pub const PROTOCOL_LEVEL: u8 = 4;

/// The CONNACK return code (3.2.2.3) for a 5.0 reason code, if 3.1.1 has one.
pub fn connack_return_code(code: ConnectReasonCode) -> Option<u8> {
    Some(match code {
        ConnectReasonCode::Success => 0,
        ConnectReasonCode::UnsupportedProtocolVersion => 1,
        ConnectReasonCode::ClientIdentifierNotValid => 2,
        ConnectReasonCode::ServerUnavailable => 3,
        ConnectReasonCode::BadUserNameOrPassword => 4,
        ConnectReasonCode::NotAuthorized => 5,
        _ => return None,
    })
}

/// The 5.0 reason code that means what a 3.1.1 CONNACK return code (table 3.1) means.
pub fn connect_reason_from_return_code(code: u8) -> Option<ConnectReasonCode> {
    Some(match code {
        0 => ConnectReasonCode::Success,
        1 => ConnectReasonCode::UnsupportedProtocolVersion,
        2 => ConnectReasonCode::ClientIdentifierNotValid,
        3 => ConnectReasonCode::ServerUnavailable,
        4 => ConnectReasonCode::BadUserNameOrPassword,
        5 => ConnectReasonCode::NotAuthorized,
        _ => return None,
    })
}

/// A packet viewed through its 3.1.1 wire form, for the shared encoder.
pub(crate) struct V311<'a>(pub(crate) &'a Packet);

/// A PUBLISH viewed through its 3.1.1 wire form: the engine encodes its messages in place,
/// without wrapping them in a [`Packet`].
pub(crate) struct V311Publish<'a>(pub(crate) &'a Publish);

impl Encodable for V311Publish<'_> {
    fn packet_type(&self) -> PacketType {
        PacketType::Publish
    }

    fn flags(&self) -> u8 {
        // DUP, QoS and RETAIN sit where they do in 5.0 (3.3.1).
        Encodable::flags(self.0)
    }

    fn check(&self) -> Result<(), EncodeError> {
        no_properties(PacketType::Publish, &self.0.properties)?;
        // Without topic aliases a PUBLISH always names its topic (3.3.2.1).
        if self.0.topic.is_empty() {
            return Err(not_in_v311(PacketType::Publish, "an empty topic name"));
        }
        // The rest (QoS/packet id, DUP, topic) is checked as for 5.0.
        Encodable::check(self.0)
    }

    fn body_len(&self) -> usize {
        let p = self.0;
        prefixed_len(p.topic.len()) + if p.packet_id.is_some() { 2 } else { 0 } + p.payload.len()
    }

    fn write_body(&self, buf: &mut BytesMut) {
        let p = self.0;
        put_string(buf, &p.topic);
        if let Some(id) = p.packet_id {
            buf.put_u16(id.get());
        }
        buf.put_slice(&p.payload);
    }
}

impl Publish {
    /// Appends this PUBLISH in the wire form of `version`; see [`Packet::encode_for`].
    pub fn encode_for(
        &self,
        buf: &mut BytesMut,
        max_packet_size: u32,
        version: super::ProtocolVersion,
    ) -> Result<usize, EncodeError> {
        match version {
            super::ProtocolVersion::V5 => super::encode_packet(self, buf, max_packet_size),
            super::ProtocolVersion::V311 => super::encode_packet(&V311Publish(self), buf, max_packet_size),
        }
    }
}

fn not_in_v311(packet: PacketType, detail: &'static str) -> EncodeError {
    EncodeError::NotInV311 { packet, detail }
}

fn no_properties<P: PropertySet>(packet: PacketType, p: &P) -> Result<(), EncodeError> {
    if p.body_len() == 0 {
        Ok(())
    } else {
        Err(not_in_v311(packet, "properties"))
    }
}

/// Whether a subscription asks only for a QoS: 3.1.1's options byte holds nothing else
/// (3.8.3.1, [MQTT-3.8.3-4]).
fn qos_only(options: &SubscriptionOptions) -> bool {
    *options == SubscriptionOptions { qos: options.qos, ..Default::default() }
}

impl V311<'_> {
    fn check_ack(&self, packet: PacketType, success: bool, props_empty: bool) -> Result<(), EncodeError> {
        // 3.4–3.7: a publish acknowledgement is the packet identifier alone.
        if !success {
            return Err(not_in_v311(packet, "a reason code"));
        }
        if !props_empty {
            return Err(not_in_v311(packet, "properties"));
        }
        Ok(())
    }
}

impl Encodable for V311<'_> {
    fn packet_type(&self) -> PacketType {
        self.0.packet_type()
    }

    fn flags(&self) -> u8 {
        match self.0 {
            Packet::Publish(p) => V311Publish(p).flags(),
            other => other.packet_type().required_flags().unwrap_or(0),
        }
    }

    fn check(&self) -> Result<(), EncodeError> {
        let packet = self.packet_type();
        match self.0 {
            Packet::Connect(c) => {
                no_properties(packet, &c.properties)?;
                check_string("client identifier", &c.client_id)?;
                if let Some(will) = &c.will {
                    if will.properties.body_len() != 0 {
                        return Err(not_in_v311(packet, "Will properties"));
                    }
                    validate_topic_name(&will.topic).map_err(EncodeError::InvalidTopicName)?;
                    check_binary("will payload", &will.payload)?;
                }
                if let Some(username) = &c.username {
                    check_string("user name", username)?;
                }
                if let Some(password) = &c.password {
                    // [MQTT-3.1.2-22] no password without a user name.
                    if c.username.is_none() {
                        return Err(not_in_v311(packet, "a password without a user name"));
                    }
                    check_binary("password", password)?;
                }
                Ok(())
            }
            Packet::ConnAck(c) => {
                no_properties(packet, &c.properties)?;
                if connack_return_code(c.reason_code).is_none() {
                    return Err(not_in_v311(packet, "this reason code"));
                }
                // [MQTT-3.2.2-4] Session Present is 0 with a non-zero return code.
                if c.session_present && c.reason_code != ConnectReasonCode::Success {
                    return Err(EncodeError::InvalidPacket {
                        packet,
                        detail: "Session Present with an error reason code",
                    });
                }
                Ok(())
            }
            Packet::Publish(p) => V311Publish(p).check(),
            Packet::PubAck(a) => self.check_ack(packet, a.reason_code as u8 == 0, a.properties.is_empty()),
            Packet::PubRec(a) => self.check_ack(packet, a.reason_code as u8 == 0, a.properties.is_empty()),
            Packet::PubRel(a) => self.check_ack(packet, a.reason_code as u8 == 0, a.properties.is_empty()),
            Packet::PubComp(a) => self.check_ack(packet, a.reason_code as u8 == 0, a.properties.is_empty()),
            Packet::Subscribe(s) => {
                no_properties(packet, &s.properties)?;
                if s.filters.iter().any(|f| !qos_only(&f.options)) {
                    return Err(not_in_v311(packet, "subscription options other than QoS"));
                }
                Encodable::check(s)
            }
            Packet::SubAck(s) => {
                if !s.properties.is_empty() {
                    return Err(not_in_v311(packet, "properties"));
                }
                // 3.9.3: the return codes are 0x00-0x02 and 0x80.
                let allowed = |c: &SubAckReasonCode| {
                    matches!(
                        c,
                        SubAckReasonCode::GrantedQoS0
                            | SubAckReasonCode::GrantedQoS1
                            | SubAckReasonCode::GrantedQoS2
                            | SubAckReasonCode::UnspecifiedError
                    )
                };
                if !s.reason_codes.iter().all(allowed) {
                    return Err(not_in_v311(packet, "this reason code"));
                }
                Encodable::check(s)
            }
            Packet::Unsubscribe(u) => {
                no_properties(packet, &u.properties)?;
                Encodable::check(u)
            }
            Packet::UnsubAck(u) => {
                // 3.11: UNSUBACK is the packet identifier alone; every filter succeeded.
                if !u.properties.is_empty() {
                    return Err(not_in_v311(packet, "properties"));
                }
                if u.reason_codes.iter().any(|c| *c as u8 != 0) {
                    return Err(not_in_v311(packet, "a reason code"));
                }
                Ok(())
            }
            Packet::PingReq | Packet::PingResp => Ok(()),
            Packet::Disconnect(d) => {
                // 3.14: DISCONNECT has no variable header.
                if d.reason_code != DisconnectReasonCode::NormalDisconnection {
                    return Err(not_in_v311(packet, "a reason code"));
                }
                no_properties(packet, &d.properties)
            }
            Packet::Auth(_) => Err(not_in_v311(packet, "the packet (enhanced authentication)")),
        }
    }

    fn body_len(&self) -> usize {
        match self.0 {
            Packet::Connect(c) => {
                let mut len = prefixed_len(PROTOCOL_NAME.len()) + 1 + 1 + 2 + prefixed_len(c.client_id.len());
                if let Some(will) = &c.will {
                    len += prefixed_len(will.topic.len()) + prefixed_len(will.payload.len());
                }
                len += c.username.as_ref().map_or(0, |u| prefixed_len(u.len()));
                len += c.password.as_ref().map_or(0, |p| prefixed_len(p.len()));
                len
            }
            Packet::ConnAck(_) => 2,
            Packet::Publish(p) => V311Publish(p).body_len(),
            Packet::PubAck(_) | Packet::PubRec(_) | Packet::PubRel(_) | Packet::PubComp(_) => 2,
            Packet::Subscribe(s) => {
                2 + s.filters.iter().map(|f| prefixed_len(f.filter.len()) + 1).sum::<usize>()
            }
            Packet::SubAck(s) => 2 + s.reason_codes.len(),
            Packet::Unsubscribe(u) => 2 + u.filters.iter().map(|f| prefixed_len(f.len())).sum::<usize>(),
            Packet::UnsubAck(_) => 2,
            Packet::PingReq | Packet::PingResp | Packet::Disconnect(_) | Packet::Auth(_) => 0,
        }
    }

    fn write_body(&self, buf: &mut BytesMut) {
        match self.0 {
            Packet::Connect(c) => {
                put_string(buf, PROTOCOL_NAME);
                buf.put_u8(PROTOCOL_LEVEL);
                buf.put_u8(c.flags());
                buf.put_u16(c.keep_alive);
                put_string(buf, &c.client_id);
                if let Some(will) = &c.will {
                    put_string(buf, &will.topic);
                    put_binary(buf, &will.payload);
                }
                if let Some(username) = &c.username {
                    put_string(buf, username);
                }
                if let Some(password) = &c.password {
                    put_binary(buf, password);
                }
            }
            Packet::ConnAck(c) => {
                buf.put_u8(u8::from(c.session_present));
                // check() refused codes without a 3.1.1 return code.
                buf.put_u8(connack_return_code(c.reason_code).unwrap_or(0x80));
            }
            Packet::Publish(p) => V311Publish(p).write_body(buf),
            Packet::PubAck(a) => buf.put_u16(a.packet_id.get()),
            Packet::PubRec(a) => buf.put_u16(a.packet_id.get()),
            Packet::PubRel(a) => buf.put_u16(a.packet_id.get()),
            Packet::PubComp(a) => buf.put_u16(a.packet_id.get()),
            Packet::Subscribe(s) => {
                buf.put_u16(s.packet_id.get());
                for f in &s.filters {
                    put_string(buf, &f.filter);
                    buf.put_u8(f.options.qos as u8);
                }
            }
            Packet::SubAck(s) => {
                buf.put_u16(s.packet_id.get());
                for code in &s.reason_codes {
                    buf.put_u8(*code as u8);
                }
            }
            Packet::Unsubscribe(u) => {
                buf.put_u16(u.packet_id.get());
                for f in &u.filters {
                    put_string(buf, f);
                }
            }
            Packet::UnsubAck(u) => buf.put_u16(u.packet_id.get()),
            Packet::PingReq | Packet::PingResp | Packet::Disconnect(_) | Packet::Auth(_) => {}
        }
    }
}

/// Reads a 3.1.1 body. The fixed header was checked by the shared decoder.
pub(crate) fn decode_body(packet: PacketType, flags: u8, r: &mut Reader) -> Result<Packet, DecodeError> {
    Ok(match packet {
        PacketType::Connect => Packet::Connect(decode_connect(r)?),
        PacketType::ConnAck => {
            let ack_flags = r.u8("connect acknowledge flags")?;
            // [MQTT-3.2.2-1]... bits 7-1 are reserved (3.2.2.1).
            if ack_flags & 0xFE != 0 {
                return Err(r.malformed("reserved connect acknowledge flags are set"));
            }
            let raw = r.u8("return code")?;
            // Table 3.1: return codes 6-255 are reserved.
            let reason_code = connect_reason_from_return_code(raw)
                .ok_or(DecodeError::InvalidReasonCode { packet, code: raw })?;
            let session_present = ack_flags & 1 != 0;
            // [MQTT-3.2.2-4] Session Present is 0 with a non-zero return code.
            if session_present && reason_code != ConnectReasonCode::Success {
                return Err(r.protocol_error("Session Present is set with a non-zero return code"));
            }
            Packet::ConnAck(ConnAck { session_present, reason_code, properties: Default::default() })
        }
        PacketType::Publish => Packet::Publish(decode_publish(flags, r)?),
        PacketType::PubAck => Packet::PubAck(PubAck::new(read_packet_id(r)?)),
        PacketType::PubRec => Packet::PubRec(PubRec::new(read_packet_id(r)?)),
        PacketType::PubRel => Packet::PubRel(PubRel::new(read_packet_id(r)?)),
        PacketType::PubComp => Packet::PubComp(PubComp::new(read_packet_id(r)?)),
        PacketType::Subscribe => {
            let packet_id = read_packet_id(r)?;
            let mut filters = Vec::new();
            while !r.is_empty() {
                let filter = r.string("topic filter")?;
                validate_topic_filter(&filter)
                    .map_err(|source| DecodeError::TopicFilterInvalid { packet, source })?;
                let b = r.u8("requested QoS")?;
                // [MQTT-3-8.3-4] the upper six bits are reserved and must be 0.
                if b & 0b1111_1100 != 0 {
                    return Err(r.malformed("reserved bits of the requested QoS are set"));
                }
                let qos = QoS::try_from(b).map_err(|_| r.malformed("requested QoS is 3"))?;
                filters.push(Subscription {
                    filter,
                    options: SubscriptionOptions { qos, ..Default::default() },
                });
            }
            // [MQTT-3.8.3-3] at least one topic filter.
            if filters.is_empty() {
                return Err(r.protocol_error("no topic filter"));
            }
            Packet::Subscribe(Subscribe { packet_id, filters, properties: Default::default() })
        }
        PacketType::SubAck => {
            let packet_id = read_packet_id(r)?;
            let mut reason_codes = Vec::new();
            while !r.is_empty() {
                let raw = r.u8("return code")?;
                // 3.9.3: only 0x00, 0x01, 0x02 and 0x80 are allowed ([MQTT-3.9.3-2]).
                let code = match raw {
                    0x00 => SubAckReasonCode::GrantedQoS0,
                    0x01 => SubAckReasonCode::GrantedQoS1,
                    0x02 => SubAckReasonCode::GrantedQoS2,
                    0x80 => SubAckReasonCode::UnspecifiedError,
                    _ => return Err(DecodeError::InvalidReasonCode { packet, code: raw }),
                };
                reason_codes.push(code);
            }
            if reason_codes.is_empty() {
                return Err(r.protocol_error("no return code"));
            }
            Packet::SubAck(SubAck { packet_id, reason_codes, properties: Default::default() })
        }
        PacketType::Unsubscribe => {
            let packet_id = read_packet_id(r)?;
            let mut filters = Vec::new();
            while !r.is_empty() {
                let filter = r.string("topic filter")?;
                validate_topic_filter(&filter)
                    .map_err(|source| DecodeError::TopicFilterInvalid { packet, source })?;
                filters.push(filter);
            }
            // [MQTT-3.10.3-2] at least one topic filter.
            if filters.is_empty() {
                return Err(r.protocol_error("no topic filter"));
            }
            Packet::Unsubscribe(Unsubscribe { packet_id, filters, properties: Default::default() })
        }
        // 3.11.3: no payload, hence no per-filter codes: the session reports Success for each.
        PacketType::UnsubAck => Packet::UnsubAck(UnsubAck {
            packet_id: read_packet_id(r)?,
            reason_codes: Vec::new(),
            properties: Default::default(),
        }),
        PacketType::PingReq => Packet::PingReq,
        PacketType::PingResp => Packet::PingResp,
        // 3.14: no variable header or payload. Only a client sends it; the session treats one
        // from the server as a protocol violation.
        PacketType::Disconnect => Packet::Disconnect(Disconnect::normal()),
        // 2.2.1: packet type 15 is reserved at level 4.
        PacketType::Auth => return Err(DecodeError::ReservedPacketType),
    })
}

fn decode_connect(r: &mut Reader) -> Result<Connect, DecodeError> {
    // [MQTT-3.1.2-1] the protocol name is "MQTT".
    if r.string("protocol name")? != PROTOCOL_NAME {
        return Err(r.protocol_error("protocol name is not \"MQTT\""));
    }
    // [MQTT-3.1.2-2] this decoder reads level 4 only.
    if r.u8("protocol level")? != PROTOCOL_LEVEL {
        return Err(r.protocol_error("protocol level is not 4"));
    }
    let flags = r.u8("connect flags")?;
    // [MQTT-3.1.2-3] the reserved flag must be 0.
    if flags & RESERVED != 0 {
        return Err(r.malformed("reserved connect flag is set"));
    }
    let will_flag = flags & WILL != 0;
    // [MQTT-3.1.2-14] Will QoS 3 is not allowed.
    let will_qos =
        QoS::try_from((flags >> WILL_QOS_SHIFT) & 0b11).map_err(|_| r.malformed("Will QoS is 3"))?;
    // [MQTT-3.1.2-13], [MQTT-3.1.2-15]: without a Will, Will QoS and Will Retain are 0.
    if !will_flag && (will_qos != QoS::AtMostOnce || flags & WILL_RETAIN != 0) {
        return Err(r.malformed("Will QoS or Will Retain is set without a Will"));
    }
    // [MQTT-3.1.2-22] no password without a user name.
    if flags & USERNAME == 0 && flags & PASSWORD != 0 {
        return Err(r.malformed("Password flag is set without User Name flag"));
    }
    let keep_alive = r.u16("keep alive")?;
    let client_id = r.string("client identifier")?;
    let will = if will_flag {
        let topic = r.string("will topic")?;
        validate_topic_name(&topic)
            .map_err(|source| DecodeError::TopicNameInvalid { packet: r.packet(), source })?;
        let payload = r.binary("will message")?;
        Some(LastWill {
            topic,
            payload,
            qos: will_qos,
            retain: flags & WILL_RETAIN != 0,
            ..Default::default()
        })
    } else {
        None
    };
    let username = if flags & USERNAME != 0 { Some(r.string("user name")?) } else { None };
    let password = if flags & PASSWORD != 0 { Some(r.binary("password")?) } else { None };
    Ok(Connect {
        clean_start: flags & CLEAN_SESSION != 0,
        keep_alive,
        client_id,
        username,
        password,
        will,
        properties: Default::default(),
    })
}

fn decode_publish(flags: u8, r: &mut Reader) -> Result<Publish, DecodeError> {
    let (qos, dup, retain) = Publish::header_flags(flags, r)?;
    let topic = r.string("topic name")?;
    // [MQTT-3.3.2-1] the topic name is present; [MQTT-3.3.2-2] without wildcards.
    validate_topic_name(&topic)
        .map_err(|source| DecodeError::TopicNameInvalid { packet: r.packet(), source })?;
    let packet_id: Option<PacketId> = if qos == QoS::AtMostOnce { None } else { Some(read_packet_id(r)?) };
    let payload = r.rest();
    Ok(Publish { dup, qos, retain, topic, packet_id, properties: Default::default(), payload })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{
        decode, Decoded, ProtocolVersion, PubAckReasonCode, RetainHandling, UnsubAckReasonCode,
    };
    use bytes::Bytes;

    const V: ProtocolVersion = ProtocolVersion::V311;

    fn pid(n: u16) -> PacketId {
        PacketId::new(n).unwrap()
    }

    fn enc(p: &Packet) -> Vec<u8> {
        let mut buf = BytesMut::new();
        let n = p.encode_for(&mut buf, u32::MAX, V).unwrap();
        assert_eq!(n, buf.len());
        assert_eq!(n, p.encoded_len_for(V));
        buf.to_vec()
    }

    fn dec(bytes: &[u8]) -> Result<Packet, DecodeError> {
        let mut buf = BytesMut::from(bytes);
        match decode(&mut buf, u32::MAX, V)? {
            Decoded::Packet(p) => {
                assert!(buf.is_empty());
                Ok(p)
            }
            Decoded::Incomplete { needed } => panic!("incomplete, {needed} more"),
        }
    }

    /// Encodes to exactly `bytes` and decodes back to `p`.
    fn exact(p: Packet, bytes: &[u8]) {
        assert_eq!(enc(&p), bytes, "{p:?}");
        assert_eq!(dec(bytes), Ok(p));
    }

    fn refused(p: Packet) -> EncodeError {
        let mut buf = BytesMut::new();
        let e = p.encode_for(&mut buf, u32::MAX, V).unwrap_err();
        assert!(buf.is_empty(), "nothing written on error");
        e
    }

    #[test]
    fn connect_is_level_4_without_properties() {
        // 3.1.2: "00 04 'MQTT' 04 flags keepalive", then the payload in the order of 3.1.3.
        let p = Packet::Connect(Connect {
            clean_start: true,
            keep_alive: 60,
            client_id: "c1".into(),
            ..Default::default()
        });
        exact(p, &[0x10, 14, 0, 4, b'M', b'Q', b'T', b'T', 4, 0b0000_0010, 0, 60, 0, 2, b'c', b'1']);
        // Will (QoS 1, retained), user name and password: flags 0xEE with Clean Session.
        let p = Packet::Connect(Connect {
            clean_start: true,
            keep_alive: 10,
            client_id: "c".into(),
            username: Some("u".into()),
            password: Some(Bytes::from_static(b"p")),
            will: Some(LastWill {
                topic: "w".into(),
                payload: Bytes::from_static(b"x"),
                qos: QoS::AtLeastOnce,
                retain: true,
                ..Default::default()
            }),
            ..Default::default()
        });
        exact(
            p,
            &[
                0x10, 25, 0, 4, b'M', b'Q', b'T', b'T', 4, 0xEE, 0, 10, 0, 1, b'c', 0, 1, b'w', 0, 1, b'x',
                0, 1, b'u', 0, 1, b'p',
            ],
        );
        // Clean Session 0 keeps the session (3.1.2.4).
        let p = Packet::Connect(Connect { keep_alive: 0, client_id: "c".into(), ..Default::default() });
        exact(p, &[0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 4, 0, 0, 0, 0, 1, b'c']);
    }

    #[test]
    fn connect_refusals() {
        let mut c = Connect { client_id: "c".into(), ..Default::default() };
        c.properties.session_expiry_interval = Some(10);
        assert_eq!(
            refused(Packet::Connect(c)),
            EncodeError::NotInV311 { packet: PacketType::Connect, detail: "properties" }
        );
        // [MQTT-3.1.2-22]
        let c =
            Connect { client_id: "c".into(), password: Some(Bytes::from_static(b"p")), ..Default::default() };
        assert!(matches!(refused(Packet::Connect(c)), EncodeError::NotInV311 { .. }));
        assert!(dec(&[0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x40, 0, 0, 0, 1, b'c']).is_err());
        // Level 5 is not level 4.
        assert!(matches!(
            dec(&[0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 5, 0, 0, 0, 0, 1, b'c']),
            Err(DecodeError::ProtocolError { .. })
        ));
    }

    #[test]
    fn connack_return_codes_map_to_reason_codes() {
        for (rc, reason) in [
            (0u8, ConnectReasonCode::Success),
            (1, ConnectReasonCode::UnsupportedProtocolVersion),
            (2, ConnectReasonCode::ClientIdentifierNotValid),
            (3, ConnectReasonCode::ServerUnavailable),
            (4, ConnectReasonCode::BadUserNameOrPassword),
            (5, ConnectReasonCode::NotAuthorized),
        ] {
            let p = Packet::ConnAck(ConnAck {
                session_present: false,
                reason_code: reason,
                properties: Default::default(),
            });
            exact(p, &[0x20, 2, 0, rc]);
        }
        exact(
            Packet::ConnAck(ConnAck {
                session_present: true,
                reason_code: ConnectReasonCode::Success,
                properties: Default::default(),
            }),
            &[0x20, 2, 1, 0],
        );
        // Table 3.1: 6-255 are reserved; [MQTT-3.2.2-4] no Session Present with a refusal.
        assert_eq!(
            dec(&[0x20, 2, 0, 6]),
            Err(DecodeError::InvalidReasonCode { packet: PacketType::ConnAck, code: 6 })
        );
        assert!(matches!(dec(&[0x20, 2, 1, 5]), Err(DecodeError::ProtocolError { .. })));
        // A 5.0 CONNACK (with a property length byte) is not a 3.1.1 one.
        assert!(dec(&[0x20, 3, 0, 0, 0]).is_err());
        let p = Packet::ConnAck(ConnAck {
            session_present: false,
            reason_code: ConnectReasonCode::Banned,
            properties: Default::default(),
        });
        assert!(matches!(refused(p), EncodeError::NotInV311 { .. }));
    }

    #[test]
    fn publish_has_no_properties() {
        let p = Packet::Publish(Publish {
            dup: true,
            qos: QoS::AtLeastOnce,
            retain: true,
            topic: "a/b".into(),
            packet_id: Some(pid(10)),
            properties: Default::default(),
            payload: Bytes::from_static(b"hi"),
        });
        exact(p, &[0x3B, 9, 0, 3, b'a', b'/', b'b', 0, 10, b'h', b'i']);
        let p = Packet::Publish(Publish {
            topic: "t".into(),
            payload: Bytes::from_static(b"x"),
            ..Default::default()
        });
        exact(p, &[0x30, 4, 0, 1, b't', b'x']);
        let mut p = Publish { topic: "t".into(), ..Default::default() };
        p.properties.topic_alias = Some(1);
        assert!(matches!(refused(Packet::Publish(p)), EncodeError::NotInV311 { .. }));
        let mut p = Publish { topic: "t".into(), ..Default::default() };
        p.properties.user_properties.push(("k".into(), "v".into()));
        assert!(matches!(refused(Packet::Publish(p)), EncodeError::NotInV311 { .. }));
        // An empty topic name is invalid at level 4 ([MQTT-4.7.3-1]).
        assert!(matches!(dec(&[0x30, 2, 0, 0]), Err(DecodeError::TopicNameInvalid { .. })));
    }

    #[test]
    fn publish_acknowledgements_are_the_packet_id_alone() {
        exact(Packet::PubAck(PubAck::new(pid(7))), &[0x40, 2, 0, 7]);
        exact(Packet::PubRec(PubRec::new(pid(7))), &[0x50, 2, 0, 7]);
        exact(Packet::PubRel(PubRel::new(pid(7))), &[0x62, 2, 0, 7]);
        exact(Packet::PubComp(PubComp::new(pid(7))), &[0x70, 2, 0, 7]);
        // The 5.0 form with a reason code is one byte too many.
        assert!(matches!(dec(&[0x40, 3, 0, 7, 0x10]), Err(DecodeError::Malformed { .. })));
        let mut a = PubAck::new(pid(7));
        a.reason_code = PubAckReasonCode::NoMatchingSubscribers;
        assert!(matches!(refused(Packet::PubAck(a)), EncodeError::NotInV311 { .. }));
    }

    #[test]
    fn subscribe_carries_a_qos_byte_per_filter() {
        let p = Packet::Subscribe(Subscribe {
            packet_id: pid(1),
            filters: vec![
                Subscription {
                    filter: "a/+".into(),
                    options: SubscriptionOptions { qos: QoS::ExactlyOnce, ..Default::default() },
                },
                Subscription { filter: "#".into(), options: SubscriptionOptions::default() },
            ],
            properties: Default::default(),
        });
        exact(p, &[0x82, 12, 0, 1, 0, 3, b'a', b'/', b'+', 2, 0, 1, b'#', 0]);
        // [MQTT-3.8.3-4] reserved bits of the requested QoS byte.
        assert!(matches!(dec(&[0x82, 6, 0, 1, 0, 1, b'#', 0x04]), Err(DecodeError::Malformed { .. })));
        for options in [
            SubscriptionOptions { no_local: true, ..Default::default() },
            SubscriptionOptions { retain_as_published: true, ..Default::default() },
            SubscriptionOptions { retain_handling: RetainHandling::DoNotSend, ..Default::default() },
        ] {
            let p = Packet::Subscribe(Subscribe {
                packet_id: pid(1),
                filters: vec![Subscription { filter: "t".into(), options }],
                properties: Default::default(),
            });
            assert_eq!(
                refused(p),
                EncodeError::NotInV311 {
                    packet: PacketType::Subscribe,
                    detail: "subscription options other than QoS"
                }
            );
        }
        let mut s = Subscribe {
            packet_id: pid(1),
            filters: vec![Subscription { filter: "t".into(), options: Default::default() }],
            properties: Default::default(),
        };
        s.properties.subscription_identifier = Some(3);
        assert!(matches!(refused(Packet::Subscribe(s)), EncodeError::NotInV311 { .. }));
    }

    #[test]
    fn suback_return_codes() {
        let p = Packet::SubAck(SubAck {
            packet_id: pid(1),
            reason_codes: vec![
                SubAckReasonCode::GrantedQoS0,
                SubAckReasonCode::GrantedQoS1,
                SubAckReasonCode::GrantedQoS2,
                SubAckReasonCode::UnspecifiedError,
            ],
            properties: Default::default(),
        });
        exact(p, &[0x90, 6, 0, 1, 0, 1, 2, 0x80]);
        // 3.9.3: 0x87 is a 5.0 reason code, not a 3.1.1 return code.
        assert_eq!(
            dec(&[0x90, 3, 0, 1, 0x87]),
            Err(DecodeError::InvalidReasonCode { packet: PacketType::SubAck, code: 0x87 })
        );
    }

    #[test]
    fn unsubscribe_and_unsuback() {
        let p = Packet::Unsubscribe(Unsubscribe {
            packet_id: pid(2),
            filters: vec!["a".into(), "b/#".into()],
            properties: Default::default(),
        });
        exact(p, &[0xA2, 10, 0, 2, 0, 1, b'a', 0, 3, b'b', b'/', b'#']);
        // 3.11: no payload; the session reports Success for each filter.
        exact(
            Packet::UnsubAck(UnsubAck {
                packet_id: pid(2),
                reason_codes: vec![],
                properties: Default::default(),
            }),
            &[0xB0, 2, 0, 2],
        );
        let p = Packet::UnsubAck(UnsubAck {
            packet_id: pid(2),
            reason_codes: vec![UnsubAckReasonCode::NoSubscriptionExisted],
            properties: Default::default(),
        });
        assert!(matches!(refused(p), EncodeError::NotInV311 { .. }));
    }

    #[test]
    fn disconnect_ping_and_no_auth() {
        exact(Packet::Disconnect(Disconnect::normal()), &[0xE0, 0]);
        exact(Packet::PingReq, &[0xC0, 0]);
        exact(Packet::PingResp, &[0xD0, 0]);
        // 3.14: no reason code, no properties.
        assert!(dec(&[0xE0, 1, 0]).is_err());
        assert!(matches!(
            refused(Packet::Disconnect(Disconnect::with_reason(
                DisconnectReasonCode::DisconnectWithWillMessage
            ))),
            EncodeError::NotInV311 { .. }
        ));
        let mut d = Disconnect::normal();
        d.properties.session_expiry_interval = Some(0);
        assert!(matches!(refused(Packet::Disconnect(d)), EncodeError::NotInV311 { .. }));
        // 2.2.1: type 15 is reserved at level 4.
        assert_eq!(dec(&[0xF0, 0]), Err(DecodeError::ReservedPacketType));
        assert!(matches!(
            refused(Packet::Auth(crate::codec::Auth {
                reason_code: crate::codec::AuthReasonCode::Success,
                properties: Default::default()
            })),
            EncodeError::NotInV311 { .. }
        ));
    }

    #[test]
    fn five_zero_bytes_are_unchanged() {
        // The 5.0 paths stay as they were: the same packet differs only where 5.0 adds fields.
        let p = Packet::PubAck(PubAck::new(pid(7)));
        let mut five = BytesMut::new();
        p.encode_for(&mut five, u32::MAX, ProtocolVersion::V5).unwrap();
        let mut plain = BytesMut::new();
        p.encode(&mut plain).unwrap();
        assert_eq!(five, plain);
        let c = Packet::Connect(Connect { clean_start: true, client_id: "c".into(), ..Default::default() });
        let mut five = BytesMut::new();
        c.encode_for(&mut five, u32::MAX, ProtocolVersion::V5).unwrap();
        assert_eq!(five[8], 5);
        assert_eq!(&enc(&c)[8..9], &[4]);
    }
}
