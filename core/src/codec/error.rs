//! Codec errors: [`DecodeError`] for bytes that are not a valid MQTT 5.0 packet, [`EncodeError`]
//! for a packet that cannot be written.
//!
//! Both are small `Copy` values whose `Display` names the packet and what is wrong, e.g.
//! "malformed PUBLISH: topic name is not valid UTF-8".

use super::topic::TopicError;
use super::{DisconnectReasonCode, PacketType, PropertyId};

/// What is wrong with one field of a packet being decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FieldProblem {
    /// The field runs past the end of the packet (or of its property block).
    #[error("runs past the end of the packet")]
    Truncated,
    /// A UTF-8 encoded string holds invalid UTF-8, including encoded surrogates
    /// ([MQTT-1.5.4-1]).
    #[error("is not valid UTF-8")]
    InvalidUtf8,
    /// A UTF-8 encoded string holds U+0000 ([MQTT-1.5.4-2]).
    #[error("contains the null character U+0000")]
    ContainsNul,
    /// A variable byte integer uses more than four bytes (1.5.5).
    #[error("is a variable byte integer longer than 4 bytes")]
    VarintTooLong,
}

/// Why bytes could not be decoded into a packet.
///
/// [`DecodeError::reason_code`] gives the DISCONNECT reason code the receiver sends before it
/// closes the connection (4.13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Packet type 0 is reserved (2.1.2).
    #[error("malformed packet: packet type 0 is reserved")]
    ReservedPacketType,
    /// The fixed-header flags are not the ones the packet type requires ([MQTT-2.1.3-1]).
    #[error("malformed {packet}: invalid fixed header flags 0x{flags:X}")]
    InvalidFlags {
        /// The packet being decoded.
        packet: PacketType,
        /// The low four bits of the first byte.
        flags: u8,
    },
    /// One field could not be read.
    #[error("malformed {packet}: {field} {problem}")]
    MalformedField {
        /// The packet being decoded.
        packet: PacketType,
        /// The field, e.g. "topic name".
        field: &'static str,
        /// What is wrong with it.
        problem: FieldProblem,
    },
    /// A Malformed Packet (0x81) for a reason given in words.
    #[error("malformed {packet}: {detail}")]
    Malformed {
        /// The packet being decoded.
        packet: PacketType,
        /// What is wrong.
        detail: &'static str,
    },
    /// A Protocol Error (0x82) for a reason given in words.
    #[error("protocol error in {packet}: {detail}")]
    ProtocolError {
        /// The packet being decoded.
        packet: PacketType,
        /// What is wrong.
        detail: &'static str,
    },
    /// A reason code that does not belong to this packet type.
    #[error("malformed {packet}: invalid reason code 0x{code:02X}")]
    InvalidReasonCode {
        /// The packet being decoded.
        packet: PacketType,
        /// The wire value.
        code: u8,
    },
    /// A property identifier that is unknown or not allowed in this packet (2.2.2.2: a
    /// Malformed Packet).
    #[error("malformed {packet}: property identifier 0x{id:02X} is not valid in this packet")]
    InvalidProperty {
        /// The packet being decoded.
        packet: PacketType,
        /// The identifier as read.
        id: u32,
    },
    /// A property that may appear only once appears again (a Protocol Error).
    #[error("protocol error in {packet}: {property} appears more than once")]
    DuplicateProperty {
        /// The packet being decoded.
        packet: PacketType,
        /// The repeated property.
        property: PropertyId,
    },
    /// A property value the specification calls a Protocol Error (e.g. Receive Maximum 0).
    #[error("protocol error in {packet}: {property} has the invalid value {value}")]
    InvalidPropertyValue {
        /// The packet being decoded.
        packet: PacketType,
        /// The property.
        property: PropertyId,
        /// The value as read.
        value: u32,
    },
    /// A topic name (PUBLISH topic, Will topic, Response Topic) that is not valid (0x90).
    #[error("invalid topic name in {packet}: {source}")]
    TopicNameInvalid {
        /// The packet being decoded.
        packet: PacketType,
        /// What is wrong with the topic.
        source: TopicError,
    },
    /// A topic filter (SUBSCRIBE, UNSUBSCRIBE) that is not valid (0x8F).
    #[error("invalid topic filter in {packet}: {source}")]
    TopicFilterInvalid {
        /// The packet being decoded.
        packet: PacketType,
        /// What is wrong with the filter.
        source: TopicError,
    },
    /// The packet (fixed header included) is larger than the receiver's Maximum Packet Size
    /// ([MQTT-3.1.2-24], [MQTT-3.2.2-15]).
    #[error("packet too large: {size} bytes, the maximum packet size is {max}")]
    PacketTooLarge {
        /// The packet being decoded.
        packet: PacketType,
        /// Announced size: fixed header plus remaining length.
        size: u64,
        /// The limit in force.
        max: u32,
    },
}

impl DecodeError {
    /// The DISCONNECT reason code to send before closing the connection because of this error.
    pub fn reason_code(&self) -> DisconnectReasonCode {
        match self {
            DecodeError::ReservedPacketType
            | DecodeError::InvalidFlags { .. }
            | DecodeError::MalformedField { .. }
            | DecodeError::Malformed { .. }
            | DecodeError::InvalidReasonCode { .. }
            | DecodeError::InvalidProperty { .. } => DisconnectReasonCode::MalformedPacket,
            DecodeError::ProtocolError { .. }
            | DecodeError::DuplicateProperty { .. }
            | DecodeError::InvalidPropertyValue { .. } => DisconnectReasonCode::ProtocolError,
            DecodeError::TopicNameInvalid { .. } => DisconnectReasonCode::TopicNameInvalid,
            DecodeError::TopicFilterInvalid { .. } => DisconnectReasonCode::TopicFilterInvalid,
            DecodeError::PacketTooLarge { .. } => DisconnectReasonCode::PacketTooLarge,
        }
    }

    /// The packet type being decoded, when it was known.
    pub fn packet_type(&self) -> Option<PacketType> {
        match *self {
            DecodeError::ReservedPacketType => None,
            DecodeError::InvalidFlags { packet, .. }
            | DecodeError::MalformedField { packet, .. }
            | DecodeError::Malformed { packet, .. }
            | DecodeError::ProtocolError { packet, .. }
            | DecodeError::InvalidReasonCode { packet, .. }
            | DecodeError::InvalidProperty { packet, .. }
            | DecodeError::DuplicateProperty { packet, .. }
            | DecodeError::InvalidPropertyValue { packet, .. }
            | DecodeError::TopicNameInvalid { packet, .. }
            | DecodeError::TopicFilterInvalid { packet, .. }
            | DecodeError::PacketTooLarge { packet, .. } => Some(packet),
        }
    }
}

/// Why a packet could not be encoded. Nothing is written to the buffer when encoding fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The whole packet is larger than the Maximum Packet Size in force.
    #[error("{packet} of {size} bytes exceeds the maximum packet size of {max} bytes")]
    PacketTooLarge {
        /// The packet being encoded.
        packet: PacketType,
        /// Its full size, fixed header included.
        size: usize,
        /// The limit.
        max: u32,
    },
    /// The remaining length exceeds 268,435,455 bytes, the largest variable byte integer (1.5.5).
    #[error("{packet} body of {length} bytes exceeds the protocol limit of 268,435,455 bytes")]
    RemainingLengthTooLarge {
        /// The packet being encoded.
        packet: PacketType,
        /// The body length.
        length: usize,
    },
    /// A UTF-8 string longer than 65,535 bytes (1.5.4).
    #[error("{field} is {len} bytes long, the limit is 65,535")]
    StringTooLong {
        /// The field.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// A UTF-8 string holding U+0000 ([MQTT-1.5.4-2]).
    #[error("{field} must not contain the null character U+0000")]
    StringContainsNul {
        /// The field.
        field: &'static str,
    },
    /// Binary data longer than 65,535 bytes (1.5.6).
    #[error("{field} is {len} bytes long, the limit is 65,535")]
    BinaryTooLong {
        /// The field.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// A value outside the range the specification allows (e.g. Receive Maximum 0).
    #[error("{field} has the invalid value {value}")]
    ValueOutOfRange {
        /// The field.
        field: &'static str,
        /// The value.
        value: u64,
    },
    /// A topic name that is not valid.
    #[error("invalid topic name: {0}")]
    InvalidTopicName(TopicError),
    /// A topic filter that is not valid.
    #[error("invalid topic filter: {0}")]
    InvalidTopicFilter(TopicError),
    /// A field MQTT 3.1.1 has no place for (a property, a reason code, a subscription option
    /// other than QoS, AUTH): refused rather than dropped.
    #[error("{packet} cannot carry {detail} in MQTT 3.1.1")]
    NotInV311 {
        /// The packet being encoded.
        packet: PacketType,
        /// What it cannot carry.
        detail: &'static str,
    },
    /// A combination of fields the specification forbids.
    #[error("invalid {packet}: {detail}")]
    InvalidPacket {
        /// The packet being encoded.
        packet: PacketType,
        /// What is wrong.
        detail: &'static str,
    },
}
