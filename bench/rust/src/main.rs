//! `tether-bench`: one benchmark run of one Rust client, printed as one JSON line.
//!
//! ```text
//! tether-bench --client tether|rumqttc --workload pub|e2e|lat|idle --port P
//!              [--host 127.0.0.1] [--n N] [--qos 0|1|2] [--size BYTES] [--rate MSG_PER_S]
//!              [--secs S] [--clients K] [--timeout S] [--topic T] [--protocol 4|5]
//!              [--tls-ca CA.pem]
//! ```
//!
//! Workloads: `pub` N publishes until the last acknowledgement (QoS 0: then one QoS 1 marker);
//! `e2e` one publisher and one subscriber in this process, until the subscriber has every
//! message; `lat` a paced `rate`/s stream for `secs` seconds, publish-to-receive delays;
//! `idle` K connected idle clients, RSS before and after. Both clients run on the same tokio
//! multi-thread runtime (one worker per core). `--protocol 4` speaks MQTT 3.1.1 (default 5):
//! tether through `set_protocol_version`, rumqttc through its v4 client (`rumqttc_v4`, which
//! runs the `pub` workload only). `--tls-ca` connects over TLS (`mqtts://host:port`), trusting
//! that CA file: tether through `TlsOptions`, rumqttc through a rustls configuration on ring.

// A benchmark reads the clock on purpose.
#![allow(clippy::disallowed_methods)]

mod common;
mod rumqttc_client;
mod rumqttc_v4;
mod tether_client;

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let args = match common::Args::parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("tether-bench: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = match args.client.as_str() {
        "tether" => tether_client::run(&args).await,
        // Never plain TCP in place of the TLS asked for.
        "rumqttc" if args.protocol == 4 && args.tls_ca.is_some() => {
            common::Outcome::failed("the rumqttc v4 program has no TLS (--tls-ca)")
        }
        "rumqttc" if args.protocol == 4 => rumqttc_v4::run(&args).await,
        "rumqttc" => rumqttc_client::run(&args).await,
        c => common::Outcome::failed(format!("unknown client {c:?}")),
    };
    let ok = outcome.ok;
    outcome.print(&args);
    // Leave at once: thousands of idle clients need no orderly teardown.
    std::process::exit(if ok { 0 } else { 1 });
}
