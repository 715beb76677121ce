//! Checks on what the application hands over: a publish without the server (the faces call
//! [`validate_publish`] at the call, the engine again), and against the server's limits.

use super::{CommandError, PublishRequest, Session};
use crate::codec::{topic, Publish, QoS, MAX_PAYLOAD, MAX_STRING_LEN};

/// Checks a publish request against everything that does not depend on the server: topic,
/// properties, UTF-8. The facades call it so that bad input fails at the call, before anything
/// is queued or sent; the engine calls it again.
///
/// ```
/// use tether_core::session::{validate_publish, PublishRequest};
/// let bad = PublishRequest { topic: "a/#".into(), ..Default::default() };
/// assert!(validate_publish(&bad).is_err());
/// ```
pub fn validate_publish(request: &PublishRequest) -> Result<(), CommandError> {
    topic::validate_topic_name(&request.topic)
        .map_err(|e| CommandError::InvalidTopic(format!("{:?}: {e}", request.topic)))?;
    let p = &request.properties;
    if p.topic_alias == Some(0) {
        // [MQTT-3.3.2-8] a Topic Alias of 0 is not allowed.
        return Err(CommandError::InvalidArgument("topic_alias must be 1..=65535, not 0".into()));
    }
    if !p.subscription_identifiers.is_empty() {
        // [MQTT-3.3.4-6] a client PUBLISH never carries a Subscription Identifier.
        return Err(CommandError::InvalidArgument(
            "a published message cannot carry subscription identifiers".into(),
        ));
    }
    if let Some(rt) = &p.response_topic {
        // [MQTT-3.3.2-14] the Response Topic is a topic name, without wildcards.
        topic::validate_topic_name(rt)
            .map_err(|e| CommandError::InvalidTopic(format!("response topic {rt:?}: {e}")))?;
    }
    if matches!(p.payload_format_indicator, Some(f) if f > 1) {
        return Err(CommandError::InvalidArgument("payload format indicator must be 0 or 1".into()));
    }
    if p.payload_format_indicator == Some(1) && std::str::from_utf8(&request.payload).is_err() {
        // 3.3.2.3.2: a payload announced as UTF-8 (Payload Format Indicator 1) must be
        // well-formed UTF-8.
        return Err(CommandError::InvalidArgument(
            "payload format indicator says UTF-8 but the payload is not valid UTF-8".into(),
        ));
    }
    let strings = p.content_type.iter().chain(p.user_properties.iter().flat_map(|(k, v)| [k, v]));
    for s in strings {
        check_string(s)?;
    }
    if request.payload.len() > MAX_PAYLOAD {
        return Err(CommandError::PacketTooLarge { size: request.payload.len(), max: MAX_PAYLOAD as u32 });
    }
    Ok(())
}

/// [MQTT-3.14.2-2] A DISCONNECT cannot set a non-zero Session Expiry Interval when CONNECT
/// sent 0 (or none): the server would treat it as a Protocol Error. `connect` is what CONNECT
/// sent, `disconnect` what the application asks DISCONNECT to carry. The engine refuses such
/// a DISCONNECT with this check; the faces call it (through
/// [`crate::validate::disconnect_session_expiry`]) to refuse it at the call.
///
/// ```
/// use tether_core::session::check_disconnect_session_expiry;
/// assert!(check_disconnect_session_expiry(Some(60), Some(0)).is_ok());
/// assert!(check_disconnect_session_expiry(Some(0), Some(0)).is_ok());
/// assert!(check_disconnect_session_expiry(None, None).is_ok());
/// assert!(check_disconnect_session_expiry(None, Some(60)).is_err());
/// ```
pub fn check_disconnect_session_expiry(
    connect: Option<u32>,
    disconnect: Option<u32>,
) -> Result<(), CommandError> {
    match disconnect {
        Some(expiry) if expiry != 0 && connect.unwrap_or(0) == 0 => Err(CommandError::InvalidArgument(
            "session_expiry_interval cannot be set on DISCONNECT when CONNECT sent a session expiry of 0"
                .into(),
        )),
        _ => Ok(()),
    }
}

/// Checks an application's own Topic Alias against the client's settings and the server's
/// Topic Alias Maximum (`None` before the first CONNACK of a connection: then it is checked
/// again when the message is sent, and the delivery fails if the server does not admit it).
/// The alias goes out with the full topic, which both sets and uses the mapping (3.3.2.3.4),
/// so the server never depends on an earlier message having arrived.
///
/// ```
/// use tether_core::session::check_topic_alias;
/// assert!(check_topic_alias(Some(3), false, Some(10)).is_ok());
/// assert!(check_topic_alias(Some(11), false, Some(10)).is_err()); // above the maximum
/// assert!(check_topic_alias(Some(3), true, Some(10)).is_err()); // automatic aliases are on
/// ```
pub fn check_topic_alias(
    alias: Option<u16>,
    auto: bool,
    server_maximum: Option<u16>,
) -> Result<(), CommandError> {
    let Some(alias) = alias else { return Ok(()) };
    if auto {
        // The engine's own assignment would reuse the same numbers for other topics.
        return Err(CommandError::InvalidArgument(
            "topic_alias needs automatic topic aliases turned off (set_auto_topic_alias(false))".into(),
        ));
    }
    if alias == 0 {
        // [MQTT-3.3.2-8]
        return Err(CommandError::InvalidArgument("topic_alias must be 1..=65535, not 0".into()));
    }
    match server_maximum {
        // [MQTT-3.3.2-9] never above the Topic Alias Maximum of the server's CONNACK.
        Some(maximum) if alias > maximum => Err(CommandError::InvalidArgument(format!(
            "topic_alias {alias} exceeds the server's Topic Alias Maximum {maximum}"
        ))),
        _ => Ok(()),
    }
}

/// The size of `publish` on the wire once it has a packet identifier (a queued QoS>0 message
/// has none yet), without copying it.
fn wire_len(publish: &Publish) -> usize {
    let len = publish.encoded_len();
    if publish.qos == QoS::AtMostOnce || publish.packet_id.is_some() {
        return len;
    }
    // len = 1 + varint_len(rest) + rest; the identifier adds two bytes to `rest`.
    let rest = (1..=4)
        .map(|v| len - 1 - v)
        .find(|r| crate::codec::primitives::varint_len(*r) == len - 1 - r)
        .unwrap_or(len);
    let rest = rest + 2;
    1 + crate::codec::primitives::varint_len(rest) + rest
}

/// [MQTT-1.5.4-1]/[MQTT-1.5.4-2] UTF-8 strings: at most 65,535 bytes, no U+0000.
fn check_string(s: &str) -> Result<(), CommandError> {
    if s.len() > MAX_STRING_LEN {
        return Err(CommandError::InvalidArgument(format!("string of {} bytes exceeds 65,535", s.len())));
    }
    if s.contains('\0') {
        return Err(CommandError::InvalidArgument(format!("string {s:?} contains U+0000")));
    }
    Ok(())
}

impl Session {
    /// Whether the server's limits (from the last CONNACK) admit `publish`.
    pub(super) fn admissible(&self, qos: QoS, retain: bool, publish: &Publish) -> Result<(), CommandError> {
        if qos > self.server.maximum_qos {
            // [MQTT-3.2.2-11] never above the server's Maximum QoS.
            return Err(CommandError::QoSNotSupported {
                requested: qos as u8,
                maximum: self.server.maximum_qos as u8,
            });
        }
        if retain && !self.server.retain_available {
            // [MQTT-3.2.2-14] no retained messages when Retain Available is 0.
            return Err(CommandError::RetainNotSupported);
        }
        check_topic_alias(
            publish.properties.topic_alias,
            self.config.auto_topic_alias,
            self.server.topic_alias_maximum,
        )?;
        if let Some(max) = self.server.maximum_packet_size {
            // [MQTT-3.1.2-24] never a packet above the server's Maximum Packet Size.
            let size = wire_len(publish);
            if size > max as usize {
                return Err(CommandError::PacketTooLarge { size, max });
            }
        }
        Ok(())
    }
}
