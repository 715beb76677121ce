//! The MQTT codec: every packet in both directions, with no IO, for MQTT 5.0 and 3.1.1.
//!
//! [`decode`] takes bytes from a `BytesMut` as they arrive and returns whole packets;
//! [`Packet::encode`] writes one (5.0) and [`Packet::encode_for`] writes one at a given
//! [`ProtocolVersion`]. Both versions share one packet model: [`v311`] holds only the
//! level-4 wire forms. Nothing here panics on input: a malformed packet is a
//! [`DecodeError`] that names what is wrong and carries the DISCONNECT reason code the
//! specification requires.

pub mod auth;
pub mod connack;
pub mod connect;
pub mod disconnect;
pub mod error;
pub mod ping;
pub mod primitives;
pub mod properties;
pub mod puback;
pub mod pubcomp;
pub mod publish;
pub mod pubrec;
pub mod pubrel;
pub mod reason;
pub mod suback;
pub mod subscribe;
#[cfg(test)]
mod test_util;
pub mod topic;
pub mod unsuback;
pub mod unsubscribe;
pub mod v311;

pub use auth::Auth;
pub use connack::ConnAck;
pub use connect::{Connect, LastWill};
pub use disconnect::Disconnect;
pub use error::{DecodeError, EncodeError, FieldProblem};
pub use primitives::{MAX_STRING_LEN, MAX_VARINT};
pub use properties::*;
pub use puback::PubAck;
pub use pubcomp::PubComp;
pub use publish::{Publish, MAX_PAYLOAD};
pub use pubrec::PubRec;
pub use pubrel::PubRel;
pub use reason::*;
pub use suback::SubAck;
pub use subscribe::{RetainHandling, Subscribe, Subscription, SubscriptionOptions};
pub use topic::{matches, validate_topic_filter, validate_topic_name, TopicError};
pub use unsuback::UnsubAck;
pub use unsubscribe::Unsubscribe;

use bytes::{BufMut, BytesMut};

use primitives::{put_varint, read_varint_prefix, varint_len, Reader, VarintPrefix};

/// The protocol version spoken on a connection: it fixes the wire form of every packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ProtocolVersion {
    /// MQTT 5.0 (protocol level 5).
    #[default]
    V5,
    /// MQTT 3.1.1 (protocol level 4).
    V311,
}

impl ProtocolVersion {
    /// The Protocol Level byte of CONNECT (3.1.2.2 in both specifications).
    pub fn level(self) -> u8 {
        match self {
            ProtocolVersion::V5 => 5,
            ProtocolVersion::V311 => v311::PROTOCOL_LEVEL,
        }
    }

    /// The version for a Protocol Level byte: 5 or 4.
    pub fn from_level(level: u8) -> Option<Self> {
        match level {
            5 => Some(ProtocolVersion::V5),
            4 => Some(ProtocolVersion::V311),
            _ => None,
        }
    }
}

impl std::fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProtocolVersion::V5 => "MQTT 5.0",
            ProtocolVersion::V311 => "MQTT 3.1.1",
        })
    }
}

/// A packet identifier: never zero ([MQTT-2.2.1-3]).
pub type PacketId = std::num::NonZeroU16;

/// Quality of service levels (4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(u8)]
pub enum QoS {
    /// At most once.
    #[default]
    AtMostOnce = 0,
    /// At least once.
    AtLeastOnce = 1,
    /// Exactly once.
    ExactlyOnce = 2,
}

impl TryFrom<u8> for QoS {
    type Error = u8;
    fn try_from(value: u8) -> Result<Self, u8> {
        match value {
            0 => Ok(QoS::AtMostOnce),
            1 => Ok(QoS::AtLeastOnce),
            2 => Ok(QoS::ExactlyOnce),
            other => Err(other),
        }
    }
}

/// Any MQTT 5.0 control packet.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Packet {
    Connect(Connect),
    ConnAck(ConnAck),
    Publish(Publish),
    PubAck(PubAck),
    PubRec(PubRec),
    PubRel(PubRel),
    PubComp(PubComp),
    Subscribe(Subscribe),
    SubAck(SubAck),
    Unsubscribe(Unsubscribe),
    UnsubAck(UnsubAck),
    PingReq,
    PingResp,
    Disconnect(Disconnect),
    Auth(Auth),
}

/// The control packet types (2.1.2) with their wire values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
#[allow(missing_docs)]
pub enum PacketType {
    Connect = 1,
    ConnAck = 2,
    Publish = 3,
    PubAck = 4,
    PubRec = 5,
    PubRel = 6,
    PubComp = 7,
    Subscribe = 8,
    SubAck = 9,
    Unsubscribe = 10,
    UnsubAck = 11,
    PingReq = 12,
    PingResp = 13,
    Disconnect = 14,
    Auth = 15,
}

impl PacketType {
    /// The type for the high nibble of a fixed header; 0 is reserved and gives `None`.
    pub fn from_u8(value: u8) -> Option<Self> {
        use PacketType::*;
        Some(match value {
            1 => Connect,
            2 => ConnAck,
            3 => Publish,
            4 => PubAck,
            5 => PubRec,
            6 => PubRel,
            7 => PubComp,
            8 => Subscribe,
            9 => SubAck,
            10 => Unsubscribe,
            11 => UnsubAck,
            12 => PingReq,
            13 => PingResp,
            14 => Disconnect,
            15 => Auth,
            _ => return None,
        })
    }

    /// The specification's name, e.g. "PUBLISH".
    pub fn name(self) -> &'static str {
        use PacketType::*;
        match self {
            Connect => "CONNECT",
            ConnAck => "CONNACK",
            Publish => "PUBLISH",
            PubAck => "PUBACK",
            PubRec => "PUBREC",
            PubRel => "PUBREL",
            PubComp => "PUBCOMP",
            Subscribe => "SUBSCRIBE",
            SubAck => "SUBACK",
            Unsubscribe => "UNSUBSCRIBE",
            UnsubAck => "UNSUBACK",
            PingReq => "PINGREQ",
            PingResp => "PINGRESP",
            Disconnect => "DISCONNECT",
            Auth => "AUTH",
        }
    }

    /// The fixed-header flags this type requires, or `None` for PUBLISH, whose flags carry
    /// DUP, QoS and RETAIN ([MQTT-2.1.3-1], table 2-2).
    pub fn required_flags(self) -> Option<u8> {
        match self {
            PacketType::Publish => None,
            PacketType::PubRel | PacketType::Subscribe | PacketType::Unsubscribe => Some(0b0010),
            _ => Some(0),
        }
    }
}

impl std::fmt::Display for PacketType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One packet's body: what the shared encoder needs to write the fixed header, check sizes
/// and write the rest.
pub(crate) trait Encodable {
    /// The packet type.
    fn packet_type(&self) -> PacketType;
    /// The low four bits of the first byte.
    fn flags(&self) -> u8 {
        self.packet_type().required_flags().unwrap_or(0)
    }
    /// Checks every field; called before anything is written.
    fn check(&self) -> Result<(), EncodeError>;
    /// Length of the variable header and payload (the remaining length).
    fn body_len(&self) -> usize;
    /// Writes the variable header and payload, exactly `body_len()` bytes.
    fn write_body(&self, buf: &mut BytesMut);
}

/// Full encoded size of a body: fixed header included.
pub(crate) fn full_len(body_len: usize) -> usize {
    1 + varint_len(body_len) + body_len
}

/// Checks and writes one packet; nothing is written on error.
pub(crate) fn encode_packet(
    p: &dyn Encodable,
    buf: &mut BytesMut,
    max_packet_size: u32,
) -> Result<usize, EncodeError> {
    p.check()?;
    let packet = p.packet_type();
    let body = p.body_len();
    if body > MAX_VARINT as usize {
        return Err(EncodeError::RemainingLengthTooLarge { packet, length: body });
    }
    let size = full_len(body);
    if size as u64 > u64::from(max_packet_size) {
        return Err(EncodeError::PacketTooLarge { packet, size, max: max_packet_size });
    }
    buf.reserve(size);
    let start = buf.len();
    buf.put_u8(((packet as u8) << 4) | p.flags());
    put_varint(buf, body as u32);
    p.write_body(buf);
    debug_assert_eq!(buf.len() - start, size, "{packet} body_len disagrees with write_body");
    Ok(size)
}

/// Adds the public `encode`, `encode_with_max` and `encoded_len` methods to a packet struct.
macro_rules! impl_encode_methods {
    ($ty:ty) => {
        impl $ty {
            /// Appends the whole packet (fixed header included) to `buf` and returns the number
            /// of bytes written. Every field is checked first: on error `buf` is unchanged.
            pub fn encode(&self, buf: &mut ::bytes::BytesMut) -> Result<usize, $crate::codec::EncodeError> {
                $crate::codec::encode_packet(self, buf, u32::MAX)
            }

            /// Like [`Self::encode`], and fails with [`EncodeError::PacketTooLarge`](
            /// $crate::codec::EncodeError::PacketTooLarge) when the packet is larger than
            /// `max_packet_size` (the peer's Maximum Packet Size).
            pub fn encode_with_max(
                &self,
                buf: &mut ::bytes::BytesMut,
                max_packet_size: u32,
            ) -> Result<usize, $crate::codec::EncodeError> {
                $crate::codec::encode_packet(self, buf, max_packet_size)
            }

            /// The full encoded size, fixed header included.
            pub fn encoded_len(&self) -> usize {
                $crate::codec::full_len($crate::codec::Encodable::body_len(self))
            }
        }
    };
}
pub(crate) use impl_encode_methods;

impl Packet {
    /// The packet's type.
    pub fn packet_type(&self) -> PacketType {
        self.as_encodable().packet_type()
    }

    fn as_encodable(&self) -> &dyn Encodable {
        match self {
            Packet::Connect(p) => p,
            Packet::ConnAck(p) => p,
            Packet::Publish(p) => p,
            Packet::PubAck(p) => p,
            Packet::PubRec(p) => p,
            Packet::PubRel(p) => p,
            Packet::PubComp(p) => p,
            Packet::Subscribe(p) => p,
            Packet::SubAck(p) => p,
            Packet::Unsubscribe(p) => p,
            Packet::UnsubAck(p) => p,
            Packet::PingReq => &ping::PINGREQ,
            Packet::PingResp => &ping::PINGRESP,
            Packet::Disconnect(p) => p,
            Packet::Auth(p) => p,
        }
    }

    /// Appends the packet to `buf` and returns the number of bytes written. Every field is
    /// checked first: on error `buf` is unchanged.
    pub fn encode(&self, buf: &mut BytesMut) -> Result<usize, EncodeError> {
        encode_packet(self.as_encodable(), buf, u32::MAX)
    }

    /// Like [`Packet::encode`], and fails with [`EncodeError::PacketTooLarge`] when the packet
    /// is larger than `max_packet_size` (the peer's Maximum Packet Size).
    pub fn encode_with_max(&self, buf: &mut BytesMut, max_packet_size: u32) -> Result<usize, EncodeError> {
        encode_packet(self.as_encodable(), buf, max_packet_size)
    }

    /// The full encoded size, fixed header included.
    pub fn encoded_len(&self) -> usize {
        full_len(self.as_encodable().body_len())
    }

    /// Appends the packet in the wire form of `version`, failing like
    /// [`Packet::encode_with_max`]. On 3.1.1 a field that version cannot carry (a property,
    /// a reason code, a subscription option other than QoS, AUTH) is
    /// [`EncodeError::NotInV311`]; nothing is dropped silently.
    pub fn encode_for(
        &self,
        buf: &mut BytesMut,
        max_packet_size: u32,
        version: ProtocolVersion,
    ) -> Result<usize, EncodeError> {
        match version {
            ProtocolVersion::V5 => encode_packet(self.as_encodable(), buf, max_packet_size),
            ProtocolVersion::V311 => encode_packet(&v311::V311(self), buf, max_packet_size),
        }
    }

    /// The full encoded size in the wire form of `version`, fixed header included.
    pub fn encoded_len_for(&self, version: ProtocolVersion) -> usize {
        match version {
            ProtocolVersion::V5 => self.encoded_len(),
            ProtocolVersion::V311 => full_len(v311::V311(self).body_len()),
        }
    }
}

/// What [`decode`] found at the front of the buffer.
// Not boxed: a decoded packet is matched and moved on at once, and boxing would cost an
// allocation per packet.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A whole packet; its bytes have been removed from the buffer.
    Packet(Packet),
    /// The packet is not all there yet; nothing was consumed. At least `needed` more bytes must
    /// arrive before decoding can progress.
    Incomplete {
        /// Lower bound on the missing bytes (exact once the fixed header is complete).
        needed: usize,
    },
}

/// Decodes the packet at the front of `buf`.
///
/// * When the fixed header or the body is not complete, nothing is consumed and
///   [`Decoded::Incomplete`] says how many more bytes are needed at least.
/// * When the announced size (fixed header plus remaining length) exceeds `max_packet_size`,
///   fails with [`DecodeError::PacketTooLarge`] as soon as the fixed header is readable. Pass
///   `u32::MAX` for no limit beyond the protocol's.
/// * Otherwise consumes exactly the packet's bytes; payloads and binary fields are zero-copy
///   slices of them.
/// * A malformed packet is a [`DecodeError`]. Errors found in the fixed header (and
///   `PacketTooLarge`) consume nothing; errors in the body consume that packet's bytes. Either
///   way the connection must be closed with [`DecodeError::reason_code`].
///
/// `version` selects the wire form of the body (the fixed header is the same in 5.0 and
/// 3.1.1); on 3.1.1 packet type 15 (AUTH) is reserved.
///
/// Never panics, whatever the input.
pub fn decode(
    buf: &mut BytesMut,
    max_packet_size: u32,
    version: ProtocolVersion,
) -> Result<Decoded, DecodeError> {
    let Some(&first) = buf.first() else {
        return Ok(Decoded::Incomplete { needed: 2 });
    };
    let packet = PacketType::from_u8(first >> 4).ok_or(DecodeError::ReservedPacketType)?;
    let flags = first & 0x0F;
    // [MQTT-2.1.3-1] reserved flag bits must have the values in table 2-2.
    if let Some(required) = packet.required_flags() {
        if flags != required {
            return Err(DecodeError::InvalidFlags { packet, flags });
        }
    }
    let (remaining, len_len) = match read_varint_prefix(&buf[1..]) {
        VarintPrefix::Complete(value, len) => (value as usize, len),
        VarintPrefix::Incomplete => return Ok(Decoded::Incomplete { needed: 1 }),
        VarintPrefix::TooLong => {
            return Err(DecodeError::MalformedField {
                packet,
                field: "remaining length",
                problem: FieldProblem::VarintTooLong,
            })
        }
    };
    let total = 1 + len_len + remaining;
    // [MQTT-3.1.2-24] / 4.13: a packet above the Maximum Packet Size is rejected (0x95).
    if total as u64 > u64::from(max_packet_size) {
        return Err(DecodeError::PacketTooLarge { packet, size: total as u64, max: max_packet_size });
    }
    if buf.len() < total {
        return Ok(Decoded::Incomplete { needed: total - buf.len() });
    }
    let body = buf.split_to(total).freeze().slice(1 + len_len..);
    let mut r = Reader::new(body, packet);
    let decoded = match version {
        ProtocolVersion::V5 => decode_body(packet, flags, &mut r)?,
        ProtocolVersion::V311 => v311::decode_body(packet, flags, &mut r)?,
    };
    if !r.is_empty() {
        return Err(r.malformed("unexpected bytes after the end of the packet"));
    }
    Ok(Decoded::Packet(decoded))
}

fn decode_body(packet: PacketType, flags: u8, r: &mut Reader) -> Result<Packet, DecodeError> {
    Ok(match packet {
        PacketType::Connect => Packet::Connect(Connect::decode(r)?),
        PacketType::ConnAck => Packet::ConnAck(ConnAck::decode(r)?),
        PacketType::Publish => Packet::Publish(Publish::decode(flags, r)?),
        PacketType::PubAck => Packet::PubAck(PubAck::decode(r)?),
        PacketType::PubRec => Packet::PubRec(PubRec::decode(r)?),
        PacketType::PubRel => Packet::PubRel(PubRel::decode(r)?),
        PacketType::PubComp => Packet::PubComp(PubComp::decode(r)?),
        PacketType::Subscribe => Packet::Subscribe(Subscribe::decode(r)?),
        PacketType::SubAck => Packet::SubAck(SubAck::decode(r)?),
        PacketType::Unsubscribe => Packet::Unsubscribe(Unsubscribe::decode(r)?),
        PacketType::UnsubAck => Packet::UnsubAck(UnsubAck::decode(r)?),
        // 3.12, 3.13: no variable header and no payload; any byte is caught by the caller.
        PacketType::PingReq => Packet::PingReq,
        PacketType::PingResp => Packet::PingResp,
        PacketType::Disconnect => Packet::Disconnect(Disconnect::decode(r)?),
        PacketType::Auth => Packet::Auth(Auth::decode(r)?),
    })
}

/// Reads a packet identifier, rejecting 0 ([MQTT-2.2.1-3]).
pub(crate) fn read_packet_id(r: &mut Reader) -> Result<PacketId, DecodeError> {
    let id = r.u16("packet identifier")?;
    // [MQTT-2.2.1-3] a packet identifier is non-zero.
    PacketId::new(id).ok_or_else(|| r.protocol_error("packet identifier is 0"))
}

#[cfg(test)]
mod tests {
    use super::test_util::*;
    use super::*;
    use bytes::Bytes;
    use proptest::collection::vec;
    use proptest::option::of;
    use proptest::prelude::*;

    #[test]
    fn fixed_header_errors() {
        // Packet type 0 is reserved.
        assert_eq!(decode_err(&[0x00, 0x00]), DecodeError::ReservedPacketType);
        assert_eq!(DecodeError::ReservedPacketType.reason_code() as u8, 0x81);
        // A remaining length of five bytes.
        let err = decode_err(&[0x30, 0x80, 0x80, 0x80, 0x80, 0x01]);
        assert_eq!(
            err.to_string(),
            "malformed PUBLISH: remaining length is a variable byte integer longer than 4 bytes"
        );
        // The largest remaining length is fine while incomplete.
        let mut buf = BytesMut::from(&[0x30, 0xFF, 0xFF, 0xFF, 0x7F][..]);
        assert_eq!(
            decode(&mut buf, u32::MAX, ProtocolVersion::V5),
            Ok(Decoded::Incomplete { needed: 268_435_455 })
        );
        assert!(matches!(
            decode(&mut buf, 1 << 20, ProtocolVersion::V5),
            Err(DecodeError::PacketTooLarge { .. })
        ));
        assert_eq!(
            DecodeError::PacketTooLarge { packet: PacketType::Publish, size: 10, max: 5 }.reason_code() as u8,
            0x95
        );
        // Empty buffer and a header cut inside the remaining length.
        let mut buf = BytesMut::new();
        assert_eq!(decode(&mut buf, 10, ProtocolVersion::V5), Ok(Decoded::Incomplete { needed: 2 }));
        let mut buf = BytesMut::from(&[0x30, 0x80][..]);
        assert_eq!(decode(&mut buf, 10, ProtocolVersion::V5), Ok(Decoded::Incomplete { needed: 1 }));
    }

    #[test]
    fn a_stream_of_packets_decodes_one_at_a_time() {
        let packets = [
            Packet::PingReq,
            Packet::PubAck(PubAck::new(PacketId::MIN)),
            Packet::Publish(Publish {
                topic: "t".into(),
                payload: Bytes::from_static(b"x"),
                ..Default::default()
            }),
            Packet::Disconnect(Disconnect::normal()),
        ];
        let mut buf = BytesMut::new();
        for p in &packets {
            p.encode(&mut buf).unwrap();
        }
        for p in &packets {
            assert_eq!(decode(&mut buf, u32::MAX, ProtocolVersion::V5), Ok(Decoded::Packet(p.clone())));
        }
        assert!(buf.is_empty());
    }

    #[test]
    fn packet_types_and_names() {
        for t in 1..=15u8 {
            let pt = PacketType::from_u8(t).unwrap();
            assert_eq!(pt as u8, t);
        }
        assert_eq!(PacketType::from_u8(0), None);
        assert_eq!(PacketType::UnsubAck.to_string(), "UNSUBACK");
        assert_eq!(Packet::PingResp.packet_type(), PacketType::PingResp);
    }

    // ---- strategies for valid packets ----

    fn text() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9 _/é€-]{0,8}"
    }

    fn topic_name() -> impl Strategy<Value = String> {
        prop_oneof!["[a-z0-9]{1,4}(/[a-z0-9]{0,4}){0,3}", Just("$SYS/x".to_owned())]
    }

    fn topic_filter() -> impl Strategy<Value = String> {
        prop_oneof![
            topic_name(),
            "(\\+|[a-z]{1,3})(/(\\+|[a-z]{0,3})){0,3}(/#)?",
            Just("#".to_owned()),
            "\\$share/[a-z]{1,3}/[a-z+]{1}(/#)?",
        ]
    }

    fn bytes() -> impl Strategy<Value = Bytes> {
        vec(any::<u8>(), 0..12).prop_map(Bytes::from)
    }

    fn users() -> impl Strategy<Value = Vec<(String, String)>> {
        vec((text(), text()), 0..3)
    }

    fn flag() -> impl Strategy<Value = Option<u8>> {
        of(0u8..=1)
    }

    fn id() -> impl Strategy<Value = PacketId> {
        any::<u16>().prop_map(|n| PacketId::new(n.max(1)).unwrap())
    }

    fn qos() -> impl Strategy<Value = QoS> {
        prop_oneof![Just(QoS::AtMostOnce), Just(QoS::AtLeastOnce), Just(QoS::ExactlyOnce)]
    }

    /// An Authentication Method with optional data (never data alone).
    fn auth() -> impl Strategy<Value = (Option<String>, Option<Bytes>)> {
        (of(text()), of(bytes())).prop_map(|(m, d)| {
            let d = if m.is_some() { d } else { None };
            (m, d)
        })
    }

    fn ack_props() -> impl Strategy<Value = AckProperties> {
        (of(text()), users())
            .prop_map(|(reason_string, user_properties)| AckProperties { reason_string, user_properties })
    }

    fn connect() -> impl Strategy<Value = Connect> {
        let props =
            (of(any::<u32>()), of(1u16..), of(1u32..), of(any::<u16>()), flag(), flag(), users(), auth())
                .prop_map(|(se, rm, mps, tam, rri, rpi, up, (am, ad))| ConnectProperties {
                    session_expiry_interval: se,
                    receive_maximum: rm,
                    maximum_packet_size: mps,
                    topic_alias_maximum: tam,
                    request_response_information: rri,
                    request_problem_information: rpi,
                    user_properties: up,
                    authentication_method: am,
                    authentication_data: ad,
                });
        let will_props =
            (of(any::<u32>()), flag(), of(any::<u32>()), of(text()), of(topic_name()), of(bytes()), users())
                .prop_map(|(wd, pfi, mei, ct, rt, cd, up)| WillProperties {
                    will_delay_interval: wd,
                    payload_format_indicator: pfi,
                    message_expiry_interval: mei,
                    content_type: ct,
                    response_topic: rt,
                    correlation_data: cd,
                    user_properties: up,
                });
        let will = of((topic_name(), bytes(), qos(), any::<bool>(), will_props).prop_map(
            |(topic, payload, qos, retain, properties)| LastWill { topic, payload, qos, retain, properties },
        ));
        (any::<bool>(), any::<u16>(), text(), of(text()), of(bytes()), will, props).prop_map(
            |(clean_start, keep_alive, client_id, username, password, will, properties)| Connect {
                clean_start,
                keep_alive,
                client_id,
                username,
                password,
                will,
                properties,
            },
        )
    }

    fn connack() -> impl Strategy<Value = ConnAck> {
        let a = (
            of(any::<u32>()),
            of(1u16..),
            flag(),
            flag(),
            of(1u32..),
            of(text()),
            of(any::<u16>()),
            of(text()),
        );
        let b = (users(), flag(), flag(), flag(), of(any::<u16>()), of(text()), of(text()), auth());
        let code = proptest::sample::select(ConnectReasonCode::ALL);
        (any::<bool>(), code, a, b).prop_map(|(sp, reason_code, a, b)| ConnAck {
            session_present: sp && reason_code == ConnectReasonCode::Success,
            reason_code,
            properties: ConnAckProperties {
                session_expiry_interval: a.0,
                receive_maximum: a.1,
                maximum_qos: a.2,
                retain_available: a.3,
                maximum_packet_size: a.4,
                assigned_client_identifier: a.5,
                topic_alias_maximum: a.6,
                reason_string: a.7,
                user_properties: b.0,
                wildcard_subscription_available: b.1,
                subscription_identifiers_available: b.2,
                shared_subscription_available: b.3,
                server_keep_alive: b.4,
                response_information: b.5,
                server_reference: b.6,
                authentication_method: b.7 .0,
                authentication_data: b.7 .1,
            },
        })
    }

    fn publish() -> impl Strategy<Value = Publish> {
        let props = (
            flag(),
            of(any::<u32>()),
            of(1u16..),
            of(topic_name()),
            of(bytes()),
            users(),
            vec(1..=MAX_VARINT, 0..3),
            of(text()),
        )
            .prop_map(|(pfi, mei, ta, rt, cd, up, si, ct)| PublishProperties {
                payload_format_indicator: pfi,
                message_expiry_interval: mei,
                topic_alias: ta,
                response_topic: rt,
                correlation_data: cd,
                user_properties: up,
                subscription_identifiers: si,
                content_type: ct,
            });
        (any::<bool>(), qos(), any::<bool>(), topic_name(), id(), props, bytes()).prop_map(
            |(dup, qos, retain, topic, id, properties, payload)| {
                let at_least_once = qos != QoS::AtMostOnce;
                // An alias may stand for the topic.
                let topic = if properties.topic_alias.is_some() && retain { String::new() } else { topic };
                Publish {
                    dup: dup && at_least_once,
                    qos,
                    retain,
                    topic,
                    packet_id: at_least_once.then_some(id),
                    properties,
                    payload,
                }
            },
        )
    }

    fn subscribe() -> impl Strategy<Value = Subscribe> {
        let rh = prop_oneof![
            Just(RetainHandling::SendAtSubscribe),
            Just(RetainHandling::SendIfNew),
            Just(RetainHandling::DoNotSend)
        ];
        let sub = (topic_filter(), qos(), any::<bool>(), any::<bool>(), rh).prop_map(
            |(filter, qos, nl, rap, rh)| {
                let no_local = nl && !filter.starts_with("$share/");
                Subscription {
                    filter,
                    options: SubscriptionOptions {
                        qos,
                        no_local,
                        retain_as_published: rap,
                        retain_handling: rh,
                    },
                }
            },
        );
        (id(), vec(sub, 1..4), of(1..=MAX_VARINT), users()).prop_map(|(packet_id, filters, si, up)| {
            Subscribe {
                packet_id,
                filters,
                properties: SubscribeProperties { subscription_identifier: si, user_properties: up },
            }
        })
    }

    fn packet() -> impl Strategy<Value = Packet> {
        prop_oneof![
            connect().prop_map(Packet::Connect),
            connack().prop_map(Packet::ConnAck),
            publish().prop_map(Packet::Publish),
            (id(), proptest::sample::select(PubAckReasonCode::ALL), ack_props()).prop_map(
                |(packet_id, reason_code, properties)| Packet::PubAck(PubAck {
                    packet_id,
                    reason_code,
                    properties
                })
            ),
            (id(), proptest::sample::select(PubAckReasonCode::ALL), ack_props()).prop_map(
                |(packet_id, reason_code, properties)| Packet::PubRec(PubRec {
                    packet_id,
                    reason_code,
                    properties
                })
            ),
            (id(), proptest::sample::select(PubRelReasonCode::ALL), ack_props()).prop_map(
                |(packet_id, reason_code, properties)| Packet::PubRel(PubRel {
                    packet_id,
                    reason_code,
                    properties
                })
            ),
            (id(), proptest::sample::select(PubRelReasonCode::ALL), ack_props()).prop_map(
                |(packet_id, reason_code, properties)| Packet::PubComp(PubComp {
                    packet_id,
                    reason_code,
                    properties
                })
            ),
            subscribe().prop_map(Packet::Subscribe),
            (id(), vec(proptest::sample::select(SubAckReasonCode::ALL), 1..4), ack_props()).prop_map(
                |(packet_id, reason_codes, properties)| Packet::SubAck(SubAck {
                    packet_id,
                    reason_codes,
                    properties
                })
            ),
            (id(), vec(topic_filter(), 1..4), users()).prop_map(|(packet_id, filters, up)| {
                Packet::Unsubscribe(Unsubscribe {
                    packet_id,
                    filters,
                    properties: UnsubscribeProperties { user_properties: up },
                })
            }),
            (id(), vec(proptest::sample::select(UnsubAckReasonCode::ALL), 1..4), ack_props()).prop_map(
                |(packet_id, reason_codes, properties)| Packet::UnsubAck(UnsubAck {
                    packet_id,
                    reason_codes,
                    properties
                })
            ),
            Just(Packet::PingReq),
            Just(Packet::PingResp),
            (
                proptest::sample::select(DisconnectReasonCode::ALL),
                of(any::<u32>()),
                of(text()),
                users(),
                of(text())
            )
                .prop_map(|(reason_code, se, rs, up, sr)| Packet::Disconnect(Disconnect {
                    reason_code,
                    properties: DisconnectProperties {
                        session_expiry_interval: se,
                        reason_string: rs,
                        user_properties: up,
                        server_reference: sr,
                    },
                })),
            (proptest::sample::select(AuthReasonCode::ALL), auth(), of(text()), users()).prop_map(
                |(reason_code, (am, ad), rs, up)| Packet::Auth(Auth {
                    reason_code,
                    properties: AuthProperties {
                        authentication_method: am,
                        authentication_data: ad,
                        reason_string: rs,
                        user_properties: up,
                    },
                })
            ),
        ]
    }

    /// The 3.1.1 counterpart of a valid 5.0 packet: properties dropped, reason codes and
    /// options cut to what level 4 can carry; `None` for AUTH, which 3.1.1 lacks.
    fn to_v311(p: Packet) -> Option<Packet> {
        Some(match p {
            Packet::Connect(c) => Packet::Connect(Connect {
                properties: Default::default(),
                // [MQTT-3.1.2-22] a password needs a user name.
                password: if c.username.is_some() { c.password } else { None },
                will: c.will.map(|w| LastWill { properties: Default::default(), ..w }),
                ..c
            }),
            Packet::ConnAck(c) => {
                let reason_code = if v311::connack_return_code(c.reason_code).is_some() {
                    c.reason_code
                } else {
                    ConnectReasonCode::NotAuthorized
                };
                Packet::ConnAck(ConnAck {
                    session_present: c.session_present && reason_code == ConnectReasonCode::Success,
                    reason_code,
                    properties: Default::default(),
                })
            }
            Packet::Publish(p) => {
                let topic = if p.topic.is_empty() { "t".to_owned() } else { p.topic };
                Packet::Publish(Publish { topic, properties: Default::default(), ..p })
            }
            Packet::PubAck(a) => Packet::PubAck(PubAck::new(a.packet_id)),
            Packet::PubRec(a) => Packet::PubRec(PubRec::new(a.packet_id)),
            Packet::PubRel(a) => Packet::PubRel(PubRel::new(a.packet_id)),
            Packet::PubComp(a) => Packet::PubComp(PubComp::new(a.packet_id)),
            Packet::Subscribe(s) => Packet::Subscribe(Subscribe {
                packet_id: s.packet_id,
                filters: s
                    .filters
                    .into_iter()
                    .map(|f| Subscription {
                        filter: f.filter,
                        options: SubscriptionOptions { qos: f.options.qos, ..Default::default() },
                    })
                    .collect(),
                properties: Default::default(),
            }),
            Packet::SubAck(s) => Packet::SubAck(SubAck {
                packet_id: s.packet_id,
                reason_codes: s
                    .reason_codes
                    .into_iter()
                    .map(|c| if (c as u8) <= 2 { c } else { SubAckReasonCode::UnspecifiedError })
                    .collect(),
                properties: Default::default(),
            }),
            Packet::Unsubscribe(u) => {
                Packet::Unsubscribe(Unsubscribe { properties: Default::default(), ..u })
            }
            Packet::UnsubAck(u) => Packet::UnsubAck(UnsubAck {
                packet_id: u.packet_id,
                reason_codes: Vec::new(),
                properties: Default::default(),
            }),
            Packet::PingReq => Packet::PingReq,
            Packet::PingResp => Packet::PingResp,
            Packet::Disconnect(_) => Packet::Disconnect(Disconnect::normal()),
            Packet::Auth(_) => return None,
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any valid packet encodes to `encoded_len` bytes and decodes back to itself; each of
        /// its prefixes is Incomplete.
        #[test]
        fn every_valid_packet_round_trips(p in packet()) {
            let mut buf = BytesMut::new();
            let n = p.encode(&mut buf).unwrap();
            prop_assert_eq!(n, buf.len());
            prop_assert_eq!(n, p.encoded_len());
            let bytes = buf.to_vec();
            prop_assert_eq!(decode(&mut buf, u32::MAX, ProtocolVersion::V5), Ok(Decoded::Packet(p)));
            prop_assert!(buf.is_empty());
            assert_truncations_incomplete(&bytes);
        }

        /// Arbitrary bytes never panic the decoder, and whatever decodes re-encodes to a packet
        /// that decodes equal.
        #[test]
        fn arbitrary_bytes_never_panic(data in vec(any::<u8>(), 0..64)) {
            let mut buf = BytesMut::from(&data[..]);
            while let Ok(Decoded::Packet(p)) = decode(&mut buf, u32::MAX, ProtocolVersion::V5) {
                let mut out = BytesMut::new();
                p.encode(&mut out).unwrap();
                prop_assert_eq!(decode(&mut out, u32::MAX, ProtocolVersion::V5), Ok(Decoded::Packet(p)));
            }
        }

        /// Bytes after a plausible fixed header: exercises the body decoders more than fully
        /// random input does.
        #[test]
        fn arbitrary_bodies_never_panic(first in any::<u8>(), body in vec(any::<u8>(), 0..48)) {
            let mut data = vec![first, body.len() as u8];
            data.extend_from_slice(&body);
            let mut buf = BytesMut::from(&data[..]);
            if let Ok(Decoded::Packet(p)) = decode(&mut buf, u32::MAX, ProtocolVersion::V5) {
                let mut out = BytesMut::new();
                p.encode(&mut out).unwrap();
                prop_assert_eq!(decode(&mut out, u32::MAX, ProtocolVersion::V5), Ok(Decoded::Packet(p)));
            }
        }

        /// The same for 3.1.1: every packet level 4 can carry round-trips in its wire form.
        #[test]
        fn every_valid_v311_packet_round_trips(p in packet()) {
            let Some(p) = to_v311(p) else { return Ok(()) };
            let v = ProtocolVersion::V311;
            let mut buf = BytesMut::new();
            let n = p.encode_for(&mut buf, u32::MAX, v).unwrap();
            prop_assert_eq!(n, buf.len());
            prop_assert_eq!(n, p.encoded_len_for(v));
            let bytes = buf.to_vec();
            prop_assert_eq!(decode(&mut buf, u32::MAX, v), Ok(Decoded::Packet(p)));
            prop_assert!(buf.is_empty());
            for cut in 0..bytes.len() {
                let mut part = BytesMut::from(&bytes[..cut]);
                let incomplete = matches!(decode(&mut part, u32::MAX, v), Ok(Decoded::Incomplete { .. }));
                prop_assert!(incomplete);
            }
        }

        /// Arbitrary bytes never panic the 3.1.1 decoder, and what it accepts re-encodes.
        #[test]
        fn arbitrary_v311_bytes_never_panic(first in any::<u8>(), body in vec(any::<u8>(), 0..48)) {
            let v = ProtocolVersion::V311;
            let mut data = vec![first, body.len() as u8];
            data.extend_from_slice(&body);
            let mut buf = BytesMut::from(&data[..]);
            if let Ok(Decoded::Packet(p)) = decode(&mut buf, u32::MAX, v) {
                let mut out = BytesMut::new();
                p.encode_for(&mut out, u32::MAX, v).unwrap();
                prop_assert_eq!(decode(&mut out, u32::MAX, v), Ok(Decoded::Packet(p)));
            }
        }
    }
}
