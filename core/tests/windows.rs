#![allow(clippy::disallowed_methods)]
//! Random cuts at small send windows: mosquitto at its default Receive Maximum (20), at 2 and
//! at 1,000, with the publisher behind the fault proxy and with the subscriber behind it. The
//! proxy's wire log checks flow control on the wire: never more unfinished QoS 1/2 messages
//! than the server's Receive Maximum ([MQTT-3.3.4-7]), no acknowledgement with an error reason
//! (0x97 Quota exceeded above all), and every message delivered, QoS 2 exactly once.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::options;
use tether_core::{AsyncClient, Event, QoS, ReconnectPolicy, SESSION_NEVER_EXPIRES};
use tether_testkit::{Broker, FaultProxy};

/// Chunks of messages published between checks of the cut count, at most this many.
const MAX_CHUNKS: usize = 100;
/// Cuts a run must see before it stops (besides its minimum number of messages).
const MIN_CUTS: u64 = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Publisher,
    Subscriber,
}

fn persistent(id: &str, port: u16) -> tether_core::MqttOptions {
    let mut o = options(id, port);
    o.set_session_expiry_interval(SESSION_NEVER_EXPIRES);
    // Reconnect fast: a connection never lives long enough here to count as stable.
    o.set_reconnect(ReconnectPolicy {
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(100),
        ..ReconnectPolicy::default()
    });
    o
}

/// Interleaved: two QoS 1 messages, then one QoS 2.
fn qos_of(i: usize) -> QoS {
    if i % 3 == 2 {
        QoS::ExactlyOnce
    } else {
        QoS::AtLeastOnce
    }
}

async fn cuts_at_window(receive_maximum: u16, side: Side, min_total: usize, seed: u64) {
    let broker = Broker::builder()
        .config_line(format!("max_inflight_messages {receive_maximum}"))
        .config_line("max_queued_messages 0")
        .start()
        .unwrap();
    let proxy = FaultProxy::start(broker.addr());
    let name = format!("win{receive_maximum}-{side:?}");
    let (pub_port, sub_port) = match side {
        Side::Publisher => (proxy.port(), broker.port()),
        Side::Subscriber => (broker.port(), proxy.port()),
    };
    let sub = AsyncClient::new(persistent(&format!("{name}-sub"), sub_port));
    sub.connect().await.unwrap();
    sub.subscribe("win/#", QoS::ExactlyOnce).await.unwrap();
    let publisher = AsyncClient::new(persistent(&format!("{name}-pub"), pub_port));
    publisher.connect().await.unwrap();

    // The subscriber reads all along (its link may be the one that is cut) until the marker.
    let (received_tx, mut received) = tokio::sync::watch::channel(0usize);
    // It stops once it has the end marker and every number the stream had: the broker keeps
    // order per topic and QoS only (4.6), so the marker may overtake QoS 1 messages still
    // queued for a subscriber that was cut.
    let (total_tx, total_rx) = tokio::sync::watch::channel(None::<usize>);
    let reader = {
        let sub = sub.clone();
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
            let mut got: Vec<(String, usize)> = Vec::new();
            let mut distinct = std::collections::HashSet::new();
            let mut marker = false;
            for _ in 0..10_000_000 {
                let complete = total_rx.borrow().is_some_and(|t| distinct.len() >= t);
                if marker && complete {
                    return Ok(got);
                }
                match tokio::time::timeout_at(deadline, sub.recv()).await {
                    Ok(Some(Event::Message(m))) => {
                        if m.topic == "win/end" {
                            marker = true;
                            continue;
                        }
                        let n: usize = String::from_utf8_lossy(&m.payload).parse().unwrap();
                        distinct.insert(n);
                        got.push((m.topic, n));
                        received_tx.send_replace(got.len());
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => return Err(format!("subscriber closed after {} messages", got.len())),
                    Err(_) => {
                        return Err(format!(
                            "within 120 s: end marker {marker}, {} distinct of {:?}",
                            distinct.len(),
                            *total_rx.borrow()
                        ))
                    }
                }
            }
            Err("too many messages".to_string())
        })
    };

    // A few milliseconds each way keep the window full, so every cut catches messages in
    // flight. The stream goes on in chunks until enough cuts happened (a large window would
    // otherwise finish before the first cut), bounded in count and time.
    proxy.set_delay(Duration::from_millis(3));
    proxy.random_cuts(seed, Duration::from_millis(50), Duration::from_millis(300));
    let started = Instant::now();
    let mut total = 0;
    // Chunks in flight at once: enough to keep a window of `receive_maximum` full.
    let chunk_len = (usize::from(receive_maximum) * 15).clamp(60, 300);
    let depth = usize::from(receive_maximum) / chunk_len + 2;
    let mut pending: std::collections::VecDeque<(usize, Vec<tether_core::Delivery>)> = Default::default();
    for _ in 0..MAX_CHUNKS {
        let mut chunk = Vec::with_capacity(chunk_len);
        for i in total..total + chunk_len {
            let qos = qos_of(i);
            let topic = if qos == QoS::ExactlyOnce { "win/q2" } else { "win/q1" };
            chunk.push(publisher.publish(topic, qos, false, i.to_string()).await.unwrap());
        }
        pending.push_back((total, chunk));
        total += chunk_len;
        let enough = total >= min_total && proxy.stats().cuts >= MIN_CUTS;
        while pending.len() >= depth || (enough && !pending.is_empty()) {
            let Some((first, chunk)) = pending.pop_front() else { break };
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            for (i, d) in chunk.into_iter().enumerate() {
                match tokio::time::timeout_at(deadline, d).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => panic!("{name}: delivery {} failed: {e}", first + i),
                    Err(_) => panic!("{name}: a delivery not complete within 60 s; {:?}", publisher.stats()),
                }
            }
        }
        if side == Side::Subscriber {
            // Pace the stream by the subscriber's link, the one under test.
            let caught_up = received.wait_for(|n| *n + chunk_len * depth >= total);
            if tokio::time::timeout(Duration::from_secs(60), caught_up).await.is_err() {
                panic!("{name}: the subscriber got only {} of {total} within 60 s", *received.borrow());
            }
        }
        if enough {
            break;
        }
    }
    // Nothing failed unseen either.
    let report = publisher.flush().await.unwrap_or_else(|e| panic!("{name}: flush: {e}"));
    assert_eq!(report.failed, 0);
    let elapsed = started.elapsed();
    proxy.stop_random_cuts();
    proxy.set_delay(Duration::ZERO);
    total_tx.send_replace(Some(total));
    let marker = publisher.publish("win/end", QoS::ExactlyOnce, false, "0").await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), marker).await.unwrap().unwrap();
    let got = reader.await.unwrap().unwrap_or_else(|e| panic!("{name}: {e}"));

    let mut counts: HashMap<usize, usize> = HashMap::new();
    for (_, n) in &got {
        *counts.entry(*n).or_default() += 1;
    }
    let lost: Vec<usize> = (0..total).filter(|n| !counts.contains_key(n)).collect();
    assert!(lost.is_empty(), "{name}: lost {} messages: {lost:?}", lost.len());
    let twice2: Vec<usize> = (0..total).filter(|n| qos_of(*n) == QoS::ExactlyOnce && counts[n] > 1).collect();
    assert!(twice2.is_empty(), "{name}: QoS 2 delivered more than once: {twice2:?}");
    let dup1: usize = (0..total).filter(|n| qos_of(*n) == QoS::AtLeastOnce).map(|n| counts[&n] - 1).sum();

    let stats = proxy.stats();
    let wire = proxy.wire_report();
    let client = match side {
        Side::Publisher => publisher.stats(),
        Side::Subscriber => sub.stats(),
    };
    let (max_unfinished, window) = match side {
        Side::Publisher => (wire.max_unfinished_up, wire.receive_maximum_up),
        // The broker's window towards the subscriber is its own business; report it.
        Side::Subscriber => (wire.max_unfinished_down, receive_maximum),
    };
    eprintln!(
        "window {receive_maximum}, {side:?} behind the proxy: {total} sent, {} delivered, QoS 1 duplicates \
         {dup1}, QoS 2 duplicates 0, in {elapsed:?}; {} cuts, {} connections, {} DUP PUBLISH; max \
         unfinished on the wire {max_unfinished} (Receive Maximum {window}); error acks {}; client \
         quota retries {}, failed deliveries {}",
        counts.len(),
        stats.cuts,
        stats.connections,
        stats.dup_publishes,
        wire.error_acks_from_server.len(),
        publisher.stats().quota_retries,
        publisher.stats().deliveries_failed,
    );
    assert!(stats.cuts > 0, "{name}: the proxy never cut: the test did not test anything");
    assert_eq!(wire.dropped_records, 0, "{name}: the wire log overflowed");
    assert!(wire.error_acks_from_server.is_empty(), "{name}: {:?}", wire.error_acks_from_server);
    assert_eq!(publisher.stats().quota_retries, 0, "{name}: the broker refused for quota");
    if side == Side::Publisher {
        assert_eq!(wire.receive_maximum_up, receive_maximum, "{name}: the broker's announced window");
        assert!(max_unfinished <= usize::from(receive_maximum), "{name}: {max_unfinished} unfinished");
        assert!(stats.dup_publishes > 0, "{name}: no retransmission carried DUP");
        assert!(client.retransmissions > 0, "{name}: {client:?}");
    } else {
        assert!(client.reconnects > 0, "{name}: {client:?}");
    }
    publisher.disconnect().await.unwrap();
    sub.disconnect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_20_publisher_cut() {
    cuts_at_window(20, Side::Publisher, 1_500, 0x2020).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_2_publisher_cut() {
    cuts_at_window(2, Side::Publisher, 300, 0x0202).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_1000_publisher_cut() {
    cuts_at_window(1000, Side::Publisher, 3_000, 0x1000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_20_subscriber_cut() {
    cuts_at_window(20, Side::Subscriber, 1_500, 0x2021).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_2_subscriber_cut() {
    cuts_at_window(2, Side::Subscriber, 300, 0x0203).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_1000_subscriber_cut() {
    cuts_at_window(1000, Side::Subscriber, 3_000, 0x1001).await;
}
