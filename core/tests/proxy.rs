#![allow(clippy::disallowed_methods)]
//! Through an HTTP CONNECT proxy (the test kit's `HttpProxy`) to real mosquitto listeners:
//! TCP, TLS, ws:// and wss://, with basic credentials; a 407 or 403 is a readable
//! `Error::Proxy` that stops reconnecting (the proxy counts the attempts), a 502 is retried,
//! a proxy that cannot be reached is an I/O error; and the persistent-session story with the
//! link cut behind the proxy. The CONNECT exchange itself (the request, bytes after the
//! reply, refusals) is tested in-memory beside it (core/src/proxy.rs).

mod common;

use std::time::Duration;

use common::{expect_event, messages_until};
use tether_core::{
    AsyncClient, ErrorKind, Event, MqttOptions, ProxyOptions, QoS, ReconnectPolicy, TlsOptions,
    SESSION_NEVER_EXPIRES,
};
use tether_testkit::tls::{TestPki, TlsListener};
use tether_testkit::{Broker, FaultProxy, HttpProxy};

const T: Duration = Duration::from_secs(10);

fn options(id: &str, url: &str, proxy: &str) -> MqttOptions {
    let mut o = MqttOptions::from_url(id, url).unwrap();
    o.set_proxy(ProxyOptions::from_url(proxy).unwrap()).unwrap();
    o.set_reconnect(ReconnectPolicy {
        enabled: true,
        min_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
        stable_after: Duration::from_secs(2),
    });
    o
}

fn with_credentials(proxy: &HttpProxy) -> String {
    format!("http://user:s%40cret@127.0.0.1:{}", proxy.port())
}

/// Connects, subscribes, publishes one QoS 1 message to itself and reads it back.
async fn round_trip(o: MqttOptions) {
    let client = AsyncClient::new(o);
    tokio::time::timeout(T, client.connect()).await.unwrap().unwrap_or_else(|e| panic!("connect: {e}"));
    client.subscribe("proxy/echo", QoS::AtLeastOnce).await.unwrap();
    let d = client.publish("proxy/echo", QoS::AtLeastOnce, false, "through the proxy").await.unwrap();
    tokio::time::timeout(T, d).await.unwrap().unwrap();
    let got = messages_until(&client, T, |m| m.topic == "proxy/echo").await;
    assert_eq!(&got.last().unwrap().payload[..], b"through the proxy");
    client.disconnect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_through_the_proxy_with_credentials() {
    let broker = Broker::start();
    let proxy = HttpProxy::with_credentials("user", "s@cret");
    round_trip(options("px-tcp", &format!("mqtt://127.0.0.1:{}", broker.port()), &with_credentials(&proxy)))
        .await;
    let s = proxy.stats();
    assert_eq!((s.tunnels, s.auth_failures), (1, 0), "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_ws_and_wss_through_the_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(dir.path()).unwrap();
    let broker = Broker::builder()
        .tls_listener(TlsListener::new(&pki.server, &pki.ca_file, false))
        .ws_listener()
        .wss_listener(TlsListener::new(&pki.server, &pki.ca_file, false))
        .start()
        .unwrap();
    let proxy = HttpProxy::with_credentials("user", "s@cret");
    let via = with_credentials(&proxy);
    let tls = || TlsOptions { ca_file: Some(pki.ca_file.clone()), ..TlsOptions::default() };

    // TLS end to end through the tunnel: the certificate is checked against "localhost".
    let mut o = options("px-tls", &format!("mqtts://localhost:{}", broker.tls_port().unwrap()), &via);
    o.set_tls(tls()).unwrap();
    round_trip(o).await;
    assert_eq!(proxy.stats().tunnels, 1);

    round_trip(options("px-ws", &format!("ws://127.0.0.1:{}/mqtt", broker.ws_port().unwrap()), &via)).await;
    assert_eq!(proxy.stats().tunnels, 2);

    let mut o = options("px-wss", &format!("wss://localhost:{}/mqtt", broker.wss_port().unwrap()), &via);
    o.set_tls(tls()).unwrap();
    round_trip(o).await;
    let s = proxy.stats();
    assert_eq!((s.tunnels, s.auth_failures, s.requests), (3, 0, 3), "{s:?}");
}

/// Wrong credentials: `connect` fails with the proxy's 407 named, after one request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_a_proxy_error_tried_once() {
    let broker = Broker::start();
    let proxy = HttpProxy::with_credentials("user", "right");
    let url = format!("mqtt://127.0.0.1:{}", broker.port());
    let o = options("px-407", &url, &format!("http://user:wrong@127.0.0.1:{}", proxy.port()));
    let err = tokio::time::timeout(T, AsyncClient::new(o).connect()).await.expect("no hang").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Proxy, "{err}");
    let want = format!("refused CONNECT to 127.0.0.1:{}: 407 Proxy Authentication Required", broker.port());
    assert!(err.to_string().contains(&want), "{err}");
    assert!(!err.to_string().contains("wrong"), "the password is not in the message: {err}");
    assert!(matches!(err, tether_core::Error::Proxy { status: Some(407), .. }));
    // No credentials at all: the same.
    let o = options("px-407b", &url, &format!("http://127.0.0.1:{}", proxy.port()));
    let err = tokio::time::timeout(T, AsyncClient::new(o).connect()).await.expect("no hang").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Proxy, "{err}");
    let s = proxy.stats();
    assert_eq!((s.requests, s.auth_failures, s.tunnels), (2, 2, 0), "{s:?}");
}

/// During automatic reconnects a proxy refusing with 403 (or 407) stops them: one request,
/// then `Event::ReconnectStopped`, no storm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_during_reconnects_stops_them() {
    let broker = Broker::start();
    let proxy = HttpProxy::start();
    let o = options(
        "px-403",
        &format!("mqtt://127.0.0.1:{}", broker.port()),
        &format!("http://127.0.0.1:{}", proxy.port()),
    );
    let client = AsyncClient::new(o);
    tokio::time::timeout(T, client.connect()).await.unwrap().unwrap();
    proxy.set_refuse(Some(403));
    assert_eq!(proxy.cut_all(), 1);
    let error = expect_event(&client, T, |e| match e {
        Event::ReconnectStopped { error } => Some(error.clone()),
        _ => None,
    })
    .await;
    assert_eq!(error.kind(), ErrorKind::Proxy, "{error}");
    assert!(error.to_string().ends_with(": 403 Forbidden"), "{error}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let s = proxy.stats();
    assert_eq!((s.requests, s.refused), (2, 1), "the refusing proxy was asked again: {s:?}");
    assert!(!client.stats().connected);
}

/// A proxy answering 502 (its upstream is down) is retried like any connection failure, and
/// the client gets through once it tunnels again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_gateway_is_retried() {
    let broker = Broker::start();
    let proxy = HttpProxy::start();
    let o = options(
        "px-502",
        &format!("mqtt://127.0.0.1:{}", broker.port()),
        &format!("http://127.0.0.1:{}", proxy.port()),
    );
    let client = AsyncClient::new(o);
    tokio::time::timeout(T, client.connect()).await.unwrap().unwrap();
    proxy.set_refuse(Some(502));
    proxy.cut_all();
    // Two failed attempts, each reported as a retry naming the 502.
    for _ in 0..2 {
        let error = expect_event(&client, T, |e| match e {
            Event::Reconnecting { error, .. } if error.contains("502") => Some(error.clone()),
            Event::ReconnectStopped { error } => panic!("stopped on {error}"),
            _ => None,
        })
        .await;
        assert!(error.contains("502 Bad Gateway"), "{error}");
    }
    proxy.set_refuse(None);
    assert!(proxy.wait_for_tunnels(2, T), "no tunnel after the proxy recovered: {:?}", proxy.stats());
    expect_event(&client, T, |e| matches!(e, Event::Connected { .. }).then_some(())).await;
    assert!(proxy.stats().refused >= 2);
    client.disconnect().await.unwrap();
}

/// A proxy that is not there: an I/O error naming it (retried like any connection failure).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_proxy_is_an_io_error() {
    let port = tether_testkit::broker::free_port().unwrap();
    let mut o = options("px-gone", "mqtt://127.0.0.1:1883", &format!("http://127.0.0.1:{port}"));
    o.set_reconnect(ReconnectPolicy { enabled: false, ..ReconnectPolicy::default() });
    let err = tokio::time::timeout(T, AsyncClient::new(o).connect()).await.expect("no hang").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert!(err.to_string().contains(&format!("proxy http://127.0.0.1:{port}")), "{err}");
}

/// A proxy that accepts and never answers: the connect timeout covers its answer too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_proxy_times_out() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let mut o = options("px-silent", "mqtt://127.0.0.1:1883", &format!("http://127.0.0.1:{port}"));
    o.set_reconnect(ReconnectPolicy { enabled: false, ..ReconnectPolicy::default() });
    o.set_connect_timeout(Duration::from_millis(300));
    let started = std::time::Instant::now();
    let err = tokio::time::timeout(T, AsyncClient::new(o).connect()).await.expect("no hang").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert!(
        err.to_string().contains(&format!("through the proxy http://127.0.0.1:{port} timed out")),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(silent);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unix_socket_with_a_proxy_is_refused() {
    let mut o = options("px-unix", "unix:///tmp/tether-none.sock", "http://127.0.0.1:3128");
    assert_eq!(o.validate().unwrap_err().kind(), ErrorKind::InvalidArgument);
    let err = tokio::time::timeout(T, AsyncClient::new(o.clone()).connect()).await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(err.to_string().contains("proxy"), "{err}");
    // Bad proxies are refused when set, and the options keep what they had.
    let mut bad = ProxyOptions::new("127.0.0.1", 3128);
    bad.username = Some("a:b".into());
    assert_eq!(o.set_proxy(bad).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(o.proxy().unwrap().port, 3128);
    assert_eq!(ProxyOptions::from_url("https://p:443").unwrap_err().kind(), ErrorKind::InvalidArgument);
}

/// The seed scenario through the proxy: a persistent session, the link cut (behind the
/// proxy, by a fault proxy) while QoS 1 messages are in flight, the session resumed through
/// a new tunnel and the unacknowledged ones sent again with DUP; nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_session_survives_a_cut_through_the_proxy() {
    const N: usize = 300;
    let broker = Broker::builder().config_line("max_queued_messages 0").start().unwrap();
    let proxy = HttpProxy::with_credentials("user", "s@cret");
    let via = with_credentials(&proxy);
    let mut so = options("px-seed-sub", &format!("mqtt://127.0.0.1:{}", broker.port()), &via);
    so.set_session_expiry_interval(SESSION_NEVER_EXPIRES);
    let sub = AsyncClient::new(so);
    sub.connect().await.unwrap();
    sub.subscribe("seed/#", QoS::AtLeastOnce).await.unwrap();

    let faults = FaultProxy::start(broker.addr());
    let mut po = options("px-seed-pub", &format!("mqtt://127.0.0.1:{}", faults.port()), &via);
    po.set_session_expiry_interval(SESSION_NEVER_EXPIRES);
    let publisher = AsyncClient::new(po);
    publisher.connect().await.unwrap();
    common::cut_while_in_flight_and_resume(&sub, &publisher, &faults, N, "an HTTP proxy").await;
    // DUP on the retransmissions, seen behind the proxy.
    assert!(faults.publish_log().iter().any(|r| r.dup), "no PUBLISH was sent again with DUP");
    let s = proxy.stats();
    assert!(s.tunnels >= 3, "the resumed session did not go through the proxy: {s:?}");
    publisher.disconnect().await.unwrap();
    sub.disconnect().await.unwrap();
}
