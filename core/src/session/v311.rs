//! What MQTT 3.1.1 cannot express, refused before anything is queued or sent.
//!
//! The engine is the same for both versions; on 3.1.1 (protocol level 4) these checks turn a
//! 5.0-only request into [`CommandError::NotSupported`] at the call, so that nothing is ever
//! dropped silently on the way to the wire. The faces call [`check_config`] when the client is
//! built and the engine calls the others on each command.

use super::{CommandError, Config, PublishRequest};
use crate::codec::{
    ConnectProperties, DisconnectReasonCode, SubscribeProperties, Subscription, SubscriptionOptions,
    UnsubscribeProperties, WillProperties,
};

fn refuse(what: &str) -> CommandError {
    CommandError::NotSupported(format!("{what} is not available with MQTT 3.1.1"))
}

/// The CONNECT side: properties (other than the session expiry, which 3.1.1 expresses as Clean
/// Session, 3.1.2.4), Will properties and enhanced authentication (5.0 section 4.12, absent
/// from 3.1.1).
pub fn check_connect(
    properties: &ConnectProperties,
    will: Option<&WillProperties>,
    authenticator: bool,
) -> Result<(), CommandError> {
    let ConnectProperties {
        session_expiry_interval: _,
        receive_maximum,
        maximum_packet_size,
        topic_alias_maximum,
        request_response_information,
        request_problem_information,
        user_properties,
        authentication_method,
        authentication_data,
    } = properties;
    let named = [
        (receive_maximum.is_some(), "receive_maximum"),
        (maximum_packet_size.is_some(), "maximum_packet_size"),
        (topic_alias_maximum.is_some_and(|n| n > 0), "topic_alias_maximum"),
        (request_response_information.is_some(), "request_response_information"),
        (request_problem_information.is_some(), "request_problem_information"),
        (!user_properties.is_empty(), "a CONNECT user property"),
        (
            authentication_method.is_some() || authentication_data.is_some() || authenticator,
            "enhanced authentication",
        ),
        (will.is_some_and(|w| *w != WillProperties::default()), "a Will property"),
    ];
    match named.into_iter().find(|(present, _)| *present) {
        Some((_, what)) => Err(refuse(what)),
        None => Ok(()),
    }
}

/// [`check_connect`] on an engine configuration.
pub fn check_config(config: &Config) -> Result<(), CommandError> {
    check_connect(
        &config.properties,
        config.will.as_ref().map(|w| &w.properties),
        config.authenticator.is_some(),
    )
}

/// 3.3.2: a 3.1.1 PUBLISH is topic, packet identifier and payload: no property at all.
pub fn check_publish(request: &PublishRequest) -> Result<(), CommandError> {
    if request.properties != Default::default() {
        return Err(refuse("a PUBLISH property (topic alias, expiry, user property, ...)"));
    }
    Ok(())
}

/// 3.8.3: a 3.1.1 SUBSCRIBE carries a requested QoS per filter and nothing else.
pub fn check_subscribe(
    subscriptions: &[Subscription],
    properties: &SubscribeProperties,
) -> Result<(), CommandError> {
    if properties.subscription_identifier.is_some() {
        return Err(refuse("a subscription identifier"));
    }
    if !properties.user_properties.is_empty() {
        return Err(refuse("a SUBSCRIBE user property"));
    }
    if let Some(s) = subscriptions
        .iter()
        .find(|s| s.options != SubscriptionOptions { qos: s.options.qos, ..Default::default() })
    {
        return Err(refuse(&format!(
            "a subscription option other than QoS (no_local, retain_as_published, retain_handling) on {:?}",
            s.filter
        )));
    }
    Ok(())
}

/// 3.10.3: UNSUBSCRIBE has no properties.
pub fn check_unsubscribe(properties: &UnsubscribeProperties) -> Result<(), CommandError> {
    if !properties.user_properties.is_empty() {
        return Err(refuse("an UNSUBSCRIBE user property"));
    }
    Ok(())
}

/// 3.14: DISCONNECT has no variable header: no reason code, session expiry or reason string.
pub fn check_disconnect(
    reason_code: DisconnectReasonCode,
    session_expiry_interval: Option<u32>,
    reason_string: Option<&str>,
) -> Result<(), CommandError> {
    if reason_code != DisconnectReasonCode::NormalDisconnection {
        return Err(refuse("a DISCONNECT reason code"));
    }
    if session_expiry_interval.is_some() {
        return Err(refuse("a DISCONNECT session expiry"));
    }
    if reason_string.is_some() {
        return Err(refuse("a DISCONNECT reason string"));
    }
    Ok(())
}
