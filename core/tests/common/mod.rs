//! Helpers shared by the integration tests: options pointing at a test broker, and bounded
//! waits for events (never sleeps as synchronisation).
#![allow(dead_code)]
// Tests measure real time against a real broker.
#![allow(clippy::disallowed_methods)]

pub mod shared;

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;
use tether_core::{
    AsyncClient, Event, LastWill, Message, MqttOptions, QoS, ReconnectPolicy, WillProperties,
    SESSION_NEVER_EXPIRES,
};

/// `fut` within `limit`, or a panic naming `what` (no await of a test waits forever).
pub async fn within<F: std::future::Future>(limit: Duration, what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(limit, fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: not within {limit:?}"),
    }
}

/// The number a message's payload spells (`usize::MAX` when it spells none).
pub fn number(m: &Message) -> usize {
    String::from_utf8_lossy(&m.payload).parse().unwrap_or(usize::MAX)
}

/// Options for `id` at `port`, with fast reconnects so that fault tests stay short.
pub fn options(id: &str, port: u16) -> MqttOptions {
    let mut o = MqttOptions::new(id, "127.0.0.1", port);
    o.set_reconnect(ReconnectPolicy {
        enabled: true,
        min_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(500),
        stable_after: Duration::from_secs(2),
    });
    o
}

/// [`options`] with a session that never expires (resumed after every reconnect).
pub fn persistent(id: &str, port: u16) -> MqttOptions {
    let mut o = options(id, port);
    o.set_session_expiry_interval(SESSION_NEVER_EXPIRES);
    o
}

/// A QoS 1 will on `topic`, published `delay` seconds after an abrupt end (None: at once).
pub fn will(topic: &str, payload: &str, delay: Option<u32>) -> LastWill {
    LastWill {
        topic: topic.into(),
        payload: Bytes::copy_from_slice(payload.as_bytes()),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: WillProperties { will_delay_interval: delay, ..Default::default() },
    }
}

/// The next event matching `f`, within `timeout`; panics with what was seen otherwise.
pub async fn expect_event<T>(
    client: &AsyncClient,
    timeout: Duration,
    mut f: impl FnMut(&Event) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, client.recv()).await {
            Ok(Some(e)) => {
                if let Some(t) = f(&e) {
                    return t;
                }
                if seen.len() < 20 {
                    seen.push(format!("{e:?}"));
                }
            }
            Ok(None) => panic!("client closed while waiting; seen: {seen:#?}"),
            Err(_) => panic!("no matching event within {timeout:?}; seen: {seen:#?}"),
        }
    }
}

/// Collect `n` messages within `timeout`.
pub async fn messages(client: &AsyncClient, n: usize, timeout: Duration) -> Vec<Message> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        match tokio::time::timeout_at(deadline, client.recv()).await {
            Ok(Some(Event::Message(m))) => out.push(m),
            Ok(Some(_)) => {}
            Ok(None) => panic!("client closed after {} of {n} messages", out.len()),
            Err(_) => panic!("only {} of {n} messages within {timeout:?}", out.len()),
        }
    }
    out
}

/// Messages that arrive within `window` (used to check that nothing more comes).
pub async fn drain_messages(client: &AsyncClient, window: Duration) -> Vec<Message> {
    let deadline = tokio::time::Instant::now() + window;
    let mut out = Vec::new();
    while let Ok(Some(e)) = tokio::time::timeout_at(deadline, client.recv()).await {
        if let Event::Message(m) = e {
            out.push(m);
        }
    }
    out
}

/// A client for `id` at `port`, connected (panics when the connect fails).
pub async fn connected(id: &str, port: u16) -> AsyncClient {
    let client = AsyncClient::new(options(id, port));
    tokio::time::timeout(Duration::from_secs(10), client.connect())
        .await
        .unwrap_or_else(|_| panic!("{id}: no CONNACK within 10 s"))
        .unwrap_or_else(|e| panic!("{id}: connect failed: {e}"));
    client
}

/// Messages up to and including the first one for which `last` is true, within `timeout`:
/// a barrier (publish a marker after the traffic under test; what came before it is all there
/// is, since the broker forwards to one subscriber in order).
pub async fn messages_until(
    client: &AsyncClient,
    timeout: Duration,
    mut last: impl FnMut(&Message) -> bool,
) -> Vec<Message> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut out = Vec::new();
    for _ in 0..1_000_000 {
        match tokio::time::timeout_at(deadline, client.recv()).await {
            Ok(Some(Event::Message(m))) => {
                let done = last(&m);
                out.push(m);
                if done {
                    return out;
                }
            }
            Ok(Some(_)) => {}
            Ok(None) => panic!("client closed after {} messages", out.len()),
            Err(_) => panic!(
                "no closing message within {timeout:?}; got {:?}",
                out.iter().map(|m| (&m.topic, &m.payload)).collect::<Vec<_>>()
            ),
        }
    }
    panic!("too many messages before the closing one")
}

/// The payloads as strings, in order.
pub fn payloads(messages: &[Message]) -> Vec<String> {
    messages.iter().map(|m| String::from_utf8_lossy(&m.payload).into_owned()).collect()
}

/// The seed scenario's middle: `n` numbered QoS 1 messages published through `proxy` (given a
/// little latency so that the send window stays full), the link cut while they are in flight,
/// and then every delivery must complete after the session resumes with retransmissions, and
/// `sub` must get every number. `what` names the transport in the failure message.
pub async fn cut_while_in_flight_and_resume(
    sub: &AsyncClient,
    publisher: &AsyncClient,
    proxy: &tether_testkit::FaultProxy,
    n: usize,
    what: &str,
) {
    const T: Duration = Duration::from_secs(10);
    // Latency keeps the send window full, so the cut catches messages in flight.
    proxy.set_delay(Duration::from_millis(5));
    let mut deliveries = Vec::with_capacity(n);
    for i in 0..n {
        deliveries.push(publisher.publish("seed/t", QoS::AtLeastOnce, false, i.to_string()).await.unwrap());
    }
    let mut rest = deliveries.split_off(n / 4);
    for d in deliveries.drain(..) {
        tokio::time::timeout(T, d).await.unwrap().unwrap();
    }
    assert!(proxy.cut_all() >= 1);
    for d in rest.drain(..) {
        tokio::time::timeout(T, d).await.expect("delivery in time").expect("delivered");
    }
    let stats = publisher.stats();
    assert!(stats.reconnects >= 1, "{stats:?}");
    assert!(stats.retransmissions >= 1, "nothing was in flight at the cut: {stats:?}");
    assert!(proxy.stats().connections >= 2);

    let mut seen = HashSet::new();
    let got = messages_until(sub, Duration::from_secs(20), |m| {
        seen.insert(String::from_utf8_lossy(&m.payload).into_owned());
        seen.len() == n
    })
    .await;
    let numbers: HashSet<usize> =
        got.iter().map(|m| String::from_utf8_lossy(&m.payload).parse().unwrap()).collect();
    assert_eq!(numbers.len(), n, "lost messages over {what}");
}
