#![allow(clippy::disallowed_methods)]
//! MQTT over WebSocket against real mosquitto WebSocket listeners (`ws://`, and `wss://` with
//! certificates made for the test): publish and subscribe, headers accepted, a refused
//! upgrade (a readable `Error::WebSocket`, not retried), and the persistent-session story
//! across a cut WebSocket connection. The byte-stream adapter itself (packets across and
//! within frames, the headers sent, the subprotocol check) is tested in-memory beside it
//! (driver::websocket).

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::{expect_event, messages_until};
use tether_core::{
    AsyncClient, Error, ErrorKind, Event, MqttOptions, QoS, ReconnectPolicy, ServerAddr, TlsOptions,
    SESSION_NEVER_EXPIRES,
};
use tether_testkit::tls::{TestPki, TlsListener};
use tether_testkit::{Broker, FaultProxy};

const T: Duration = Duration::from_secs(10);

fn options(id: &str, url: &str) -> MqttOptions {
    let mut o = MqttOptions::from_url(id, url).unwrap();
    o.set_reconnect(ReconnectPolicy {
        enabled: true,
        min_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
        stable_after: Duration::from_secs(2),
    });
    o
}

/// Connects, subscribes, publishes QoS 0, 1 and 2 messages to itself (one larger than a
/// typical frame) and reads them back.
async fn round_trip(o: MqttOptions) {
    let client = AsyncClient::new(o);
    tokio::time::timeout(T, client.connect()).await.unwrap().unwrap_or_else(|e| panic!("connect: {e}"));
    client.subscribe("ws/echo/#", QoS::ExactlyOnce).await.unwrap();
    let big = vec![b'x'; 200_000];
    for (i, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce].into_iter().enumerate() {
        let d = client.publish(format!("ws/echo/{i}"), qos, false, "over WebSocket").await.unwrap();
        tokio::time::timeout(T, d).await.unwrap().unwrap();
    }
    let d = client.publish("ws/echo/big", QoS::AtLeastOnce, false, big.clone()).await.unwrap();
    tokio::time::timeout(T, d).await.unwrap().unwrap();
    let got = messages_until(&client, T, |m| m.topic == "ws/echo/big").await;
    let topics: Vec<&str> = got.iter().map(|m| m.topic.as_str()).collect();
    assert_eq!(topics, ["ws/echo/0", "ws/echo/1", "ws/echo/2", "ws/echo/big"]);
    assert_eq!(&got[0].payload[..], b"over WebSocket");
    assert_eq!(got[3].payload.len(), big.len());
    client.disconnect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_over_ws_with_a_header() {
    let broker = Broker::builder().ws_listener().start().unwrap();
    let url = format!("ws://127.0.0.1:{}/mqtt", broker.ws_port().unwrap());
    let mut o = options("ws-pubsub", &url);
    // mosquitto ignores it; the in-memory test sees that it is sent.
    o.set_ws_header("Authorization", "Bearer test-token").unwrap();
    round_trip(o).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_over_wss_with_the_test_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(dir.path()).unwrap();
    let broker =
        Broker::builder().wss_listener(TlsListener::new(&pki.server, &pki.ca_file, false)).start().unwrap();
    let port = broker.wss_port().unwrap();
    let mut o = options("wss-pubsub", &format!("wss://localhost:{port}"));
    o.set_tls(TlsOptions { ca_file: Some(pki.ca_file.clone()), ..TlsOptions::default() }).unwrap();
    round_trip(o).await;

    // The certificate is still checked: a CA that did not sign it is a TLS error.
    let other = tempfile::tempdir().unwrap();
    let other = TestPki::generate(other.path()).unwrap();
    let mut o = options("wss-untrusted", &format!("wss://localhost:{port}/mqtt"));
    o.set_tls(TlsOptions { ca_file: Some(other.ca_file.clone()), ..TlsOptions::default() }).unwrap();
    let err = AsyncClient::new(o).connect().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
}

/// A tiny HTTP server on 127.0.0.1 that answers every request with 404 and counts them.
fn http_404() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ =
                stream.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (port, count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_upgrade_is_a_websocket_error_and_not_retried() {
    let (port, requests) = http_404();
    let url = format!("ws://127.0.0.1:{port}/mqtt");
    let err: Error = AsyncClient::new(options("ws-404", &url)).connect().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WebSocket, "{err}");
    assert!(err.to_string().contains("upgrade refused: 404 Not Found"), "{err}");
    assert!(err.to_string().contains(&format!("127.0.0.1:{port}")), "{err}");
    assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 1);

    // During automatic reconnects: one attempt at the refusing server, then
    // ReconnectStopped, no storm.
    let broker = Broker::builder().ws_listener().start().unwrap();
    let proxy = FaultProxy::start(([127, 0, 0, 1], broker.ws_port().unwrap()).into());
    let mut o = options("ws-failover", &format!("ws://127.0.0.1:{}/mqtt", proxy.port()));
    o.add_server(ServerAddr::ws("127.0.0.1", port, "/mqtt"));
    let client = AsyncClient::new(o);
    tokio::time::timeout(T, client.connect()).await.unwrap().unwrap();
    proxy.set_refuse(true);
    proxy.cut_all();
    let error = expect_event(&client, T, |e| match e {
        Event::ReconnectStopped { error } => Some(error.clone()),
        _ => None,
    })
    .await;
    assert_eq!(error.kind(), ErrorKind::WebSocket, "{error}");
    assert!(error.to_string().contains(&format!("127.0.0.1:{port}")), "{error}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 2, "the refusing server was tried again");
    assert!(!client.stats().connected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_at_a_plain_mqtt_listener_fails_without_hanging() {
    // mosquitto's MQTT listener does not speak HTTP: it closes the connection, an I/O error
    // (retrying may help: a proxy in between closes connections the same way).
    let broker = Broker::start();
    let url = format!("ws://127.0.0.1:{}/mqtt", broker.port());
    let mut o = options("ws-at-mqtt", &url);
    o.set_reconnect(ReconnectPolicy { enabled: false, ..ReconnectPolicy::default() });
    let err = tokio::time::timeout(T, AsyncClient::new(o).connect()).await.expect("no hang").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::WebSocket | ErrorKind::Io), "{err}");
}

/// The seed scenario over WebSocket: a persistent session, the link cut while QoS 1 messages
/// are in flight, the session resumed and the unacknowledged ones sent again with DUP; the
/// subscriber gets every message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_session_survives_a_cut_ws_connection() {
    const N: usize = 300;
    let broker = Broker::builder().config_line("max_queued_messages 0").ws_listener().start().unwrap();
    let ws_port = broker.ws_port().unwrap();
    let mut so = options("ws-seed-sub", &format!("ws://127.0.0.1:{ws_port}/mqtt"));
    so.set_session_expiry_interval(SESSION_NEVER_EXPIRES);
    let sub = AsyncClient::new(so);
    sub.connect().await.unwrap();
    sub.subscribe("seed/#", QoS::AtLeastOnce).await.unwrap();

    let proxy = FaultProxy::start(([127, 0, 0, 1], ws_port).into());
    let mut po = options("ws-seed-pub", &format!("ws://127.0.0.1:{}/mqtt", proxy.port()));
    po.set_session_expiry_interval(SESSION_NEVER_EXPIRES);
    let publisher = AsyncClient::new(po);
    publisher.connect().await.unwrap();
    common::cut_while_in_flight_and_resume(&sub, &publisher, &proxy, N, "WebSocket").await;
    publisher.disconnect().await.unwrap();
    sub.disconnect().await.unwrap();
}
