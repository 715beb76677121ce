#![allow(clippy::disallowed_methods)]
//! Failover across a three-node rmqtt cluster on loopback (run by `make test-interop`; ignored
//! in `make test`, which has no rmqttd). Clients hold the three nodes as their server list;
//! the node a client is on is killed with SIGKILL, the client moves to the next node and
//! resumes, or, where the cluster did not keep its session, hears `SessionLost` and applies the
//! policy (republish). Every message is accounted for: delivered, or failed with a reported
//! error, never silently gone. Each test prints its figures (time to resume, messages
//! lost/duplicated per node kill) for the closing note and tests/interop/README.md.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::shared::{self, Comeback};
use common::{expect_event, messages_until, number, options, within};
use tether_core::{AsyncClient, Event, MqttOptions, QoS, ServerAddr, SESSION_NEVER_EXPIRES};
use tether_testkit::{ClusterMode, Rmqtt};

const T: Duration = Duration::from_secs(90);

fn cluster(mode: ClusterMode) -> Vec<Rmqtt> {
    let timeout =
        std::env::var("TETHER_RMQTT_NODE_TIMEOUT_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(5000);
    Rmqtt::builder()
        .node_timeout(Duration::from_millis(timeout))
        .start_cluster(3, mode)
        .unwrap_or_else(|e| panic!("rmqtt cluster: {e}"))
}

/// Options whose server list starts at node `first` and goes round the cluster.
fn on_cluster(id: &str, nodes: &[Rmqtt], first: usize) -> MqttOptions {
    let mut o = options(id, nodes[first].port());
    let servers =
        (0..nodes.len()).map(|i| ServerAddr::tcp("127.0.0.1", nodes[(first + i) % nodes.len()].port()));
    o.set_servers(servers.collect());
    o.set_session_expiry_interval(SESSION_NEVER_EXPIRES);
    o
}

/// What a run saw, printed for the note (some fields are read only through `Debug`).
#[derive(Debug, Default)]
#[allow(dead_code)]
struct Figures {
    published: usize,
    completed: usize,
    failed: usize,
    received_distinct: usize,
    duplicates_qos1: usize,
    duplicates_qos2: usize,
    /// Completed (acknowledged by a node) but never delivered.
    missing_completed: Vec<usize>,
    /// The last message published before the kill: only up to it can a node that died have
    /// acknowledged a message and taken it along.
    killed_after: usize,
    resume_ms: u128,
    /// Messages the client sent again as new ones because the new node had no session.
    republished: usize,
    /// From the kill until every delivery had ended.
    all_done_ms: u128,
    session_present_after_failover: Option<bool>,
}

/// The publisher is on node 1, the subscriber on node 3; node 1 is killed in the middle of a
/// QoS 1/QoS 2 stream. The publisher moves to node 2: what it had in flight is sent again
/// (resumed with DUP if node 2 knew the session, else republished under the session-lost
/// policy), and the subscriber gets every message whose delivery completed.
async fn publisher_node_killed(mode: ClusterMode) -> Figures {
    const N: usize = 400;
    let mut nodes = cluster(mode);
    let sub = AsyncClient::new(on_cluster("cl-sub", &nodes, 2));
    within(T, "subscriber connect", sub.connect()).await.unwrap();
    within(T, "subscribe", sub.subscribe("cl/#", QoS::ExactlyOnce)).await.unwrap();
    let publisher = AsyncClient::new(on_cluster("cl-pub", &nodes, 0));
    within(T, "publisher connect", publisher.connect()).await.unwrap();
    eprintln!("{mode:?}: connected");
    // Routes reach the other nodes asynchronously: a probe through node 1 must arrive first.
    probe(&publisher, &sub, &nodes).await;

    let mut deliveries = Vec::with_capacity(N);
    let mut killed_at = None;
    for i in 0..N {
        let qos = if i % 2 == 0 { QoS::AtLeastOnce } else { QoS::ExactlyOnce };
        let d = within(T, "publish", publisher.publish("cl/t", qos, false, i.to_string())).await.unwrap();
        deliveries.push((i, qos, d));
        if i == N / 3 {
            eprintln!("{mode:?}: killing node 1");
            nodes[0].kill();
            killed_at = Some(Instant::now());
        }
    }
    let killed_at = killed_at.unwrap();
    let mut republished = 0;
    let (resume_ms, present) = reconnected(&publisher, killed_at, |e| {
        if let Event::SessionLost { republished: n, .. } = e {
            republished = *n;
        }
    })
    .await;
    let mut f = Figures {
        published: N,
        killed_after: N / 3,
        resume_ms,
        republished,
        session_present_after_failover: Some(present),
        ..Figures::default()
    };
    let mut completed = Vec::new();
    for (i, _, d) in deliveries {
        let Ok(outcome) = tokio::time::timeout(T, d).await else {
            let mut seen = Vec::new();
            while let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(100), publisher.recv()).await {
                seen.push(format!("{e:?}"));
            }
            panic!("delivery {i} did not end; publisher {:?}; events {seen:#?}", publisher.stats());
        };
        match outcome {
            Ok(_) => completed.push(i),
            Err(e) => {
                f.failed += 1;
                eprintln!("delivery {i} failed (reported): {e}");
            }
        }
    }
    f.completed = completed.len();
    f.all_done_ms = killed_at.elapsed().as_millis();
    eprintln!("{mode:?}: every delivery ended after {} ms", f.all_done_ms);
    let d =
        within(T, "publish end", publisher.publish("cl/end", QoS::AtLeastOnce, false, "end")).await.unwrap();
    within(T, "end delivered", d).await.unwrap();
    let got = messages_until(&sub, T, |m| m.topic == "cl/end").await;
    let mut count: HashMap<usize, usize> = HashMap::new();
    for m in got.iter().filter(|m| m.topic == "cl/t") {
        *count.entry(number(m)).or_default() += 1;
    }
    f.received_distinct = count.len();
    f.duplicates_qos1 = count.iter().filter(|(i, c)| *i % 2 == 0 && **c > 1).count();
    f.duplicates_qos2 = count.iter().filter(|(i, c)| *i % 2 == 1 && **c > 1).count();
    f.missing_completed = completed.into_iter().filter(|i| !count.contains_key(i)).collect();
    eprintln!("FIGURES publisher_node_killed {mode:?}: {f:?}");
    f
}

/// Waits for `client` to connect again after the kill at `killed_at` (a `Disconnected`, then
/// `Connected`): milliseconds since the kill and Session Present. Every other event before it
/// goes to `other`.
async fn reconnected(
    client: &AsyncClient,
    killed_at: Instant,
    mut other: impl FnMut(&Event),
) -> (u128, bool) {
    let mut lost_connection = false;
    expect_event(client, T, |e| match e {
        Event::Disconnected { .. } => {
            lost_connection = true;
            None
        }
        Event::Connected(ack) if lost_connection => {
            Some((killed_at.elapsed().as_millis(), ack.session_present))
        }
        e => {
            other(e);
            None
        }
    })
    .await
}

/// A message through the publisher's node must reach the subscriber's node before the
/// stream starts (the cluster spreads subscriptions asynchronously); bounded.
/// Returns the other messages the subscriber got meanwhile.
async fn probe(publisher: &AsyncClient, sub: &AsyncClient, nodes: &[Rmqtt]) -> Vec<tether_core::Message> {
    let mut others = Vec::new();
    // A raft cluster may take a while to elect its leader and spread routes: up to ~60 s.
    for attempt in 0..300 {
        let d = within(
            T,
            "probe publish",
            publisher.publish("cl/probe", QoS::AtLeastOnce, false, attempt.to_string()),
        )
        .await
        .unwrap();
        within(T, "probe delivered", d).await.unwrap();
        let got = tokio::time::timeout(Duration::from_millis(200), async {
            loop {
                match sub.recv().await {
                    Some(Event::Message(m)) if m.topic == "cl/probe" => return true,
                    Some(Event::Message(m)) => others.push(m),
                    Some(_) => continue,
                    None => return false,
                }
            }
        })
        .await;
        if got == Ok(true) {
            return others;
        }
    }
    let logs: Vec<String> =
        nodes.iter().map(|n| n.log().lines().rev().take(15).collect::<Vec<_>>().join("\n")).collect();
    panic!(
        "no message crossed the cluster within 300 probes; node logs (last lines first):\n{}",
        logs.join("\n---\n")
    );
}

/// Every message accounted for: each delivery ended (completed, or failed with an error the
/// application saw), each completed one reached the subscriber, except what the killed node
/// had acknowledged before it died and took along (the broker's loss, counted). QoS 2 exactly once holds
/// within a session; when the new node had none (`SessionLost`), the messages whose fate the
/// dead node took with it were republished under the policy, and only those may arrive twice.
fn accounted_for(f: &Figures) {
    assert_eq!(f.completed + f.failed, f.published, "every delivery ended: {f:?}");
    // A message the dead node acknowledged and had not yet passed on is the broker's loss:
    // only messages published before the kill may be missing, and the figures count them.
    assert!(
        f.missing_completed.iter().all(|&i| i <= f.killed_after),
        "completed after the kill but never delivered: {f:?}"
    );
    match f.session_present_after_failover {
        Some(true) => assert_eq!(f.duplicates_qos2, 0, "QoS 2 twice on a resumed session: {f:?}"),
        _ => assert!(
            f.duplicates_qos2 + f.duplicates_qos1 <= f.republished,
            "more duplicates than republished messages: {f:?}"
        ),
    }
}

/// Not run by `make test-interop` (see tests/interop/README.md): after a node is killed, the
/// broadcast cluster's survivors stop reading their clients' sockets while they wait for the
/// dead node (measured: acknowledgements resumed after 45 s once, and not within 4 minutes
/// another time, with `node_grpc_client_timeout` at 5 s). Run it by name to measure again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "rmqtt's broadcast cluster stalls for minutes after a node dies; run by name"]
async fn broadcast_cluster_publisher_node_killed() {
    accounted_for(&publisher_node_killed(ClusterMode::Broadcast).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs rmqttd: make test-interop"]
async fn raft_cluster_publisher_node_killed() {
    accounted_for(&publisher_node_killed(ClusterMode::Raft).await);
}

/// The subscriber is on node 1, the publisher on node 3; node 1 is killed while QoS 1/2
/// messages stream. The subscriber moves to node 2; where the cluster kept no session for it
/// (`SessionLost`), the application subscribes again, as a real one would. Messages the
/// cluster routed to the dead node in the gap are the broker's loss and are counted; every
/// message published after the subscriber is back arrives, QoS 2 exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs rmqttd: make test-interop"]
async fn raft_cluster_subscriber_node_killed() {
    const N: usize = 300;
    let mut nodes = cluster(ClusterMode::Raft);
    let sub = AsyncClient::new(on_cluster("cl-sub2", &nodes, 0));
    within(T, "subscriber connect", sub.connect()).await.unwrap();
    within(T, "subscribe", sub.subscribe("cl/#", QoS::ExactlyOnce)).await.unwrap();
    let publisher = AsyncClient::new(on_cluster("cl-pub2", &nodes, 2));
    within(T, "publisher connect", publisher.connect()).await.unwrap();
    probe(&publisher, &sub, &nodes).await;

    // First batch, with the kill in the middle of it.
    let mut first = Vec::new();
    let mut killed_at = None;
    for i in 0..N {
        let qos = if i % 2 == 0 { QoS::AtLeastOnce } else { QoS::ExactlyOnce };
        first.push(within(T, "publish", publisher.publish("cl/a", qos, false, i.to_string())).await.unwrap());
        if i == N / 3 {
            nodes[0].kill();
            killed_at = Some(Instant::now());
        }
    }
    let killed_at = killed_at.expect("killed in the loop");
    let mut lost_session = false;
    // Messages that came before the subscriber noticed the kill count too.
    let mut early = Vec::new();
    let (resume_ms, present) = reconnected(&sub, killed_at, |e| match e {
        Event::SessionLost { .. } => lost_session = true,
        Event::Message(m) => early.push(m.clone()),
        _ => {}
    })
    .await;
    if !present {
        within(T, "subscribe again", sub.subscribe("cl/#", QoS::ExactlyOnce)).await.unwrap();
        // The new subscription reaches the publisher's node some time after SUBACK (seen:
        // the first message published right after it lost), as the first one did.
        early.extend(probe(&publisher, &sub, &nodes).await);
    }
    for d in first {
        within(T, "first batch delivered", d).await.expect("the publisher's node lives");
    }
    // Second batch: after the subscriber is back, nothing may be missing.
    let mut second = Vec::new();
    for i in 0..N {
        let qos = if i % 2 == 0 { QoS::AtLeastOnce } else { QoS::ExactlyOnce };
        second
            .push(within(T, "publish", publisher.publish("cl/b", qos, false, i.to_string())).await.unwrap());
    }
    for d in second {
        within(T, "second batch delivered", d).await.unwrap();
    }
    let d = within(T, "end", publisher.publish("cl/end", QoS::AtLeastOnce, false, "end")).await.unwrap();
    within(T, "end delivered", d).await.unwrap();
    let mut got = early;
    got.extend(messages_until(&sub, T, |m| m.topic == "cl/end").await);
    let count = |topic: &str| {
        let mut c: HashMap<usize, usize> = HashMap::new();
        for m in got.iter().filter(|m| m.topic == topic) {
            *c.entry(number(m)).or_default() += 1;
        }
        c
    };
    let (a, b) = (count("cl/a"), count("cl/b"));
    let lost_first = N - a.len();
    let dup_q2 = |c: &HashMap<usize, usize>| c.iter().filter(|(i, n)| *i % 2 == 1 && **n > 1).count();
    eprintln!(
        "FIGURES subscriber_node_killed Raft: resume {resume_ms} ms, session present {present}, \
         session lost event {lost_session}, first batch {} of {N} arrived ({lost_first} lost in the gap), \
         QoS 2 twice {} / {}, second batch {} of {N}",
        a.len(),
        dup_q2(&a),
        dup_q2(&b),
        b.len()
    );
    assert_eq!(present, !lost_session, "SessionLost exactly when the session was not present");
    assert_eq!(b.len(), N, "published after the subscriber was back, all must arrive");
    assert_eq!(dup_q2(&a) + dup_q2(&b), 0, "QoS 2 exactly once to the subscriber");
}

/// A shared subscription across the cluster: members on nodes 2 and 3, the publisher on
/// node 1. A member dies mid-stream and comes back to its node with its session and store.
/// Deviation (tests/interop/README.md): rmqtt's raft cluster loses what its shared dispatch
/// had sent, or went on sending, to the member that died, although the member resumes its
/// session (Session Present 1) and its state includes those messages ([MQTT-3.1.2-5], 4.1); the count
/// is printed. What tether owns holds: the session resumed, every publish was accepted by the
/// server, no QoS 2 message twice, and the other member got its share.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs rmqttd: make test-interop"]
async fn raft_cluster_shared_member_dies_and_resumes_cluster_loses_its_share() {
    let nodes = cluster(ClusterMode::Raft);
    let r = shared::shared_member_dies(
        nodes[0].port(),
        nodes[1].addr(),
        nodes[2].port(),
        "clshr",
        Comeback::Resume,
    )
    .await;
    eprintln!("FIGURES raft cluster shared member dies and resumes: {} lost: {r:?}", r.lost.len());
    assert_eq!(r.a_resumed, Some(true), "the member's session was kept: {r:?}");
    assert!(r.qos2_twice.is_empty(), "QoS 2 twice: {r:?}");
    assert!(r.b >= shared::N / 2 - r.a_before, "the other member got its share: {r:?}");
}

/// As above, but the member's session ends with its connection and it never returns.
/// Deviation: the raft cluster goes on routing a share of the stream to the gone member's node,
/// where it is dropped; a single rmqtt node gives it all to the other member. Checked: no
/// QoS 2 message twice, and the other member keeps getting its share.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs rmqttd: make test-interop"]
async fn raft_cluster_shared_member_dies_for_good_cluster_loses_its_share() {
    let nodes = cluster(ClusterMode::Raft);
    let r = shared::shared_member_dies(
        nodes[0].port(),
        nodes[1].addr(),
        nodes[2].port(),
        "clshg",
        Comeback::Never,
    )
    .await;
    eprintln!("FIGURES raft cluster shared member dies for good: {} lost: {r:?}", r.lost.len());
    assert!(r.qos2_twice.is_empty(), "QoS 2 twice: {r:?}");
    assert!(r.b >= shared::N / 2 - r.a_before, "the other member got its share: {r:?}");
}
