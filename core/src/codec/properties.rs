//! MQTT 5.0 properties (specification section 2.2.2): one typed struct per packet family and
//! the one shared reader/writer that every packet uses.
//!
//! A property that appears twice where the specification forbids it, or that does not belong to
//! the packet being decoded, is a Protocol Error ([MQTT-2.2.2-2] and the per-property rules).

use bytes::Bytes;

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
