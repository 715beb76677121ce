#![allow(clippy::disallowed_methods)]
//! Acknowledgements across a reconnect, against mosquitto through the fault proxy: a subscriber
//! with manual acks receives a QoS 1 and a QoS 2 message, its link drops, the application
//! acknowledges (while disconnected, or after the resumed session's resends arrived), and the
//! proxy's wire log shows exactly one PUBACK / PUBREC per PUBLISH per connection, none sent
//! unprompted, and the application sees each message once.

mod common;

use std::time::Duration;

use common::{expect_event, options};
use tether_core::{AsyncClient, Event, Message, QoS, ReconnectPolicy, SESSION_NEVER_EXPIRES};
use tether_testkit::{Broker, FaultProxy};

const T: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy)]
enum AckWhen {
    WhileDisconnected,
    AfterTheResends,
}

async fn next_message(client: &AsyncClient) -> Message {
    expect_event(client, T, |e| match e {
        Event::Message(m) => Some(m.clone()),
        _ => None,
    })
    .await
}

async fn acks_across_a_reconnect(when: AckWhen) {
    let broker = Broker::start();
    let proxy = FaultProxy::start(broker.addr());
    let id = format!("acks-{when:?}");
    let mut o = options(&id, proxy.port());
    o.set_session_expiry_interval(SESSION_NEVER_EXPIRES).set_manual_acks(true);
    o.set_reconnect(ReconnectPolicy {
        min_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(100),
        ..ReconnectPolicy::default()
    });
    let sub = AsyncClient::new(o);
    sub.connect().await.unwrap();
    sub.subscribe("acks/#", QoS::ExactlyOnce).await.unwrap();
    let publisher = AsyncClient::new(options(&format!("{id}-pub"), broker.port()));
    publisher.connect().await.unwrap();
    for (topic, qos) in [("acks/q1", QoS::AtLeastOnce), ("acks/q2", QoS::ExactlyOnce)] {
        let d = publisher.publish(topic, qos, false, topic).await.unwrap();
        tokio::time::timeout(T, d).await.unwrap().unwrap();
    }
    let first = [next_message(&sub).await, next_message(&sub).await];
    assert_eq!(first.iter().map(|m| m.qos).collect::<Vec<_>>(), vec![QoS::AtLeastOnce, QoS::ExactlyOnce]);

    // The link drops while the application holds both; no reconnect gets through meanwhile.
    proxy.set_refuse(true);
    proxy.cut_all();
    expect_event(&sub, T, |e| matches!(e, Event::Disconnected { .. }).then_some(())).await;
    if let AckWhen::WhileDisconnected = when {
        for m in &first {
            sub.ack(m).unwrap();
        }
    }
    proxy.set_refuse(false);
    let ack = expect_event(&sub, T, |e| match e {
        Event::Connected(a) => Some(a.clone()),
        _ => None,
    })
    .await;
    assert!(ack.session_present);
    if let AckWhen::AfterTheResends = when {
        // The resends arrive on the resumed connection (the proxy sees them) and are not
        // handed to the application again.
        // The application hears nothing of them, so the proxy's log is what can be watched.
        let deadline = std::time::Instant::now() + T;
        for _ in 0..1_000 {
            let resent = proxy.wire_log().iter().filter(|r| r.connection == 2 && r.packet_type == 3).count();
            if resent >= 2 || std::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for m in &first {
            sub.ack(m).unwrap();
        }
    }
    // A marker after everything: what the broker delivers for the traffic above comes first.
    let marker = publisher.publish("acks/end", QoS::AtLeastOnce, false, "end").await.unwrap();
    tokio::time::timeout(T, marker).await.unwrap().unwrap();
    let end = next_message(&sub).await;
    assert_eq!(end.topic, "acks/end", "the application got a message twice: {end:?}");
    sub.ack(&end).unwrap();
    // The QoS 2 flow must be complete (PUBREL answered) before the report: the broker sent
    // PUBREL before this probe, so when the probe arrives our PUBCOMP is queued. QoS 1, so that
    // it cannot reuse the QoS 2 message's packet identifier.
    let probe = publisher.publish("acks/probe", QoS::AtLeastOnce, false, "p").await.unwrap();
    tokio::time::timeout(T, probe).await.unwrap().unwrap();
    let probe = next_message(&sub).await;
    assert_eq!(probe.topic, "acks/probe");
    sub.ack(&probe).unwrap();
    sub.disconnect().await.unwrap();

    let wire = proxy.wire_report();
    let down_publishes =
        proxy.wire_log().iter().filter(|r| r.connection == 2 && r.packet_type == 3 && r.dup).count();
    eprintln!(
        "{when:?}: {down_publishes} DUP resends on the resumed connection; duplicate client acks {:?}, \
         unprompted client acks {:?}",
        wire.duplicate_acks_from_client, wire.client_acks_without_publish
    );
    assert_eq!(down_publishes, 2, "mosquitto resends both unacknowledged messages");
    assert!(wire.duplicate_acks_from_client.is_empty(), "{:?}", wire.duplicate_acks_from_client);
    assert!(wire.client_acks_without_publish.is_empty(), "{:?}", wire.client_acks_without_publish);
    // The QoS 2 message's flow finished on the resumed connection: PUBREL, then our PUBCOMP.
    let log2 = proxy.wire_log();
    let q2_id = log2
        .iter()
        .find(|r| r.connection == 1 && r.packet_type == 3 && r.qos == 2)
        .and_then(|r| r.packet_id)
        .expect("the QoS 2 PUBLISH on the first connection");
    let pubcomps = log2
        .iter()
        .filter(|r| {
            r.connection == 2
                && r.packet_type == 7
                && r.packet_id == Some(q2_id)
                && r.direction == tether_testkit::Direction::ClientToServer
        })
        .count();
    assert_eq!(pubcomps, 1, "one PUBCOMP for the QoS 2 message on the resumed connection");
    let log = broker.log();
    for complaint in ["but no message found", "in wrong state"] {
        assert!(!log.contains(complaint), "mosquitto complained ({complaint}):\n{log}");
    }
    publisher.disconnect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_made_while_disconnected_answer_the_resends_once() {
    acks_across_a_reconnect(AckWhen::WhileDisconnected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_made_after_the_resends_go_out_once() {
    acks_across_a_reconnect(AckWhen::AfterTheResends).await;
}
