//! Publishes N numbered QoS 1 messages and waits for each delivery (PUBACK).
//!
//! ```text
//! cargo run -p tether-core --example publisher -- [HOST] [PORT] [COUNT] [TOPIC]
//! ```
//! Defaults: 127.0.0.1 1883 10 tether/example.

use std::time::Duration;

use tether_core::{AsyncClient, MqttOptions, QoS};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let host = args.next().unwrap_or_else(|| "127.0.0.1".into());
    let port: u16 = args.next().map(|p| p.parse()).transpose()?.unwrap_or(1883);
    let count: usize = args.next().map(|n| n.parse()).transpose()?.unwrap_or(10);
    let topic = args.next().unwrap_or_else(|| "tether/example".into());

    let client = AsyncClient::new(MqttOptions::new("tether-example-publisher", host, port));
    client.connect().await?;
    for i in 0..count {
        let delivery =
            client.publish(topic.as_str(), QoS::AtLeastOnce, false, format!("message {i}")).await?;
        // Resolves on PUBACK; a reason code of 0x80 or more comes back as an error.
        let outcome = tokio::time::timeout(Duration::from_secs(10), delivery).await??;
        println!("{i}: delivered as packet {:?} ({:?})", outcome.packet_id, outcome.reason_code);
    }
    client.disconnect().await?;
    Ok(())
}
