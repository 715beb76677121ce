//! The rumqttc peer on MQTT 3.1.1: the crate's top-level (v4) `AsyncClient`/`MqttOptions`,
//! not `rumqttc::v5`, used as for 5.0 (`rumqttc_client`): a bounded request channel to an
//! `EventLoop` polled continuously, acknowledgements counted from its events. Only the `pub`
//! workload: the 3.1.1 row of the benchmark is QoS 1 publishing.
//! 3.1.1 has no Receive Maximum, so the window is rumqttc's own `inflight` (default 100),
//! set to 1000 as the 5.0 clients get from the tuned broker.

use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, ConnectReturnCode, Event, EventLoop, MqttOptions, NetworkOptions, Packet, QoS};
use tokio::time::{timeout, timeout_at};

use crate::common::{payload, Args, Outcome, MARKER};

/// As for 5.0: the same as tether's default hand-off channel.
const REQUEST_CAPACITY: usize = 128;
/// Messages in flight: what the tuned broker's Receive Maximum gives the 5.0 clients.
const INFLIGHT: u16 = 1000;

fn qos(q: u8) -> QoS {
    match q {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

async fn connect(args: &Args, id: &str) -> Result<(AsyncClient, EventLoop), String> {
    let mut o = MqttOptions::new(id, args.host.clone(), args.port);
    o.set_keep_alive(Duration::from_secs(60));
    o.set_clean_session(true);
    o.set_inflight(INFLIGHT);
    let (c, mut el) = AsyncClient::new(o, REQUEST_CAPACITY);
    let mut net = NetworkOptions::new();
    net.set_tcp_nodelay(true);
    el.set_network_options(net);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match timeout_at(deadline, el.poll()).await {
            Ok(Ok(Event::Incoming(Packet::ConnAck(ack)))) => {
                return if ack.code == ConnectReturnCode::Success {
                    Ok((c, el))
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

pub async fn run(args: &Args) -> Outcome {
    let deadline = tokio::time::Instant::now() + args.timeout;
    let result = match args.workload.as_str() {
        "pub" => publish(args, deadline).await,
        w => Err(format!("rumqttc on MQTT 3.1.1: workload {w} is not implemented (pub only)")),
    };
    result.unwrap_or_else(Outcome::failed)
}

async fn publish(args: &Args, deadline: tokio::time::Instant) -> Result<Outcome, String> {
    let id = format!("rumqttc4-pub-{}", std::process::id());
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
    // 3.1.1 acknowledgements carry no reason code: each PUBACK (QoS 2: PUBCOMP) is a success.
    let expected = if zero { 1 } else { n };
    let mut acked = 0u64;
    let mut error = None;
    while acked < expected {
        match timeout_at(deadline, el.poll()).await {
            Ok(Ok(Event::Incoming(Packet::PubAck(_)))) if args.qos <= 1 => acked += 1,
            Ok(Ok(Event::Incoming(Packet::PubComp(_)))) if args.qos == 2 => acked += 1,
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
