#![allow(clippy::disallowed_methods)]
//! THE persistent session: a subscriber goes away, messages are published meanwhile, and a new
//! client with the same client id and clean_start = false finds them all waiting.

mod common;

use std::time::Duration;

use common::{messages, messages_until, options, payloads};
use tether_core::{AsyncClient, ConnectProperties, Event, MqttOptions, QoS, SESSION_NEVER_EXPIRES};
use tether_testkit::Broker;

const T: Duration = Duration::from_secs(10);
const N: usize = 100;

/// The two ways to ask for a session that never expires.
#[derive(Clone, Copy)]
enum Way {
    Direct,
    ConnectProperties,
}

fn subscriber_options(id: &str, port: u16, expiry: u32, way: Way) -> MqttOptions {
    let mut mqttoptions = options(id, port);
    match way {
        Way::Direct => {
            mqttoptions.set_session_expiry_interval(expiry);
        }
        Way::ConnectProperties => {
            assert_eq!(
                expiry,
                u32::MAX,
                "this way is the DESIGN.md snippet, for a session that never expires"
            );
            // The rumqttc-style snippet of DESIGN.md, as written.
            let mut properties = ConnectProperties::new();
            properties.session_expiry_interval = Some(u32::MAX);
            mqttoptions.set_connect_properties(properties);
        }
    }
    assert_eq!(mqttoptions.session_expiry_interval(), expiry);
    mqttoptions.set_clean_start(false);
    mqttoptions
}

/// The subscriber's first life: a session (clean start, so that nothing older leaks in), a
/// QoS 1 subscription, then a normal DISCONNECT. The client is dropped afterwards.
async fn first_life(id: &str, port: u16, expiry: u32, way: Way) {
    let mut o = subscriber_options(id, port, expiry, way);
    o.set_clean_start(true);
    let sub = AsyncClient::new(o);
    let ack = sub.connect().await.unwrap();
    assert!(!ack.session_present);
    sub.subscribe("persist/#", QoS::AtLeastOnce).await.unwrap();
    sub.disconnect().await.unwrap();
}

/// Publish `n` numbered QoS 1 messages, waiting for every delivery.
async fn publish_numbered(port: u16, n: usize) -> AsyncClient {
    let publisher = AsyncClient::new(options("persist-pub", port));
    publisher.connect().await.unwrap();
    let mut deliveries = Vec::with_capacity(n);
    for i in 0..n {
        deliveries
            .push(publisher.publish("persist/t", QoS::AtLeastOnce, false, i.to_string()).await.unwrap());
    }
    for d in deliveries {
        tokio::time::timeout(T, d).await.expect("delivery in time").expect("delivered");
    }
    publisher
}

/// The subscriber comes back as a NEW client with the same id and clean_start = false.
async fn come_back(id: &str, port: u16, expiry: u32, way: Way) -> (AsyncClient, bool) {
    let sub = AsyncClient::new(subscriber_options(id, port, expiry, way));
    let ack = tokio::time::timeout(T, sub.connect()).await.unwrap().unwrap();
    (sub, ack.session_present)
}

async fn session_survives_absence(way: Way) {
    let broker = Broker::start();
    let id = "persist-sub";
    first_life(id, broker.port(), SESSION_NEVER_EXPIRES, way).await;
    let publisher = publish_numbered(broker.port(), N).await;

    let (sub, session_present) = come_back(id, broker.port(), SESSION_NEVER_EXPIRES, way).await;
    // [MQTT-3.2.2-3] clean start 0 and the server has the session: Session Present = 1.
    assert!(session_present, "the session must have survived the absence");
    // [MQTT-3.1.2-23] the server kept the session state (the subscription and the queued
    // QoS 1 messages); every one arrives, in order, once.
    let got = messages(&sub, N, T).await;
    let expected: Vec<String> = (0..N).map(|i| i.to_string()).collect();
    assert_eq!(payloads(&got), expected);
    assert!(got.iter().all(|m| m.qos == QoS::AtLeastOnce));
    // Nothing more: a marker published now is the next message (no duplicates before it).
    let d = publisher.publish("persist/t", QoS::AtLeastOnce, false, "marker").await.unwrap();
    d.await.unwrap();
    let rest = messages_until(&sub, T, |m| &m.payload[..] == b"marker").await;
    assert_eq!(payloads(&rest), ["marker"]);
    // And the subscription itself came back with the session: no resubscribe was needed.
    sub.disconnect().await.unwrap();
    publisher.disconnect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_never_expires_keeps_subscription_and_messages_set_directly() {
    session_survives_absence(Way::Direct).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_never_expires_keeps_subscription_and_messages_set_by_connect_properties() {
    session_survives_absence(Way::ConnectProperties).await;
}

/// After the absence, the subscriber gets only a marker published after its (re)subscribe:
/// no message from the absence, no old session.
async fn nothing_kept(sub: &AsyncClient, publisher: &AsyncClient) {
    sub.subscribe("persist/#", QoS::AtLeastOnce).await.unwrap();
    let d = publisher.publish("persist/t", QoS::AtLeastOnce, false, "marker").await.unwrap();
    d.await.unwrap();
    let got = messages_until(sub, T, |m| &m.payload[..] == b"marker").await;
    assert_eq!(payloads(&got), ["marker"], "messages of the absence must not arrive");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_expiry_zero_ends_the_session_with_the_connection() {
    let broker = Broker::start();
    let id = "expiry-zero";
    first_life(id, broker.port(), 0, Way::Direct).await;
    let publisher = publish_numbered(broker.port(), 10).await;
    let (sub, session_present) = come_back(id, broker.port(), 0, Way::Direct).await;
    // 3.1.2.11.2: expiry 0 ends the session when the connection closes.
    assert!(!session_present);
    nothing_kept(&sub, &publisher).await;
    sub.disconnect().await.unwrap();
    publisher.disconnect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_expires_after_its_interval() {
    let broker = Broker::start();
    let id = "expiry-two";
    first_life(id, broker.port(), 2, Way::Direct).await;
    let gone_at = tokio::time::Instant::now();
    let publisher = publish_numbered(broker.port(), 10).await;
    // The absence (4 s) outlasts the expiry (2 s): waiting is the feature, not a sync.
    tokio::time::sleep_until(gone_at + Duration::from_secs(4)).await;
    let (sub, session_present) = come_back(id, broker.port(), 2, Way::Direct).await;
    assert!(!session_present, "a 2 s session must be gone after 4 s");
    // With clean_start = false and no session the client says so (it expected none here, so
    // there is nothing to republish), and it is connected all the same.
    let first = tokio::time::timeout(T, sub.recv()).await.expect("an event in time").expect("open");
    assert!(matches!(first, Event::Connected(ref a) if !a.session_present), "{first:?}");
    nothing_kept(&sub, &publisher).await;
    sub.disconnect().await.unwrap();
    publisher.disconnect().await.unwrap();
}
