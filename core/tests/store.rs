#![allow(clippy::disallowed_methods)]
//! Durable sessions (MqttOptions::set_store): what `publish` accepted is delivered even when
//! the process dies, QoS 2 exactly once.
//!
//! The crash test runs the publisher as a child process (this test binary again, running only
//! `crash_publisher_child`), kills it with SIGKILL at random moments while a FaultProxy cuts
//! its connection at random too, and checks at a subscriber that every message whose
//! `publish` returned arrived: QoS 1 at least once, QoS 2 exactly once.

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::options;
use rand::{Rng, SeedableRng};
use tether_core::store::{Durability, FileStore};
use tether_core::{AsyncClient, Error, Event, MqttOptions, QoS};
use tether_testkit::{Broker, FaultProxy};

const T: Duration = Duration::from_secs(20);

fn store_options(id: &str, port: u16, store: FileStore) -> MqttOptions {
    let mut o = options(id, port);
    o.set_session_expiry_interval(3600).set_store(store);
    o
}

async fn subscriber(broker: &Broker, id: &str, filter: &str) -> AsyncClient {
    let mut o = options(id, broker.port());
    o.set_session_expiry_interval(3600);
    let sub = AsyncClient::new(o);
    tokio::time::timeout(T, sub.connect()).await.unwrap().unwrap();
    sub.subscribe(filter, QoS::ExactlyOnce).await.unwrap();
    sub
}

/// Messages published while offline survive the process (here: every handle dropped, the
/// store reopened) and come back in order, with deliveries the application can await.
#[tokio::test]
async fn queued_messages_come_back_in_order_after_a_restart() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let sub = subscriber(&broker, "store-sub-1", "store1/#").await;
    {
        let store = FileStore::open(dir.path(), Durability::Always).unwrap();
        let client = AsyncClient::new(store_options("store-pub-1", broker.port(), store));
        for i in 0..10 {
            let qos = if i % 2 == 0 { QoS::AtLeastOnce } else { QoS::ExactlyOnce };
            client.publish("store1/t", qos, false, format!("{i}")).await.unwrap();
        }
        // Never connected: the messages wait in the store. Stopping the driver and dropping
        // every handle is what the end of a process does to the store.
        client.close();
        client.closed().await;
    }
    let store = FileStore::open(dir.path(), Durability::Always).unwrap();
    assert_eq!(store.restore_report().messages, 10);
    let client = AsyncClient::new(store_options("store-pub-1", broker.port(), store));
    let restored = client.restored();
    assert_eq!(restored.len(), 10);
    // Tokens of a new publish never collide with restored ones.
    let extra = client.publish("store1/t", QoS::AtLeastOnce, false, "10").await.unwrap();
    assert!(restored.iter().all(|d| d.token() < extra.token()));
    tokio::time::timeout(T, client.connect()).await.unwrap().unwrap();
    for d in restored {
        tokio::time::timeout(T, d).await.unwrap().unwrap();
    }
    tokio::time::timeout(T, extra).await.unwrap().unwrap();
    let got: Vec<(QoS, u32)> = common::messages(&sub, 11, T)
        .await
        .into_iter()
        .map(|m| (m.qos, String::from_utf8(m.payload.to_vec()).unwrap().parse().unwrap()))
        .collect();
    // Original order within each QoS (a broker passes QoS 2 on at PUBREL, so it may reorder
    // QoS 1 and QoS 2 against each other).
    for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let seen: Vec<u32> = got.iter().filter(|(q, _)| *q == qos).map(|(_, n)| *n).collect();
        let want: Vec<u32> = (0..=10).filter(|i| (i % 2 == 0) == (qos == QoS::AtLeastOnce)).collect();
        assert_eq!(seen, want, "original order for {qos:?}");
    }
    client.disconnect().await.unwrap();
    client.close();
    client.closed().await;
    drop(client);
    let store = FileStore::open(dir.path(), Durability::None).unwrap();
    assert_eq!(store.restore_report().messages, 0, "completed messages are gone from the store");
}

#[tokio::test]
async fn a_store_is_one_clients() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = FileStore::open(dir.path(), Durability::None).unwrap();
        let o = store_options("owner", 1, store);
        let first = AsyncClient::new(o.clone());
        // The same open store for a second client (cloned options): refused at connect.
        let second = AsyncClient::new(o);
        let e = second.connect().await.unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
        first.close();
        first.closed().await;
        second.close();
        second.closed().await;
    }
    // Another client id on this store: refused before anything is sent.
    let store = FileStore::open(dir.path(), Durability::None).unwrap();
    let other = AsyncClient::new(store_options("intruder", 1, store));
    let e = other.connect().await.unwrap_err();
    assert!(e.to_string().contains("owner"), "{e}");
}

#[tokio::test]
async fn a_publish_the_store_cannot_record_fails_at_the_call() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path(), Durability::Always).unwrap();
    let client = AsyncClient::new(store_options("full-disk", 1, store.clone()));
    client.publish("t", QoS::AtLeastOnce, false, "ok").await.unwrap();
    store.fail_writes_beyond(Some(store.log_len()));
    let e = client.publish("t", QoS::ExactlyOnce, false, "no room").await.unwrap_err();
    assert!(matches!(e, Error::Io(ref m) if m.contains("session store")), "{e}");
    // QoS 0 is not recorded, so it is not refused.
    client.publish("t", QoS::AtMostOnce, false, "fire and forget").await.unwrap();
    store.fail_writes_beyond(None);
    client.publish("t", QoS::AtLeastOnce, false, "room again").await.unwrap();
}

/// A corrupt record in the middle of the log: skipped and said (event), the rest restored.
#[tokio::test]
async fn corrupt_records_are_skipped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mut ends = Vec::new();
    {
        let store = FileStore::open(dir.path(), Durability::None).unwrap();
        let client = AsyncClient::new(store_options("corrupt", 1, store.clone()));
        for i in 0..3 {
            client.publish("t", QoS::AtLeastOnce, false, format!("m{i}")).await.unwrap();
            ends.push(store.log_len());
        }
        client.close();
        client.closed().await;
    }
    // Flip the last byte of the second message's record.
    let log = dir.path().join("session.log");
    let mut bytes = std::fs::read(&log).unwrap();
    bytes[ends[1] as usize - 1] ^= 0x55;
    std::fs::write(&log, bytes).unwrap();
    let store = FileStore::open(dir.path(), Durability::None).unwrap();
    assert_eq!(store.restore_report().corrupt, 1);
    let client = AsyncClient::new(store_options("corrupt", 1, store));
    assert_eq!(client.restored().len(), 2);
    let skipped = common::expect_event(&client, T, |e| match e {
        Event::StoreCorrupt { skipped } => Some(*skipped),
        _ => None,
    })
    .await;
    assert_eq!(skipped, 1);
}

// ----- crash test ---------------------------------------------------------------------------

const CHILD_ENV: &str = "TETHER_STORE_CRASH_CHILD";

/// The publisher process. Does nothing unless started by the crash test (with CHILD_ENV set):
/// publishes numbered messages (even: QoS 1, odd: QoS 2) through the store, printing
/// `ACCEPTED <run> <n> <qos>` once `publish` returned. A final run (`FINAL` set) waits until
/// every delivery, restored ones included, is complete and prints `DONE`.
#[test]
fn crash_publisher_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else { return };
    let port: u16 = std::env::var("PORT").unwrap().parse().unwrap();
    let run: u32 = std::env::var("RUN").unwrap().parse().unwrap();
    let last = std::env::var("FINAL").is_ok();
    let store = FileStore::open(&dir, Durability::Batched).expect("open the store");
    let client = tether_core::Client::new(store_options("crash-pub", port, store));
    let restored = client.as_async().restored();
    let connector = client.clone();
    std::thread::spawn(move || {
        // The proxy may cut the first attempts; after one success the client reconnects alone.
        for _ in 0..400 {
            if connector.connect().is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    });
    let mut out = std::io::stdout().lock();
    let mut pending = std::collections::VecDeque::new();
    let count = if last { 20 } else { u32::MAX };
    for n in 0..count {
        let (topic, qos) =
            if n % 2 == 0 { ("crash/q1", QoS::AtLeastOnce) } else { ("crash/q2", QoS::ExactlyOnce) };
        let delivery = client.publish(topic, qos, false, format!("{run} {n}")).expect("publish accepted");
        writeln!(out, "ACCEPTED {run} {n} {}", qos as u8).unwrap();
        out.flush().unwrap();
        pending.push_back(delivery);
        // A bounded window of unfinished deliveries keeps the run realistic (and the check
        // finite); the wait is for progress, not for time.
        if pending.len() >= 50 {
            if let Some(d) = pending.pop_front() {
                let _ = d.wait(Some(Duration::from_secs(5)));
            }
        }
    }
    for d in restored.iter().chain(pending.iter()) {
        d.wait(Some(T)).expect("every delivery completes in the final run");
    }
    writeln!(out, "DONE").unwrap();
    out.flush().unwrap();
    client.disconnect().unwrap();
}

#[derive(Default)]
struct Accepted {
    /// (run, n) -> QoS
    messages: HashMap<(u32, u32), u8>,
    done: bool,
}

fn spawn_child(
    dir: &std::path::Path,
    port: u16,
    run: u32,
    last: bool,
    accepted: Arc<Mutex<Accepted>>,
) -> std::process::Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "crash_publisher_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir)
        .env("PORT", port.to_string())
        .env("RUN", run.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if last {
        cmd.env("FINAL", "1");
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["ACCEPTED", run, n, qos] => {
                    let key = (run.parse().unwrap(), n.parse().unwrap());
                    accepted.lock().unwrap().messages.insert(key, qos.parse().unwrap());
                }
                ["DONE"] => accepted.lock().unwrap().done = true,
                _ => {}
            }
        }
    });
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_killed_at_random_moments_loses_nothing() {
    const KILLS: u32 = 20;
    let broker = Broker::builder().config_line("max_queued_messages 0").start().unwrap();
    let proxy = FaultProxy::start(broker.addr());
    let dir = tempfile::tempdir().unwrap();
    let sub = subscriber(&broker, "crash-sub", "crash/#").await;
    // Collect everything the subscriber receives, by (run, n), in the background.
    let received: Arc<Mutex<HashMap<(u32, u32), u32>>> = Arc::default();
    let collector = {
        let (sub, received) = (sub.clone(), received.clone());
        tokio::spawn(async move {
            while let Some(e) = sub.recv().await {
                if let Event::Message(m) = e {
                    let text = String::from_utf8(m.payload.to_vec()).unwrap();
                    let mut words = text.split(' ');
                    let key =
                        (words.next().unwrap().parse().unwrap(), words.next().unwrap().parse().unwrap());
                    *received.lock().unwrap().entry(key).or_default() += 1;
                }
            }
        })
    };
    let seed: u64 =
        std::env::var("TETHER_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    eprintln!("crash test seed {seed} (TETHER_CRASH_SEED to repeat)");
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    proxy.random_cuts(seed, Duration::from_millis(30), Duration::from_millis(300));
    let accepted: Arc<Mutex<Accepted>> = Arc::default();
    for run in 0..KILLS {
        let mut child = spawn_child(dir.path(), proxy.port(), run, false, accepted.clone());
        let life = Duration::from_millis(rng.gen_range(80..600));
        tokio::time::sleep(life).await; // a random moment to kill it: the point of the test
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    proxy.stop_random_cuts();
    let mut child = spawn_child(dir.path(), proxy.port(), KILLS, true, accepted.clone());
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap();
    assert!(status.success(), "the final run failed");
    assert!(accepted.lock().unwrap().done, "the final run saw every delivery complete");

    // Every accepted message arrives; wait (bounded) for the subscriber to have them all.
    let accepted = std::mem::take(&mut accepted.lock().unwrap().messages);
    let runs_with_messages: HashSet<u32> = accepted.keys().map(|(r, _)| *r).collect();
    assert!(runs_with_messages.len() > KILLS as usize / 2, "most runs published something");
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let missing = {
            let got = received.lock().unwrap();
            accepted.keys().filter(|k| !got.contains_key(k)).count()
        };
        if missing == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{missing} of {} accepted messages never arrived",
            accepted.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await; // polling a count, bounded by the deadline
    }
    // A moment for any duplicate to show up, then exactly once for every QoS 2 message.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = received.lock().unwrap().clone();
    for (key, qos) in &accepted {
        let n = got[key];
        if *qos == 2 {
            assert_eq!(n, 1, "QoS 2 message {key:?} arrived {n} times");
        }
    }
    // No QoS 2 message at all (accepted or cut short by a kill) arrives twice.
    for ((run, n), count) in &got {
        if n % 2 == 1 {
            assert_eq!(*count, 1, "QoS 2 message ({run}, {n}) arrived {count} times");
        }
    }
    let qos2 = accepted.values().filter(|q| **q == 2).count();
    let dup1 = accepted.iter().filter(|(k, q)| **q == 1 && got[*k] > 1).count();
    eprintln!(
        "crash test: {KILLS} kills, {} connections through the cutting proxy; {} accepted \
         ({qos2} QoS 2), all delivered; QoS 1 duplicates {dup1}, QoS 2 duplicates 0",
        proxy.stats().connections,
        accepted.len()
    );
    collector.abort();
}
