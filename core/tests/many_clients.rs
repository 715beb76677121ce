#![allow(clippy::disallowed_methods)]
//! A thousand clients in one process, each with its own subscription and its own message; the
//! memory each one costs is measured (VmRSS) and printed.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{messages, options};
use tether_core::{AsyncClient, QoS};
use tether_testkit::Broker;
use tokio::task::JoinSet;

const CLIENTS: usize = 1_000;
const T: Duration = Duration::from_secs(30);

#[repr(C)]
struct RLimit {
    cur: u64,
    max: u64,
}

extern "C" {
    fn getrlimit(resource: i32, rlim: *mut RLimit) -> i32;
    fn setrlimit(resource: i32, rlim: *const RLimit) -> i32;
}

/// RLIMIT_NOFILE on Linux.
const RLIMIT_NOFILE: i32 = 7;

/// Raise the open-file limit to `want` (this process and the broker it starts, which inherits
/// it): a thousand clients need a thousand sockets here and a thousand in mosquitto.
fn raise_fd_limit(want: u64) -> u64 {
    let mut l = RLimit { cur: 0, max: 0 };
    // SAFETY: plain syscalls with a valid, properly sized struct (rlim_t is u64 on Linux).
    unsafe {
        assert_eq!(getrlimit(RLIMIT_NOFILE, &mut l), 0, "getrlimit");
        if l.cur < want {
            let raised = RLimit { cur: want.min(l.max.max(want)), max: l.max.max(want) };
            if setrlimit(RLIMIT_NOFILE, &raised) != 0 {
                // Not allowed to raise the hard limit: go as high as it allows.
                let soft = RLimit { cur: want.min(l.max), max: l.max };
                setrlimit(RLIMIT_NOFILE, &soft);
            }
            getrlimit(RLIMIT_NOFILE, &mut l);
        }
    }
    l.cur
}

/// Resident set size of this process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_clients_each_get_their_message() {
    let limit = raise_fd_limit(8_192);
    assert!(limit >= 2 * CLIENTS as u64 + 100, "open-file limit {limit} is too low for {CLIENTS} clients");
    let broker = Broker::start();
    let port = broker.port();
    let publisher = AsyncClient::new(options("many-pub", port));
    publisher.connect().await.unwrap();

    let started = Instant::now();
    let rss_before = rss_kib();
    // Connect and subscribe all of them, at most 100 handshakes at a time (the broker's
    // listen backlog is finite).
    let gate = Arc::new(tokio::sync::Semaphore::new(100));
    let mut set = JoinSet::new();
    for i in 0..CLIENTS {
        let gate = gate.clone();
        set.spawn(async move {
            let _permit = gate.acquire_owned().await.unwrap();
            let client = AsyncClient::new(options(&format!("many-{i}"), port));
            tokio::time::timeout(T, client.connect()).await.expect("CONNACK in time").expect("connected");
            tokio::time::timeout(T, client.subscribe(format!("many/{i}"), QoS::AtLeastOnce))
                .await
                .expect("SUBACK in time")
                .expect("subscribed");
            (i, client)
        });
    }
    let mut clients: Vec<Option<AsyncClient>> = (0..CLIENTS).map(|_| None).collect();
    while let Some(r) = set.join_next().await {
        let (i, c) = r.expect("client task");
        clients[i] = Some(c);
    }
    let clients: Vec<AsyncClient> = clients.into_iter().map(Option::unwrap).collect();
    let connected_after = started.elapsed();
    assert!(clients.iter().all(|c| c.stats().connected));

    // One message to each client's own topic.
    let mut deliveries = Vec::with_capacity(CLIENTS);
    for i in 0..CLIENTS {
        deliveries.push(
            publisher.publish(format!("many/{i}"), QoS::AtLeastOnce, false, i.to_string()).await.unwrap(),
        );
    }
    for d in deliveries {
        tokio::time::timeout(T, d).await.expect("delivery in time").expect("delivered");
    }
    let mut set = JoinSet::new();
    for (i, c) in clients.iter().enumerate() {
        let c = c.clone();
        set.spawn(async move {
            let got = messages(&c, 1, T).await;
            assert_eq!(got[0].topic, format!("many/{i}"));
            assert_eq!(&got[0].payload[..], i.to_string().as_bytes());
        });
    }
    while let Some(r) = set.join_next().await {
        r.expect("each client gets its own message");
    }
    let rss_after = rss_kib();
    let per_client = (rss_after.saturating_sub(rss_before)) as f64 / CLIENTS as f64;
    eprintln!(
        "{CLIENTS} clients: connected and subscribed in {connected_after:?}, all messages in {:?}; \
         RSS {rss_before} KiB -> {rss_after} KiB = {per_client:.1} KiB per client",
        started.elapsed()
    );
    // A generous ceiling: a client that cost megabytes would be a regression worth knowing.
    assert!(per_client < 1024.0, "{per_client:.1} KiB per client");

    let mut set = JoinSet::new();
    for c in clients {
        set.spawn(async move { tokio::time::timeout(T, c.disconnect()).await });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap().expect("disconnect in time").expect("disconnected");
    }
    publisher.disconnect().await.unwrap();
}
