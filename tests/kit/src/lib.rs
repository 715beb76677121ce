//! Test fixtures for tether: a real mosquitto broker per test ([`Broker`]) and a TCP proxy that
//! injects network faults and watches the MQTT traffic ([`FaultProxy`]), whose wire log
//! [`wire::analyze`] checks for flow-control faults.
//!
//! ```no_run
//! use std::time::Duration;
//! use tether_testkit::{Broker, FaultProxy};
//!
//! let broker = Broker::builder().persistence(true).start().expect("mosquitto");
//! let proxy = FaultProxy::start(broker.addr());
//! // connect the client under test to proxy.addr(), publish, then:
//! proxy.cut_all();
//! assert!(proxy.wait_for_connections(2, Duration::from_secs(10)));
//! assert!(proxy.stats().dup_publishes > 0);
//! ```

// A test fixture runs real processes and sockets with deadlines: it reads the clock on purpose
// (the sans-IO rule of clippy.toml is for core's codec and session).
#![allow(clippy::disallowed_methods)]

pub mod broker;
pub mod http_proxy;
pub mod mqtt;
pub mod proxy;
pub mod rmqtt;
pub mod tls;
pub mod wire;

pub use broker::{Broker, BrokerBuilder};
pub use http_proxy::{HttpProxy, HttpProxyStats};
pub use proxy::{Direction, FaultProxy, ProxyStats, PublishRecord};
pub use rmqtt::{ClusterMode, Rmqtt, RmqttBuilder};
pub use wire::{WireRecord, WireReport};
