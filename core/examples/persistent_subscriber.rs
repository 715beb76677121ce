//! A subscriber whose session survives: it uses SESSION_NEVER_EXPIRES and clean_start = false,
//! so messages published while it is away are waiting when it comes back.
//!
//! ```text
//! cargo run -p tether-core --example persistent_subscriber -- [HOST] [PORT] [TOPIC_FILTER]
//! ```
//! Defaults: 127.0.0.1 1883 tether/#. Stop it (Ctrl-C), publish, start it again: it reports
//! `session_present = true` and receives what was published meanwhile.

use tether_core::{AsyncClient, Event, MqttOptions, QoS, SESSION_NEVER_EXPIRES};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let host = args.next().unwrap_or_else(|| "127.0.0.1".into());
    let port: u16 = args.next().map(|p| p.parse()).transpose()?.unwrap_or(1883);
    let filter = args.next().unwrap_or_else(|| "tether/#".into());

    let mut options = MqttOptions::new("tether-example-subscriber", host, port);
    options.set_session_expiry_interval(SESSION_NEVER_EXPIRES).set_clean_start(false);
    let client = AsyncClient::new(options);

    let ack = client.connect().await?;
    println!("connected: session_present = {}", ack.session_present);
    if !ack.session_present {
        // A new session: subscribe once; the server keeps the subscription from now on.
        let codes = client.subscribe(filter.as_str(), QoS::AtLeastOnce).await?;
        println!("subscribed to {filter}: {codes:?}");
    }

    // Runs until killed (Ctrl-C): the session outlives the process, so nothing is lost.
    while let Some(event) = client.recv().await {
        match event {
            Event::Message(m) => println!(
                "{} [qos {:?}{}] {}",
                m.topic,
                m.qos,
                if m.dup { ", dup" } else { "" },
                String::from_utf8_lossy(&m.payload)
            ),
            Event::Connected(a) => println!("(re)connected: session_present = {}", a.session_present),
            Event::Disconnected { cause, .. } => println!("disconnected: {cause:?}"),
            _ => {}
        }
    }
    Ok(())
}
