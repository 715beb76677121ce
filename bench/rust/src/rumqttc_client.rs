//! The rumqttc (v5) peer under the benchmark workloads, used as its documentation shows: an
//! `AsyncClient` whose requests go through a bounded channel to an `EventLoop` that the
//! application polls continuously; acknowledgements arrive as events from `poll`.
//! Many messages are in flight at once: rumqttc takes the broker's Receive Maximum (1000).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttc::v5::mqttbytes::v5::{ConnectReturnCode, Packet, PubAckReason, PubCompReason};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use rumqttc::{NetworkOptions, TlsConfiguration, Transport};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use tokio::time::{sleep_until, timeout, timeout_at};

use crate::common::{now_ns, payload, read_seq, Args, IdleOutcome, Outcome, Tracker, MARKER};

/// Capacity of the request channel between the client handle and the event loop: the same
/// as tether's default hand-off channel (128). Measured against 1024: the same throughput, and
/// 0.6-0.8 MiB less peak RSS for rumqttc.
const REQUEST_CAPACITY: usize = 128;
/// Upper limit of outgoing QoS>0 messages in flight: the broker's Receive Maximum.
const INFLIGHT: u16 = 1000;

fn qos(q: u8) -> QoS {
    match q {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

fn options(args: &Args, id: &str) -> MqttOptions {
    let mut o = MqttOptions::new(id, args.host.clone(), args.port);
    o.set_keep_alive(Duration::from_secs(60));
    o.set_clean_start(true);
    // The broker's Receive Maximum (1000) bounds the window anyway; rumqttc's default upper
    // limit (65535) would preallocate a 64 Ki-slot in-flight table per client (~13 MB each).
    o.set_outgoing_inflight_upper_limit(INFLIGHT);
    let mut net = NetworkOptions::new();
    net.set_tcp_nodelay(true);
    o.set_network_options(net);
    if let Some(tls) = tls_config(args) {
        o.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(tls)));
    }
    o
}

/// With `--tls-ca`: a rustls configuration trusting that CA, on the ring provider, the one
/// tether uses (rumqttc is built with `use-rustls-no-provider`), so that both Rust clients
/// run the same rustls and the same crypto and the TLS row compares the clients. Built once
/// per process (the idle workload makes thousands of options).
fn tls_config(args: &Args) -> Option<Arc<rustls::ClientConfig>> {
    static CONFIG: std::sync::OnceLock<Option<Arc<rustls::ClientConfig>>> = std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let ca = args.tls_ca.as_ref()?;
            let mut roots = rustls::RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(ca)
                .unwrap_or_else(|e| panic!("--tls-ca {ca}: {e}"))
                .collect::<Result<Vec<_>, _>>()
                .unwrap_or_else(|e| panic!("--tls-ca {ca}: {e}"));
            for c in certs {
                roots.add(c).unwrap_or_else(|e| panic!("--tls-ca {ca}: {e}"));
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("ring supports the default protocol versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
            Some(Arc::new(config))
        })
        .clone()
}

async fn wait_connack(el: &mut EventLoop, id: &str) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match timeout_at(deadline, el.poll()).await {
            Ok(Ok(Event::Incoming(Packet::ConnAck(ack)))) => {
                return if ack.code == ConnectReturnCode::Success {
                    Ok(())
                } else {
                    Err(format!("connect {id}: refused {:?}", ack.code))
                };
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(format!("connect {id}: {e}")),
            Err(_) => return Err(format!("connect {id}: no CONNACK within 10 s")),
        }
    }
}

async fn connect(args: &Args, id: &str) -> Result<(AsyncClient, EventLoop), String> {
    let (c, mut el) = AsyncClient::new(options(args, id), REQUEST_CAPACITY);
    wait_connack(&mut el, id).await?;
    Ok((c, el))
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

async fn publish(args: &Args, deadline: tokio::time::Instant) -> Result<Outcome, String> {
    let id = format!("rumqttc-pub-{}", std::process::id());
    let (client, mut el) = connect(args, &id).await?;
    let q = qos(args.qos);
    let (n, size, topic, zero) = (args.n, args.size, args.topic.clone(), args.qos == 0);
    let t0 = Instant::now();
    let producer = tokio::spawn(async move {
        for i in 0..n {
            client
                .publish(topic.as_str(), q, false, payload(size, i, 0))
                .await
                .map_err(|e| format!("publish {i}: {e}"))?;
        }
        if zero {
            client
                .publish(topic.as_str(), QoS::AtLeastOnce, false, payload(size, MARKER, 0))
                .await
                .map_err(|e| format!("publish marker: {e}"))?;
        }
        Ok::<AsyncClient, String>(client)
    });
    // QoS 0: only the marker is acknowledged; QoS 1: PUBACK each; QoS 2: PUBCOMP each.
    let expected = if zero { 1 } else { n };
    let (mut acked, mut refused) = (0u64, 0u64);
    let mut error = None;
    while acked + refused < expected {
        match timeout_at(deadline, el.poll()).await {
            Ok(Ok(Event::Incoming(Packet::PubAck(a)))) if args.qos <= 1 => {
                // "No matching subscribers" (0x10) is a success code.
                if matches!(a.reason, PubAckReason::Success | PubAckReason::NoMatchingSubscribers) {
                    acked += 1;
                } else {
                    refused += 1;
                }
            }
            Ok(Ok(Event::Incoming(Packet::PubComp(c)))) if args.qos == 2 => {
                if c.reason == PubCompReason::Success {
                    acked += 1;
                } else {
                    refused += 1;
                }
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                error = Some(format!("connection: {e}"));
                break;
            }
            Err(_) => {
                error = Some(format!("timed out with {acked} of {expected} acknowledged"));
                break;
            }
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let client = match producer.await {
        Ok(Ok(c)) => Some(c),
        Ok(Err(e)) => {
            error.get_or_insert(e);
            None
        }
        Err(e) => {
            error.get_or_insert(format!("producer: {e}"));
            None
        }
    };
    if refused > 0 {
        error.get_or_insert(format!("{refused} publishes refused by the broker"));
    }
    if let Some(c) = client {
        let _ = c.disconnect().await;
        let _ = timeout(Duration::from_secs(1), el.poll()).await;
    }
    Ok(Outcome {
        ok: error.is_none(),
        error,
        n,
        elapsed_s: elapsed,
        acked: Some(if zero { acked * (n + 1) } else { acked }),
        ..Default::default()
    })
}

async fn end_to_end(args: &Args, deadline: tokio::time::Instant, paced: bool) -> Result<Outcome, String> {
    let base = Instant::now();
    let pid = std::process::id();
    let n = if paced { ((args.rate as f64) * args.secs).round().max(1.0) as u64 } else { args.n };
    let q = qos(args.qos);
    let (sub, mut sub_el) = connect(args, &format!("rumqttc-sub-{pid}")).await?;
    sub.subscribe(args.topic.clone(), q).await.map_err(|e| format!("subscribe: {e}"))?;
    loop {
        match timeout_at(deadline, sub_el.poll()).await {
            Ok(Ok(Event::Incoming(Packet::SubAck(s)))) => {
                if s.return_codes
                    .iter()
                    .any(|c| !matches!(c, rumqttc::v5::mqttbytes::v5::SubscribeReasonCode::Success(_)))
                {
                    return Err(format!("subscribe refused: {:?}", s.return_codes));
                }
                break;
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(format!("subscriber: {e}")),
            Err(_) => return Err("no SUBACK".into()),
        }
    }
    let (publisher, mut pub_el) = connect(args, &format!("rumqttc-pub-{pid}")).await?;

    let receiver = tokio::spawn(async move {
        let mut tracker = Tracker::new(n);
        let mut lat = Vec::with_capacity(if paced { n as usize } else { 0 });
        let mut last = None;
        let mut error = None;
        loop {
            match timeout_at(deadline, sub_el.poll()).await {
                Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                    if paced {
                        if let Some((seq, stamp)) = read_seq(&p.payload) {
                            if seq != MARKER {
                                lat.push(now_ns(base).saturating_sub(stamp));
                            }
                        }
                    }
                    if tracker.record(&p.payload) {
                        last = Some(Instant::now());
                        break;
                    }
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    error = Some(format!("subscriber: {e}"));
                    break;
                }
                Err(_) => {
                    error = Some("timed out waiting for messages".to_string());
                    break;
                }
            }
        }
        (tracker, lat, last, error)
    });
    // The publisher's event loop must be polled for anything to be sent.
    let pump = tokio::spawn(async move {
        loop {
            match pub_el.poll().await {
                Ok(_) => {}
                Err(e) => return format!("publisher: {e}"),
            }
        }
    });

    let period_ns = 1_000_000_000 / args.rate.max(1);
    let t0 = Instant::now();
    let start = tokio::time::Instant::now();
    let topic = args.topic.as_str();
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
            .map_err(|e| format!("marker: {e}"))
    };
    let sent = timeout_at(deadline, send).await;
    let (tracker, lat, last, rerr) = receiver.await.map_err(|e| format!("receiver: {e}"))?;
    pump.abort();
    let elapsed = last.map(|l| l.duration_since(t0).as_secs_f64()).unwrap_or(0.0);
    let error = match sent {
        Err(_) => Some("timed out while publishing".to_string()),
        Ok(Err(e)) => Some(e),
        Ok(Ok(())) => rerr,
    };
    Ok(Outcome {
        ok: error.is_none() && last.is_some(),
        error,
        n,
        elapsed_s: elapsed,
        tracker: Some(tracker),
        latencies_ns: paced.then_some(lat),
        ..Default::default()
    })
}

async fn idle(args: &Args, deadline: tokio::time::Instant) -> Result<Outcome, String> {
    let pid = std::process::id();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let before = crate::common::rss_kb();
    let t0 = Instant::now();
    let connected = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    // At most 256 connection attempts at once (as for tether).
    let gate = Arc::new(tokio::sync::Semaphore::new(256));
    let mut clients = Vec::with_capacity(args.clients);
    for i in 0..args.clients {
        let (c, mut el) = AsyncClient::new(options(args, &format!("rq{pid}-{i}")), 10);
        clients.push(c);
        let (connected, finished, gate) = (connected.clone(), finished.clone(), gate.clone());
        tokio::spawn(async move {
            let permit = gate.acquire_owned().await;
            let id = format!("rq{pid}-{i}");
            let ok = wait_connack(&mut el, &id).await.is_ok();
            drop(permit);
            if ok {
                connected.fetch_add(1, Ordering::Relaxed);
            }
            finished.fetch_add(1, Ordering::Relaxed);
            if ok {
                // Keep polling, as the documentation asks, so that the connection is serviced.
                while el.poll().await.is_ok() {}
            }
        });
    }
    while finished.load(Ordering::Relaxed) < args.clients && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let connect_s = t0.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = crate::common::rss_kb();
    Ok(Outcome {
        ok: true,
        n: args.clients as u64,
        idle: Some(IdleOutcome {
            clients: args.clients,
            connected: connected.load(Ordering::Relaxed),
            rss_before_kb: before,
            rss_after_kb: after,
            connect_s,
        }),
        ..Default::default()
    })
}
