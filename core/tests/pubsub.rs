//! Connect, subscribe and publish against a real mosquitto.
// Deadlines for events from a real broker are measured in real time.
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::Duration;

use common::{messages, options};
use tether_core::{AsyncClient, DeliveryEvents, Event, OverflowPolicy, QoS, SubAckReasonCode};
use tether_testkit::Broker;

const T: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_and_receive_at_every_qos() {
    let broker = Broker::start();
    let sub = AsyncClient::new(options("sub", broker.port()));
    let ack = sub.connect().await.unwrap();
    assert!(!ack.session_present);
    let granted = sub.subscribe("t/#", QoS::ExactlyOnce).await.unwrap();
    assert_eq!(granted, vec![SubAckReasonCode::GrantedQoS2]);

    let publisher = AsyncClient::new(options("pub", broker.port()));
    publisher.connect().await.unwrap();
    for (i, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce].into_iter().enumerate() {
        let d = publisher.publish(format!("t/{i}"), qos, false, format!("p{i}")).await.unwrap();
        let outcome = tokio::time::timeout(T, d).await.unwrap().unwrap();
        assert_eq!(outcome.packet_id.is_some(), qos != QoS::AtMostOnce);
    }
    let got = messages(&sub, 3, T).await;
    let summary: Vec<(String, QoS, Vec<u8>)> =
        got.iter().map(|m| (m.topic.clone(), m.qos, m.payload.to_vec())).collect();
    assert_eq!(
        summary,
        vec![
            ("t/0".into(), QoS::AtMostOnce, b"p0".to_vec()),
            ("t/1".into(), QoS::AtLeastOnce, b"p1".to_vec()),
            ("t/2".into(), QoS::ExactlyOnce, b"p2".to_vec()),
        ]
    );
    publisher.disconnect().await.unwrap();
    sub.disconnect().await.unwrap();
}

/// The transport seam: the same client over a Unix domain socket (mosquitto `listener 0 PATH`).
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connects_over_a_unix_domain_socket() {
    let dir = std::env::temp_dir().join(format!("tether-uds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("mqtt.sock");
    let broker = Broker::builder().config_line(format!("listener 0 {}", path.display())).start().unwrap();
    let mut o = options("uds", broker.port());
    o.set_servers(vec![tether_core::ServerAddr::unix(&path)]);
    let client = AsyncClient::new(o);
    client.connect().await.unwrap();
    client.subscribe("uds/t", QoS::AtLeastOnce).await.unwrap();
    client.publish("uds/t", QoS::AtLeastOnce, false, "over a unix socket").await.unwrap().await.unwrap();
    let got = messages(&client, 1, T).await;
    assert_eq!(&got[0].payload[..], b"over a unix socket");
    client.disconnect().await.unwrap();
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}

/// flush() and disconnect() never overtake the publishes made before them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_and_disconnect_come_after_earlier_publishes() {
    let broker = Broker::start();
    let sub = AsyncClient::new(options("order-sub", broker.port()));
    sub.connect().await.unwrap();
    sub.subscribe("order/#", QoS::AtLeastOnce).await.unwrap();
    let publisher = AsyncClient::new(options("order-pub", broker.port()));
    publisher.connect().await.unwrap();
    let mut deliveries = Vec::new();
    for i in 0..50 {
        deliveries.push(publisher.publish(format!("order/{i}"), QoS::AtLeastOnce, false, "x").await.unwrap());
    }
    tokio::time::timeout(T, publisher.flush()).await.unwrap().unwrap();
    assert!(deliveries.iter().all(|d| d.is_done()), "flush returned before every delivery completed");
    for i in 0..20 {
        publisher.publish(format!("order/q0/{i}"), QoS::AtMostOnce, false, "y").await.unwrap();
    }
    publisher.disconnect().await.unwrap();
    // Every QoS 0 message was written before DISCONNECT, so the broker forwards all of them.
    let got = messages(&sub, 70, T).await;
    assert_eq!(got.iter().filter(|m| m.topic.starts_with("order/q0/")).count(), 20);
    sub.disconnect().await.unwrap();
}

/// A flush covers the publishes still in the request channel behind one held back by a full
/// queue (Block policy): it returns only once every earlier publish is complete. QoS 0
/// messages complete when written, so with a four-message queue the held-back one can be
/// written and complete in the same turn as the queue, before the rest leave the channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_waits_for_publishes_held_back_by_a_full_queue() {
    let broker = Broker::start();
    let mut o = options("flush-held", broker.port());
    o.set_queue_limits(4, 1 << 20, OverflowPolicy::Block);
    let client = AsyncClient::new(o);
    // Not connected yet: four go into the queue, the fifth is held back, the rest wait in
    // the request channel.
    let mut deliveries = Vec::new();
    for i in 0..20 {
        deliveries.push(client.publish("held/t", QoS::AtMostOnce, false, format!("{i}")).await.unwrap());
    }
    // The flush request reaches the driver before the connect request.
    let flushing = client.flush_request();
    client.connect().await.unwrap();
    tokio::time::timeout(T, flushing).await.unwrap().unwrap();
    let undone: Vec<u64> = deliveries.iter().filter(|d| !d.is_done()).map(|d| d.token()).collect();
    assert!(undone.is_empty(), "flush returned before publishes {undone:?} completed");
    client.disconnect().await.unwrap();
}

/// Batched delivery events report every publish once, each after its Delivery is done, and
/// in far fewer events than publishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_delivery_events_report_every_publish_once() {
    let broker = Broker::start();
    let client = AsyncClient::new(options("batched", broker.port()));
    client.set_delivery_events(DeliveryEvents::Batched);
    client.connect().await.unwrap();
    let mut deliveries = Vec::new();
    for i in 0..2000u32 {
        let qos = if i % 3 == 0 { QoS::AtMostOnce } else { QoS::AtLeastOnce };
        deliveries.push(client.publish("batched/t", qos, false, i.to_be_bytes().to_vec()).await.unwrap());
    }
    let mut reported = Vec::new();
    let mut batches = 0;
    let deadline = tokio::time::Instant::now() + T;
    while reported.len() < deliveries.len() {
        let event = tokio::time::timeout_at(deadline, client.recv()).await.expect("events in time").unwrap();
        match event {
            Event::PublishesComplete(batch) => {
                batches += 1;
                for c in batch {
                    assert!(c.result.is_ok(), "{c:?}");
                    let d = deliveries.iter().find(|d| d.token() == c.token).expect("a token we issued");
                    assert!(d.is_done(), "the Delivery completes before its event");
                    reported.push(c.token);
                }
            }
            Event::PublishComplete { .. } => panic!("one event per publish in batched mode"),
            _ => {}
        }
    }
    // QoS 0 completes when written and QoS 1 at its PUBACK, so the two interleave; each
    // kind keeps its order, and every publish is reported once.
    let qos1 = |t: &u64| (t - deliveries[0].token()) % 3 != 0;
    let reported_qos1: Vec<u64> = reported.iter().copied().filter(qos1).collect();
    assert!(reported_qos1.windows(2).all(|w| w[0] < w[1]), "QoS 1 completions in order");
    let mut sorted = reported.clone();
    sorted.sort_unstable();
    let issued: Vec<u64> = deliveries.iter().map(|d| d.token()).collect();
    assert!(sorted == issued, "every publish reported once ({} reports)", reported.len());
    assert!(batches < deliveries.len() / 4, "{batches} batches for {} publishes", deliveries.len());
    client.disconnect().await.unwrap();
}

/// close() stops the driver: closed() completes, pending deliveries fail with Closed, and
/// further calls say Closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_stops_the_driver_and_fails_what_is_pending() {
    let broker = Broker::start();
    let client = AsyncClient::new(options("closer", broker.port()));
    // Not connected: the publish waits in the queue.
    let pending = client.publish("c/t", QoS::AtLeastOnce, false, "never sent").await.unwrap();
    client.close();
    tokio::time::timeout(T, client.closed()).await.unwrap();
    assert_eq!(tokio::time::timeout(T, pending).await.unwrap(), Err(tether_core::Error::Closed));
    let again = client.publish("c/t", QoS::AtLeastOnce, false, "x").await;
    assert_eq!(again.err(), Some(tether_core::Error::Closed));
}
