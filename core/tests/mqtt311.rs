#![allow(clippy::disallowed_methods)]
//! MQTT 3.1.1 against mosquitto (which takes level-4 clients by default): the same client and
//! engine as 5.0, with `set_protocol_version(ProtocolVersion::V311)`.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{expect_event, messages, options, payloads};
use tether_core::{
    AsyncClient, ConnectReasonCode, Error, ErrorKind, Event, MqttOptions, ProtocolVersion, PublishProperties,
    QoS, SubscribeProperties, Subscription, SubscriptionOptions, SESSION_NEVER_EXPIRES,
};
use tether_testkit::{Broker, FaultProxy};

const T: Duration = Duration::from_secs(10);

fn v311(id: &str, port: u16) -> MqttOptions {
    let mut o = options(id, port);
    o.set_protocol_version(ProtocolVersion::V311);
    o
}

fn persistent(id: &str, port: u16) -> MqttOptions {
    let mut o = v311(id, port);
    // Kept beyond the connection: Clean Session 0 on 3.1.1.
    o.set_session_expiry_interval(SESSION_NEVER_EXPIRES);
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_at_qos_0_1_and_2() {
    let broker = Broker::start();
    let sub = AsyncClient::new(v311("v311-sub", broker.port()));
    let ack = sub.connect().await.unwrap();
    assert!(!ack.session_present);
    let granted = sub.subscribe("v311/#", QoS::ExactlyOnce).await.unwrap();
    assert_eq!(granted.len(), 1);
    let publisher = AsyncClient::new(v311("v311-pub", broker.port()));
    publisher.connect().await.unwrap();
    for (qos, text) in [(QoS::AtMostOnce, "zero"), (QoS::AtLeastOnce, "one"), (QoS::ExactlyOnce, "two")] {
        let d = publisher.publish("v311/t", qos, false, text).await.unwrap();
        tokio::time::timeout(T, d).await.expect("delivery in time").expect("delivered");
    }
    let got = messages(&sub, 3, T).await;
    assert_eq!(payloads(&got), ["zero", "one", "two"]);
    let qos: Vec<QoS> = got.iter().map(|m| m.qos).collect();
    assert_eq!(qos, [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]);
    // UNSUBACK carries no codes on 3.1.1: one Success per filter.
    let codes = sub.unsubscribe("v311/#").await.unwrap();
    assert_eq!(codes.len(), 1);
    assert!(!codes[0].is_error());
    sub.disconnect().await.unwrap();
    publisher.disconnect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_session_resumes_through_a_cut_with_dup_and_loses_nothing() {
    const N: usize = 20;
    let broker = Broker::start();
    let proxy = FaultProxy::start(broker.addr());

    let sub = AsyncClient::new(persistent("v311-keep-sub", broker.port()));
    sub.connect().await.unwrap();
    sub.subscribe("keep/#", QoS::AtLeastOnce).await.unwrap();

    let publisher = AsyncClient::new(persistent("v311-keep-pub", proxy.port()));
    let ack = publisher.connect().await.unwrap();
    assert!(!ack.session_present);
    expect_event(&publisher, T, |e| matches!(e, Event::Connected(_)).then_some(())).await;

    // The link goes silent: the PUBLISH packets leave the client and vanish, so they stay in
    // flight, unacknowledged.
    proxy.set_blackhole(true);
    let mut deliveries = Vec::new();
    for i in 0..N {
        deliveries.push(publisher.publish("keep/t", QoS::AtLeastOnce, false, i.to_string()).await.unwrap());
    }
    let deadline = tokio::time::Instant::now() + T;
    while proxy.stats().publishes < N as u64 {
        assert!(tokio::time::Instant::now() < deadline, "the publishes never left the client");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    proxy.cut_all();
    proxy.set_blackhole(false);

    // The reconnect uses Clean Session 0 and the broker has the session: resume.
    let present = expect_event(&publisher, T, |e| match e {
        Event::Connected(a) => Some(a.session_present),
        _ => None,
    })
    .await;
    assert!(present, "mosquitto kept the 3.1.1 session");
    for d in deliveries {
        tokio::time::timeout(T, d).await.expect("delivery in time").expect("delivered");
    }
    // [MQTT-3.3.1-1] the resent messages carry DUP.
    assert!(proxy.stats().dup_publishes >= N as u64, "{:?}", proxy.stats());
    let got = messages(&sub, N, T).await;
    let seen: BTreeSet<usize> =
        got.iter().map(|m| String::from_utf8_lossy(&m.payload).parse().unwrap()).collect();
    assert_eq!(seen, (0..N).collect::<BTreeSet<_>>(), "nothing lost");
    sub.disconnect().await.unwrap();
    publisher.disconnect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_are_a_refusal_with_the_mapped_reason() {
    let passwd = std::env::temp_dir().join(format!("tether-v311-passwd-{}", std::process::id()));
    let status = std::process::Command::new("mosquitto_passwd")
        .args(["-b", "-c"])
        .arg(&passwd)
        .args(["alice", "right"])
        .status()
        .expect("mosquitto_passwd runs");
    assert!(status.success());
    let broker = Broker::builder()
        .config_line("allow_anonymous false")
        .config_line(format!("password_file {}", passwd.display()))
        .start()
        .unwrap();
    // mosquitto has read it.
    let _ = std::fs::remove_file(&passwd);

    let mut o = v311("v311-bad", broker.port());
    o.set_credentials("alice", "wrong");
    let client = AsyncClient::new(o);
    let err = tokio::time::timeout(T, client.connect()).await.expect("connect must not hang").unwrap_err();
    // Table 3.1: return code 4 (bad user name or password) or 5 (not authorized).
    match &err {
        Error::ConnectionRefused { reason_code, .. } => assert!(
            matches!(
                reason_code,
                ConnectReasonCode::BadUserNameOrPassword | ConnectReasonCode::NotAuthorized
            ),
            "{err}"
        ),
        other => panic!("expected ConnectionRefused, got {other:?}"),
    }

    let mut o = v311("v311-good", broker.port());
    o.set_credentials("alice", "right");
    let client = AsyncClient::new(o);
    tokio::time::timeout(T, client.connect()).await.unwrap().unwrap();
    client.disconnect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_zero_only_features_are_refused_locally() {
    let broker = Broker::start();
    let proxy = FaultProxy::start(broker.addr());
    let client = AsyncClient::new(v311("v311-refuse", proxy.port()));
    client.connect().await.unwrap();
    let sent_before = proxy.stats().bytes_up;

    let properties =
        PublishProperties { user_properties: vec![("k".into(), "v".into())], ..Default::default() };
    let err =
        client.publish_with_properties("t", QoS::AtLeastOnce, false, "x", properties).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotSupported, "{err}");

    let no_local = Subscription {
        filter: "t".into(),
        options: SubscriptionOptions { no_local: true, ..Default::default() },
    };
    let err = client.subscribe_many(vec![no_local], SubscribeProperties::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotSupported, "{err}");

    let err = client
        .disconnect_with(tether_core::DisconnectReasonCode::DisconnectWithWillMessage, None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotSupported, "{err}");
    assert_eq!(client.reauthenticate().unwrap_err().kind(), ErrorKind::NotSupported);
    // Nothing of it reached the wire, and the connection is still good.
    assert_eq!(proxy.stats().bytes_up, sent_before);
    let d = client.publish("t", QoS::AtLeastOnce, false, "fine").await.unwrap();
    tokio::time::timeout(T, d).await.unwrap().unwrap();
    client.disconnect().await.unwrap();

    // A 5.0-only CONNECT option: refused at connect, before any connection is made.
    let mut o = v311("v311-refuse-connect", proxy.port());
    o.set_receive_maximum(10);
    let connections = proxy.stats().connections;
    let err = AsyncClient::new(o).connect().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotSupported, "{err}");
    assert_eq!(proxy.stats().connections, connections);
}
