//! `tether_properties`: the general MQTT 5 property object, keyed by the MQTT property
//! identifiers (`TETHER_PROP_*`), for CONNECT, the will message and PUBLISH, and for reading the
//! properties of a received message.

use std::ffi::{c_char, CString};

use bytes::Bytes;
use tether_core::codec::PropertyId;
use tether_core::{ConnectProperties, PublishProperties, WillProperties};

use crate::boundary::{ffi_boundary, try_bytes, try_mut, try_ref, try_str, write_opt};
use crate::cast::{self, Castable, OwnershipBox};
use crate::result::{tether_result, Failure, Outcome};

/// Payload Format Indicator (byte, 0 or 1): PUBLISH, will.
pub const TETHER_PROP_PAYLOAD_FORMAT_INDICATOR: u8 = 0x01;
/// Message Expiry Interval (four-byte integer, seconds): PUBLISH, will.
pub const TETHER_PROP_MESSAGE_EXPIRY_INTERVAL: u8 = 0x02;
/// Content Type (string): PUBLISH, will.
pub const TETHER_PROP_CONTENT_TYPE: u8 = 0x03;
/// Response Topic (string, a topic name): PUBLISH, will.
pub const TETHER_PROP_RESPONSE_TOPIC: u8 = 0x08;
/// Correlation Data (binary): PUBLISH, will.
pub const TETHER_PROP_CORRELATION_DATA: u8 = 0x09;
/// Subscription Identifier (variable byte integer, 1..268435455): received PUBLISH only.
pub const TETHER_PROP_SUBSCRIPTION_IDENTIFIER: u8 = 0x0B;
/// Session Expiry Interval (four-byte integer, seconds; 0xFFFFFFFF = never): CONNECT.
pub const TETHER_PROP_SESSION_EXPIRY_INTERVAL: u8 = 0x11;
/// Assigned Client Identifier (string): CONNACK.
pub const TETHER_PROP_ASSIGNED_CLIENT_IDENTIFIER: u8 = 0x12;
/// Server Keep Alive (two-byte integer): CONNACK.
pub const TETHER_PROP_SERVER_KEEP_ALIVE: u8 = 0x13;
/// Authentication Method (string): CONNECT.
pub const TETHER_PROP_AUTHENTICATION_METHOD: u8 = 0x15;
/// Authentication Data (binary): CONNECT.
pub const TETHER_PROP_AUTHENTICATION_DATA: u8 = 0x16;
/// Request Problem Information (byte, 0 or 1): CONNECT.
pub const TETHER_PROP_REQUEST_PROBLEM_INFORMATION: u8 = 0x17;
/// Will Delay Interval (four-byte integer, seconds): will.
pub const TETHER_PROP_WILL_DELAY_INTERVAL: u8 = 0x18;
/// Request Response Information (byte, 0 or 1): CONNECT.
pub const TETHER_PROP_REQUEST_RESPONSE_INFORMATION: u8 = 0x19;
/// Response Information (string): CONNACK.
pub const TETHER_PROP_RESPONSE_INFORMATION: u8 = 0x1A;
/// Server Reference (string): CONNACK, DISCONNECT.
pub const TETHER_PROP_SERVER_REFERENCE: u8 = 0x1C;
/// Reason String (string): acknowledgements.
pub const TETHER_PROP_REASON_STRING: u8 = 0x1F;
/// Receive Maximum (two-byte integer, not 0): CONNECT.
pub const TETHER_PROP_RECEIVE_MAXIMUM: u8 = 0x21;
/// Topic Alias Maximum (two-byte integer): CONNECT.
pub const TETHER_PROP_TOPIC_ALIAS_MAXIMUM: u8 = 0x22;
/// Topic Alias (two-byte integer, not 0): PUBLISH, only with automatic topic aliases off
/// (`tether_options_set_auto_topic_alias(options, false)`). Sent as given, with the full
/// topic; refused at the publish when above the Topic Alias Maximum of the server's last
/// CONNACK (before the first CONNACK it is checked when sent, and the delivery fails with
/// `TETHER_INVALID_ARGUMENT` if the server does not admit it). Not sent again after a
/// reconnect: a retransmission carries the full topic only.
pub const TETHER_PROP_TOPIC_ALIAS: u8 = 0x23;
/// Maximum QoS (byte): CONNACK.
pub const TETHER_PROP_MAXIMUM_QOS: u8 = 0x24;
/// Retain Available (byte): CONNACK.
pub const TETHER_PROP_RETAIN_AVAILABLE: u8 = 0x25;
/// User Property (string pair, repeatable): everywhere; use
/// `tether_properties_add_user_property`.
pub const TETHER_PROP_USER_PROPERTY: u8 = 0x26;
/// Maximum Packet Size (four-byte integer, not 0): CONNECT.
pub const TETHER_PROP_MAXIMUM_PACKET_SIZE: u8 = 0x27;
/// Wildcard Subscription Available (byte): CONNACK.
pub const TETHER_PROP_WILDCARD_SUBSCRIPTION_AVAILABLE: u8 = 0x28;
/// Subscription Identifier Available (byte): CONNACK.
pub const TETHER_PROP_SUBSCRIPTION_IDENTIFIER_AVAILABLE: u8 = 0x29;
/// Shared Subscription Available (byte): CONNACK.
pub const TETHER_PROP_SHARED_SUBSCRIPTION_AVAILABLE: u8 = 0x2A;

/// The largest MQTT string or binary value (a two-byte length prefix).
const MAX_FIELD: usize = 65_535;

/// A set of MQTT 5 properties, keyed by `TETHER_PROP_*` identifiers.
///
/// Owned by the caller: made by `tether_properties_new`, freed by `tether_properties_free`.
/// Functions that take a `const tether_properties *` copy what they need, so the object may
/// be freed or changed right after the call. One object must not be used by two threads at
/// once. The object returned by `tether_message_properties` is borrowed from its message.
///
/// Methods: `tether_properties_new`, `tether_properties_free`, `tether_properties_set_u8`,
/// `tether_properties_set_u16`, `tether_properties_set_u32`, `tether_properties_set_string`,
/// `tether_properties_set_binary`, `tether_properties_add_user_property`,
/// `tether_properties_get_u32`, `tether_properties_get_string`,
/// `tether_properties_get_binary`, `tether_properties_user_property_count`,
/// `tether_properties_get_user_property`.
pub struct tether_properties {
    _private: [u8; 0],
}

impl Castable for tether_properties {
    type Ownership = OwnershipBox;
    type RustType = Properties;
}

/// The wire type of a property value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Byte,
    U16,
    U32,
    Varint,
    String,
    Binary,
    Pair,
}

impl Kind {
    fn of(id: PropertyId) -> Kind {
        use PropertyId::*;
        match id {
            PayloadFormatIndicator
            | RequestProblemInformation
            | RequestResponseInformation
            | MaximumQoS
            | RetainAvailable
            | WildcardSubscriptionAvailable
            | SubscriptionIdentifierAvailable
            | SharedSubscriptionAvailable => Kind::Byte,
            ServerKeepAlive | ReceiveMaximum | TopicAliasMaximum | TopicAlias => Kind::U16,
            MessageExpiryInterval | SessionExpiryInterval | WillDelayInterval | MaximumPacketSize => {
                Kind::U32
            }
            SubscriptionIdentifier => Kind::Varint,
            ContentType
            | ResponseTopic
            | AssignedClientIdentifier
            | AuthenticationMethod
            | ResponseInformation
            | ServerReference
            | ReasonString => Kind::String,
            CorrelationData | AuthenticationData => Kind::Binary,
            UserProperty => Kind::Pair,
        }
    }

    fn setter(self) -> &'static str {
        match self {
            Kind::Byte => "tether_properties_set_u8",
            Kind::U16 => "tether_properties_set_u16",
            Kind::U32 | Kind::Varint => "tether_properties_set_u32",
            Kind::String => "tether_properties_set_string",
            Kind::Binary => "tether_properties_set_binary",
            Kind::Pair => "tether_properties_add_user_property",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Int(u32),
    Str(CString),
    Bin(Vec<u8>),
    Pair(CString, CString),
}

/// The Rust value behind `tether_properties`: values in the order they were set; a setter
/// replaces an earlier value of the same identifier, user properties accumulate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    items: Vec<(PropertyId, Value)>,
}

pub(crate) fn lossy_cstring(s: &str) -> CString {
    CString::new(s.replace('\0', "\u{FFFD}")).unwrap_or_default()
}

fn as_str(c: &CString) -> String {
    c.to_string_lossy().into_owned()
}

impl Properties {
    fn id(raw: u8) -> Result<PropertyId, Failure> {
        PropertyId::try_from(raw)
            .map_err(|_| Failure::invalid(format!("id 0x{raw:02X} is not an MQTT 5 property identifier")))
    }

    /// The identifier, checked against the setter's kind.
    fn checked_id(raw: u8, kinds: &[Kind]) -> Result<PropertyId, Failure> {
        let id = Self::id(raw)?;
        let kind = Kind::of(id);
        if !kinds.contains(&kind) {
            return Err(Failure::invalid(format!("{id} (0x{raw:02X}) is set with {}", kind.setter())));
        }
        Ok(id)
    }

    fn replace(&mut self, id: PropertyId, value: Value) {
        match self.items.iter_mut().find(|(i, _)| *i == id) {
            Some(slot) => slot.1 = value,
            None => self.items.push((id, value)),
        }
    }

    fn set_int(&mut self, raw: u8, value: u32, kinds: &[Kind]) -> Outcome {
        let id = Self::checked_id(raw, kinds)?;
        let value = tether_core::validate::property_value(id, value)?;
        self.replace(id, Value::Int(value));
        Ok(())
    }

    pub(crate) fn set_string(&mut self, raw: u8, value: &str) -> Outcome {
        let id = Self::checked_id(raw, &[Kind::String])?;
        check_len(id.name(), value.len())?;
        self.replace(id, Value::Str(lossy_cstring(value)));
        Ok(())
    }

    pub(crate) fn set_binary(&mut self, raw: u8, value: &[u8]) -> Outcome {
        let id = Self::checked_id(raw, &[Kind::Binary])?;
        check_len(id.name(), value.len())?;
        self.replace(id, Value::Bin(value.to_vec()));
        Ok(())
    }

    pub(crate) fn add_user_property(&mut self, key: &str, value: &str) -> Outcome {
        check_len("user property key", key.len())?;
        check_len("user property value", value.len())?;
        self.items.push((PropertyId::UserProperty, Value::Pair(lossy_cstring(key), lossy_cstring(value))));
        Ok(())
    }

    fn get(&self, id: PropertyId) -> Option<&Value> {
        self.items.iter().find(|(i, _)| *i == id).map(|(_, v)| v)
    }

    fn users(&self) -> impl Iterator<Item = (&CString, &CString)> {
        self.items.iter().filter_map(|(_, v)| match v {
            Value::Pair(k, v) => Some((k, v)),
            _ => None,
        })
    }

    fn not_allowed(id: PropertyId, what: &str) -> Failure {
        Failure::invalid(format!("{id} (0x{:02X}) is not a {what} property", id as u8))
    }

    /// CONNECT properties (3.1.2.11); any other identifier is an invalid argument.
    pub(crate) fn to_connect(&self) -> Result<ConnectProperties, Failure> {
        use PropertyId::*;
        let mut p = ConnectProperties::new();
        for (id, value) in &self.items {
            match (id, value) {
                (SessionExpiryInterval, Value::Int(v)) => p.session_expiry_interval = Some(*v),
                (ReceiveMaximum, Value::Int(v)) => p.receive_maximum = Some(*v as u16),
                (MaximumPacketSize, Value::Int(v)) => p.maximum_packet_size = Some(*v),
                (TopicAliasMaximum, Value::Int(v)) => p.topic_alias_maximum = Some(*v as u16),
                (RequestResponseInformation, Value::Int(v)) => {
                    p.request_response_information = Some(*v as u8)
                }
                (RequestProblemInformation, Value::Int(v)) => p.request_problem_information = Some(*v as u8),
                (UserProperty, Value::Pair(k, v)) => p.user_properties.push((as_str(k), as_str(v))),
                (AuthenticationMethod, Value::Str(s)) => p.authentication_method = Some(as_str(s)),
                (AuthenticationData, Value::Bin(b)) => p.authentication_data = Some(Bytes::from(b.clone())),
                _ => return Err(Self::not_allowed(*id, "CONNECT")),
            }
        }
        if p.authentication_data.is_some() && p.authentication_method.is_none() {
            return Err(Failure::invalid("Authentication Data needs an Authentication Method"));
        }
        Ok(p)
    }

    /// Will properties (3.1.3.2).
    pub(crate) fn to_will(&self) -> Result<WillProperties, Failure> {
        use PropertyId::*;
        let mut p = WillProperties::default();
        for (id, value) in &self.items {
            match (id, value) {
                (WillDelayInterval, Value::Int(v)) => p.will_delay_interval = Some(*v),
                (PayloadFormatIndicator, Value::Int(v)) => p.payload_format_indicator = Some(*v as u8),
                (MessageExpiryInterval, Value::Int(v)) => p.message_expiry_interval = Some(*v),
                (ContentType, Value::Str(s)) => p.content_type = Some(as_str(s)),
                (ResponseTopic, Value::Str(s)) => p.response_topic = Some(as_str(s)),
                (CorrelationData, Value::Bin(b)) => p.correlation_data = Some(Bytes::from(b.clone())),
                (UserProperty, Value::Pair(k, v)) => p.user_properties.push((as_str(k), as_str(v))),
                _ => return Err(Self::not_allowed(*id, "will")),
            }
        }
        Ok(p)
    }

    /// PUBLISH properties an application may send (3.3.2.3; a Topic Alias only with
    /// automatic aliases off, which the client checks).
    pub(crate) fn to_publish(&self) -> Result<PublishProperties, Failure> {
        use PropertyId::*;
        let mut p = PublishProperties::default();
        for (id, value) in &self.items {
            match (id, value) {
                (PayloadFormatIndicator, Value::Int(v)) => p.payload_format_indicator = Some(*v as u8),
                (MessageExpiryInterval, Value::Int(v)) => p.message_expiry_interval = Some(*v),
                (ContentType, Value::Str(s)) => p.content_type = Some(as_str(s)),
                (ResponseTopic, Value::Str(s)) => p.response_topic = Some(as_str(s)),
                (CorrelationData, Value::Bin(b)) => p.correlation_data = Some(Bytes::from(b.clone())),
                (UserProperty, Value::Pair(k, v)) => p.user_properties.push((as_str(k), as_str(v))),
                (TopicAlias, Value::Int(v)) => p.topic_alias = Some(*v as u16),
                _ => return Err(Self::not_allowed(*id, "PUBLISH (sent by a client)")),
            }
        }
        Ok(p)
    }

    /// The properties of a received PUBLISH, for reading from C.
    pub(crate) fn from_publish(p: &PublishProperties) -> Properties {
        use PropertyId::*;
        let mut out = Properties::default();
        let mut push = |id, value| out.items.push((id, value));
        if let Some(v) = p.payload_format_indicator {
            push(PayloadFormatIndicator, Value::Int(u32::from(v)));
        }
        if let Some(v) = p.message_expiry_interval {
            push(MessageExpiryInterval, Value::Int(v));
        }
        if let Some(v) = p.topic_alias {
            push(TopicAlias, Value::Int(u32::from(v)));
        }
        if let Some(s) = &p.content_type {
            push(ContentType, Value::Str(lossy_cstring(s)));
        }
        if let Some(s) = &p.response_topic {
            push(ResponseTopic, Value::Str(lossy_cstring(s)));
        }
        if let Some(b) = &p.correlation_data {
            push(CorrelationData, Value::Bin(b.to_vec()));
        }
        for id in &p.subscription_identifiers {
            push(SubscriptionIdentifier, Value::Int(*id));
        }
        for (k, v) in &p.user_properties {
            push(UserProperty, Value::Pair(lossy_cstring(k), lossy_cstring(v)));
        }
        out
    }
}

fn check_len(what: &str, len: usize) -> Outcome {
    if len > MAX_FIELD {
        return Err(Failure::new(
            tether_result::TETHER_PACKET_TOO_LARGE,
            format!("{what} is {len} bytes; MQTT allows at most {MAX_FIELD}"),
        ));
    }
    Ok(())
}

impl tether_properties {
    /// A new, empty property set. Free it with `tether_properties_free`. Returns NULL only
    /// if tether failed internally.
    #[no_mangle]
    pub extern "C" fn tether_properties_new() -> *mut tether_properties {
        ffi_boundary! {
            cast::to_boxed_mut_ptr::<tether_properties>(Properties::default())
        }
    }

    /// Frees a property set. Calling with NULL is fine. Must not be called twice, nor on the
    /// borrowed set of `tether_message_properties`.
    #[no_mangle]
    pub extern "C" fn tether_properties_free(properties: *mut tether_properties) {
        ffi_boundary! {
            // SAFETY: the C contract: NULL or a set from `tether_properties_new`, freed once.
            drop(unsafe { cast::take_box(properties) });
        }
    }

    /// Sets a one-byte property (`TETHER_PROP_PAYLOAD_FORMAT_INDICATOR`,
    /// `TETHER_PROP_REQUEST_PROBLEM_INFORMATION`, `TETHER_PROP_REQUEST_RESPONSE_INFORMATION`,
    /// ...), replacing an earlier value. An identifier of another type, or a value that MQTT
    /// rules out (these are 0 or 1), gives `TETHER_INVALID_ARGUMENT`.
    #[no_mangle]
    pub extern "C" fn tether_properties_set_u8(
        properties: *mut tether_properties,
        id: u8,
        value: u8,
    ) -> tether_result {
        ffi_boundary! {
            try_mut!(properties).set_int(id, u32::from(value), &[Kind::Byte])
        }
    }

    /// Sets a two-byte property (`TETHER_PROP_RECEIVE_MAXIMUM`,
    /// `TETHER_PROP_TOPIC_ALIAS_MAXIMUM`, ...), replacing an earlier value.
    #[no_mangle]
    pub extern "C" fn tether_properties_set_u16(
        properties: *mut tether_properties,
        id: u8,
        value: u16,
    ) -> tether_result {
        ffi_boundary! {
            try_mut!(properties).set_int(id, u32::from(value), &[Kind::U16])
        }
    }

    /// Sets a four-byte property (`TETHER_PROP_SESSION_EXPIRY_INTERVAL`,
    /// `TETHER_PROP_MESSAGE_EXPIRY_INTERVAL`, `TETHER_PROP_WILL_DELAY_INTERVAL`,
    /// `TETHER_PROP_MAXIMUM_PACKET_SIZE`) or the Subscription Identifier, replacing an earlier
    /// value.
    #[no_mangle]
    pub extern "C" fn tether_properties_set_u32(
        properties: *mut tether_properties,
        id: u8,
        value: u32,
    ) -> tether_result {
        ffi_boundary! {
            try_mut!(properties).set_int(id, value, &[Kind::U32, Kind::Varint])
        }
    }

    /// Sets a string property (`TETHER_PROP_CONTENT_TYPE`, `TETHER_PROP_RESPONSE_TOPIC`,
    /// `TETHER_PROP_AUTHENTICATION_METHOD`, ...), replacing an earlier value. `value` is a
    /// NUL-terminated UTF-8 string, copied.
    #[no_mangle]
    pub extern "C" fn tether_properties_set_string(
        properties: *mut tether_properties,
        id: u8,
        value: *const c_char,
    ) -> tether_result {
        ffi_boundary! {
            let properties = try_mut!(properties);
            properties.set_string(id, try_str!(value))
        }
    }

    /// Sets a binary property (`TETHER_PROP_CORRELATION_DATA`,
    /// `TETHER_PROP_AUTHENTICATION_DATA`), replacing an earlier value. `len` bytes are copied
    /// from `data` (which may be NULL when `len` is 0).
    #[no_mangle]
    pub extern "C" fn tether_properties_set_binary(
        properties: *mut tether_properties,
        id: u8,
        data: *const u8,
        len: usize,
    ) -> tether_result {
        ffi_boundary! {
            let properties = try_mut!(properties);
            properties.set_binary(id, try_bytes!(data, len))
        }
    }

    /// Appends a user property (a UTF-8 key/value pair; both are copied). User properties keep
    /// their order and may repeat.
    #[no_mangle]
    pub extern "C" fn tether_properties_add_user_property(
        properties: *mut tether_properties,
        key: *const c_char,
        value: *const c_char,
    ) -> tether_result {
        ffi_boundary! {
            let properties = try_mut!(properties);
            properties.add_user_property(try_str!(key), try_str!(value))
        }
    }

    /// Reads an integer property of any width into `*value_out` and returns true, or returns
    /// false (leaving `*value_out` alone) when the set does not hold it. For a repeated
    /// Subscription Identifier this is the first one.
    #[no_mangle]
    pub extern "C" fn tether_properties_get_u32(
        properties: *const tether_properties,
        id: u8,
        value_out: *mut u32,
    ) -> bool {
        ffi_boundary! {
            let properties = try_ref!(properties);
            let Ok(id) = PropertyId::try_from(id) else { return false };
            match properties.get(id) {
                Some(Value::Int(v)) => {
                    write_opt!(value_out, *v);
                    true
                }
                _ => false,
            }
        }
    }

    /// A string property, or NULL when the set does not hold it. The string belongs to the
    /// set and lives as long as it (for a message's properties: as long as the message).
    #[no_mangle]
    pub extern "C" fn tether_properties_get_string(
        properties: *const tether_properties,
        id: u8,
    ) -> *const c_char {
        ffi_boundary! {
            let properties = try_ref!(properties);
            let Ok(id) = PropertyId::try_from(id) else { return std::ptr::null() };
            match properties.get(id) {
                Some(Value::Str(s)) => s.as_ptr(),
                _ => std::ptr::null(),
            }
        }
    }

    /// A binary property and its length in `*len_out`, or NULL when the set does not hold it
    /// (an empty value gives a non-NULL pointer and length 0). The bytes belong to the set.
    #[no_mangle]
    pub extern "C" fn tether_properties_get_binary(
        properties: *const tether_properties,
        id: u8,
        len_out: *mut usize,
    ) -> *const u8 {
        ffi_boundary! {
            let properties = try_ref!(properties);
            let Ok(id) = PropertyId::try_from(id) else { return std::ptr::null() };
            match properties.get(id) {
                Some(Value::Bin(b)) => {
                    write_opt!(len_out, b.len());
                    if b.is_empty() { [].as_ptr() } else { b.as_ptr() }
                }
                _ => std::ptr::null(),
            }
        }
    }

    /// How many user properties the set holds (0 for NULL).
    #[no_mangle]
    pub extern "C" fn tether_properties_user_property_count(properties: *const tether_properties) -> usize {
        ffi_boundary! {
            try_ref!(properties).users().count()
        }
    }

    /// The user property at `index` (0-based, in order): writes its key and value (owned by
    /// the set, living as long as it) and returns true; false when `index` is out of range.
    #[no_mangle]
    pub extern "C" fn tether_properties_get_user_property(
        properties: *const tether_properties,
        index: usize,
        key_out: *mut *const c_char,
        value_out: *mut *const c_char,
    ) -> bool {
        ffi_boundary! {
            let properties = try_ref!(properties);
            match properties.users().nth(index) {
                Some((k, v)) => {
                    write_opt!(key_out, k.as_ptr());
                    write_opt!(value_out, v.as_ptr());
                    true
                }
                None => false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::tether_result::*;

    #[test]
    fn constants_are_the_mqtt_identifiers() {
        for (constant, id) in [
            (TETHER_PROP_SESSION_EXPIRY_INTERVAL, PropertyId::SessionExpiryInterval),
            (TETHER_PROP_USER_PROPERTY, PropertyId::UserProperty),
            (TETHER_PROP_SHARED_SUBSCRIPTION_AVAILABLE, PropertyId::SharedSubscriptionAvailable),
            (TETHER_PROP_CORRELATION_DATA, PropertyId::CorrelationData),
        ] {
            assert_eq!(constant, id as u8);
        }
    }

    #[test]
    fn connect_properties_and_misuse() {
        let mut p = Properties::default();
        p.set_int(TETHER_PROP_SESSION_EXPIRY_INTERVAL, u32::MAX, &[Kind::U32]).unwrap();
        p.set_int(TETHER_PROP_RECEIVE_MAXIMUM, 10, &[Kind::U16]).unwrap();
        p.add_user_property("site", "a").unwrap();
        let c = p.to_connect().unwrap();
        assert_eq!(c.session_expiry_interval, Some(u32::MAX));
        assert_eq!(c.receive_maximum, Some(10));
        assert_eq!(c.user_properties, vec![("site".to_owned(), "a".to_owned())]);
        // Wrong type, bad value, unknown id, not a CONNECT property.
        let e = p.set_int(TETHER_PROP_RECEIVE_MAXIMUM, 10, &[Kind::U32]).unwrap_err();
        assert!(e.message.contains("tether_properties_set_u16"), "{}", e.message);
        assert_eq!(
            p.set_int(TETHER_PROP_RECEIVE_MAXIMUM, 0, &[Kind::U16]).unwrap_err().result,
            TETHER_INVALID_ARGUMENT
        );
        assert_eq!(p.set_int(0x04, 1, &[Kind::U32]).unwrap_err().result, TETHER_INVALID_ARGUMENT);
        p.set_string(TETHER_PROP_CONTENT_TYPE, "text/plain").unwrap();
        let e = p.to_connect().unwrap_err();
        assert!(e.message.contains("Content Type"), "{}", e.message);
        assert_eq!(p.to_publish().unwrap_err().result, TETHER_INVALID_ARGUMENT);
    }

    #[test]
    fn publish_round_trip() {
        let mut p = Properties::default();
        p.set_string(TETHER_PROP_CONTENT_TYPE, "text/plain").unwrap();
        p.set_binary(TETHER_PROP_CORRELATION_DATA, b"id").unwrap();
        p.add_user_property("k", "v").unwrap();
        p.add_user_property("k", "w").unwrap();
        let publish = p.to_publish().unwrap();
        let back = Properties::from_publish(&publish);
        assert_eq!(back.users().count(), 2);
        assert_eq!(back.to_publish().unwrap(), publish);
        assert_eq!(
            p.set_string(TETHER_PROP_CONTENT_TYPE, &"x".repeat(70_000)).unwrap_err().result,
            TETHER_PACKET_TOO_LARGE
        );
    }
}
