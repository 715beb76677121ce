//! MQTT 5.0 properties (specification section 2.2.2): one typed struct per packet family and
//! the one shared reader/writer that every packet uses.
//!
//! A property that appears twice where the specification forbids it, or that does not belong to
//! the packet being decoded, is a Protocol Error ([MQTT-2.2.2-2] and the per-property rules).

use std::ops::RangeInclusive;

use bytes::{BufMut, Bytes, BytesMut};

use super::error::{DecodeError, EncodeError};
use super::primitives::{
    check_binary, check_string, prefixed_len, put_binary, put_string, put_varint, varint_len, Reader,
    MAX_VARINT,
};
use super::topic::validate_topic_name;

/// A user property: a UTF-8 string pair, in the order the sender wrote them (2.2.2.2).
pub type UserProperty = (String, String);

/// Property identifiers (2.2.2.2) with their wire values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PropertyId {
    PayloadFormatIndicator = 0x01,
    MessageExpiryInterval = 0x02,
    ContentType = 0x03,
    ResponseTopic = 0x08,
    CorrelationData = 0x09,
    SubscriptionIdentifier = 0x0B,
    SessionExpiryInterval = 0x11,
    AssignedClientIdentifier = 0x12,
    ServerKeepAlive = 0x13,
    AuthenticationMethod = 0x15,
    AuthenticationData = 0x16,
    RequestProblemInformation = 0x17,
    WillDelayInterval = 0x18,
    RequestResponseInformation = 0x19,
    ResponseInformation = 0x1A,
    ServerReference = 0x1C,
    ReasonString = 0x1F,
    ReceiveMaximum = 0x21,
    TopicAliasMaximum = 0x22,
    TopicAlias = 0x23,
    MaximumQoS = 0x24,
    RetainAvailable = 0x25,
    UserProperty = 0x26,
    MaximumPacketSize = 0x27,
    WildcardSubscriptionAvailable = 0x28,
    SubscriptionIdentifierAvailable = 0x29,
    SharedSubscriptionAvailable = 0x2A,
}

/// CONNECT properties (3.1.2.11). Every field is public so that applications can fill it in
/// directly; `None` means "not sent" and the specification's default applies.
///
/// ```
/// use tether_core::codec::ConnectProperties;
/// let mut properties = ConnectProperties::new();
/// properties.session_expiry_interval = Some(u32::MAX);
/// assert_eq!(properties.receive_maximum, None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectProperties {
    /// 0x11, seconds; absent means 0 (the session ends with the connection).
    pub session_expiry_interval: Option<u32>,
    /// 0x21; absent means 65,535. Zero is a Protocol Error.
    pub receive_maximum: Option<u16>,
    /// 0x27; absent means no limit. Zero is a Protocol Error.
    pub maximum_packet_size: Option<u32>,
    /// 0x22; absent means 0 (the server may not use aliases towards us).
    pub topic_alias_maximum: Option<u16>,
    /// 0x19; 0 or 1.
    pub request_response_information: Option<u8>,
    /// 0x17; 0 or 1.
    pub request_problem_information: Option<u8>,
    /// 0x26, any number, order kept.
    pub user_properties: Vec<UserProperty>,
    /// 0x15.
    pub authentication_method: Option<String>,
    /// 0x16; only with an authentication method.
    pub authentication_data: Option<Bytes>,
}

impl ConnectProperties {
    /// Empty properties: every value takes the specification's default.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Will properties (3.1.3.2), sent in the CONNECT payload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WillProperties {
    /// 0x18, seconds the server waits before publishing the will.
    pub will_delay_interval: Option<u32>,
    /// 0x01; 0 = unspecified bytes, 1 = UTF-8.
    pub payload_format_indicator: Option<u8>,
    /// 0x02, seconds.
    pub message_expiry_interval: Option<u32>,
    /// 0x03.
    pub content_type: Option<String>,
    /// 0x08.
    pub response_topic: Option<String>,
    /// 0x09.
    pub correlation_data: Option<Bytes>,
    /// 0x26.
    pub user_properties: Vec<UserProperty>,
}

/// CONNACK properties (3.2.2.3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnAckProperties {
    /// 0x11: the server's session expiry, overriding the one the client asked for.
    pub session_expiry_interval: Option<u32>,
    /// 0x21: how many QoS>0 PUBLISH the server accepts in flight (absent = 65,535).
    pub receive_maximum: Option<u16>,
    /// 0x24: 0 or 1 (absent = 2).
    pub maximum_qos: Option<u8>,
    /// 0x25: 0 or 1 (absent = 1).
    pub retain_available: Option<u8>,
    /// 0x27.
    pub maximum_packet_size: Option<u32>,
    /// 0x12: the identifier the server assigned when the client sent an empty one.
    pub assigned_client_identifier: Option<String>,
    /// 0x22 (absent = 0: the client may not use aliases).
    pub topic_alias_maximum: Option<u16>,
    /// 0x1F.
    pub reason_string: Option<String>,
    /// 0x26.
    pub user_properties: Vec<UserProperty>,
    /// 0x28 (absent = 1).
    pub wildcard_subscription_available: Option<u8>,
    /// 0x29 (absent = 1).
    pub subscription_identifiers_available: Option<u8>,
    /// 0x2A (absent = 1).
    pub shared_subscription_available: Option<u8>,
    /// 0x13: the keep-alive the client must use instead of its own.
    pub server_keep_alive: Option<u16>,
    /// 0x1A.
    pub response_information: Option<String>,
    /// 0x1C.
    pub server_reference: Option<String>,
    /// 0x15.
    pub authentication_method: Option<String>,
    /// 0x16.
    pub authentication_data: Option<Bytes>,
}

/// PUBLISH properties (3.3.2.3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishProperties {
    /// 0x01: 0 = unspecified bytes, 1 = UTF-8 payload.
    pub payload_format_indicator: Option<u8>,
    /// 0x02, seconds.
    pub message_expiry_interval: Option<u32>,
    /// 0x23: non-zero.
    pub topic_alias: Option<u16>,
    /// 0x08: a topic name (no wildcards).
    pub response_topic: Option<String>,
    /// 0x09.
    pub correlation_data: Option<Bytes>,
    /// 0x26.
    pub user_properties: Vec<UserProperty>,
    /// 0x0B, server to client only, may repeat; each 1..=268,435,455.
    pub subscription_identifiers: Vec<u32>,
    /// 0x03.
    pub content_type: Option<String>,
}

/// Properties of PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK and UNSUBACK: a reason string and user
/// properties (3.4.2.2 and its siblings).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AckProperties {
    /// 0x1F.
    pub reason_string: Option<String>,
    /// 0x26.
    pub user_properties: Vec<UserProperty>,
}

impl AckProperties {
    /// True when nothing would be written (which lets short ack forms be used).
    pub fn is_empty(&self) -> bool {
        self.reason_string.is_none() && self.user_properties.is_empty()
    }
}

/// SUBSCRIBE properties (3.8.2.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscribeProperties {
    /// 0x0B: 1..=268,435,455.
    pub subscription_identifier: Option<u32>,
    /// 0x26.
    pub user_properties: Vec<UserProperty>,
}

/// UNSUBSCRIBE properties (3.10.2.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnsubscribeProperties {
    /// 0x26.
    pub user_properties: Vec<UserProperty>,
}

/// DISCONNECT properties (3.14.2.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DisconnectProperties {
    /// 0x11: client to server only.
    pub session_expiry_interval: Option<u32>,
    /// 0x1F.
    pub reason_string: Option<String>,
    /// 0x26.
    pub user_properties: Vec<UserProperty>,
    /// 0x1C: server to client only.
    pub server_reference: Option<String>,
}

/// AUTH properties (3.15.2.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthProperties {
    /// 0x15.
    pub authentication_method: Option<String>,
    /// 0x16.
    pub authentication_data: Option<Bytes>,
    /// 0x1F.
    pub reason_string: Option<String>,
    /// 0x26.
    pub user_properties: Vec<UserProperty>,
}

/// The data type of a property value (2.2.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PropertyKind {
    Byte,
    U16,
    U32,
    Varint,
    String,
    Binary,
    Pair,
}

impl PropertyId {
    /// Every property identifier, in wire order.
    pub const ALL: &'static [PropertyId] = &[
        PropertyId::PayloadFormatIndicator,
        PropertyId::MessageExpiryInterval,
        PropertyId::ContentType,
        PropertyId::ResponseTopic,
        PropertyId::CorrelationData,
        PropertyId::SubscriptionIdentifier,
        PropertyId::SessionExpiryInterval,
        PropertyId::AssignedClientIdentifier,
        PropertyId::ServerKeepAlive,
        PropertyId::AuthenticationMethod,
        PropertyId::AuthenticationData,
        PropertyId::RequestProblemInformation,
        PropertyId::WillDelayInterval,
        PropertyId::RequestResponseInformation,
        PropertyId::ResponseInformation,
        PropertyId::ServerReference,
        PropertyId::ReasonString,
        PropertyId::ReceiveMaximum,
        PropertyId::TopicAliasMaximum,
        PropertyId::TopicAlias,
        PropertyId::MaximumQoS,
        PropertyId::RetainAvailable,
        PropertyId::UserProperty,
        PropertyId::MaximumPacketSize,
        PropertyId::WildcardSubscriptionAvailable,
        PropertyId::SubscriptionIdentifierAvailable,
        PropertyId::SharedSubscriptionAvailable,
    ];

    /// The specification's name for this property.
    pub fn name(self) -> &'static str {
        use PropertyId::*;
        match self {
            PayloadFormatIndicator => "Payload Format Indicator",
            MessageExpiryInterval => "Message Expiry Interval",
            ContentType => "Content Type",
            ResponseTopic => "Response Topic",
            CorrelationData => "Correlation Data",
            SubscriptionIdentifier => "Subscription Identifier",
            SessionExpiryInterval => "Session Expiry Interval",
            AssignedClientIdentifier => "Assigned Client Identifier",
            ServerKeepAlive => "Server Keep Alive",
            AuthenticationMethod => "Authentication Method",
            AuthenticationData => "Authentication Data",
            RequestProblemInformation => "Request Problem Information",
            WillDelayInterval => "Will Delay Interval",
            RequestResponseInformation => "Request Response Information",
            ResponseInformation => "Response Information",
            ServerReference => "Server Reference",
            ReasonString => "Reason String",
            ReceiveMaximum => "Receive Maximum",
            TopicAliasMaximum => "Topic Alias Maximum",
            TopicAlias => "Topic Alias",
            MaximumQoS => "Maximum QoS",
            RetainAvailable => "Retain Available",
            UserProperty => "User Property",
            MaximumPacketSize => "Maximum Packet Size",
            WildcardSubscriptionAvailable => "Wildcard Subscription Available",
            SubscriptionIdentifierAvailable => "Subscription Identifier Available",
            SharedSubscriptionAvailable => "Shared Subscription Available",
        }
    }

    fn kind(self) -> PropertyKind {
        use PropertyId::*;
        match self {
            PayloadFormatIndicator
            | RequestProblemInformation
            | RequestResponseInformation
            | MaximumQoS
            | RetainAvailable
            | WildcardSubscriptionAvailable
            | SubscriptionIdentifierAvailable
            | SharedSubscriptionAvailable => PropertyKind::Byte,
            ServerKeepAlive | ReceiveMaximum | TopicAliasMaximum | TopicAlias => PropertyKind::U16,
            MessageExpiryInterval | SessionExpiryInterval | WillDelayInterval | MaximumPacketSize => {
                PropertyKind::U32
            }
            SubscriptionIdentifier => PropertyKind::Varint,
            ContentType
            | ResponseTopic
            | AssignedClientIdentifier
            | AuthenticationMethod
            | ResponseInformation
            | ServerReference
            | ReasonString => PropertyKind::String,
            CorrelationData | AuthenticationData => PropertyKind::Binary,
            UserProperty => PropertyKind::Pair,
        }
    }

    /// The values of this integer property that its wire type holds and the specification
    /// allows (the values it rules out are Protocol Errors); `None` for a property that is not
    /// an integer. The one table of property ranges: the decoder, the encoder's checks and
    /// the faces' argument checks ([`crate::validate::property`]) all read it.
    pub const fn value_range(self) -> Option<RangeInclusive<u32>> {
        use PropertyId::*;
        Some(match self {
            // 0 or 1 only: 3.3.2.3.2, 3.1.2.11.6, 3.1.2.11.7, 3.2.2.3.4, 3.2.2.3.5,
            // 3.2.2.3.11, 3.2.2.3.12, 3.2.2.3.13.
            PayloadFormatIndicator
            | RequestProblemInformation
            | RequestResponseInformation
            | MaximumQoS
            | RetainAvailable
            | WildcardSubscriptionAvailable
            | SubscriptionIdentifierAvailable
            | SharedSubscriptionAvailable => 0..=1,
            ServerKeepAlive | TopicAliasMaximum => 0..=u16::MAX as u32,
            // Zero is a Protocol Error: 3.1.2.11.3, 3.1.2.11.4, 3.3.2.3.4.
            ReceiveMaximum | TopicAlias => 1..=u16::MAX as u32,
            MaximumPacketSize => 1..=u32::MAX,
            MessageExpiryInterval | SessionExpiryInterval | WillDelayInterval => 0..=u32::MAX,
            // 1 to 268,435,455 (3.3.2.3.8, 3.8.2.1.2).
            SubscriptionIdentifier => 1..=MAX_VARINT,
            ContentType
            | ResponseTopic
            | CorrelationData
            | AssignedClientIdentifier
            | AuthenticationMethod
            | AuthenticationData
            | ResponseInformation
            | ServerReference
            | ReasonString
            | UserProperty => return None,
        })
    }

    /// True when the specification allows `value` for this numeric property
    /// ([`PropertyId::value_range`]); the values it rules out are Protocol Errors.
    pub fn value_is_valid(self, value: u32) -> bool {
        self.value_range().is_none_or(|range| range.contains(&value))
    }
}

impl TryFrom<u8> for PropertyId {
    type Error = u8;
    fn try_from(value: u8) -> Result<Self, u8> {
        PropertyId::ALL.iter().copied().find(|id| *id as u8 == value).ok_or(value)
    }
}

impl std::fmt::Display for PropertyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One decoded property value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PropertyValue {
    /// A byte, two-byte, four-byte or variable byte integer.
    Int(u32),
    String(String),
    Binary(Bytes),
    Pair(String, String),
}

/// Walks the properties of a set in wire order; implemented by the length counter, the checker
/// and the writer so that each property set is described once.
pub(crate) trait PropertyVisitor {
    /// A numeric property (byte, two-byte, four-byte or variable byte integer by its id).
    fn int(&mut self, id: PropertyId, value: u32);
    fn string(&mut self, id: PropertyId, value: &str);
    fn binary(&mut self, id: PropertyId, value: &[u8]);
    fn pair(&mut self, id: PropertyId, key: &str, value: &str);
}

/// A typed property set: which identifiers it accepts and how values map to fields.
pub(crate) trait PropertySet: Default {
    /// Identifiers allowed in this set; any other is a Malformed Packet (2.2.2.2).
    const ALLOWED: &'static [PropertyId];
    /// Whether Subscription Identifier may repeat (PUBLISH only, 3.3.2.3.8).
    const REPEATED_SUBSCRIPTION_ID: bool = false;

    /// Calls the visitor for every property present, in wire order.
    fn visit<V: PropertyVisitor>(&self, v: &mut V);

    /// Stores one decoded value; `id` is in [`Self::ALLOWED`] and `value` has its kind.
    fn set(&mut self, id: PropertyId, value: PropertyValue);

    /// Bytes of the property block without its length prefix.
    fn body_len(&self) -> usize {
        let mut counter = LenCounter(0);
        self.visit(&mut counter);
        counter.0
    }

    /// Bytes of the property block with its variable-byte-integer length prefix.
    fn encoded_len(&self) -> usize {
        let len = self.body_len();
        varint_len(len) + len
    }

    /// Checks every value before anything is written.
    fn check(&self) -> Result<(), EncodeError> {
        let mut checker = Checker(Ok(()));
        self.visit(&mut checker);
        checker.0
    }

    /// Writes the length prefix and the properties. Call [`PropertySet::check`] first.
    fn write(&self, buf: &mut BytesMut) {
        put_varint(buf, self.body_len() as u32);
        self.visit(&mut Writer(buf));
    }

    /// Reads a property length and exactly that many bytes of properties.
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let len = r.varint("property length")?;
        if len as usize > r.remaining() {
            return Err(r.malformed("property length exceeds the packet"));
        }
        let mut props = r.sub_reader(len as usize, "properties")?;
        let mut set = Self::default();
        let mut seen: u64 = 0;
        while !props.is_empty() {
            let raw = props.varint("property identifier")?;
            let id = u8::try_from(raw)
                .ok()
                .and_then(|b| PropertyId::try_from(b).ok())
                .filter(|id| Self::ALLOWED.contains(id))
                // 2.2.2.2: an identifier not valid for the packet type is a Malformed Packet.
                .ok_or(DecodeError::InvalidProperty { packet: r.packet(), id: raw })?;
            let repeatable = id == PropertyId::UserProperty
                || (id == PropertyId::SubscriptionIdentifier && Self::REPEATED_SUBSCRIPTION_ID);
            let bit = 1u64 << (id as u8);
            // [MQTT-2.2.2-*] It is a Protocol Error to include a property more than once,
            // except User Property and (in PUBLISH) Subscription Identifier.
            if seen & bit != 0 && !repeatable {
                return Err(DecodeError::DuplicateProperty { packet: r.packet(), property: id });
            }
            seen |= bit;
            let name = id.name();
            let value = match id.kind() {
                PropertyKind::Byte => PropertyValue::Int(props.u8(name)?.into()),
                PropertyKind::U16 => PropertyValue::Int(props.u16(name)?.into()),
                PropertyKind::U32 => PropertyValue::Int(props.u32(name)?),
                PropertyKind::Varint => PropertyValue::Int(props.varint(name)?),
                PropertyKind::String => PropertyValue::String(props.string(name)?),
                PropertyKind::Binary => PropertyValue::Binary(props.binary(name)?),
                PropertyKind::Pair => {
                    let (k, v) = props.string_pair(name)?;
                    PropertyValue::Pair(k, v)
                }
            };
            match &value {
                PropertyValue::Int(n) if !id.value_is_valid(*n) => {
                    return Err(DecodeError::InvalidPropertyValue {
                        packet: r.packet(),
                        property: id,
                        value: *n,
                    });
                }
                // [MQTT-3.3.2-14] the Response Topic must not contain wildcards.
                PropertyValue::String(topic) if id == PropertyId::ResponseTopic => {
                    validate_topic_name(topic)
                        .map_err(|source| DecodeError::TopicNameInvalid { packet: r.packet(), source })?;
                }
                _ => {}
            }
            set.set(id, value);
        }
        Ok(set)
    }
}

struct LenCounter(usize);

impl PropertyVisitor for LenCounter {
    fn int(&mut self, id: PropertyId, value: u32) {
        self.0 += 1 + match id.kind() {
            PropertyKind::Byte => 1,
            PropertyKind::U16 => 2,
            PropertyKind::Varint => varint_len(value as usize),
            _ => 4,
        };
    }
    fn string(&mut self, _: PropertyId, value: &str) {
        self.0 += 1 + prefixed_len(value.len());
    }
    fn binary(&mut self, _: PropertyId, value: &[u8]) {
        self.0 += 1 + prefixed_len(value.len());
    }
    fn pair(&mut self, _: PropertyId, key: &str, value: &str) {
        self.0 += 1 + prefixed_len(key.len()) + prefixed_len(value.len());
    }
}

struct Checker(Result<(), EncodeError>);

impl Checker {
    fn record(&mut self, result: Result<(), EncodeError>) {
        if self.0.is_ok() {
            self.0 = result;
        }
    }
}

impl PropertyVisitor for Checker {
    fn int(&mut self, id: PropertyId, value: u32) {
        if !id.value_is_valid(value) {
            self.record(Err(EncodeError::ValueOutOfRange { field: id.name(), value: value.into() }));
        }
    }
    fn string(&mut self, id: PropertyId, value: &str) {
        self.record(check_string(id.name(), value));
        if id == PropertyId::ResponseTopic {
            // [MQTT-3.3.2-14] no wildcards in a Response Topic.
            self.record(validate_topic_name(value).map_err(EncodeError::InvalidTopicName));
        }
    }
    fn binary(&mut self, id: PropertyId, value: &[u8]) {
        self.record(check_binary(id.name(), value));
    }
    fn pair(&mut self, id: PropertyId, key: &str, value: &str) {
        self.record(check_string(id.name(), key));
        self.record(check_string(id.name(), value));
    }
}

struct Writer<'a>(&'a mut BytesMut);

impl PropertyVisitor for Writer<'_> {
    fn int(&mut self, id: PropertyId, value: u32) {
        self.0.put_u8(id as u8);
        match id.kind() {
            PropertyKind::Byte => self.0.put_u8(value as u8),
            PropertyKind::U16 => self.0.put_u16(value as u16),
            PropertyKind::Varint => put_varint(self.0, value),
            _ => self.0.put_u32(value),
        }
    }
    fn string(&mut self, id: PropertyId, value: &str) {
        self.0.put_u8(id as u8);
        put_string(self.0, value);
    }
    fn binary(&mut self, id: PropertyId, value: &[u8]) {
        self.0.put_u8(id as u8);
        put_binary(self.0, value);
    }
    fn pair(&mut self, id: PropertyId, key: &str, value: &str) {
        self.0.put_u8(id as u8);
        put_string(self.0, key);
        put_string(self.0, value);
    }
}

/// Helpers that visit optional fields.
trait VisitExt: PropertyVisitor {
    fn opt_int<T: Into<u32> + Copy>(&mut self, id: PropertyId, value: Option<T>) {
        if let Some(v) = value {
            self.int(id, v.into());
        }
    }
    fn opt_string(&mut self, id: PropertyId, value: &Option<String>) {
        if let Some(v) = value {
            self.string(id, v);
        }
    }
    fn opt_binary(&mut self, id: PropertyId, value: &Option<Bytes>) {
        if let Some(v) = value {
            self.binary(id, v);
        }
    }
    fn users(&mut self, values: &[UserProperty]) {
        for (k, v) in values {
            self.pair(PropertyId::UserProperty, k, v);
        }
    }
}

impl<V: PropertyVisitor + ?Sized> VisitExt for V {}

// Value conversions for `PropertySet::set`: the decoder guarantees the kind, so a mismatch
// (which cannot happen) leaves the field unchanged instead of panicking.
fn as_u8(v: &PropertyValue) -> Option<u8> {
    match v {
        PropertyValue::Int(n) => u8::try_from(*n).ok(),
        _ => None,
    }
}
fn as_u16(v: &PropertyValue) -> Option<u16> {
    match v {
        PropertyValue::Int(n) => u16::try_from(*n).ok(),
        _ => None,
    }
}
fn as_u32(v: &PropertyValue) -> Option<u32> {
    match v {
        PropertyValue::Int(n) => Some(*n),
        _ => None,
    }
}
fn as_string(v: PropertyValue) -> Option<String> {
    match v {
        PropertyValue::String(s) => Some(s),
        _ => None,
    }
}
fn as_binary(v: PropertyValue) -> Option<Bytes> {
    match v {
        PropertyValue::Binary(b) => Some(b),
        _ => None,
    }
}
fn push_user(users: &mut Vec<UserProperty>, v: PropertyValue) {
    if let PropertyValue::Pair(k, v) = v {
        users.push((k, v));
    }
}

impl PropertySet for ConnectProperties {
    const ALLOWED: &'static [PropertyId] = &[
        PropertyId::SessionExpiryInterval,
        PropertyId::ReceiveMaximum,
        PropertyId::MaximumPacketSize,
        PropertyId::TopicAliasMaximum,
        PropertyId::RequestResponseInformation,
        PropertyId::RequestProblemInformation,
        PropertyId::UserProperty,
        PropertyId::AuthenticationMethod,
        PropertyId::AuthenticationData,
    ];

    fn visit<V: PropertyVisitor>(&self, v: &mut V) {
        v.opt_int(PropertyId::SessionExpiryInterval, self.session_expiry_interval);
        v.opt_int(PropertyId::ReceiveMaximum, self.receive_maximum);
        v.opt_int(PropertyId::MaximumPacketSize, self.maximum_packet_size);
        v.opt_int(PropertyId::TopicAliasMaximum, self.topic_alias_maximum);
        v.opt_int(PropertyId::RequestResponseInformation, self.request_response_information);
        v.opt_int(PropertyId::RequestProblemInformation, self.request_problem_information);
        v.users(&self.user_properties);
        v.opt_string(PropertyId::AuthenticationMethod, &self.authentication_method);
        v.opt_binary(PropertyId::AuthenticationData, &self.authentication_data);
    }

    fn set(&mut self, id: PropertyId, value: PropertyValue) {
        use PropertyId::*;
        match id {
            SessionExpiryInterval => self.session_expiry_interval = as_u32(&value),
            ReceiveMaximum => self.receive_maximum = as_u16(&value),
            MaximumPacketSize => self.maximum_packet_size = as_u32(&value),
            TopicAliasMaximum => self.topic_alias_maximum = as_u16(&value),
            RequestResponseInformation => self.request_response_information = as_u8(&value),
            RequestProblemInformation => self.request_problem_information = as_u8(&value),
            UserProperty => push_user(&mut self.user_properties, value),
            AuthenticationMethod => self.authentication_method = as_string(value),
            AuthenticationData => self.authentication_data = as_binary(value),
            _ => {}
        }
    }
}

impl PropertySet for WillProperties {
    const ALLOWED: &'static [PropertyId] = &[
        PropertyId::WillDelayInterval,
        PropertyId::PayloadFormatIndicator,
        PropertyId::MessageExpiryInterval,
        PropertyId::ContentType,
        PropertyId::ResponseTopic,
        PropertyId::CorrelationData,
        PropertyId::UserProperty,
    ];

    fn visit<V: PropertyVisitor>(&self, v: &mut V) {
        v.opt_int(PropertyId::WillDelayInterval, self.will_delay_interval);
        v.opt_int(PropertyId::PayloadFormatIndicator, self.payload_format_indicator);
        v.opt_int(PropertyId::MessageExpiryInterval, self.message_expiry_interval);
        v.opt_string(PropertyId::ContentType, &self.content_type);
        v.opt_string(PropertyId::ResponseTopic, &self.response_topic);
        v.opt_binary(PropertyId::CorrelationData, &self.correlation_data);
        v.users(&self.user_properties);
    }

    fn set(&mut self, id: PropertyId, value: PropertyValue) {
        use PropertyId::*;
        match id {
            WillDelayInterval => self.will_delay_interval = as_u32(&value),
            PayloadFormatIndicator => self.payload_format_indicator = as_u8(&value),
            MessageExpiryInterval => self.message_expiry_interval = as_u32(&value),
            ContentType => self.content_type = as_string(value),
            ResponseTopic => self.response_topic = as_string(value),
            CorrelationData => self.correlation_data = as_binary(value),
            UserProperty => push_user(&mut self.user_properties, value),
            _ => {}
        }
    }
}

impl PropertySet for ConnAckProperties {
    const ALLOWED: &'static [PropertyId] = &[
        PropertyId::SessionExpiryInterval,
        PropertyId::ReceiveMaximum,
        PropertyId::MaximumQoS,
        PropertyId::RetainAvailable,
        PropertyId::MaximumPacketSize,
        PropertyId::AssignedClientIdentifier,
        PropertyId::TopicAliasMaximum,
        PropertyId::ReasonString,
        PropertyId::UserProperty,
        PropertyId::WildcardSubscriptionAvailable,
        PropertyId::SubscriptionIdentifierAvailable,
        PropertyId::SharedSubscriptionAvailable,
        PropertyId::ServerKeepAlive,
        PropertyId::ResponseInformation,
        PropertyId::ServerReference,
        PropertyId::AuthenticationMethod,
        PropertyId::AuthenticationData,
    ];

    fn visit<V: PropertyVisitor>(&self, v: &mut V) {
        v.opt_int(PropertyId::SessionExpiryInterval, self.session_expiry_interval);
        v.opt_int(PropertyId::ReceiveMaximum, self.receive_maximum);
        v.opt_int(PropertyId::MaximumQoS, self.maximum_qos);
        v.opt_int(PropertyId::RetainAvailable, self.retain_available);
        v.opt_int(PropertyId::MaximumPacketSize, self.maximum_packet_size);
        v.opt_string(PropertyId::AssignedClientIdentifier, &self.assigned_client_identifier);
        v.opt_int(PropertyId::TopicAliasMaximum, self.topic_alias_maximum);
        v.opt_string(PropertyId::ReasonString, &self.reason_string);
        v.users(&self.user_properties);
        v.opt_int(PropertyId::WildcardSubscriptionAvailable, self.wildcard_subscription_available);
        v.opt_int(PropertyId::SubscriptionIdentifierAvailable, self.subscription_identifiers_available);
        v.opt_int(PropertyId::SharedSubscriptionAvailable, self.shared_subscription_available);
        v.opt_int(PropertyId::ServerKeepAlive, self.server_keep_alive);
        v.opt_string(PropertyId::ResponseInformation, &self.response_information);
        v.opt_string(PropertyId::ServerReference, &self.server_reference);
        v.opt_string(PropertyId::AuthenticationMethod, &self.authentication_method);
        v.opt_binary(PropertyId::AuthenticationData, &self.authentication_data);
    }

    fn set(&mut self, id: PropertyId, value: PropertyValue) {
        use PropertyId::*;
        match id {
            SessionExpiryInterval => self.session_expiry_interval = as_u32(&value),
            ReceiveMaximum => self.receive_maximum = as_u16(&value),
            MaximumQoS => self.maximum_qos = as_u8(&value),
            RetainAvailable => self.retain_available = as_u8(&value),
            MaximumPacketSize => self.maximum_packet_size = as_u32(&value),
            AssignedClientIdentifier => self.assigned_client_identifier = as_string(value),
            TopicAliasMaximum => self.topic_alias_maximum = as_u16(&value),
            ReasonString => self.reason_string = as_string(value),
            UserProperty => push_user(&mut self.user_properties, value),
            WildcardSubscriptionAvailable => self.wildcard_subscription_available = as_u8(&value),
            SubscriptionIdentifierAvailable => self.subscription_identifiers_available = as_u8(&value),
            SharedSubscriptionAvailable => self.shared_subscription_available = as_u8(&value),
            ServerKeepAlive => self.server_keep_alive = as_u16(&value),
            ResponseInformation => self.response_information = as_string(value),
            ServerReference => self.server_reference = as_string(value),
            AuthenticationMethod => self.authentication_method = as_string(value),
            AuthenticationData => self.authentication_data = as_binary(value),
            _ => {}
        }
    }
}

impl PropertySet for PublishProperties {
    const ALLOWED: &'static [PropertyId] = &[
        PropertyId::PayloadFormatIndicator,
        PropertyId::MessageExpiryInterval,
        PropertyId::TopicAlias,
        PropertyId::ResponseTopic,
        PropertyId::CorrelationData,
        PropertyId::UserProperty,
        PropertyId::SubscriptionIdentifier,
        PropertyId::ContentType,
    ];
    const REPEATED_SUBSCRIPTION_ID: bool = true;

    fn visit<V: PropertyVisitor>(&self, v: &mut V) {
        v.opt_int(PropertyId::PayloadFormatIndicator, self.payload_format_indicator);
        v.opt_int(PropertyId::MessageExpiryInterval, self.message_expiry_interval);
        v.opt_int(PropertyId::TopicAlias, self.topic_alias);
        v.opt_string(PropertyId::ResponseTopic, &self.response_topic);
        v.opt_binary(PropertyId::CorrelationData, &self.correlation_data);
        v.users(&self.user_properties);
        for id in &self.subscription_identifiers {
            v.int(PropertyId::SubscriptionIdentifier, *id);
        }
        v.opt_string(PropertyId::ContentType, &self.content_type);
    }

    fn set(&mut self, id: PropertyId, value: PropertyValue) {
        use PropertyId::*;
        match id {
            PayloadFormatIndicator => self.payload_format_indicator = as_u8(&value),
            MessageExpiryInterval => self.message_expiry_interval = as_u32(&value),
            TopicAlias => self.topic_alias = as_u16(&value),
            ResponseTopic => self.response_topic = as_string(value),
            CorrelationData => self.correlation_data = as_binary(value),
            UserProperty => push_user(&mut self.user_properties, value),
            SubscriptionIdentifier => self.subscription_identifiers.extend(as_u32(&value)),
            ContentType => self.content_type = as_string(value),
            _ => {}
        }
    }
}

impl PropertySet for AckProperties {
    const ALLOWED: &'static [PropertyId] = &[PropertyId::ReasonString, PropertyId::UserProperty];

    fn visit<V: PropertyVisitor>(&self, v: &mut V) {
        v.opt_string(PropertyId::ReasonString, &self.reason_string);
        v.users(&self.user_properties);
    }

    fn set(&mut self, id: PropertyId, value: PropertyValue) {
        match id {
            PropertyId::ReasonString => self.reason_string = as_string(value),
            PropertyId::UserProperty => push_user(&mut self.user_properties, value),
            _ => {}
        }
    }
}

impl PropertySet for SubscribeProperties {
    const ALLOWED: &'static [PropertyId] = &[PropertyId::SubscriptionIdentifier, PropertyId::UserProperty];

    fn visit<V: PropertyVisitor>(&self, v: &mut V) {
        v.opt_int(PropertyId::SubscriptionIdentifier, self.subscription_identifier);
        v.users(&self.user_properties);
    }

    fn set(&mut self, id: PropertyId, value: PropertyValue) {
        match id {
            PropertyId::SubscriptionIdentifier => self.subscription_identifier = as_u32(&value),
            PropertyId::UserProperty => push_user(&mut self.user_properties, value),
            _ => {}
        }
    }
}

impl PropertySet for UnsubscribeProperties {
    const ALLOWED: &'static [PropertyId] = &[PropertyId::UserProperty];

    fn visit<V: PropertyVisitor>(&self, v: &mut V) {
        v.users(&self.user_properties);
    }

    fn set(&mut self, id: PropertyId, value: PropertyValue) {
        if id == PropertyId::UserProperty {
            push_user(&mut self.user_properties, value);
        }
    }
}

impl DisconnectProperties {
    /// True when nothing would be written.
    pub fn is_empty(&self) -> bool {
        self.session_expiry_interval.is_none()
            && self.reason_string.is_none()
            && self.user_properties.is_empty()
            && self.server_reference.is_none()
    }
}

impl PropertySet for DisconnectProperties {
    const ALLOWED: &'static [PropertyId] = &[
        PropertyId::SessionExpiryInterval,
        PropertyId::ReasonString,
        PropertyId::UserProperty,
        PropertyId::ServerReference,
    ];

    fn visit<V: PropertyVisitor>(&self, v: &mut V) {
        v.opt_int(PropertyId::SessionExpiryInterval, self.session_expiry_interval);
        v.opt_string(PropertyId::ReasonString, &self.reason_string);
        v.users(&self.user_properties);
        v.opt_string(PropertyId::ServerReference, &self.server_reference);
    }

    fn set(&mut self, id: PropertyId, value: PropertyValue) {
        use PropertyId::*;
        match id {
            SessionExpiryInterval => self.session_expiry_interval = as_u32(&value),
            ReasonString => self.reason_string = as_string(value),
            UserProperty => push_user(&mut self.user_properties, value),
            ServerReference => self.server_reference = as_string(value),
            _ => {}
        }
    }
}

impl AuthProperties {
    /// True when nothing would be written.
    pub fn is_empty(&self) -> bool {
        self.authentication_method.is_none()
            && self.authentication_data.is_none()
            && self.reason_string.is_none()
            && self.user_properties.is_empty()
    }
}

impl PropertySet for AuthProperties {
    const ALLOWED: &'static [PropertyId] = &[
        PropertyId::AuthenticationMethod,
        PropertyId::AuthenticationData,
        PropertyId::ReasonString,
        PropertyId::UserProperty,
    ];

    fn visit<V: PropertyVisitor>(&self, v: &mut V) {
        v.opt_string(PropertyId::AuthenticationMethod, &self.authentication_method);
        v.opt_binary(PropertyId::AuthenticationData, &self.authentication_data);
        v.opt_string(PropertyId::ReasonString, &self.reason_string);
        v.users(&self.user_properties);
    }

    fn set(&mut self, id: PropertyId, value: PropertyValue) {
        use PropertyId::*;
        match id {
            AuthenticationMethod => self.authentication_method = as_string(value),
            AuthenticationData => self.authentication_data = as_binary(value),
            ReasonString => self.reason_string = as_string(value),
            UserProperty => push_user(&mut self.user_properties, value),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::PacketType;

    fn decode<P: PropertySet>(bytes: &[u8]) -> Result<P, DecodeError> {
        let mut r = Reader::new(Bytes::copy_from_slice(bytes), PacketType::ConnAck);
        let p = P::decode(&mut r);
        assert!(p.is_err() || r.is_empty());
        p
    }

    #[test]
    fn property_ids_convert_both_ways() {
        for id in PropertyId::ALL {
            assert_eq!(PropertyId::try_from(*id as u8), Ok(*id));
        }
        assert_eq!(PropertyId::try_from(0x04), Err(0x04));
        assert_eq!(PropertyId::ReceiveMaximum.to_string(), "Receive Maximum");
    }

    #[test]
    fn hand_encoded_block() {
        // Length 8: Receive Maximum 10, Topic Alias Maximum 5, Maximum QoS 1.
        let p: ConnAckProperties = decode(&[0x08, 0x21, 0x00, 0x0A, 0x22, 0x00, 0x05, 0x24, 0x01]).unwrap();
        assert_eq!(p.receive_maximum, Some(10));
        assert_eq!(p.topic_alias_maximum, Some(5));
        assert_eq!(p.maximum_qos, Some(1));
        let mut buf = BytesMut::new();
        p.write(&mut buf);
        assert_eq!(&buf[..], &[0x08, 0x21, 0x00, 0x0A, 0x24, 0x01, 0x22, 0x00, 0x05]);
        assert_eq!(p.encoded_len(), buf.len());
    }

    #[test]
    fn property_errors() {
        // Duplicate Receive Maximum: Protocol Error.
        let err = decode::<ConnAckProperties>(&[0x06, 0x21, 0x00, 0x0A, 0x21, 0x00, 0x0A]);
        assert_eq!(
            err.unwrap_err(),
            DecodeError::DuplicateProperty {
                packet: PacketType::ConnAck,
                property: PropertyId::ReceiveMaximum
            }
        );
        // Receive Maximum 0: Protocol Error.
        let err = decode::<ConnAckProperties>(&[0x03, 0x21, 0x00, 0x00]).unwrap_err();
        assert_eq!(err.reason_code() as u8, 0x82);
        assert_eq!(err.to_string(), "protocol error in CONNACK: Receive Maximum has the invalid value 0");
        // Maximum QoS 2 is a Protocol Error.
        assert!(decode::<ConnAckProperties>(&[0x02, 0x24, 0x02]).is_err());
        // Topic Alias in CONNACK: not allowed, Malformed.
        let err = decode::<ConnAckProperties>(&[0x03, 0x23, 0x00, 0x01]).unwrap_err();
        assert_eq!(err.reason_code() as u8, 0x81);
        // Unknown identifier.
        assert!(decode::<ConnAckProperties>(&[0x02, 0x04, 0x00]).is_err());
        // Property length larger than the data.
        assert!(decode::<ConnAckProperties>(&[0x05, 0x24, 0x01]).is_err());
        // Property length cuts a value in half.
        assert!(decode::<ConnAckProperties>(&[0x02, 0x21, 0x00, 0x0A]).is_err());
        // User properties repeat, in order.
        let p: AckProperties =
            decode(&[0x0B, 0x26, 0x00, 0x01, b'a', 0x00, 0x00, 0x26, 0x00, 0x00, 0x00, 0x00]).unwrap();
        assert_eq!(p.user_properties, vec![("a".to_owned(), String::new()), (String::new(), String::new())]);
    }

    #[test]
    fn subscription_identifier_repeats_only_in_publish() {
        let bytes = [0x04, 0x0B, 0x01, 0x0B, 0x02];
        let p: PublishProperties = decode(&bytes).unwrap();
        assert_eq!(p.subscription_identifiers, vec![1, 2]);
        assert!(decode::<SubscribeProperties>(&bytes).is_err());
        // Subscription Identifier 0 is a Protocol Error.
        assert!(decode::<SubscribeProperties>(&[0x02, 0x0B, 0x00]).is_err());
        // Response Topic with a wildcard.
        let err = decode::<PublishProperties>(&[0x04, 0x08, 0x00, 0x01, b'#']).unwrap_err();
        assert_eq!(err.reason_code() as u8, 0x90);
    }

    #[test]
    fn checks_before_writing() {
        let p = ConnectProperties { receive_maximum: Some(0), ..Default::default() };
        assert!(p.check().is_err());
        let p = PublishProperties { subscription_identifiers: vec![MAX_VARINT + 1], ..Default::default() };
        assert!(p.check().is_err());
        let p = AckProperties { reason_string: Some("a\0".into()), ..Default::default() };
        assert_eq!(p.check(), Err(EncodeError::StringContainsNul { field: "Reason String" }));
    }
}
