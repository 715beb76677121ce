//! `tether_options`: everything that shapes a client, its connection and its session.

use std::ffi::c_char;
use std::time::Duration;

use bytes::Bytes;
use tether_core::codec::validate_topic_name;
use tether_core::validate;
use tether_core::{
    LastWill, MqttOptions, OverflowPolicy, ProtocolVersion, ProxyOptions, QoS, ReconnectPolicy,
    SessionLostPolicy, TlsOptions,
};

use crate::boundary::{ffi_boundary, try_bytes, try_mut, try_ref, try_str};
use crate::cast::{self, Castable, OwnershipBox};
use crate::properties::tether_properties;
use crate::result::{tether_result, Failure};
use tether_core::store::{Durability, FileStore};

/// `tether_options_set_queue_limits`: a full queue makes the publisher wait (the default).
/// From inside a callback, where waiting could deadlock, publish returns
/// `TETHER_QUEUE_FULL` instead.
pub const TETHER_OVERFLOW_BLOCK: u8 = 0;
/// `tether_options_set_queue_limits`: a full queue refuses the new message
/// (`TETHER_QUEUE_FULL`).
pub const TETHER_OVERFLOW_FAIL: u8 = 1;
/// `tether_options_set_queue_limits`: a full queue drops its oldest waiting message (its
/// delivery fails with `TETHER_DROPPED`).
pub const TETHER_OVERFLOW_DROP_OLDEST: u8 = 2;

/// `tether_options_set_on_session_lost`: when the server lost the session, publish the
/// unacknowledged messages again as new messages (the default).
pub const TETHER_SESSION_LOST_REPUBLISH: u8 = 0;
/// `tether_options_set_on_session_lost`: when the server lost the session, fail their
/// deliveries with `TETHER_SESSION_LOST`.
pub const TETHER_SESSION_LOST_FAIL: u8 = 1;

/// Session Expiry Interval meaning "the session never expires".
pub const TETHER_SESSION_NEVER_EXPIRES: u32 = u32::MAX;

/// `tether_options_set_store_path`: records are written to the operating system before
/// publish returns, never fsynced: they survive the process being killed, not a power loss.
pub const TETHER_DURABILITY_NONE: u8 = 0;
/// `tether_options_set_store_path`: as NONE, plus an fsync in the background every 10 ms: a
/// power loss loses at most that window (the recommended level).
pub const TETHER_DURABILITY_BATCHED: u8 = 1;
/// `tether_options_set_store_path`: publish of QoS 1/2 returns once its record is fsynced
/// (concurrent publishers share one fsync): survives power loss.
pub const TETHER_DURABILITY_ALWAYS: u8 = 2;

/// Client options. Owned by the caller: made by `tether_options_new`, freed by
/// `tether_options_free`. `tether_client_new` copies them, so one options object can make
/// many clients and may be freed right after. One object must not be used by two threads at
/// once.
///
/// Defaults: clean start, keep-alive 60 s, session expiry 0 (the session ends with the
/// connection), automatic reconnect (backoff 100 ms to 30 s), automatic topic aliases,
/// send queue of 1000 messages / 16 MiB with overflow policy Block, on_session_lost
/// Republish, connect timeout 10 s.
///
/// Methods: `tether_options_new`, `tether_options_free`, `tether_options_set_clean_start`,
/// `tether_options_set_session_expiry_interval`, `tether_options_set_keep_alive`,
/// `tether_options_set_credentials`, `tether_options_set_receive_maximum`,
/// `tether_options_set_max_packet_size`, `tether_options_set_topic_alias_maximum`,
/// `tether_options_set_manual_acks`, `tether_options_set_auto_topic_alias`,
/// `tether_options_set_reconnect`, `tether_options_set_queue_limits`,
/// `tether_options_set_on_session_lost`, `tether_options_set_connect_timeout`,
/// `tether_options_set_will`, `tether_options_set_connect_properties`,
/// `tether_options_set_tls_ca_file`, `tether_options_set_tls_client_cert`,
/// `tether_options_set_tls_alpn`, `tether_options_set_tls_verify`, `tether_options_set_ws_header`,
/// `tether_options_set_tls_ca_pem`, `tether_options_set_tls_client_cert_pem`,
/// `tether_options_set_proxy`, `tether_options_set_protocol_version`,
/// `tether_options_set_store_path`.
pub struct tether_options {
    _private: [u8; 0],
}

impl Castable for tether_options {
    type Ownership = OwnershipBox;
    type RustType = Options;
}

/// The Rust value behind `tether_options`.
#[derive(Debug, Clone)]
pub struct Options {
    pub(crate) mqtt: MqttOptions,
    /// TLS settings as the setters gave them; made into a rustls configuration by
    /// `tether_client_new`, so that the order of the setters does not matter.
    pub(crate) tls: Option<TlsOptions>,
}

pub(crate) fn qos(value: u8) -> Result<QoS, Failure> {
    Ok(validate::qos("qos", value)?)
}

impl tether_options {
    /// New options for a client called `client_id` (a UTF-8 string, copied; "" lets the
    /// server assign one, which needs clean start). Free them with `tether_options_free`.
    /// Returns NULL when `client_id` is NULL, not UTF-8 or longer than 65535 bytes, with the
    /// reason in `tether_last_error()`.
    #[no_mangle]
    pub extern "C" fn tether_options_new(client_id: *const c_char) -> *mut tether_options {
        ffi_boundary! {
            let made = (|| -> Result<*mut tether_options, Failure> {
                let client_id = try_str!(client_id);
                if client_id.len() > 65_535 {
                    return Err(Failure::invalid("the client identifier is longer than 65535 bytes"));
                }
                let mqtt = MqttOptions::new(client_id, "127.0.0.1", 1883);
                Ok(cast::to_boxed_mut_ptr::<tether_options>(Options { mqtt, tls: None }))
            })();
            made.unwrap_or_else(|failure| {
                failure.record();
                std::ptr::null_mut()
            })
        }
    }

    /// Frees options. Calling with NULL is fine. Must not be called twice.
    #[no_mangle]
    pub extern "C" fn tether_options_free(options: *mut tether_options) {
        ffi_boundary! {
            // SAFETY: the C contract: NULL or options from `tether_options_new`, freed once.
            drop(unsafe { cast::take_box(options) });
        }
    }

    /// Clean Start for the first connection (default true). Automatic reconnects always
    /// resume the session. Use false with a session expiry > 0 to resume a stored session.
    #[no_mangle]
    pub extern "C" fn tether_options_set_clean_start(
        options: *mut tether_options,
        clean_start: bool,
    ) -> tether_result {
        ffi_boundary! {
            try_mut!(options).mqtt.set_clean_start(clean_start);
            Ok(())
        }
    }

    /// Session Expiry Interval in seconds: 0 (default) ends the session with the connection,
    /// `TETHER_SESSION_NEVER_EXPIRES` (0xFFFFFFFF) keeps it forever. The same value as
    /// `TETHER_PROP_SESSION_EXPIRY_INTERVAL` in the connect properties.
    #[no_mangle]
    pub extern "C" fn tether_options_set_session_expiry_interval(
        options: *mut tether_options,
        seconds: u32,
    ) -> tether_result {
        ffi_boundary! {
            try_mut!(options).mqtt.set_session_expiry_interval(seconds);
            Ok(())
        }
    }

    /// Keep-alive in seconds (default 60; 0 turns it off).
    #[no_mangle]
    pub extern "C" fn tether_options_set_keep_alive(
        options: *mut tether_options,
        seconds: u16,
    ) -> tether_result {
        ffi_boundary! {
            try_mut!(options).mqtt.set_keep_alive(Duration::from_secs(u64::from(seconds)));
            Ok(())
        }
    }

    /// User name (UTF-8) and password (`password_len` bytes, any content; NULL is fine when
    /// the length is 0, and then an empty password is sent). Both are copied.
    #[no_mangle]
    pub extern "C" fn tether_options_set_credentials(
        options: *mut tether_options,
        username: *const c_char,
        password: *const u8,
        password_len: usize,
    ) -> tether_result {
        ffi_boundary! {
            let options = try_mut!(options);
            let username = try_str!(username);
            let password = try_bytes!(password, password_len);
            if username.len() > 65_535 || password.len() > 65_535 {
                return Err(Failure::new(
                    tether_result::TETHER_PACKET_TOO_LARGE,
                    "user name and password are limited to 65535 bytes each",
                ));
            }
            options.mqtt.set_credentials(username, Bytes::copy_from_slice(password));
            Ok(())
        }
    }

    /// Receive Maximum: how many QoS 1/2 messages the server may have in flight towards this
    /// client (1..65535; default 65535).
    #[no_mangle]
    pub extern "C" fn tether_options_set_receive_maximum(
        options: *mut tether_options,
        n: u16,
    ) -> tether_result {
        ffi_boundary! {
            let options = try_mut!(options);
            let n = validate::RECEIVE_MAXIMUM.check("receive_maximum", n)?;
            options.mqtt.set_receive_maximum(n);
            Ok(())
        }
    }

    /// Maximum Packet Size this client accepts, in bytes (not 0; default: no limit).
    #[no_mangle]
    pub extern "C" fn tether_options_set_max_packet_size(
        options: *mut tether_options,
        bytes: u32,
    ) -> tether_result {
        ffi_boundary! {
            let options = try_mut!(options);
            let bytes = validate::MAXIMUM_PACKET_SIZE.check("max_packet_size", bytes)?;
            options.mqtt.set_max_packet_size(bytes);
            Ok(())
        }
    }

    /// Topic Alias Maximum: how many topic aliases the server may use towards this client
    /// (default 0: none).
    #[no_mangle]
    pub extern "C" fn tether_options_set_topic_alias_maximum(
        options: *mut tether_options,
        n: u16,
    ) -> tether_result {
        ffi_boundary! {
            try_mut!(options).mqtt.set_topic_alias_maximum(n);
            Ok(())
        }
    }

    /// Manual acknowledgements (default false): QoS 1/2 messages are acknowledged only when
    /// the application calls `tether_client_ack` for them (in arrival order on the wire,
    /// whatever order the application acks in).
    #[no_mangle]
    pub extern "C" fn tether_options_set_manual_acks(
        options: *mut tether_options,
        manual: bool,
    ) -> tether_result {
        ffi_boundary! {
            try_mut!(options).mqtt.set_manual_acks(manual);
            Ok(())
        }
    }

    /// Automatic topic aliases for outgoing messages when the server allows them (default
    /// true). Turn them off to give your own with `TETHER_PROP_TOPIC_ALIAS` on a publish;
    /// with them on, a publish that carries one is refused (`TETHER_INVALID_ARGUMENT`).
    ///
    /// ```c
    /// tether_options_set_auto_topic_alias(options, false);
    /// ```
    #[no_mangle]
    pub extern "C" fn tether_options_set_auto_topic_alias(
        options: *mut tether_options,
        enabled: bool,
    ) -> tether_result {
        ffi_boundary! {
            try_mut!(options).mqtt.set_auto_topic_alias(enabled);
            Ok(())
        }
    }

    /// Follow a server's redirect (default true): a CONNACK or DISCONNECT with reason code
    /// 0x9C "Use another server" or 0x9D "Server moved" and a Server Reference sends the
    /// client to the server it names at once, resuming the session; 0x9D also replaces the
    /// server for later reconnects. At most 5 redirects in a row. With false, 0x9C and 0x9D
    /// are ordinary refusals (`TETHER_CONNECTION_REFUSED`) or disconnects.
    ///
    /// ```c
    /// tether_options_set_follow_server_references(options, false);
    /// ```
    #[no_mangle]
    pub extern "C" fn tether_options_set_follow_server_references(
        options: *mut tether_options,
        follow: bool,
    ) -> tether_result {
        ffi_boundary! {
            try_mut!(options).mqtt.set_follow_server_references(follow);
            Ok(())
        }
    }

    /// Automatic reconnect after a lost connection (default on) with exponential backoff and
    /// jitter: the first delay is at most `min_delay_ms`, every delay at most `max_delay_ms`
    /// (defaults 100 and 30000). `min_delay_ms` must not exceed `max_delay_ms`.
    #[no_mangle]
    pub extern "C" fn tether_options_set_reconnect(
        options: *mut tether_options,
        enabled: bool,
        min_delay_ms: u32,
        max_delay_ms: u32,
    ) -> tether_result {
        ffi_boundary! {
            let options = try_mut!(options);
            let min_delay = Duration::from_millis(u64::from(min_delay_ms));
            let max_delay = Duration::from_millis(u64::from(max_delay_ms));
            validate::reconnect_delays("min_delay_ms", min_delay, "max_delay_ms", max_delay)?;
            options.mqtt.set_reconnect(ReconnectPolicy { enabled, min_delay, max_delay, ..ReconnectPolicy::default() });
            Ok(())
        }
    }

    /// Keep the session on disk in directory `path` (created if missing; copied): a QoS 1/2
    /// message is recorded before publish returns and delivered even if the process is
    /// killed (QoS 2 exactly once). A client made on the same path later restores what was
    /// not finished, resumes the session (set a session expiry interval) and resends it.
    /// `durability` is `TETHER_DURABILITY_NONE`, `_BATCHED` or `_ALWAYS`. The store is
    /// opened (and locked) now: `TETHER_IO` when it cannot be, when another process holds
    /// it, or when it was written by a newer tether (`tether_last_error()` says which). One
    /// store serves one client: a second client made from these options fails to connect.
    ///
    /// ```c
    /// tether_options_set_session_expiry_interval(options, 3600);
    /// tether_options_set_store_path(options, "/var/lib/sensor-1", TETHER_DURABILITY_BATCHED);
    /// ```
    #[no_mangle]
    pub extern "C" fn tether_options_set_store_path(
        options: *mut tether_options,
        path: *const c_char,
        durability: u8,
    ) -> tether_result {
        ffi_boundary! {
            let options = try_mut!(options);
            let path = try_str!(path);
            let durability = match durability {
                TETHER_DURABILITY_NONE => Durability::None,
                TETHER_DURABILITY_BATCHED => Durability::Batched,
                TETHER_DURABILITY_ALWAYS => Durability::Always,
                other => {
                    return Err(Failure::invalid(format!(
                        "durability {other} is not a TETHER_DURABILITY_* level"
                    )))
                }
            };
            if path.is_empty() {
                return Err(Failure::invalid("store path is empty"));
            }
            let store = FileStore::open(path, durability)
                .map_err(|e| Failure::new(tether_result::TETHER_IO, format!("session store {path:?}: {e}")))?;
            options.mqtt.set_store(store);
            Ok(())
        }
    }

    /// Limits of the send queue (messages accepted but not yet in flight, for example while
    /// disconnected): at most `max_messages` messages and `max_bytes` bytes (both > 0), and
    /// what a full queue does: `TETHER_OVERFLOW_BLOCK`, `TETHER_OVERFLOW_FAIL` or
    /// `TETHER_OVERFLOW_DROP_OLDEST`.
    #[no_mangle]
    pub extern "C" fn tether_options_set_queue_limits(
        options: *mut tether_options,
        max_messages: usize,
        max_bytes: usize,
        overflow_policy: u8,
    ) -> tether_result {
        ffi_boundary! {
            let options = try_mut!(options);
            let overflow = match overflow_policy {
                TETHER_OVERFLOW_BLOCK => OverflowPolicy::Block,
                TETHER_OVERFLOW_FAIL => OverflowPolicy::Fail,
                TETHER_OVERFLOW_DROP_OLDEST => OverflowPolicy::DropOldest,
                other => {
                    return Err(Failure::invalid(format!(
                        "overflow_policy {other} is not a TETHER_OVERFLOW_* policy"
                    )))
                }
            };
            let max_messages = validate::QUEUE_LIMIT.check("max_messages", max_messages as u64)?;
            let max_bytes = validate::QUEUE_LIMIT.check("max_bytes", max_bytes as u64)?;
            options.mqtt.set_queue_limits(max_messages, max_bytes, overflow);
            Ok(())
        }
    }

    /// A message the server refuses with 0x97 Quota exceeded is published again as a new
    /// message after `backoff_ms` (doubling each time), at most `attempts` times, before its
    /// delivery fails (default: 5 attempts from 100 ms). `attempts` 0 fails it at once.
    #[no_mangle]
    pub extern "C" fn tether_options_set_quota_retry(
        options: *mut tether_options,
        attempts: u8,
        backoff_ms: u32,
    ) -> tether_result {
        ffi_boundary! {
            let options = try_mut!(options);
            let backoff = Duration::from_millis(u64::from(backoff_ms));
            options.mqtt.set_quota_retry(tether_core::QuotaRetry { attempts, backoff });
            Ok(())
        }
    }

    /// The protocol version: 5 (MQTT 5.0, the default) or 4 (MQTT 3.1.1, the protocol level
    /// byte of CONNECT). Any other value is `TETHER_INVALID_ARGUMENT`. On 3.1.1 a 5.0-only
    /// feature (properties, subscribe options other than QoS, enhanced authentication, a
    /// DISCONNECT reason code or session expiry) fails with `TETHER_NOT_SUPPORTED` before
    /// anything is sent; a session expiry > 0 is sent as Clean Session 0.
    #[no_mangle]
    pub extern "C" fn tether_options_set_protocol_version(
        options: *mut tether_options,
        version: u8,
    ) -> tether_result {
        ffi_boundary! {
            let options = try_mut!(options);
            let Some(version) = ProtocolVersion::from_level(version) else {
                return Err(Failure::invalid(format!(
                    "protocol_version must be 5 (MQTT 5.0) or 4 (MQTT 3.1.1), not {version}"
                )));
            };
            options.mqtt.set_protocol_version(version);
            Ok(())
        }
    }

    /// The most QoS 1/2 messages in flight at once, whatever the server allows (1..65535,
    /// default 65535; 0 is `TETHER_INVALID_ARGUMENT`). On 3.1.1, whose servers announce no
    /// Receive Maximum, this is the window.
    #[no_mangle]
    pub extern "C" fn tether_options_set_max_inflight(options: *mut tether_options, n: u16) -> tether_result {
        ffi_boundary! {
            let options = try_mut!(options);
            let n = validate::RECEIVE_MAXIMUM.check::<u16>("max_inflight", n)?;
            options.mqtt.set_max_inflight(n);
            Ok(())
        }
    }

    /// What to do with unacknowledged messages when the server answers a resume with
    /// session present = false: `TETHER_SESSION_LOST_REPUBLISH` (default) or
    /// `TETHER_SESSION_LOST_FAIL`.
    #[no_mangle]
    pub extern "C" fn tether_options_set_on_session_lost(
        options: *mut tether_options,
        policy: u8,
    ) -> tether_result {
        ffi_boundary! {
            let options = try_mut!(options);
            let policy = match policy {
                TETHER_SESSION_LOST_REPUBLISH => SessionLostPolicy::Republish,
                TETHER_SESSION_LOST_FAIL => SessionLostPolicy::Fail,
                other => {
                    return Err(Failure::invalid(format!("policy {other} is not a TETHER_SESSION_LOST_* policy")))
                }
            };
            options.mqtt.set_on_session_lost(policy);
            Ok(())
        }
    }

    /// How long one connection attempt (TCP connect and CONNACK) may take (default 10000 ms;
    /// not 0).
    #[no_mangle]
    pub extern "C" fn tether_options_set_connect_timeout(
        options: *mut tether_options,
        timeout_ms: u32,
    ) -> tether_result {
        ffi_boundary! {
            let options = try_mut!(options);
            let timeout = validate::connect_timeout("timeout_ms", Duration::from_millis(u64::from(timeout_ms)))?;
            options.mqtt.set_connect_timeout(timeout);
            Ok(())
        }
    }

    /// The Will Message the server publishes when the connection ends without DISCONNECT:
    /// `topic` (a topic name), `payload_len` bytes of `payload` (NULL is fine for 0), QoS,
    /// retain, and optional will properties (`will_properties` may be NULL; allowed:
    /// `TETHER_PROP_WILL_DELAY_INTERVAL`, `_PAYLOAD_FORMAT_INDICATOR`,
    /// `_MESSAGE_EXPIRY_INTERVAL`, `_CONTENT_TYPE`, `_RESPONSE_TOPIC`, `_CORRELATION_DATA`,
    /// user properties; others give `TETHER_INVALID_ARGUMENT`). Everything is copied.
    #[no_mangle]
    pub extern "C" fn tether_options_set_will(
        options: *mut tether_options,
        topic: *const c_char,
        payload: *const u8,
        payload_len: usize,
        qos: u8,
        retain: bool,
        will_properties: *const tether_properties,
    ) -> tether_result {
        ffi_boundary! {
            let options = try_mut!(options);
            let topic = try_str!(topic);
            let payload = try_bytes!(payload, payload_len);
            validate_topic_name(topic).map_err(|e| {
                Failure::new(tether_result::TETHER_INVALID_TOPIC, format!("will topic {topic:?}: {e}"))
            })?;
            if payload.len() > 65_535 {
                return Err(Failure::new(
                    tether_result::TETHER_PACKET_TOO_LARGE,
                    "a will payload is limited to 65535 bytes",
                ));
            }
            let qos = self::qos(qos)?;
            // SAFETY: the C contract: NULL or a live properties object, not changed during
            // the call.
            let properties = match unsafe { cast::try_ref(will_properties) } {
                Some(p) => p.to_will()?,
                None => Default::default(),
            };
            options.mqtt.set_last_will(LastWill {
                topic: topic.to_owned(),
                payload: Bytes::copy_from_slice(payload),
                qos,
                retain,
                properties,
            });
            Ok(())
        }
    }

    /// Every CONNECT property at once, from a general property set (copied). This replaces
    /// the CONNECT properties set before, including those of the direct setters
    /// (`tether_options_set_session_expiry_interval`, `_set_receive_maximum`,
    /// `_set_max_packet_size`, `_set_topic_alias_maximum`): call it first, then the direct
    /// setters. A property that CONNECT does not carry gives `TETHER_INVALID_ARGUMENT` and
    /// changes nothing.
    #[no_mangle]
    pub extern "C" fn tether_options_set_connect_properties(
        options: *mut tether_options,
        properties: *const tether_properties,
    ) -> tether_result {
        ffi_boundary! {
            let options = try_mut!(options);
            let properties = try_ref!(properties).to_connect()?;
            options.mqtt.set_connect_properties(properties);
            Ok(())
        }
    }
}

impl Options {
    /// The options a client is made from (delivery events stay off until an on_delivery
    /// callback is set).
    pub(crate) fn for_client(&self) -> Result<MqttOptions, Failure> {
        let mut mqtt = self.mqtt.clone();
        if let Some(tls) = &self.tls {
            mqtt.set_tls(tls.clone())?;
        }
        Ok(mqtt)
    }

    fn tls(&mut self) -> &mut TlsOptions {
        self.tls.get_or_insert_with(TlsOptions::default)
    }
}

/// PEM text given as a pointer and a length, copied (NULL refused even with length 0: a
/// PEM argument is never optional).
fn pem_bytes(ptr: *const c_char, len: usize, name: &str) -> Result<Vec<u8>, Failure> {
    if ptr.is_null() {
        return Err(Failure::null(name));
    }
    Ok(crate::boundary::c_bytes(ptr.cast::<u8>(), len, name)?.to_vec())
}

/// The longest ALPN protocol name (RFC 7301 section 3.1: a one-byte length).
const MAX_ALPN: usize = 255;

impl tether_options {
    /// Trust the CA certificates of the PEM file `path` for `mqtts://` and `wss://` servers (instead of
    /// the system's root certificates, which are trusted when no CA file is given). The file
    /// is read now: `TETHER_TLS` when it cannot be read or holds no certificate, with the
    /// file named in `tether_last_error()`; the options keep what they had.
    ///
    /// ```c
    /// tether_options_set_tls_ca_file(options, "/etc/mqtt/ca.pem");
    /// ```
    #[no_mangle]
    pub extern "C" fn tether_options_set_tls_ca_file(
        options: *mut tether_options,
        path: *const c_char,
    ) -> tether_result {
        ffi_boundary! {
            let options = try_mut!(options);
            let path = try_str!(path);
            let check = TlsOptions { ca_file: Some(path.into()), ..TlsOptions::default() };
            check.build()?;
            options.tls().ca_file = check.ca_file;
            Ok(())
        }
    }

    /// The client certificate (PEM, leaf first) and its private key (PEM: PKCS#1, PKCS#8 or
    /// SEC1) shown to servers that ask for one (mutual TLS). Both files are read now:
    /// `TETHER_TLS` when one cannot be read, holds no certificate or key, or the key is not
    /// the certificate's (the file is named in `tether_last_error()`).
    ///
    /// ```c
    /// tether_options_set_tls_client_cert(options, "client.pem", "client.key");
    /// ```
    #[no_mangle]
    pub extern "C" fn tether_options_set_tls_client_cert(
        options: *mut tether_options,
        cert_file: *const c_char,
        key_file: *const c_char,
    ) -> tether_result {
        ffi_boundary! {
            let options = try_mut!(options);
            let cert_file = try_str!(cert_file);
            let key_file = try_str!(key_file);
            // verify off only so that this check reads no root certificates.
            let check = TlsOptions {
                client_cert_file: Some(cert_file.into()),
                client_key_file: Some(key_file.into()),
                verify: false,
                ..TlsOptions::default()
            };
            check.build()?;
            let tls = options.tls();
            tls.client_cert_file = check.client_cert_file;
            tls.client_key_file = check.client_key_file;
            // Replaces a certificate given as PEM bytes.
            tls.client_cert_pem = None;
            tls.client_key_pem = None;
            Ok(())
        }
    }

    /// Trust the CA certificates of the PEM text `pem` (`len` bytes, copied; no NUL needed)
    /// for `mqtts://` and `wss://` servers, like `tether_options_set_tls_ca_file` but from
    /// memory (both may be given: the CAs of both are trusted; calling again replaces the
    /// PEM). `TETHER_TLS` when it holds no certificate; `TETHER_NULL_ARGUMENT` when `pem` is
    /// NULL; the options keep what they had.
    ///
    /// ```c
    /// tether_options_set_tls_ca_pem(options, ca_pem, strlen(ca_pem));
    /// ```
    #[no_mangle]
    pub extern "C" fn tether_options_set_tls_ca_pem(
        options: *mut tether_options,
        pem: *const c_char,
        len: usize,
    ) -> tether_result {
        ffi_boundary! {
            let options = try_mut!(options);
            let pem = pem_bytes(pem, len, "pem")?;
            let check = TlsOptions { ca_pem: Some(pem), ..TlsOptions::default() };
            check.build()?;
            options.tls().ca_pem = check.ca_pem;
            Ok(())
        }
    }

    /// The client certificate (PEM text, leaf first; `cert_len` bytes) and its private key
    /// (PEM: PKCS#1, PKCS#8 or SEC1; `key_len` bytes) for mutual TLS, from memory: both
    /// copied, no NUL needed. Replaces a certificate set before, from files or PEM.
    /// `TETHER_TLS` when one holds no certificate or key, or the key is not the
    /// certificate's; `TETHER_NULL_ARGUMENT` for a NULL pointer; the options keep what they
    /// had. Copy the key from memory you then clear, if it matters to you.
    ///
    /// ```c
    /// tether_options_set_tls_client_cert_pem(options, cert, strlen(cert), key, strlen(key));
    /// ```
    #[no_mangle]
    pub extern "C" fn tether_options_set_tls_client_cert_pem(
        options: *mut tether_options,
        cert: *const c_char,
        cert_len: usize,
        key: *const c_char,
        key_len: usize,
    ) -> tether_result {
        ffi_boundary! {
            let options = try_mut!(options);
            let cert = pem_bytes(cert, cert_len, "cert")?;
            let key = pem_bytes(key, key_len, "key")?;
            // verify off only so that this check reads no root certificates.
            let check = TlsOptions {
                client_cert_pem: Some(cert),
                client_key_pem: Some(key),
                verify: false,
                ..TlsOptions::default()
            };
            check.build()?;
            let tls = options.tls();
            tls.client_cert_pem = check.client_cert_pem;
            tls.client_key_pem = check.client_key_pem;
            tls.client_cert_file = None;
            tls.client_key_file = None;
            Ok(())
        }
    }

    /// Reach the servers through an HTTP proxy with `CONNECT`: `url` is
    /// `http://[user[:password]@]host[:port]` (copied; port 80 when not given; user and
    /// password percent-encoded where needed, e.g. `%40` for `@`; sent as `Proxy-Authorization:
    /// Basic`). Applies to `mqtt://`, `mqtts://`, `ws://` and `wss://` servers alike, every
    /// server of the list (one proxy for all); TLS and WebSocket run end to end through the
    /// tunnel, and the connect timeout covers the proxy's answer. "" (an empty string)
    /// clears it: connections go direct again (the default). `TETHER_INVALID_ARGUMENT` for
    /// anything but an `http://` URL (`https://`, `socks5://` proxies are not supported) or
    /// a malformed one; `TETHER_NULL_ARGUMENT` for NULL. A refusal at connect time is
    /// `TETHER_PROXY`; with a `unix://` server, connecting is `TETHER_INVALID_ARGUMENT`.
    ///
    /// ```c
    /// tether_options_set_proxy(options, "http://user:secret@proxy.example:3128");
    /// ```
    #[no_mangle]
    pub extern "C" fn tether_options_set_proxy(
        options: *mut tether_options,
        url: *const c_char,
    ) -> tether_result {
        ffi_boundary! {
            let options = try_mut!(options);
            let url = try_str!(url);
            if url.is_empty() {
                options.mqtt.clear_proxy();
            } else {
                options.mqtt.set_proxy(ProxyOptions::from_url(url)?)?;
            }
            Ok(())
        }
    }

    /// An extra HTTP header for the WebSocket handshake with `ws://` and `wss://` servers,
    /// for example an authorization token (`name` and `value` copied; call again for more,
    /// a name may repeat). The `mqtt` subprotocol is always asked for.
    /// `TETHER_INVALID_ARGUMENT` when the name or value is not valid HTTP or the header is
    /// one the handshake sets itself (`Host`, `Upgrade`, `Connection`, `Sec-WebSocket-*`).
    ///
    /// ```c
    /// tether_options_set_ws_header(options, "Authorization", "Bearer eyJhbGciOi...");
    /// ```
    #[no_mangle]
    pub extern "C" fn tether_options_set_ws_header(
        options: *mut tether_options,
        name: *const c_char,
        value: *const c_char,
    ) -> tether_result {
        ffi_boundary! {
            let options = try_mut!(options);
            let name = try_str!(name);
            let value = try_str!(value);
            options.mqtt.set_ws_header(name, value)?;
            Ok(())
        }
    }

    /// The ALPN protocols offered to `mqtts://` and `wss://` servers alike (in the TLS
    /// handshake under the WebSocket), in order of preference: an array of
    /// `n` NUL-terminated strings (each 1 to 255 bytes), copied. `n` 0 (`protocols` may then
    /// be NULL) offers none, the default.
    ///
    /// ```c
    /// const char *const alpn[] = {"mqtt"};
    /// tether_options_set_tls_alpn(options, alpn, 1);
    /// ```
    #[no_mangle]
    pub extern "C" fn tether_options_set_tls_alpn(
        options: *mut tether_options,
        protocols: *const *const c_char,
        n: usize,
    ) -> tether_result {
        ffi_boundary! {
            let options = try_mut!(options);
            let mut alpn = Vec::with_capacity(n);
            for (i, protocol) in crate::boundary::c_str_array(protocols, n, "protocols")?.into_iter().enumerate() {
                if protocol.is_empty() || protocol.len() > MAX_ALPN {
                    return Err(Failure::invalid(format!(
                        "ALPN protocol {i} is {} bytes; 1 to {MAX_ALPN} allowed",
                        protocol.len()
                    )));
                }
                alpn.push(protocol.as_bytes().to_vec());
            }
            options.tls().alpn = alpn;
            Ok(())
        }
    }

    /// Whether the server's certificate is verified (default true). **false is dangerous**:
    /// any certificate is accepted, so anyone on the path can read and change the traffic.
    /// For tests and development only.
    ///
    /// ```c
    /// tether_options_set_tls_verify(options, false); // a test broker's self-signed certificate
    /// ```
    #[no_mangle]
    pub extern "C" fn tether_options_set_tls_verify(
        options: *mut tether_options,
        verify: bool,
    ) -> tether_result {
        ffi_boundary! {
            try_mut!(options).tls().verify = verify;
            Ok(())
        }
    }
}
