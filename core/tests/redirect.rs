#![allow(clippy::disallowed_methods)]
//! Server redirection (MQTT 5.0 section 4.11): CONNACK and DISCONNECT with 0x9C "Use another
//! server" or 0x9D "Server moved" and a Server Reference. mosquitto never redirects, so a
//! scripted server sends the redirect and a real mosquitto (behind the fault proxy, so that
//! the link can be cut) is where it points.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{expect_event, messages, options, payloads};
use tether_core::{AsyncClient, DisconnectKind, ErrorKind, Event, QoS};
use tether_testkit::{Broker, FaultProxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const T: Duration = Duration::from_secs(10);

/// One MQTT packet from `s`: its first byte and body; `None` when the peer closed.
async fn read_packet(s: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let first = s.read_u8().await.ok()?;
    let mut len = 0usize;
    for shift in [0, 7, 14, 21] {
        let b = s.read_u8().await.ok()?;
        len |= usize::from(b & 0x7F) << shift;
        if b & 0x80 == 0 {
            break;
        }
    }
    let mut body = vec![0; len];
    s.read_exact(&mut body).await.ok()?;
    Some((first, body))
}

/// A Server Reference property (0x1C) holding `reference`, with the property length before it.
fn reference_property(reference: &str) -> Vec<u8> {
    let mut p = vec![0x1C];
    p.extend_from_slice(&(reference.len() as u16).to_be_bytes());
    p.extend_from_slice(reference.as_bytes());
    let mut out = vec![p.len() as u8];
    out.extend(p);
    out
}

/// CONNACK refusing with `reason` and pointing at `reference`.
fn connack_redirect(reason: u8, reference: &str) -> Vec<u8> {
    let mut body = vec![0, reason];
    body.extend(reference_property(reference));
    let mut out = vec![0x20, body.len() as u8];
    out.extend(body);
    out
}

/// DISCONNECT with `reason` pointing at `reference`.
fn disconnect_redirect(reason: u8, reference: &str) -> Vec<u8> {
    let mut body = vec![reason];
    body.extend(reference_property(reference));
    let mut out = vec![0xE0, body.len() as u8];
    out.extend(body);
    out
}

/// A server that answers every CONNECT with CONNACK `reason` + `reference` (at most 20
/// connections), counting them.
async fn redirecting_server(reason: u8, reference: String) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    (port, serve_redirects(listener, reason, reference))
}

fn serve_redirects(listener: TcpListener, reason: u8, reference: String) -> Arc<AtomicUsize> {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        for _ in 0..20 {
            let Ok((mut s, _)) = listener.accept().await else { return };
            seen.fetch_add(1, Ordering::SeqCst);
            let reference = reference.clone();
            tokio::spawn(async move {
                if let Some((0x10, _)) = read_packet(&mut s).await {
                    // [MQTT-3.2.2-7] the server closes after a refusing CONNACK (on drop).
                    let _ = s.write_all(&connack_redirect(reason, &reference)).await;
                }
            });
        }
    });
    count
}

async fn subscriber(id: &str, port: u16) -> AsyncClient {
    let sub = AsyncClient::new(options(id, port));
    sub.connect().await.unwrap();
    sub.subscribe("redirect/#", QoS::AtLeastOnce).await.unwrap();
    sub
}

async fn connected(client: &AsyncClient) {
    expect_event(client, T, |e| matches!(e, Event::Connected(_)).then_some(())).await
}

/// Cut the link under `client` and wait until it is connected again.
async fn cut_and_reconnect(client: &AsyncClient, proxy: &FaultProxy) {
    proxy.cut_all();
    expect_event(client, T, |e| match e {
        Event::Disconnected { cause, .. } => (cause.kind() == DisconnectKind::ConnectionLost).then_some(()),
        _ => None,
    })
    .await;
    connected(client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_moved_in_connack_sends_the_client_to_the_new_server_for_good() {
    let broker = Broker::start();
    let proxy = FaultProxy::start(broker.addr());
    let (old, asked) = redirecting_server(0x9D, format!("127.0.0.1:{}", proxy.port())).await;
    let sub = subscriber("redirect-moved-sub", broker.port()).await;

    let client = AsyncClient::new(options("redirect-moved", old));
    client.connect().await.expect("the redirect is followed within connect()");
    let reconnecting = expect_event(&client, T, |e| match e {
        Event::Reconnecting { delay, error, .. } => Some((*delay, error.clone())),
        _ => None,
    })
    .await;
    assert_eq!(reconnecting.0, Duration::ZERO, "a redirect is followed at once");
    assert!(reconnecting.1.contains("server moved") && reconnecting.1.contains(&proxy.port().to_string()));
    client.publish("redirect/a", QoS::AtLeastOnce, false, "1").await.unwrap().await.unwrap();
    assert_eq!(payloads(&messages(&sub, 1, T).await), ["1"]);

    // After a cut the client reconnects to where the server moved, not to the old address.
    connected(&client).await;
    cut_and_reconnect(&client, &proxy).await;
    client.publish("redirect/a", QoS::AtLeastOnce, false, "2").await.unwrap().await.unwrap();
    assert_eq!(payloads(&messages(&sub, 1, T).await), ["2"]);
    assert_eq!(asked.load(Ordering::SeqCst), 1, "0x9D replaces the old server in the list");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn use_another_server_in_connack_is_followed_for_that_connection_only() {
    let broker = Broker::start();
    let proxy = FaultProxy::start(broker.addr());
    let (old, asked) = redirecting_server(0x9C, format!("127.0.0.1:{}", proxy.port())).await;
    let client = AsyncClient::new(options("redirect-temporary", old));
    client.connect().await.unwrap();
    assert_eq!(asked.load(Ordering::SeqCst), 1);
    connected(&client).await;
    // The reconnect asks the old server again, which sends the client on again.
    cut_and_reconnect(&client, &proxy).await;
    assert_eq!(asked.load(Ordering::SeqCst), 2, "0x9C does not change the server list");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redirects_off_0x9d_is_a_refusal_that_reports_the_reference() {
    let (old, asked) = redirecting_server(0x9D, "127.0.0.1:1".into()).await;
    let mut o = options("redirect-off", old);
    o.set_follow_server_references(false);
    let client = AsyncClient::new(o);
    let e = client.connect().await.expect_err("refused");
    assert_eq!((e.kind(), e.reason_code()), (ErrorKind::ConnectionRefused, Some(0x9D)), "{e}");
    let cause = expect_event(&client, T, |e| match e {
        Event::Disconnected { cause, .. } => Some(cause.clone()),
        _ => None,
    })
    .await;
    assert_eq!(cause.server_reference(), Some("127.0.0.1:1"));
    assert_eq!(asked.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_redirects_to_itself_is_followed_a_bounded_number_of_times() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let own = listener.local_addr().unwrap().port();
    let asked = serve_redirects(listener, 0x9C, format!("127.0.0.1:{own}"));
    let client = AsyncClient::new(options("redirect-loop", own));
    let e = tokio::time::timeout(T, client.connect()).await.expect("connect ends").expect_err("refused");
    assert_eq!(e.reason_code(), Some(0x9C), "{e}");
    // The first connection plus MAX_HOPS (5) redirects, then the refusal stands.
    assert_eq!(asked.load(Ordering::SeqCst), 6);
}

/// A server that accepts the connection, takes one QoS 1 PUBLISH without acknowledging it,
/// then sends DISCONNECT 0x9D pointing at `reference`.
async fn moving_server(reference: String) -> (u16, tokio::task::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        assert_eq!(read_packet(&mut s).await.unwrap().0, 0x10, "CONNECT first");
        // CONNACK Success, no session present, no properties.
        s.write_all(&[0x20, 3, 0, 0, 0]).await.unwrap();
        let mut publish = None;
        for _ in 0..16 {
            match read_packet(&mut s).await {
                Some((first, body)) if first >> 4 == 3 => {
                    publish = Some(body);
                    break;
                }
                Some(_) => continue,
                None => break,
            }
        }
        s.write_all(&disconnect_redirect(0x9D, &reference)).await.unwrap();
        let _ = tokio::time::timeout(T, read_packet(&mut s)).await;
        publish.expect("a PUBLISH before the move")
    });
    (port, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_moved_in_disconnect_carries_the_unacknowledged_message_to_the_new_server() {
    let broker = Broker::start();
    let sub = subscriber("redirect-disc-sub", broker.port()).await;
    let (old, server) = moving_server(format!("127.0.0.1:{}", broker.port())).await;
    let mut o = options("redirect-disc", old);
    o.set_session_expiry_interval(300);
    let client = AsyncClient::new(o);
    client.connect().await.unwrap();
    let delivery = client.publish("redirect/d", QoS::AtLeastOnce, false, "carried").await.unwrap();
    let seen_by_old = tokio::time::timeout(T, server).await.unwrap().unwrap();
    assert!(seen_by_old.windows(7).any(|w| w == b"carried"));
    // The new server has no session for us: the session-lost policy (republish) sends the
    // message again there, and the delivery completes.
    tokio::time::timeout(T, delivery).await.expect("delivered in time").expect("delivered");
    assert_eq!(payloads(&messages(&sub, 1, T).await), ["carried"]);
}
