//! Helpers shared by the integration tests: options pointing at a test broker, and bounded
//! waits for events (never sleeps as synchronisation).
#![allow(dead_code)]
// Tests measure real time against a real broker.
#![allow(clippy::disallowed_methods)]

use std::time::Duration;

use tether_core::{AsyncClient, Event, Message, MqttOptions, ReconnectPolicy};

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
