//! tether-core: the MQTT 5.0 codec, the sans-IO session engine and (later) the IO driver and
//! the public Rust client.

pub mod codec;
