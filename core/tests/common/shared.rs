//! A member of a shared subscription dies in the middle of a stream ([4.8.2]): the scenario
//! behind interop.rs (mosquitto, rmqtt) and cluster.rs (members on different nodes).
//!
//! Two members, A and B, share `$share/<group>/<tag>/t` at QoS 2 while a publisher sends
//! numbered QoS 1 and QoS 2 messages. A dies while messages are on their way to it: its
//! connection is cut (no DISCONNECT reaches the server) and its process ends (client closed,
//! handles dropped, what the application had been handed is what it got). Then:
//!
//! * [`Comeback::Resume`]: A had a session that outlives the connection and a durable store
//!   ([`FileStore`]); a new process with the same client id resumes, and gets what the server
//!   kept for it. Together A, A-again and B get every message, QoS 2 exactly once.
//! * [`Comeback::Never`]: A's session ended with its connection and A never returns. What the
//!   server had sent or meant for A is then the server's to hand to another member ("SHOULD",
//!   [4.8.2]); [`SharedDeath::lost`] counts what it did not. What is published after A is
//!   gone reaches B, all of it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tether_core::store::{Durability, FileStore};
use tether_core::{AsyncClient, Delivery, Event, QoS, SubAckReasonCode};
use tether_testkit::FaultProxy;

use super::{number, options, persistent, within};

const T: Duration = Duration::from_secs(30);
/// Messages in the stream ([`qos_of`] each).
pub const N: usize = 200;
/// A dies once it has handed this many messages to its application.
const A_DIES_AFTER: usize = 10;

/// Whether the member that died comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comeback {
    Resume,
    Never,
}

/// Who got what. The first half of the stream is published before A dies, the second after.
#[derive(Debug, Default)]
pub struct SharedDeath {
    pub a_before: usize,
    pub a_after: usize,
    pub b: usize,
    /// Numbers nobody got.
    pub lost: Vec<usize>,
    pub qos1_twice: usize,
    /// QoS 2 messages that arrived more than once, anywhere.
    pub qos2_twice: Vec<usize>,
    /// Session Present when A came back.
    pub a_resumed: Option<bool>,
}

/// Every third message QoS 1, the others QoS 2 (so that a round robin over two members
/// gives each member both).
pub fn qos_of(i: usize) -> QoS {
    if i % 3 == 0 {
        QoS::AtLeastOnce
    } else {
        QoS::ExactlyOnce
    }
}

/// Reads `client`'s messages on `topic` until `end` arrives (Some) or the client is closed
/// (None); `seen` tells the count as it grows.
fn collect(
    client: AsyncClient,
    topic: String,
    end: Option<String>,
    seen: Arc<Mutex<usize>>,
    grew: Arc<tokio::sync::Notify>,
) -> tokio::task::JoinHandle<Vec<usize>> {
    tokio::spawn(async move {
        let mut got = Vec::new();
        for _ in 0..100_000 {
            match client.recv().await {
                Some(Event::Message(m)) if m.topic == topic => {
                    got.push(number(&m));
                    *seen.lock().unwrap() = got.len();
                    grew.notify_waiters();
                }
                Some(Event::Message(m)) if Some(&m.topic) == end.as_ref() => return got,
                Some(_) => {}
                None => return got,
            }
        }
        got
    })
}

async fn subscribe(client: &AsyncClient, filter: &str, qos: QoS) {
    let codes = within(T, "subscribe", client.subscribe(filter, qos)).await.unwrap();
    assert!(
        matches!(codes[0], SubAckReasonCode::GrantedQoS1 | SubAckReasonCode::GrantedQoS2),
        "subscribe {filter}: {codes:?}"
    );
}

async fn publish_range(publisher: &AsyncClient, topic: &str, range: std::ops::Range<usize>) -> Vec<Delivery> {
    let mut out = Vec::with_capacity(range.len());
    for i in range {
        out.push(
            within(T, "publish", publisher.publish(topic, qos_of(i), false, i.to_string())).await.unwrap(),
        );
    }
    out
}

/// Runs the scenario: A reaches the server at `a_server` through a fault proxy, B at
/// `b_port`, the publisher at `publisher_port`; `tag` keeps client ids and topics apart.
pub async fn shared_member_dies(
    publisher_port: u16,
    a_server: SocketAddr,
    b_port: u16,
    tag: &str,
    comeback: Comeback,
) -> SharedDeath {
    let proxy = FaultProxy::start(a_server);
    // Latency on A's link keeps messages on their way to A when it dies.
    proxy.set_delay(Duration::from_millis(5));
    let store_dir = tempfile::tempdir().unwrap();
    let share = format!("$share/g{tag}/{tag}/t");
    let topic = format!("{tag}/t");
    let (end_a, end_b) = (format!("{tag}/end/a"), format!("{tag}/end/b"));
    let a_id = format!("{tag}-a");

    let a_options = |port: u16| {
        let mut o = match comeback {
            Comeback::Resume => persistent(&a_id, port),
            Comeback::Never => options(&a_id, port),
        };
        if comeback == Comeback::Resume {
            o.set_store(FileStore::open(store_dir.path(), Durability::Always).unwrap());
        }
        o
    };
    let a = AsyncClient::new(a_options(proxy.port()));
    within(T, "A connects", a.connect()).await.unwrap();
    subscribe(&a, &share, QoS::ExactlyOnce).await;
    subscribe(&a, &end_a, QoS::AtLeastOnce).await;
    let b = AsyncClient::new(persistent(&format!("{tag}-b"), b_port));
    within(T, "B connects", b.connect()).await.unwrap();
    subscribe(&b, &share, QoS::ExactlyOnce).await;
    subscribe(&b, &end_b, QoS::AtLeastOnce).await;

    let a_seen = Arc::new(Mutex::new(0));
    let a_grew = Arc::new(tokio::sync::Notify::new());
    let a_task = collect(a.clone(), topic.clone(), None, a_seen.clone(), a_grew.clone());
    let unused = Arc::new(tokio::sync::Notify::new());
    let b_task =
        collect(b.clone(), topic.clone(), Some(end_b.clone()), Arc::new(Mutex::new(0)), unused.clone());

    let publisher = AsyncClient::new(options(&format!("{tag}-pub"), publisher_port));
    within(T, "publisher connects", publisher.connect()).await.unwrap();
    let mut deliveries = publish_range(&publisher, &topic, 0..N / 2).await;

    // A dies once its application has some messages and more are coming.
    within(T, "A gets its first messages", async {
        loop {
            let grew = a_grew.notified();
            if *a_seen.lock().unwrap() >= A_DIES_AFTER {
                break;
            }
            grew.await;
        }
    })
    .await;
    proxy.set_refuse(true);
    proxy.cut_all();
    a.close();
    within(T, "A closes", a.closed()).await;
    drop(a);
    let a_before = within(T, "A's messages", a_task).await.unwrap();

    deliveries.extend(publish_range(&publisher, &topic, N / 2..N).await);
    for d in deliveries {
        within(T, "delivery", d).await.expect("the server accepted every message");
    }

    let mut result = SharedDeath { a_before: a_before.len(), ..SharedDeath::default() };
    let mut all = a_before;
    if comeback == Comeback::Resume {
        proxy.set_refuse(false);
        let mut o = a_options(proxy.port());
        o.set_clean_start(false);
        let again = AsyncClient::new(o);
        let ack = within(T, "A comes back", again.connect()).await.unwrap();
        result.a_resumed = Some(ack.session_present);
        let task =
            collect(again.clone(), topic.clone(), Some(end_a.clone()), Arc::new(Mutex::new(0)), unused);
        let d = within(T, "end a", publisher.publish(end_a.as_str(), QoS::AtLeastOnce, false, "end"))
            .await
            .unwrap();
        within(T, "end a delivered", d).await.unwrap();
        let after = within(T, "A-again's messages", task).await.unwrap();
        result.a_after = after.len();
        all.extend(after);
        again.close();
        within(T, "A-again closes", again.closed()).await;
    }
    let d =
        within(T, "end b", publisher.publish(end_b.as_str(), QoS::AtLeastOnce, false, "end")).await.unwrap();
    within(T, "end b delivered", d).await.unwrap();
    let b_got = within(T, "B's messages", b_task).await.unwrap();
    result.b = b_got.len();
    all.extend(b_got);

    let mut count: HashMap<usize, usize> = HashMap::new();
    for i in all {
        *count.entry(i).or_default() += 1;
    }
    result.lost = (0..N).filter(|i| !count.contains_key(i)).collect();
    let twice = |q: QoS| count.iter().filter(move |(i, c)| qos_of(**i) == q && **c > 1).map(|(i, _)| *i);
    result.qos1_twice = twice(QoS::AtLeastOnce).count();
    let mut twice: Vec<usize> = twice(QoS::ExactlyOnce).collect();
    twice.sort_unstable();
    result.qos2_twice = twice;
    b.close();
    publisher.close();
    result
}

/// What [`Comeback::Resume`] must give: every message, QoS 2 exactly once, the session kept.
pub fn assert_resumed_whole(what: &str, r: &SharedDeath) {
    assert_eq!(r.a_resumed, Some(true), "{what}: A's session was kept: {r:?}");
    assert!(r.lost.is_empty(), "{what}: messages nobody got: {r:?}");
    assert!(r.qos2_twice.is_empty(), "{what}: QoS 2 twice: {r:?}");
    assert!(r.a_before > 0 && r.b > 0, "{what}: both members took part: {r:?}");
}

/// What [`Comeback::Never`] must give: QoS 2 never twice, and the second half of the stream,
/// published once A was gone, all at B.
pub fn assert_survivor_gets_the_rest(what: &str, r: &SharedDeath) {
    assert!(r.qos2_twice.is_empty(), "{what}: QoS 2 twice: {r:?}");
    assert!(r.lost.iter().all(|&i| i < N / 2), "{what}: lost after A was gone: {r:?}");
}
