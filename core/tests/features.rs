#![allow(clippy::disallowed_methods)]
//! MQTT 5.0 features against a real mosquitto 2.0: the blocking API, retained messages, wills
//! (with and without delay), no-local, subscription identifiers, user properties,
//! server-assigned client identifiers, unsubscribe, bad input refused at the call and
//! PUBACK/PUBREC reason codes of 0x80 and above. Shared subscriptions and request/response
//! run on mosquitto and rmqtt alike in interop.rs.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{connected, expect_event, messages, messages_until, options, payloads, will};
use tether_core::{
    AsyncClient, Client, ErrorKind, Event, Message, PubAckReasonCode, PublishProperties, QoS,
    ReconnectPolicy, SubAckReasonCode, SubscribeProperties, Subscription, SubscriptionOptions,
    UnsubAckReasonCode,
};
use tether_testkit::{Broker, FaultProxy};

const T: Duration = Duration::from_secs(10);

async fn done(d: tether_core::Delivery) -> tether_core::PublishOutcome {
    tokio::time::timeout(T, d).await.expect("delivery within 10 s").expect("delivery succeeded")
}

async fn publish1(client: &AsyncClient, topic: &str, payload: &str) {
    done(client.publish(topic, QoS::AtLeastOnce, false, payload.to_owned()).await.unwrap()).await;
}

fn sub_options(qos: QoS) -> SubscriptionOptions {
    SubscriptionOptions { qos, ..Default::default() }
}

// ----- the blocking Client -----------------------------------------------------------------

#[test]
fn blocking_client_publishes_and_receives_with_recv_timeout_try_recv_and_iter() {
    let broker = Broker::start();
    let sub = Client::new(options("blocking-sub", broker.port()));
    let ack = sub.connect().unwrap();
    assert!(!ack.session_present);
    // The Connected event is in the stream too.
    match sub.recv_timeout(T).unwrap() {
        Some(Event::Connected(a)) => assert!(!a.session_present),
        other => panic!("expected Connected, got {other:?}"),
    }
    assert_eq!(sub.subscribe("b/#", QoS::ExactlyOnce).unwrap(), vec![SubAckReasonCode::GrantedQoS2]);
    // Nothing is waiting: try_recv does not block and says so.
    assert!(sub.try_recv().is_none());
    // An empty stream times out with Ok(None), not an error.
    assert!(sub.recv_timeout(Duration::from_millis(50)).unwrap().is_none());

    let publisher = Client::new(options("blocking-pub", broker.port()));
    publisher.connect().unwrap();
    for (i, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce].into_iter().enumerate() {
        let outcome = publisher.publish(format!("b/{i}"), qos, false, format!("m{i}")).unwrap().wait(Some(T));
        assert_eq!(outcome.unwrap().packet_id.is_some(), qos != QoS::AtMostOnce);
    }

    // recv_timeout: the first message.
    let first = match sub.recv_timeout(T).unwrap() {
        Some(Event::Message(m)) => m,
        other => panic!("expected a message, got {other:?}"),
    };
    assert_eq!((first.topic.as_str(), first.qos, &first.payload[..]), ("b/0", QoS::AtMostOnce, &b"m0"[..]));

    // try_recv: the second one, polled (bounded) without blocking the caller.
    let deadline = Instant::now() + T;
    let second = loop {
        match sub.try_recv() {
            Some(Event::Message(m)) => break m,
            Some(other) => panic!("unexpected event {other:?}"),
            None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
            None => panic!("try_recv never returned the second message"),
        }
    };
    assert_eq!((second.topic.as_str(), second.qos), ("b/1", QoS::AtLeastOnce));

    // iter: the rest, through the blocking iterator; bounded by running it on a helper thread.
    for i in 3..6 {
        publisher.publish(format!("b/{i}"), QoS::AtLeastOnce, false, format!("m{i}")).unwrap();
    }
    publisher.flush(Some(T)).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = sub.clone();
    std::thread::spawn(move || {
        let got: Vec<Message> = reader
            .iter()
            .filter_map(|e| match e {
                Event::Message(m) => Some(m),
                _ => None,
            })
            .take(4)
            .collect();
        let _ = tx.send(got);
    });
    let rest = rx.recv_timeout(T).expect("iter did not yield 4 messages within 10 s");
    assert_eq!(payloads(&rest), ["m2", "m3", "m4", "m5"]);
    assert_eq!(rest[0].qos, QoS::ExactlyOnce);
    // Everything was consumed exactly once.
    assert!(sub.try_recv().is_none());

    publisher.disconnect().unwrap();
    sub.disconnect().unwrap();
}

// ----- retained messages -------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_message_reaches_new_subscribers_and_empty_payload_clears_it() {
    let broker = Broker::start();
    let publisher = connected("ret-pub", broker.port()).await;
    done(publisher.publish("ret/a", QoS::AtLeastOnce, true, "kept").await.unwrap()).await;

    // [MQTT-3.3.1-9] a new subscription gets the retained message, with RETAIN set (3.3.1.3).
    let first = connected("ret-sub-1", broker.port()).await;
    first.subscribe("ret/#", QoS::AtLeastOnce).await.unwrap();
    let got = messages(&first, 1, T).await;
    assert_eq!((got[0].topic.as_str(), &got[0].payload[..]), ("ret/a", &b"kept"[..]));
    assert!(got[0].retain, "a retained message sent on subscribe has RETAIN = 1");
    // A live message on the same topic is not marked retained for an existing subscriber.
    publish1(&publisher, "ret/a", "live").await;
    let live = messages(&first, 1, T).await;
    assert_eq!(&live[0].payload[..], b"live");
    assert!(!live[0].retain);

    // [MQTT-3.3.1-6] a retained message with an empty payload removes the retained message.
    done(publisher.publish("ret/a", QoS::AtLeastOnce, true, Bytes::new()).await.unwrap()).await;
    let second = connected("ret-sub-2", broker.port()).await;
    second.subscribe("ret/#", QoS::AtLeastOnce).await.unwrap();
    // Barrier: a marker published after the subscribe; a retained message would come first.
    publish1(&publisher, "ret/marker", "marker").await;
    let got = messages_until(&second, T, |m| m.topic == "ret/marker").await;
    assert_eq!(payloads(&got), ["marker"], "nothing retained may remain on ret/a");

    publisher.disconnect().await.unwrap();
    first.disconnect().await.unwrap();
    second.disconnect().await.unwrap();
}

// ----- wills -------------------------------------------------------------------------------

fn no_reconnect() -> ReconnectPolicy {
    ReconnectPolicy { enabled: false, ..ReconnectPolicy::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn will_is_published_on_abrupt_drop_and_not_after_normal_disconnect() {
    let broker = Broker::start();
    let proxy = FaultProxy::start(broker.addr());
    let watcher = connected("will-watcher", broker.port()).await;
    watcher.subscribe("will/#", QoS::AtLeastOnce).await.unwrap();

    // [MQTT-3.1.2-10] DISCONNECT with 0x00: the server discards the will. (This client talks
    // to the broker directly, so that the cut below cannot catch its DISCONNECT in transit.)
    let mut o = options("will-polite", broker.port());
    o.set_last_will(will("will/polite", "polite-gone", None));
    let polite = AsyncClient::new(o);
    polite.connect().await.unwrap();
    polite.disconnect().await.unwrap();

    // [MQTT-3.1.2-8] the connection closes without DISCONNECT: the will is published.
    let mut o = options("will-abrupt", proxy.port());
    o.set_last_will(will("will/abrupt", "abrupt-gone", None)).set_reconnect(no_reconnect());
    let abrupt = AsyncClient::new(o);
    abrupt.connect().await.unwrap();
    assert_eq!(proxy.cut_all(), 1);
    let got = messages_until(&watcher, T, |m| m.topic == "will/abrupt").await;
    assert_eq!(payloads(&got), ["abrupt-gone"], "only the abrupt client's will");
    assert_eq!(got[0].qos, QoS::AtLeastOnce);
    watcher.disconnect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_will_arrives_after_the_will_delay_interval() {
    let broker = Broker::start();
    let proxy = FaultProxy::start(broker.addr());
    let watcher = connected("delay-watcher", broker.port()).await;
    watcher.subscribe("dwill/#", QoS::AtLeastOnce).await.unwrap();

    let mut o = options("delay-will", proxy.port());
    // The session must outlive the delay, or the will goes out when the session ends.
    o.set_session_expiry_interval(60)
        .set_last_will(will("dwill/t", "late", Some(2)))
        .set_reconnect(no_reconnect());
    let client = AsyncClient::new(o);
    client.connect().await.unwrap();
    let dropped_at = Instant::now();
    assert_eq!(proxy.cut_all(), 1);
    let got = messages(&watcher, 1, T).await;
    let after = dropped_at.elapsed();
    assert_eq!(&got[0].payload[..], b"late");
    // 3.1.3.2.2 the server delays publishing the will by the Will Delay Interval (2 s).
    assert!(after >= Duration::from_millis(1500), "will arrived {after:?} after the drop");
    watcher.disconnect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_will_is_not_sent_when_the_client_reconnects_within_the_delay() {
    let broker = Broker::start();
    let proxy = FaultProxy::start(broker.addr());
    let watcher = connected("redelay-watcher", broker.port()).await;
    watcher.subscribe("rwill/#", QoS::AtLeastOnce).await.unwrap();

    let mut o = options("redelay-will", proxy.port());
    o.set_session_expiry_interval(60).set_last_will(will("rwill/t", "should-not-come", Some(2)));
    let client = AsyncClient::new(o);
    client.connect().await.unwrap();
    expect_event(&client, T, |e| matches!(e, Event::Connected(_)).then_some(())).await;
    let dropped_at = Instant::now();
    assert_eq!(proxy.cut_all(), 1);
    let ack = expect_event(&client, T, |e| match e {
        Event::Connected(a) => Some(a.clone()),
        _ => None,
    })
    .await;
    let back_after = dropped_at.elapsed();
    assert!(ack.session_present, "the session (and its pending will) must still be there");
    assert!(back_after < Duration::from_millis(1500), "reconnected only after {back_after:?}");

    // [MQTT-3.1.3-9] a new connection to the session within the delay: no will. Wait past
    // the delay (the behaviour under test is about time), then a marker closes the window.
    // mosquitto sends a delayed will 2 to 3 s after the drop (it counts whole seconds).
    tokio::time::sleep_until((dropped_at + Duration::from_secs(4)).into()).await;
    publish1(&watcher, "rwill/marker", "marker").await;
    let got = messages_until(&watcher, T, |m| m.topic == "rwill/marker").await;
    assert_eq!(payloads(&got), ["marker"], "the will must not have been published");
    client.disconnect().await.unwrap();
    watcher.disconnect().await.unwrap();
}

// ----- subscriptions -----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_local_subscription_does_not_receive_own_publishes() {
    let broker = Broker::start();
    let me = connected("nl-me", broker.port()).await;
    let other = connected("nl-other", broker.port()).await;
    let subs = vec![
        Subscription {
            filter: "nl/t".into(),
            options: SubscriptionOptions { no_local: true, ..sub_options(QoS::AtLeastOnce) },
        },
        // The control: the same client without no-local gets its own message.
        Subscription { filter: "nl/control".into(), options: sub_options(QoS::AtLeastOnce) },
    ];
    me.subscribe_many(subs, SubscribeProperties::default()).await.unwrap();

    publish1(&me, "nl/control", "mine-control").await;
    publish1(&me, "nl/t", "mine").await;
    publish1(&other, "nl/t", "theirs").await;
    // [MQTT-3.8.3-3] no-local: not forwarded to the publishing connection's client id.
    let got = messages_until(&me, T, |m| &m.payload[..] == b"theirs").await;
    assert_eq!(payloads(&got), ["mine-control", "theirs"]);
    me.disconnect().await.unwrap();
    other.disconnect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_identifiers_come_back_in_messages() {
    let broker = Broker::start();
    let sub = connected("sid-sub", broker.port()).await;
    for (filter, id) in [("sid/a/#", Some(42)), ("sid/b/+", Some(268_435_455)), ("sid/c", None)] {
        let properties = SubscribeProperties { subscription_identifier: id, ..Default::default() };
        let subscription = Subscription { filter: filter.into(), options: sub_options(QoS::AtLeastOnce) };
        let out = sub.subscribe_many(vec![subscription], properties).await.unwrap();
        assert_eq!(out.reason_codes, vec![SubAckReasonCode::GrantedQoS1]);
    }
    let publisher = connected("sid-pub", broker.port()).await;
    for topic in ["sid/a/x", "sid/b/y", "sid/c"] {
        publish1(&publisher, topic, topic).await;
    }
    let got = messages(&sub, 3, T).await;
    let ids: Vec<(&str, Vec<u32>)> =
        got.iter().map(|m| (m.topic.as_str(), m.properties.subscription_identifiers.clone())).collect();
    // [MQTT-3.3.4-3] the identifiers of the matching subscriptions are sent with the message.
    assert_eq!(ids, vec![("sid/a/x", vec![42]), ("sid/b/y", vec![268_435_455]), ("sid/c", vec![])]);
    publisher.disconnect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_properties_round_trip_in_order() {
    let broker = Broker::start();
    let sub = connected("up-sub", broker.port()).await;
    sub.subscribe("up/t", QoS::ExactlyOnce).await.unwrap();
    let publisher = connected("up-pub", broker.port()).await;
    let user_properties: Vec<(String, String)> =
        [("zeta", "1"), ("alpha", "2"), ("zeta", "3"), ("empty", ""), ("ünï", "cødé")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
    let properties = PublishProperties {
        user_properties: user_properties.clone(),
        content_type: Some("text/plain".into()),
        payload_format_indicator: Some(1),
        ..Default::default()
    };
    let d =
        publisher.publish_with_properties("up/t", QoS::ExactlyOnce, false, "x", properties).await.unwrap();
    done(d).await;
    let got = messages(&sub, 1, T).await;
    // [MQTT-3.3.2-17]/[MQTT-3.3.2-18] user properties forwarded unaltered, order kept.
    assert_eq!(got[0].properties.user_properties, user_properties);
    assert_eq!(got[0].properties.content_type.as_deref(), Some("text/plain"));
    assert_eq!(got[0].properties.payload_format_indicator, Some(1));
    publisher.disconnect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_client_id_gets_a_server_assigned_identifier() {
    let broker = Broker::start();
    let mut o = options("", broker.port());
    o.set_session_expiry_interval(0).set_clean_start(true);
    let client = AsyncClient::new(o);
    let ack = client.connect().await.unwrap();
    // [MQTT-3.1.3-6]/[MQTT-3.1.3-7] the server assigns an id and returns it in CONNACK.
    let assigned = ack.properties.assigned_client_identifier.clone().expect("Assigned Client Identifier");
    assert!(!assigned.is_empty());
    // The connection works under that identity.
    client.subscribe("aid/t", QoS::AtLeastOnce).await.unwrap();
    publish1(&client, "aid/t", "hello").await;
    assert_eq!(payloads(&messages(&client, 1, T).await), ["hello"]);
    assert!(broker.log().contains(&assigned), "the broker log names the assigned id {assigned}");
    client.disconnect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsubscribe_stops_delivery() {
    let broker = Broker::start();
    let sub = connected("unsub-sub", broker.port()).await;
    sub.subscribe("un/t", QoS::AtLeastOnce).await.unwrap();
    sub.subscribe("un/marker", QoS::AtLeastOnce).await.unwrap();
    let publisher = connected("unsub-pub", broker.port()).await;
    publish1(&publisher, "un/t", "before").await;
    assert_eq!(payloads(&messages(&sub, 1, T).await), ["before"]);

    assert_eq!(sub.unsubscribe("un/t").await.unwrap(), vec![UnsubAckReasonCode::Success]);
    // A second unsubscribe of the same filter: nothing to remove.
    assert_eq!(sub.unsubscribe("un/t").await.unwrap(), vec![UnsubAckReasonCode::NoSubscriptionExisted]);
    publish1(&publisher, "un/t", "after").await;
    publish1(&publisher, "un/marker", "marker").await;
    // [MQTT-3.10.4-2] no new messages for a deleted subscription.
    let got = messages_until(&sub, T, |m| m.topic == "un/marker").await;
    assert_eq!(payloads(&got), ["marker"]);
    publisher.disconnect().await.unwrap();
    sub.disconnect().await.unwrap();
}

// ----- bad input ---------------------------------------------------------------------------

/// A client connected through a proxy, so that the test can see what reached the wire.
async fn watched(id: &str, broker: &Broker) -> (FaultProxy, AsyncClient) {
    let proxy = FaultProxy::start(broker.addr());
    let client = AsyncClient::new(options(id, proxy.port()));
    client.connect().await.unwrap();
    (proxy, client)
}

/// Exactly one PUBLISH (the valid one that follows the bad ones) went through the proxy.
async fn only_the_valid_publish_was_sent(proxy: &FaultProxy, client: &AsyncClient) {
    done(client.publish("ok/t", QoS::AtLeastOnce, false, "ok").await.unwrap()).await;
    let log = proxy.publish_log();
    assert_eq!(log.len(), 1, "bad publishes reached the wire: {log:?}");
    assert_eq!(log[0].topic, "ok/t");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_topics_fail_at_the_call() {
    let broker = Broker::start();
    let (proxy, client) = watched("bad-topics", &broker).await;
    // [MQTT-3.3.2-2] no wildcards in a topic name; [MQTT-4.7.3-1] at least one character;
    // [MQTT-1.5.4-2] no U+0000.
    for topic in ["a/+/b", "a/#", "#", "", "a\0b"] {
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce] {
            let err = client.publish(topic, qos, false, "x").await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidTopic, "publish to {topic:?}: {err}");
        }
    }
    // [MQTT-4.7.1-1]/[MQTT-4.7.1-2] wildcards only as whole levels, '#' last.
    for filter in ["a/#/b", "a+", "a/b#", ""] {
        let err = client.subscribe(filter, QoS::AtLeastOnce).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidTopic, "subscribe to {filter:?}: {err}");
    }
    let err = client.unsubscribe("a/#/b").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidTopic);
    // [MQTT-3.3.2-14] the Response Topic is a topic name.
    let properties = PublishProperties { response_topic: Some("r/+".into()), ..Default::default() };
    let err =
        client.publish_with_properties("t", QoS::AtLeastOnce, false, "x", properties).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidTopic);
    only_the_valid_publish_was_sent(&proxy, &client).await;
    client.disconnect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos_above_the_server_maximum_fails_before_sending() {
    let broker = Broker::builder().config_line("max_qos 1").start().unwrap();
    let (proxy, client) = watched("max-qos", &broker).await;
    let ack_qos = {
        // The server announced its Maximum QoS (3.2.2.3.4) ...
        let c = AsyncClient::new(options("max-qos-probe", broker.port()));
        let ack = c.connect().await.unwrap();
        c.disconnect().await.unwrap();
        ack.properties.maximum_qos
    };
    assert_eq!(ack_qos, Some(1));
    // ... and [MQTT-3.2.2-11] the client never sends above it: the call fails.
    let err = client.publish("q/t", QoS::ExactlyOnce, false, "x").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotSupported, "{err}");
    only_the_valid_publish_was_sent(&proxy, &client).await;
    client.disconnect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payload_above_the_server_maximum_packet_size_fails_before_sending() {
    let broker = Broker::builder().config_line("max_packet_size 1024").start().unwrap();
    let (proxy, client) = watched("max-size", &broker).await;
    // [MQTT-3.2.2-15] the client never sends a packet above the server's Maximum Packet Size.
    let err = client.publish("s/t", QoS::AtLeastOnce, false, vec![7u8; 2000]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PacketTooLarge, "{err}");
    assert_eq!(err.reason_code(), Some(0x95));
    let err = client.publish("s/t", QoS::AtMostOnce, false, vec![7u8; 1020]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PacketTooLarge, "{err}");
    only_the_valid_publish_was_sent(&proxy, &client).await;
    // A payload that fits still goes through.
    done(client.publish("s/t", QoS::AtLeastOnce, false, vec![7u8; 900]).await.unwrap()).await;
    client.disconnect().await.unwrap();
}

// ----- acknowledgements with a failure reason ------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn puback_and_pubrec_with_an_error_reason_fail_the_delivery() {
    let acl = std::env::temp_dir().join(format!("tether-acl-{}.conf", std::process::id()));
    std::fs::write(&acl, "topic readwrite acl/allowed/#\n").unwrap();
    let broker = Broker::builder().config_line(format!("acl_file {}", acl.display())).start().unwrap();
    let client = connected("acl-client", broker.port()).await;
    let allowed = client.publish("acl/allowed/x", QoS::AtLeastOnce, false, "ok").await.unwrap();
    assert_eq!(done(allowed).await.reason_code, PubAckReasonCode::NoMatchingSubscribers);
    for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let d = client.publish("acl/denied", qos, false, "no").await.unwrap();
        let err = tokio::time::timeout(T, d).await.unwrap().unwrap_err();
        // 3.4.2.1 / 3.5.2.1: a reason code of 0x80 or more means the message was not accepted.
        assert_eq!(err.kind(), ErrorKind::Rejected, "QoS {qos:?}: {err}");
        assert_eq!(err.reason_code(), Some(PubAckReasonCode::NotAuthorized as u8), "{err}");
    }
    // The connection survives a refused message.
    done(client.publish("acl/allowed/y", QoS::ExactlyOnce, false, "ok").await.unwrap()).await;
    client.disconnect().await.unwrap();
    let _ = std::fs::remove_file(&acl);
}

/// A delivery that fails while nobody holds its `Delivery` still reaches the application:
/// the next flush returns `DeliveryFailed` naming it (topic, packet id, reason), the counters
/// count it, and the flush after that starts afresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_reports_the_deliveries_that_failed_since_the_previous_flush() {
    let acl = std::env::temp_dir().join(format!("tether-acl-flush-{}.conf", std::process::id()));
    std::fs::write(&acl, "topic readwrite acl/allowed/#\n").unwrap();
    let broker = Broker::builder().config_line(format!("acl_file {}", acl.display())).start().unwrap();
    // Queued before the connection exists, so that every Delivery is gone before any answer
    // can come (a refusal racing the drop would find its Delivery still held).
    let client = AsyncClient::new(options("flush-report", broker.port()));
    for (topic, qos) in [
        ("acl/allowed/1", QoS::AtLeastOnce),
        ("acl/denied/1", QoS::AtLeastOnce),
        ("acl/allowed/2", QoS::ExactlyOnce),
        ("acl/denied/2", QoS::ExactlyOnce),
    ] {
        // Dropped at once: nobody awaits these deliveries.
        drop(client.publish(topic, qos, false, "x").await.unwrap());
    }
    tokio::time::timeout(T, client.connect()).await.unwrap().unwrap();
    let report = match tokio::time::timeout(T, client.flush()).await.unwrap() {
        Err(tether_core::Error::DeliveryFailed(report)) => report,
        other => panic!("flush must report the refused messages, got {other:?}"),
    };
    assert_eq!((report.completed, report.failed), (2, 2), "{report}");
    let named: Vec<&str> = report.first_failures.iter().map(|f| f.topic.as_str()).collect();
    assert_eq!(named, vec!["acl/denied/1", "acl/denied/2"]);
    for f in &report.first_failures {
        assert!(f.packet_id.is_some(), "{f:?}");
        assert_eq!(f.error.reason_code(), Some(PubAckReasonCode::NotAuthorized as u8), "{f:?}");
    }
    assert_eq!(client.stats().deliveries_failed, 2);
    // Nobody held those deliveries: each failure is also said once in the event stream (and
    // logged at WARN).
    for topic in ["acl/denied/1", "acl/denied/2"] {
        let f = expect_event(&client, T, |e| match e {
            Event::DeliveryFailed(f) => Some(f.clone()),
            _ => None,
        })
        .await;
        assert_eq!(f.topic, topic);
    }
    // Reported once: the next flush covers only what ended since.
    drop(client.publish("acl/allowed/3", QoS::AtLeastOnce, false, "x").await.unwrap());
    let clean = tokio::time::timeout(T, client.flush()).await.unwrap().unwrap();
    assert_eq!((clean.completed, clean.failed), (1, 0));
    client.disconnect().await.unwrap();
    let _ = std::fs::remove_file(&acl);
}
