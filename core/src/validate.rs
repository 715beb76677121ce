//! The ranges of the integer arguments and properties of the API, named once, so that the
//! Rust, C and Python faces refuse the same values with the same message (`<field> must be
//! ..., not <value>`, an [`Error::InvalidArgument`]). The faces only convert their types to an
//! integer wide enough to hold anything their callers can pass (`i128`) and call these.

use std::fmt;
use std::ops::RangeInclusive;
use std::time::Duration;

use crate::codec::{
    DisconnectReasonCode, PropertyId, QoS, RetainHandling, SubscribeProperties, Subscription,
};
use crate::Error;

/// The inclusive range of an integer argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub min: u64,
    pub max: u64,
}

impl Range {
    pub const fn new(min: u64, max: u64) -> Range {
        Range { min, max }
    }

    /// The range of a property from the codec's table.
    const fn of(range: RangeInclusive<u32>) -> Range {
        Range::new(*range.start() as u64, *range.end() as u64)
    }

    /// The range of the integer property `id`.
    const fn property(id: PropertyId) -> Range {
        match id.value_range() {
            Some(range) => Range::of(range),
            None => panic!("not an integer property"),
        }
    }

    pub fn contains(self, value: i128) -> bool {
        i128::from(self.min) <= value && value <= i128::from(self.max)
    }

    /// `value` as a `T` when the range holds it; otherwise an error naming `field`.
    pub fn check<T: TryFrom<i128>>(self, field: &str, value: impl Into<i128>) -> Result<T, Error> {
        let value = value.into();
        if self.contains(value) {
            if let Ok(v) = T::try_from(value) {
                return Ok(v);
            }
        }
        Err(self.refuse(field, value))
    }

    /// The error for `value` in `field`; `value` is displayed, so that a face can also refuse
    /// a number too large for any Rust integer (a Python int of any size) with this message.
    pub fn refuse(self, field: &str, value: impl fmt::Display) -> Error {
        Error::InvalidArgument(format!("{field} must be {self}, not {value}"))
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.min, self.max) {
            (0, 1) => f.write_str("0 or 1"),
            (0, 2) => f.write_str("0, 1 or 2"),
            (min, u64::MAX) => write!(f, "at least {min}"),
            (min, max) => write!(f, "in {min}..={max}"),
        }
    }
}

/// QoS of a publish, a subscription or the will.
pub const QOS: Range = Range::new(0, 2);
/// Retain Handling of a subscription (3.8.3.1).
pub const RETAIN_HANDLING: Range = Range::new(0, 2);
/// A one-byte property that is 0 or 1: Payload Format Indicator, Request Problem Information,
/// Request Response Information.
pub const FLAG: Range = Range::new(0, 1);
/// A two-byte integer: keep-alive, Topic Alias Maximum.
pub const TWO_BYTE: Range = Range::new(0, u16::MAX as u64);
/// A four-byte integer: Session Expiry Interval, Message Expiry Interval, Will Delay Interval.
pub const FOUR_BYTE: Range = Range::new(0, u32::MAX as u64);
/// Receive Maximum: 0 is a Protocol Error (3.1.2.11.3).
pub const RECEIVE_MAXIMUM: Range = Range::property(PropertyId::ReceiveMaximum);
/// Maximum Packet Size: 0 is a Protocol Error (3.1.2.11.4).
pub const MAXIMUM_PACKET_SIZE: Range = Range::property(PropertyId::MaximumPacketSize);
/// Topic Alias of a PUBLISH: 0 is not allowed ([MQTT-3.3.2-8]).
pub const TOPIC_ALIAS: Range = Range::property(PropertyId::TopicAlias);
/// Subscription Identifier: a variable byte integer, 0 is a Protocol Error (3.8.2.1.2).
pub const SUBSCRIPTION_IDENTIFIER: Range = Range::property(PropertyId::SubscriptionIdentifier);
/// A TCP port to connect to.
pub const PORT: Range = Range::new(1, u16::MAX as u64);
/// The send queue's limits, in messages and in bytes (a queue of 0 could take nothing).
pub const QUEUE_LIMIT: Range = Range::new(1, usize::MAX as u64);
/// A reason code is one byte (which codes a packet allows is checked on top).
pub const REASON_CODE: Range = Range::new(0, u8::MAX as u64);
/// The protocol level of CONNECT (3.1.2.2): 4 (MQTT 3.1.1) or 5 (MQTT 5.0), the only two
/// levels tether speaks ([`crate::ProtocolVersion::from_level`]).
pub const PROTOCOL_LEVEL: Range = Range::new(4, 5);
/// Attempts after a 0x97 Quota exceeded refusal ([`crate::QuotaRetry`]).
pub const QUOTA_RETRIES: Range = Range::new(0, u8::MAX as u64);
/// Durations given in seconds (timeouts, reconnect delays): up to a four-byte count of
/// seconds (136 years; "wait forever" has its own spelling in every face).
pub const SECONDS: Range = Range::new(0, u32::MAX as u64);

pub fn qos(field: &str, value: impl Into<i128>) -> Result<QoS, Error> {
    let v: u8 = QOS.check(field, value)?;
    QoS::try_from(v).map_err(|_| QOS.refuse(field, v))
}

pub fn retain_handling(field: &str, value: impl Into<i128>) -> Result<RetainHandling, Error> {
    let v: u8 = RETAIN_HANDLING.check(field, value)?;
    RetainHandling::try_from(v).map_err(|_| RETAIN_HANDLING.refuse(field, v))
}

/// A reason code that a client may send in DISCONNECT.
pub fn disconnect_reason_code(field: &str, value: impl Into<i128>) -> Result<DisconnectReasonCode, Error> {
    let v: u8 = REASON_CODE.check(field, value)?;
    DisconnectReasonCode::try_from(v)
        .map_err(|_| Error::InvalidArgument(format!("{field} {v} is not a DISCONNECT reason code")))
}

/// The Session Expiry Interval for a DISCONNECT, given the one the client connected with:
/// [MQTT-3.14.2-2] a non-zero value after CONNECT sent 0 is refused
/// ([`crate::session::check_disconnect_session_expiry`], the rule the engine applies).
///
/// ```
/// use tether_core::validate;
/// assert_eq!(validate::disconnect_session_expiry(3600, Some(0)).unwrap(), Some(0));
/// assert!(validate::disconnect_session_expiry(0, Some(60)).is_err());
/// ```
pub fn disconnect_session_expiry(connect: u32, disconnect: Option<u32>) -> Result<Option<u32>, Error> {
    crate::session::check_disconnect_session_expiry(Some(connect), disconnect)?;
    Ok(disconnect)
}

/// A duration given in (fractional) seconds: finite, not negative, within [`SECONDS`].
pub fn seconds(field: &str, value: f64) -> Result<Duration, Error> {
    if value.is_finite() && value >= 0.0 && value <= SECONDS.max as f64 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(refuse_seconds(field, value))
    }
}

/// The error of [`seconds`], also for a value a face cannot even make a float of.
pub fn refuse_seconds(field: &str, value: impl fmt::Display) -> Error {
    Error::InvalidArgument(format!("{field} must be a number of seconds {SECONDS}, not {value}"))
}

/// The first reconnect delay cannot exceed the ceiling of every delay.
pub fn reconnect_delays(
    min_field: &str,
    min_delay: Duration,
    max_field: &str,
    max_delay: Duration,
) -> Result<(), Error> {
    if min_delay > max_delay {
        return Err(Error::InvalidArgument(format!(
            "{min_field} ({min_delay:?}) must not exceed {max_field} ({max_delay:?})"
        )));
    }
    Ok(())
}

/// A connection attempt needs some time to succeed.
pub fn connect_timeout(field: &str, timeout: Duration) -> Result<Duration, Error> {
    if timeout.is_zero() {
        return Err(Error::InvalidArgument(format!("{field} must be greater than 0")));
    }
    Ok(timeout)
}

/// The range of an integer property, or None for a property that is not an integer: the
/// codec's table ([`PropertyId::value_range`]).
pub fn property(id: PropertyId) -> Option<Range> {
    id.value_range().map(Range::of)
}

/// A value of the integer property `id`, named by the property's MQTT name.
pub fn property_value(id: PropertyId, value: impl Into<i128>) -> Result<u32, Error> {
    match property(id) {
        Some(range) => range.check(id.name(), value),
        None => Err(Error::InvalidArgument(format!("{id} is not an integer property"))),
    }
}

/// Checks a SUBSCRIBE before it is queued (the filters' syntax, options and properties).
pub fn subscriptions(subscriptions: &[Subscription], properties: &SubscribeProperties) -> Result<(), Error> {
    if subscriptions.is_empty() {
        return Err(Error::InvalidArgument("subscribe needs at least one topic filter".into()));
    }
    for s in subscriptions {
        crate::codec::topic::validate_topic_filter(&s.filter)
            .map_err(|e| Error::InvalidTopic(format!("{:?}: {e}", s.filter)))?;
        if s.options.no_local && s.filter.starts_with("$share/") {
            // [MQTT-3.8.3-4] no-local on a shared subscription is a Protocol Error.
            return Err(Error::InvalidArgument("no_local cannot be set on a shared subscription".into()));
        }
    }
    if let Some(id) = properties.subscription_identifier {
        SUBSCRIPTION_IDENTIFIER.check::<u32>("subscription_identifier", id)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::MAX_VARINT;

    fn message(e: Error) -> String {
        match e {
            Error::InvalidArgument(m) => m,
            other => panic!("not an invalid argument: {other:?}"),
        }
    }

    #[test]
    fn ranges_refuse_both_ends_and_name_the_field() {
        assert_eq!(RECEIVE_MAXIMUM.check::<u16>("receive_maximum", 1u8).unwrap(), 1);
        assert_eq!(RECEIVE_MAXIMUM.check::<u16>("receive_maximum", 65_535u16).unwrap(), 65_535);
        for bad in [-1i128, 0, 65_536, 1 << 64] {
            let m = message(RECEIVE_MAXIMUM.check::<u16>("receive_maximum", bad).unwrap_err());
            assert_eq!(m, format!("receive_maximum must be in 1..=65535, not {bad}"));
        }
        assert_eq!(message(qos("qos", 3).unwrap_err()), "qos must be 0, 1 or 2, not 3");
        assert_eq!(qos("qos", 2u8).unwrap(), QoS::ExactlyOnce);
        assert_eq!(
            message(FLAG.check::<u8>("payload_format_indicator", 2).unwrap_err()),
            "payload_format_indicator must be 0 or 1, not 2"
        );
        assert_eq!(
            message(QUEUE_LIMIT.check::<usize>("max_queued", 0).unwrap_err()),
            "max_queued must be at least 1, not 0"
        );
        assert!(message(disconnect_reason_code("reason_code", 3).unwrap_err()).contains("reason_code 3"));
        assert!(message(disconnect_reason_code("reason_code", 256).unwrap_err()).contains("reason_code"));
        assert!(message(retain_handling("retain_handling", -1).unwrap_err()).contains("retain_handling"));
    }

    #[test]
    fn seconds_are_finite_and_bounded() {
        assert_eq!(seconds("timeout", 1.5).unwrap(), Duration::from_millis(1500));
        assert_eq!(
            seconds("timeout", f64::from(u32::MAX)).unwrap(),
            Duration::from_secs(u64::from(u32::MAX))
        );
        for bad in [-1.0, f64::NAN, f64::INFINITY, 4_294_967_296.0, 18_446_744_073_709_551_616.0] {
            assert!(message(seconds("timeout", bad).unwrap_err()).starts_with("timeout must be"));
        }
    }

    /// The ranges agree with what the decoder accepts from a server.
    #[test]
    fn property_ranges_agree_with_the_codec() {
        for id in PropertyId::ALL.iter().copied() {
            let Some(range) = property(id) else { continue };
            // What the wire type can hold; the decoder refuses wider values by their width.
            let width = match range.max {
                1 => u64::from(u8::MAX),
                m if m == u64::from(MAX_VARINT) => u64::from(u32::MAX),
                m => m,
            };
            for v in [0u32, 1, 2, 255, 256, 65_535, 65_536, MAX_VARINT, MAX_VARINT + 1, u32::MAX] {
                if u64::from(v) <= width {
                    assert_eq!(range.contains(v.into()), id.value_is_valid(v), "{id} {v}");
                }
            }
        }
        let m = message(property_value(PropertyId::ReceiveMaximum, 0).unwrap_err());
        assert_eq!(m, "Receive Maximum must be in 1..=65535, not 0");
    }
}
