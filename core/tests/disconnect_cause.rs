#![allow(clippy::disallowed_methods)]
//! Who ended a connection, against mosquitto and the fault proxy: the server's DISCONNECT
//! (from a scripted server), a lost link, the client's own keep-alive expiry, and the client's
//! DISCONNECT, each told apart by `DisconnectCause::kind` rather than by a reason code.

mod common;

use std::time::Duration;

use common::{expect_event, options};
use tether_core::{AsyncClient, DisconnectCause, DisconnectKind, Event, ReconnectPolicy};
use tether_testkit::{Broker, FaultProxy};

const T: Duration = Duration::from_secs(10);

async fn next_disconnect(client: &AsyncClient) -> (Option<u8>, DisconnectCause) {
    expect_event(client, T, |e| match e {
        Event::Disconnected { reason_code, cause } => Some((*reason_code, cause.clone())),
        _ => None,
    })
    .await
}

/// A one-connection server that accepts CONNECT, answers CONNACK and then DISCONNECT 0x8E
/// "Session taken over" with a reason string. mosquitto 2.0.11 (the one the tests run) closes
/// a taken-over connection without DISCONNECT, so a scripted server stands in for it.
async fn disconnecting_server() -> (u16, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 512];
        // CONNECT is small; a bounded number of reads until its whole length is in.
        let mut have = 0;
        for _ in 0..64 {
            have += s.read(&mut buf[have..]).await.unwrap();
            if have >= 2 && buf[1] < 0x80 && have >= 2 + buf[1] as usize {
                break;
            }
        }
        let reason = b"taken over by the test";
        let mut props = vec![0x1F, 0, reason.len() as u8];
        props.extend_from_slice(reason);
        let mut packet = vec![0x20, 3, 0, 0, 0, 0xE0, (2 + props.len()) as u8, 0x8E, props.len() as u8];
        packet.extend_from_slice(&props);
        s.write_all(&packet).await.unwrap();
        // Keep the socket open until the client closes it after DISCONNECT.
        let _ = tokio::time::timeout(T, s.read(&mut buf)).await;
    });
    (port, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_disconnect_carries_the_servers_reason() {
    let (port, server) = disconnecting_server().await;
    let mut o = options("cause-taken", port);
    o.set_reconnect(ReconnectPolicy { enabled: false, ..ReconnectPolicy::default() });
    let client = AsyncClient::new(o);
    client.connect().await.unwrap();
    let (legacy, cause) = next_disconnect(&client).await;
    assert_eq!(cause.kind(), DisconnectKind::Server, "{cause:?}");
    assert_eq!(cause.reason_code(), Some(0x8E));
    assert_eq!(cause.reason_string(), Some("taken over by the test"));
    assert_eq!(legacy, Some(0x8E));
    tokio::time::timeout(T, server).await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_link_is_lost_without_a_reason_code() {
    let broker = Broker::start();
    let proxy = FaultProxy::start(broker.addr());
    let client = AsyncClient::new(options("cause-lost", proxy.port()));
    client.connect().await.unwrap();
    proxy.cut_all();
    let (legacy, cause) = next_disconnect(&client).await;
    assert_eq!(
        (cause.kind(), cause.reason_code(), cause.reason_string()),
        (DisconnectKind::ConnectionLost, None, None)
    );
    assert_eq!(legacy, None);
    client.disconnect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clients_keep_alive_expiry_is_not_a_server_disconnect() {
    let broker = Broker::start();
    let proxy = FaultProxy::start(broker.addr());
    let mut o = options("cause-keepalive", proxy.port());
    o.set_keep_alive(Duration::from_secs(1));
    let client = AsyncClient::new(o);
    client.connect().await.unwrap();
    proxy.set_blackhole(true);
    let (legacy, cause) = next_disconnect(&client).await;
    assert_eq!((cause.kind(), cause.reason_code()), (DisconnectKind::KeepAliveTimeout, None));
    // The event's own field keeps its old meaning.
    assert_eq!(legacy, Some(0x8D));
    proxy.set_blackhole(false);
    client.disconnect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clients_own_disconnect_is_by_the_client() {
    let broker = Broker::start();
    let client = AsyncClient::new(options("cause-client", broker.port()));
    client.connect().await.unwrap();
    client.disconnect().await.unwrap();
    let (_, cause) = next_disconnect(&client).await;
    assert_eq!((cause.kind(), cause.reason_code()), (DisconnectKind::Client, Some(0x00)));
}
