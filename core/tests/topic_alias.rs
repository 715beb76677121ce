#![allow(clippy::disallowed_methods)]
//! An application's own Topic Aliases against mosquitto (which announces Topic Alias
//! Maximum 10 by default): sent as given with automatic aliases off, refused at the call
//! when the server would not admit them.

mod common;

use std::time::Duration;

use common::{connected, messages, options};
use tether_core::{AsyncClient, Error, Event, PublishProperties, QoS};
use tether_testkit::Broker;

const T: Duration = Duration::from_secs(10);

fn alias(n: u16) -> PublishProperties {
    PublishProperties { topic_alias: Some(n), ..Default::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_topic_aliases_reach_the_subscriber_under_their_topic() {
    let broker = Broker::start();
    let sub = connected("alias-sub", broker.port()).await;
    sub.subscribe("alias/#", QoS::AtLeastOnce).await.unwrap();

    let mut o = options("alias-pub", broker.port());
    o.set_auto_topic_alias(false);
    let publisher = AsyncClient::new(o);
    let ack = publisher.connect().await.unwrap();
    assert_eq!(ack.properties.topic_alias_maximum, Some(10), "mosquitto's default");

    for (i, topic) in ["alias/a", "alias/b", "alias/a"].into_iter().enumerate() {
        let n = if topic == "alias/a" { 1 } else { 10 };
        let d = publisher
            .publish_with_properties(topic, QoS::AtLeastOnce, false, i.to_string(), alias(n))
            .await
            .unwrap();
        tokio::time::timeout(T, d).await.unwrap().unwrap();
    }
    let got = messages(&sub, 3, T).await;
    let topics: Vec<&str> = got.iter().map(|m| m.topic.as_str()).collect();
    assert_eq!(topics, ["alias/a", "alias/b", "alias/a"]);

    // [MQTT-3.3.2-9] above the server's maximum: refused at the call, nothing sent.
    let e = publisher.publish_with_properties("alias/c", QoS::AtLeastOnce, false, "x", alias(11)).await;
    assert!(matches!(&e, Err(Error::InvalidArgument(m)) if m.contains("topic_alias 11")), "{e:?}");
    // [MQTT-3.3.2-8]
    let e = publisher.publish_with_properties("alias/c", QoS::AtMostOnce, false, "x", alias(0)).await;
    assert!(matches!(&e, Err(Error::InvalidArgument(m)) if m.contains("topic_alias")), "{e:?}");
    // The connection is still up: the server never saw a bad alias.
    let d = publisher.publish("alias/d", QoS::AtLeastOnce, false, "after").await.unwrap();
    tokio::time::timeout(T, d).await.unwrap().unwrap();
    assert!(publisher.stats().connected);
    publisher.disconnect().await.unwrap();
    sub.disconnect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_alias_is_refused_while_automatic_aliases_are_on() {
    let broker = Broker::start();
    let publisher = connected("alias-auto", broker.port()).await;
    let e = publisher.publish_with_properties("alias/x", QoS::AtLeastOnce, false, "x", alias(1)).await;
    assert!(
        matches!(&e, Err(Error::InvalidArgument(m)) if m.contains("set_auto_topic_alias(false)")),
        "{e:?}"
    );
    publisher.disconnect().await.unwrap();
    // Nothing but the connection's own events.
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(50), publisher.recv()).await {
        assert!(!matches!(e, Event::PublishComplete { .. }), "{e:?}");
    }
}
