//! tether's Rust face under the benchmark workloads, used as its documentation shows: publish
//! returns once the client has taken the message (the Delivery is a future we need not keep),
//! `flush` waits until every publish so far is complete, events come from `recv`.

use std::time::{Duration, Instant};

use tether_core::store::{Durability, FileStore};
use tether_core::{AsyncClient, Event, MqttOptions, ProtocolVersion, QoS, TlsOptions};
use tokio::time::{sleep_until, timeout_at};

use crate::common::{now_ns, payload, read_seq, Args, IdleOutcome, Outcome, Tracker, MARKER};

fn qos(q: u8) -> QoS {
    match q {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

fn options(args: &Args, id: &str) -> Result<MqttOptions, String> {
    // Defaults otherwise: clean start, session expiry 0, TCP_NODELAY on.
    let mut o = match &args.tls_ca {
        None => MqttOptions::new(id, args.host.clone(), args.port),
        // TLS as the documentation shows it: an mqtts:// URL and the CA file to trust (the
        // server's certificate is checked against the address, 127.0.0.1).
        Some(ca) => {
            let url = format!("mqtts://{}:{}", args.host, args.port);
            let mut o = MqttOptions::from_url(id, &url).map_err(|e| format!("{url}: {e}"))?;
            o.set_tls(TlsOptions { ca_file: Some(ca.into()), ..TlsOptions::default() })
                .map_err(|e| format!("set_tls: {e}"))?;
            o
        }
    };
    o.set_keep_alive(Duration::from_secs(60));
    if args.protocol == 4 {
        // MQTT 3.1.1: session expiry 0 with clean start goes out as Clean Session 1.
        o.set_protocol_version(ProtocolVersion::V311);
        // No Receive Maximum on 3.1.1: the same window of 1000 the peers are given.
        o.set_max_inflight(1000);
    }
    if let Some(durability) = store_durability(&args.store) {
        // A fresh store per client: the run measures writing, not replaying.
        let dir = std::env::temp_dir().join(format!("tether-bench-store-{id}"));
        let _ = std::fs::remove_dir_all(&dir);
        let store = FileStore::open(&dir, durability).expect("open the session store");
        o.set_store(store);
    }
    Ok(o)
}

fn store_durability(store: &str) -> Option<Durability> {
    match store {
        "none" => Some(Durability::None),
        "batched" => Some(Durability::Batched),
        "always" => Some(Durability::Always),
        _ => None,
    }
}

/// Remove the store directory of `id` (after the client is gone).
fn remove_store(id: &str) {
    let _ = std::fs::remove_dir_all(std::env::temp_dir().join(format!("tether-bench-store-{id}")));
}

async fn connect(args: &Args, id: &str) -> Result<AsyncClient, String> {
    let c = AsyncClient::new(options(args, id)?);
    let ack = c.connect().await.map_err(|e| format!("connect {id}: {e}"))?;
    if ack.reason_code.is_error() {
        return Err(format!("connect {id}: refused {:?}", ack.reason_code));
    }
    Ok(c)
}

pub async fn run(args: &Args) -> Outcome {
    let deadline = tokio::time::Instant::now() + args.timeout;
    let result = match args.workload.as_str() {
        "pub" => publish(args, deadline).await,
        "e2e" => end_to_end(args, deadline, false).await,
        "lat" => end_to_end(args, deadline, true).await,
        "idle" => idle(args, deadline).await,
        w => Err(format!("unknown workload {w}")),
    };
    result.unwrap_or_else(Outcome::failed)
}

/// N publishes at the chosen QoS; for QoS 0 one QoS 1 marker after them. Ends when `flush`
/// says every publish is complete (acknowledged; QoS 0: written).
async fn publish(args: &Args, deadline: tokio::time::Instant) -> Result<Outcome, String> {
    let id = format!("tether-rs-pub-{}", std::process::id());
    let c = connect(args, &id).await?;
    let q = qos(args.qos);
    let topic = args.topic.as_str();
    let t0 = Instant::now();
    let work = async {
        let mut last = None;
        for i in 0..args.n {
            last = Some(
                c.publish(topic, q, false, payload(args.size, i, 0))
                    .await
                    .map_err(|e| format!("publish {i}: {e}"))?,
            );
        }
        if args.qos == 0 {
            last = Some(
                c.publish(topic, QoS::AtLeastOnce, false, payload(args.size, MARKER, 0))
                    .await
                    .map_err(|e| format!("publish marker: {e}"))?,
            );
        }
        // Awaiting the last Delivery first means the driver has taken every publish, so the
        // flush that follows covers all of them (a flush sent while publishes still sit in the
        // request channel can complete early: see bench/README.md).
        if let Some(d) = last {
            d.await.map_err(|e| format!("last delivery: {e}"))?;
        }
        c.flush().await.map_err(|e| format!("flush: {e}"))
    };
    match timeout_at(deadline, work).await {
        Err(_) => return Err(format!("timed out; stats {:?}", c.stats())),
        Ok(r) => {
            r?;
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    // After flush nothing may be left queued or unacknowledged, and nothing was resent. (The
    // counters are refreshed by the driver just after it completes the flush: allow it 1 s.)
    let settle = Instant::now() + Duration::from_secs(1);
    let mut s = c.stats();
    while (s.queued > 0 || s.inflight > 0) && Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(1)).await;
        s = c.stats();
    }
    let ok = s.queued == 0 && s.inflight == 0 && s.reconnects == 0 && s.retransmissions == 0;
    let expected = args.n + u64::from(args.qos == 0);
    let mut out = Outcome {
        ok,
        n: args.n,
        elapsed_s: elapsed,
        acked: Some(if ok { expected } else { s.messages_out.saturating_sub(s.inflight + s.queued) }),
        ..Default::default()
    };
    if !ok {
        out.error = Some(format!("incomplete after flush: {s:?}"));
    }
    let _ = c.disconnect().await;
    c.close();
    c.closed().await;
    drop(c);
    remove_store(&id);
    Ok(out)
}

/// One publisher and one subscriber on the same topic. `paced`: `rate` messages/s for `secs`
/// seconds, each stamped with the send time, and the receiver records the delay.
async fn end_to_end(args: &Args, deadline: tokio::time::Instant, paced: bool) -> Result<Outcome, String> {
    let base = Instant::now();
    let pid = std::process::id();
    let n = if paced { ((args.rate as f64) * args.secs).round().max(1.0) as u64 } else { args.n };
    let q = qos(args.qos);
    let sub = connect(args, &format!("tether-rs-sub-{pid}")).await?;
    let codes = sub.subscribe(args.topic.clone(), q).await.map_err(|e| format!("subscribe: {e}"))?;
    if codes.iter().any(|c| c.is_error()) {
        return Err(format!("subscribe refused: {codes:?}"));
    }
    let publisher = connect(args, &format!("tether-rs-pub-{pid}")).await?;

    let receiver = tokio::spawn(async move {
        let mut tracker = Tracker::new(n);
        let mut lat = Vec::with_capacity(if paced { n as usize } else { 0 });
        let mut last = None;
        while let Ok(Some(ev)) = timeout_at(deadline, sub.recv()).await {
            if let Event::Message(m) = ev {
                if paced {
                    if let Some((seq, stamp)) = read_seq(&m.payload) {
                        if seq != MARKER {
                            lat.push(now_ns(base).saturating_sub(stamp));
                        }
                    }
                }
                if tracker.record(&m.payload) {
                    last = Some(Instant::now());
                    break;
                }
            }
        }
        (tracker, lat, last)
    });

    let topic = args.topic.as_str();
    let period_ns = 1_000_000_000 / args.rate.max(1);
    let t0 = Instant::now();
    let start = tokio::time::Instant::now();
    let send = async {
        for i in 0..n {
            if paced {
                sleep_until(start + Duration::from_nanos(period_ns * i)).await;
            }
            let p = payload(args.size, i, if paced { now_ns(base) } else { 0 });
            publisher.publish(topic, q, false, p).await.map_err(|e| format!("publish {i}: {e}"))?;
        }
        let mq = if args.qos == 0 { QoS::AtLeastOnce } else { q };
        publisher
            .publish(topic, mq, false, payload(args.size, MARKER, 0))
            .await
            .map_err(|e| format!("publish marker: {e}"))?;
        Ok::<(), String>(())
    };
    let sent = timeout_at(deadline, send).await;
    let (tracker, lat, last) = receiver.await.map_err(|e| format!("receiver: {e}"))?;
    let elapsed = last.map(|l| l.duration_since(t0).as_secs_f64()).unwrap_or(0.0);
    let mut out = Outcome {
        ok: last.is_some(),
        n,
        elapsed_s: elapsed,
        tracker: Some(tracker),
        latencies_ns: paced.then_some(lat),
        ..Default::default()
    };
    match sent {
        Err(_) => out.error = Some("timed out while publishing".into()),
        Ok(Err(e)) => out.error = Some(e),
        Ok(Ok(())) if last.is_none() => out.error = Some("timed out waiting for messages".into()),
        Ok(Ok(())) => {}
    }
    out.ok &= out.error.is_none();
    let _ = publisher.disconnect().await;
    Ok(out)
}

/// `clients` connected clients in this process, idle; RSS before and after.
async fn idle(args: &Args, deadline: tokio::time::Instant) -> Result<Outcome, String> {
    let pid = std::process::id();
    // Start the runtime's own machinery before the baseline.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let before = crate::common::rss_kb();
    let t0 = Instant::now();
    let mut clients = Vec::with_capacity(args.clients);
    let mut pending = tokio::task::JoinSet::new();
    let mut connected = 0usize;
    for i in 0..args.clients {
        if tokio::time::Instant::now() >= deadline {
            break;
        }
        let c = AsyncClient::new(options(args, &format!("tr{pid}-{i}"))?);
        clients.push(c.clone());
        pending.spawn(async move { c.connect().await.is_ok() });
        while pending.len() >= 256 {
            if let Some(Ok(true)) = pending.join_next().await {
                connected += 1;
            }
        }
    }
    while let Ok(Some(r)) = timeout_at(deadline, pending.join_next()).await {
        if let Ok(true) = r {
            connected += 1;
        }
    }
    let connect_s = t0.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = crate::common::rss_kb();
    Ok(Outcome {
        ok: true,
        n: args.clients as u64,
        idle: Some(IdleOutcome {
            clients: args.clients,
            connected,
            rss_before_kb: before,
            rss_after_kb: after,
            connect_s,
        }),
        ..Default::default()
    })
}
