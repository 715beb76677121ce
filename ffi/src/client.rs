//! `tether_client`: one MQTT client, and the calls into C that its dispatcher makes.
//!
//! The dispatch thread, the inbox for polling and what goes to which callback are the core's
//! (`tether_core::dispatch`, shared with the Python face); this module holds the C callbacks
//! and calls them. Callbacks are copied out of their lock before the call, so C never runs
//! with a lock held. When no on_message callback is set, messages wait in the bounded inbox
//! for `tether_client_recv` (signalled through `tether_client_event_fd`); a full inbox stops
//! the client from reading the server, so flow control reaches it.

use std::ffi::{c_char, c_void};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tether_core::codec::{SubscribeProperties, Subscription, SubscriptionOptions};
use tether_core::dispatch::{Disconnection, DispatchOptions, Dispatcher, Handler};
use tether_core::validate;
use tether_core::{
    Client, ConnAck, DisconnectCause, DisconnectKind, DisconnectReasonCode, Error, Message,
    PublishCompletion, PublishProperties, ServerAddr,
};

use crate::boundary::{ffi_boundary, try_bytes, try_ref, try_str, write_opt, write_out};
use crate::callback::{
    tether_on_connect_callback, tether_on_delivery_callback, tether_on_disconnect_callback,
    tether_on_disconnect_ex_callback, tether_on_message_callback, UserData, TETHER_DISCONNECT_BY_CLIENT,
    TETHER_DISCONNECT_BY_SERVER, TETHER_DISCONNECT_KEEP_ALIVE, TETHER_DISCONNECT_LOST,
    TETHER_DISCONNECT_REFUSED,
};
use crate::cast::{self, Castable, OwnershipArc};
use crate::message::{tether_message, MessageData};
use crate::options::{qos, tether_options};
use crate::properties::tether_properties;
use crate::result::{result_of_kind, tether_result, Failure, Outcome};
use crate::signal::Signal;

/// `timeout_ms` value: do not wait. The request is sent and the call returns at once
/// (allowed from inside a callback); its outcome arrives through the callbacks.
pub const TETHER_NO_WAIT: u32 = 0;
/// `timeout_ms` value: wait as long as it takes.
pub const TETHER_WAIT_FOREVER: u32 = u32::MAX;

/// The largest payload MQTT can carry in one PUBLISH (Remaining Length limit less a minimal
/// header); larger ones are refused before they are copied.
use tether_core::codec::MAX_PAYLOAD;

/// An MQTT 5.0 client.
///
/// Made by `tether_client_new`, owned by the caller, freed by `tether_client_free`.
/// **Thread safety:** every `tether_client_*` function may be called from any thread, at the
/// same time, and from inside the client's own callbacks, except that `tether_client_free`
/// must not race other calls on the same client.
///
/// Callbacks run on the client's own dispatch thread, one at a time, in order. Inside a
/// callback every call is allowed: publishing only queues (with a full queue under
/// `TETHER_OVERFLOW_BLOCK` it returns `TETHER_QUEUE_FULL` instead of waiting); a call that
/// would wait for the server on this same client (`connect`, `subscribe`, `unsubscribe`,
/// `disconnect` with a timeout other than `TETHER_NO_WAIT`; `flush`; `recv` with a timeout)
/// returns `TETHER_WOULD_DEADLOCK` without doing anything; `tether_client_free` is deferred
/// until the callback returns.
///
/// Which callback hears what (the same story as the Python face): on_connect for every
/// CONNACK that accepts the connection; on_disconnect (and on_disconnect_ex) for every end of
/// a connection and for every CONNACK that refuses one, with the CONNACK's reason code; a
/// connection lost without DISCONNECT gives on_disconnect the reason code 0x80.
///
/// Timeouts are in milliseconds: `TETHER_NO_WAIT` (0) sends a request without waiting for
/// its answer, `TETHER_WAIT_FOREVER` waits as long as it takes.
///
/// Methods: `tether_client_new`, `tether_client_free`, `tether_client_set_on_message`,
/// `tether_client_set_on_connect`, `tether_client_set_on_disconnect`,
/// `tether_client_set_on_disconnect_ex`,
/// `tether_client_set_on_delivery`, `tether_client_connect`, `tether_client_connect_url`,
/// `tether_client_publish`,
/// `tether_client_publish_with_properties`, `tether_client_subscribe`,
/// `tether_client_subscribe_with_options`, `tether_client_unsubscribe`,
/// `tether_client_flush`, `tether_client_disconnect`, `tether_client_ack`,
/// `tether_client_recv`, `tether_client_event_fd`, `tether_client_is_connected`,
/// `tether_client_stats`.
pub struct tether_client {
    _private: [u8; 0],
}

impl Castable for tether_client {
    type Ownership = OwnershipArc;
    type RustType = ClientShared;
}

/// Counters of a client, filled by `tether_client_stats`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct tether_stats {
    /// Messages received.
    pub messages_in: u64,
    /// Messages sent.
    pub messages_out: u64,
    /// Messages sent again (DUP) after a reconnect.
    pub retransmissions: u64,
    /// Automatic reconnects.
    pub reconnects: u64,
    /// Messages waiting to be sent.
    pub queued: u64,
    /// Bytes of the messages waiting to be sent.
    pub queued_bytes: u64,
    /// QoS 1/2 messages sent and not yet acknowledged.
    pub inflight: u64,
    /// Messages waiting for `tether_client_recv`.
    pub inbox: u64,
    /// True while connected.
    pub connected: bool,
}

#[derive(Clone, Copy, Default)]
struct Callbacks {
    on_message: (tether_on_message_callback, UserData),
    on_connect: (tether_on_connect_callback, UserData),
    on_disconnect: (tether_on_disconnect_callback, UserData),
    on_disconnect_ex: (tether_on_disconnect_ex_callback, UserData),
    on_delivery: (tether_on_delivery_callback, UserData),
}

/// The Rust value behind `tether_client`.
pub struct ClientShared {
    client: Client,
    dispatcher: Dispatcher,
    callbacks: Arc<Mutex<Callbacks>>,
    signal: Arc<Signal>,
}

// A panic while holding one of these locks leaves consistent data (plain assignments).
use tether_core::sync::lock;

fn timeout_of(ms: u32) -> Option<Duration> {
    (ms != TETHER_WAIT_FOREVER).then(|| Duration::from_millis(u64::from(ms)))
}

impl ClientShared {
    fn in_own_callback(&self) -> bool {
        self.dispatcher.is_dispatch_thread()
    }

    /// `TETHER_WOULD_DEADLOCK` when `call` would wait on this client from its own callback.
    fn may_wait(&self, call: &str, timeout_ms: u32) -> Outcome {
        if timeout_ms != TETHER_NO_WAIT && self.in_own_callback() {
            return Err(Failure::new(
                tether_result::TETHER_WOULD_DEADLOCK,
                format!(
                    "{call} was called from a callback of the same client and would wait for it; \
                     pass TETHER_NO_WAIT to send the request without waiting"
                ),
            ));
        }
        Ok(())
    }

    /// The connect calls' common part: connects to `servers` (tried in turn) and waits for
    /// the CONNACK; `Ok(None)` when told not to wait.
    fn connect(
        &self,
        call: &str,
        servers: Vec<ServerAddr>,
        timeout_ms: u32,
    ) -> Result<Option<tether_core::ConnAck>, Failure> {
        self.may_wait(call, timeout_ms)?;
        if self.client.stats().connected {
            return Err(Failure::new(tether_result::TETHER_INVALID_STATE, "already connected"));
        }
        let pending = self.client.as_async().connect_request(Some(servers));
        self.wait(pending, timeout_ms, "connect")
    }

    /// Waits for a request's answer: `Ok(None)` when told not to wait.
    fn wait<T: Clone>(
        &self,
        pending: tether_core::Pending<Result<T, Error>>,
        timeout_ms: u32,
        what: &str,
    ) -> Result<Option<T>, Failure> {
        if timeout_ms == TETHER_NO_WAIT {
            return Ok(None);
        }
        match pending.wait(timeout_of(timeout_ms)) {
            Some(Ok(value)) => Ok(Some(value)),
            Some(Err(e)) => Err(e.into()),
            None => Err(Failure::new(
                tether_result::TETHER_TIMEOUT,
                format!("{what}: no answer within {timeout_ms} ms"),
            )),
        }
    }
}

/// The C side of the dispatcher: each event becomes a call of the registered callback,
/// copied out of its lock first.
struct CHandler {
    callbacks: Arc<Mutex<Callbacks>>,
}

/// `on_disconnect`'s `cause`.
fn cause_result(cause: &DisconnectCause) -> tether_result {
    match cause {
        DisconnectCause::Local { reason_code, .. } if !reason_code.is_error() => tether_result::TETHER_OK,
        DisconnectCause::Local { .. } => tether_result::TETHER_PROTOCOL_ERROR,
        DisconnectCause::Server { .. } => tether_result::TETHER_DISCONNECTED,
        DisconnectCause::KeepAliveTimeout => tether_result::TETHER_TIMEOUT,
        DisconnectCause::Refused { .. } => tether_result::TETHER_CONNECTION_REFUSED,
        DisconnectCause::ConnectionLost => tether_result::TETHER_IO,
    }
}

/// `on_disconnect_ex`'s `by`.
fn by(kind: DisconnectKind) -> u8 {
    match kind {
        DisconnectKind::Server => TETHER_DISCONNECT_BY_SERVER,
        DisconnectKind::Client => TETHER_DISCONNECT_BY_CLIENT,
        DisconnectKind::KeepAliveTimeout => TETHER_DISCONNECT_KEEP_ALIVE,
        DisconnectKind::ConnectionLost => TETHER_DISCONNECT_LOST,
        DisconnectKind::Refused => TETHER_DISCONNECT_REFUSED,
    }
}

impl Handler for CHandler {
    fn enter(&mut self, run: &mut dyn FnMut(&mut dyn Handler)) {
        run(self)
    }

    fn on_message(&mut self, message: Message) -> Option<Message> {
        let (callback, user_data) = lock(&self.callbacks).on_message;
        let Some(f) = callback else { return Some(message) };
        let message = MessageData::new(message);
        let ptr = cast::to_const_ptr::<tether_message>(&message);
        // SAFETY: a function pointer the application registered for this client, called on
        // the dispatch thread as the header documents, with its own user data and a message
        // that lives until the call returns.
        unsafe { f(user_data.0, ptr) };
        None
    }

    fn on_connect(&mut self, ack: &ConnAck) {
        let (callback, user_data) = lock(&self.callbacks).on_connect;
        if let Some(f) = callback {
            // SAFETY: as in `on_message`; plain values only.
            unsafe { f(user_data.0, ack.session_present, ack.reason_code as u8) };
        }
    }

    fn on_disconnect(&mut self, d: &Disconnection) {
        let c = *lock(&self.callbacks);
        if let (Some(f), user_data) = c.on_disconnect {
            // SAFETY: as in `on_message`; plain values only.
            unsafe { f(user_data.0, d.reason_code, cause_result(&d.cause)) };
        }
        if let (Some(f), user_data) = c.on_disconnect_ex {
            // No packet exchanged: 0, which `by` qualifies.
            let reason_code = d.packet_reason_code().unwrap_or(0);
            let reason_string = d.reason_string().map(crate::properties::lossy_cstring);
            let ptr = reason_string.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
            // SAFETY: as in `on_message`; `ptr` is NULL or a string that outlives the call.
            unsafe { f(user_data.0, by(d.kind), reason_code, ptr) };
        }
    }

    fn on_deliveries(&mut self, deliveries: Vec<PublishCompletion>) {
        for c in deliveries {
            let (callback, user_data) = lock(&self.callbacks).on_delivery;
            let Some(f) = callback else { return };
            let (result, reason_code) = match c.result {
                Ok(outcome) => (tether_result::TETHER_OK, outcome.reason_code as u8),
                Err(e) => (result_of_kind(e.kind()), e.reason_code().unwrap_or(0)),
            };
            // SAFETY: as in `on_message`; plain values only.
            unsafe { f(user_data.0, c.token, result, reason_code) };
        }
    }
    // Notices: the core logs them already (the C log callback hears them).
}

impl tether_client {
    /// Makes a client from `options` (copied: they may be freed right after) and writes it
    /// to `*client_out`, which the caller owns and frees with `tether_client_free`. Nothing
    /// connects before `tether_client_connect`. Starts the client's dispatch thread; set the
    /// callbacks before connecting. `TETHER_TLS` when the TLS settings cannot make a
    /// configuration (no CA file given and the system has no root certificates).
    #[no_mangle]
    pub extern "C" fn tether_client_new(
        options: *const tether_options,
        client_out: *mut *mut tether_client,
    ) -> tether_result {
        ffi_boundary! {
            let options = try_ref!(options);
            if client_out.is_null() {
                return Err(Failure::null("client_out"));
            }
            let signal = Arc::new(Signal::new()
                .map_err(|e| Failure::new(tether_result::TETHER_IO, format!("cannot make the event fd: {e}")))?);
            let client = Client::new(options.for_client()?);
            let callbacks = Arc::new(Mutex::new(Callbacks::default()));
            let for_inbox = signal.clone();
            let dispatcher = Dispatcher::new(
                client.as_async().clone(),
                Box::new(CHandler { callbacks: callbacks.clone() }),
                DispatchOptions {
                    inbox_signal: Some(Box::new(move |ready| if ready { for_inbox.raise() } else { for_inbox.clear() })),
                    ..DispatchOptions::default()
                },
            );
            dispatcher
                .start()
                .map_err(|e| Failure::new(tether_result::TETHER_IO, format!("cannot start the dispatch thread: {e}")))?;
            let shared = Arc::new(ClientShared { client, dispatcher, callbacks, signal });
            write_out!(client_out, cast::to_arc_const_ptr::<tether_client>(shared).cast_mut());
            Ok(())
        }
    }

    /// Frees a client: stops its dispatch thread (waiting for a running callback to return)
    /// and closes its connection without DISCONNECT (so the server publishes the will; call
    /// `tether_client_disconnect` first for a clean end). Messages waiting in the inbox are
    /// discarded. A client with a session store (`tether_options_set_store_path`) also waits
    /// (at most 5 s) for its connection to stop, so that the store is free when this returns
    /// (provided the options that opened it were freed too). From inside one of this client's callbacks the free is deferred until the
    /// callback returns, and no further callback follows. From another client's callback it
    /// waits like any caller, so two clients' callbacks must not free each other. Calling
    /// with NULL is fine. Must not be called twice, nor while another thread is calling into
    /// the same client.
    #[no_mangle]
    pub extern "C" fn tether_client_free(client: *mut tether_client) {
        ffi_boundary! {
            // SAFETY: the C contract: NULL or a client from `tether_client_new`, freed once.
            let Some(shared) = (unsafe { cast::take_arc(client.cast_const()) }) else { return };
            shared.dispatcher.stop();
            // From the client's own callback this does not wait: the dispatch thread ends
            // after the callback returns.
            shared.dispatcher.join(None);
            let client = shared.client.as_async();
            if client.has_store() {
                // The session store is released when the driver has stopped: wait for it
                // (bounded), so that a client made next on the same path can open it.
                client.close();
                let _ = client.closed().wait(Some(std::time::Duration::from_secs(5)));
            }
        }
    }

    /// Sets (or with NULL removes) the on_message callback. With no on_message callback,
    /// messages wait for `tether_client_recv` instead; those already waiting when a callback
    /// is set go to it first, in order.
    #[no_mangle]
    pub extern "C" fn tether_client_set_on_message(
        client: *mut tether_client,
        callback: tether_on_message_callback,
        user_data: *mut c_void,
    ) -> tether_result {
        ffi_boundary! {
            let shared = try_ref!(client);
            lock(&shared.callbacks).on_message = (callback, UserData(user_data));
            shared.dispatcher.set_on_message(callback.is_some());
            Ok(())
        }
    }

    /// Sets (or with NULL removes) the on_connect callback.
    #[no_mangle]
    pub extern "C" fn tether_client_set_on_connect(
        client: *mut tether_client,
        callback: tether_on_connect_callback,
        user_data: *mut c_void,
    ) -> tether_result {
        ffi_boundary! {
            lock(&try_ref!(client).callbacks).on_connect = (callback, UserData(user_data));
            Ok(())
        }
    }

    /// Sets (or with NULL removes) the on_disconnect callback.
    #[no_mangle]
    pub extern "C" fn tether_client_set_on_disconnect(
        client: *mut tether_client,
        callback: tether_on_disconnect_callback,
        user_data: *mut c_void,
    ) -> tether_result {
        ffi_boundary! {
            lock(&try_ref!(client).callbacks).on_disconnect = (callback, UserData(user_data));
            Ok(())
        }
    }

    /// Sets (or with NULL removes) the on_disconnect_ex callback, which says who ended the
    /// connection (`tether_on_disconnect_ex_callback`). It may be set together with
    /// on_disconnect: then on_disconnect is called first, and on_disconnect_ex right after,
    /// for the same end of a connection.
    ///
    /// ```c
    /// tether_client_set_on_disconnect_ex(client, on_gone, NULL);
    /// ```
    #[no_mangle]
    pub extern "C" fn tether_client_set_on_disconnect_ex(
        client: *mut tether_client,
        callback: tether_on_disconnect_ex_callback,
        user_data: *mut c_void,
    ) -> tether_result {
        ffi_boundary! {
            lock(&try_ref!(client).callbacks).on_disconnect_ex = (callback, UserData(user_data));
            Ok(())
        }
    }

    /// Sets (or with NULL removes) the on_delivery callback. Publishes that complete while no
    /// callback is set are not reported later (and cost nothing to report). Deliveries reach
    /// the dispatch thread in batches; a callback per message still costs about 0.2-0.4 us
    /// of CPU each (measured with 64-byte QoS 0 publishes), so to learn only that a burst is
    /// delivered, `tether_client_flush` is cheaper.
    #[no_mangle]
    pub extern "C" fn tether_client_set_on_delivery(
        client: *mut tether_client,
        callback: tether_on_delivery_callback,
        user_data: *mut c_void,
    ) -> tether_result {
        ffi_boundary! {
            let shared = try_ref!(client);
            lock(&shared.callbacks).on_delivery = (callback, UserData(user_data));
            // Without a callback nobody reads delivery events: skip making them.
            shared.dispatcher.report_deliveries(callback.is_some());
            Ok(())
        }
    }

    /// Connects to `host:port` over TCP and waits up to `timeout_ms` for the CONNACK;
    /// `*session_present_out` (may be NULL) tells whether the server resumed the session.
    /// After the first success the client reconnects by itself, resuming the session.
    /// Errors: `TETHER_CONNECTION_REFUSED` (CONNACK reason code in
    /// `tether_last_reason_code()`), `TETHER_IO`, `TETHER_TIMEOUT` (the client keeps trying
    /// in the background; `tether_client_disconnect` stops it), `TETHER_INVALID_STATE`
    /// (already connected), `TETHER_INVALID_ARGUMENT` (an empty host, port 0). With
    /// `TETHER_NO_WAIT` the outcome arrives through on_connect.
    #[no_mangle]
    pub extern "C" fn tether_client_connect(
        client: *mut tether_client,
        host: *const c_char,
        port: u16,
        timeout_ms: u32,
        session_present_out: *mut bool,
    ) -> tether_result {
        ffi_boundary! {
            let shared = try_ref!(client);
            let host = try_str!(host);
            if host.is_empty() {
                return Err(Failure::invalid("host is empty"));
            }
            let port = validate::PORT.check("port", port)?;
            let servers = vec![ServerAddr::tcp(host, port)];
            if let Some(ack) = shared.connect("tether_client_connect", servers, timeout_ms)? {
                write_opt!(session_present_out, ack.session_present);
            }
            Ok(())
        }
    }

    /// Connects to the server `url` names and waits up to `timeout_ms` for the CONNACK, as
    /// `tether_client_connect` does: `mqtt://host[:1883]`, `mqtts://host[:8883]` (TLS as the
    /// `tether_options_set_tls_*` calls said; the system's root certificates otherwise),
    /// `ws://host[:80][/path]`, `wss://host[:443][/path]` (WebSocket, path `/mqtt` by
    /// default, headers from `tether_options_set_ws_header`, TLS as for `mqtts://`) or
    /// `unix:///path`; an IPv6 address goes in brackets. Errors besides those of
    /// `tether_client_connect`: `TETHER_INVALID_ARGUMENT` (not such a URL),
    /// `TETHER_TLS` (the server's certificate is not trusted, expired or for another host,
    /// or the server refused the handshake; not retried), `TETHER_WEBSOCKET` (the server
    /// refused the WebSocket upgrade, e.g. "upgrade refused: 404 Not Found", or did not
    /// confirm the `mqtt` subprotocol; not retried), `TETHER_PROXY` (the HTTP proxy of
    /// `tether_options_set_proxy` refused CONNECT, e.g. "407 Proxy Authentication Required";
    /// a 4xx is not retried).
    ///
    /// ```c
    /// bool session_present;
    /// tether_client_connect_url(client, "mqtts://broker.example", 5000, &session_present);
    /// ```
    #[no_mangle]
    pub extern "C" fn tether_client_connect_url(
        client: *mut tether_client,
        url: *const c_char,
        timeout_ms: u32,
        session_present_out: *mut bool,
    ) -> tether_result {
        ffi_boundary! {
            let shared = try_ref!(client);
            let servers = vec![ServerAddr::from_url(try_str!(url))?];
            if let Some(ack) = shared.connect("tether_client_connect_url", servers, timeout_ms)? {
                write_opt!(session_present_out, ack.session_present);
            }
            Ok(())
        }
    }

    /// Connects to the first of `n` servers (an array of URLs, as `tether_client_connect_url`
    /// reads them, copied) that answers, trying them in turn, and waits up to `timeout_ms`
    /// for the CONNACK. The list stays the client's: when a connection is lost the client
    /// reconnects to the next server in it, going round (failover across the nodes of a
    /// cluster). Errors as for `tether_client_connect_url`; `n` 0 or any entry that is not
    /// such a URL is `TETHER_INVALID_ARGUMENT` naming the entry, a NULL array or entry
    /// `TETHER_NULL_ARGUMENT`.
    ///
    /// ```c
    /// const char *const nodes[] = {"mqtt://10.0.0.1", "mqtt://10.0.0.2", "mqtt://10.0.0.3"};
    /// bool session_present;
    /// tether_client_connect_urls(client, nodes, 3, 5000, &session_present);
    /// ```
    #[no_mangle]
    pub extern "C" fn tether_client_connect_urls(
        client: *mut tether_client,
        urls: *const *const c_char,
        n: usize,
        timeout_ms: u32,
        session_present_out: *mut bool,
    ) -> tether_result {
        ffi_boundary! {
            let shared = try_ref!(client);
            let servers = ServerAddr::from_urls(crate::boundary::c_str_array(urls, n, "urls")?)?;
            if let Some(ack) = shared.connect("tether_client_connect_urls", servers, timeout_ms)? {
                write_opt!(session_present_out, ack.session_present);
            }
            Ok(())
        }
    }

    /// Publishes `payload_len` bytes of `payload` (NULL is fine for 0) to `topic` with QoS
    /// 0, 1 or 2. Does not wait for the server: the message is queued (also while
    /// disconnected) and delivered in order; `tether_client_flush` waits for deliveries, and
    /// on_delivery reports each. Bad input (invalid topic, QoS > 2, payload over the MQTT
    /// limit) fails here, before anything is queued.
    #[no_mangle]
    pub extern "C" fn tether_client_publish(
        client: *mut tether_client,
        topic: *const c_char,
        payload: *const u8,
        payload_len: usize,
        qos: u8,
        retain: bool,
    ) -> tether_result {
        ffi_boundary! {
            let shared = try_ref!(client);
            let topic = try_str!(topic);
            if payload_len > MAX_PAYLOAD {
                return Err(too_large(payload_len));
            }
            let payload = try_bytes!(payload, payload_len);
            publish(shared, topic, payload, qos, retain, PublishProperties::default()).map(|_| ())
        }
    }

    /// `tether_client_publish` with PUBLISH properties (`properties` may be NULL; allowed:
    /// `TETHER_PROP_PAYLOAD_FORMAT_INDICATOR`, `_MESSAGE_EXPIRY_INTERVAL`, `_CONTENT_TYPE`,
    /// `_RESPONSE_TOPIC`, `_CORRELATION_DATA`, user properties; they are copied). Writes the
    /// delivery's token to `*token_out` (may be NULL): on_delivery reports it.
    #[no_mangle]
    pub extern "C" fn tether_client_publish_with_properties(
        client: *mut tether_client,
        topic: *const c_char,
        payload: *const u8,
        payload_len: usize,
        qos: u8,
        retain: bool,
        properties: *const tether_properties,
        token_out: *mut u64,
    ) -> tether_result {
        ffi_boundary! {
            let shared = try_ref!(client);
            let topic = try_str!(topic);
            if payload_len > MAX_PAYLOAD {
                return Err(too_large(payload_len));
            }
            let payload = try_bytes!(payload, payload_len);
            // SAFETY: the C contract: NULL or a live properties object, unchanged during the
            // call.
            let properties = match unsafe { cast::try_ref(properties) } {
                Some(p) => p.to_publish()?,
                None => PublishProperties::default(),
            };
            let token = publish(shared, topic, payload, qos, retain, properties)?;
            write_opt!(token_out, token);
            Ok(())
        }
    }

    /// Subscribes to one topic filter with maximum QoS `qos` and waits up to `timeout_ms`
    /// for the SUBACK. A refusal gives `TETHER_REJECTED` with the SUBACK reason code in
    /// `tether_last_reason_code()`.
    #[no_mangle]
    pub extern "C" fn tether_client_subscribe(
        client: *mut tether_client,
        filter: *const c_char,
        qos: u8,
        timeout_ms: u32,
    ) -> tether_result {
        ffi_boundary! {
            let shared = try_ref!(client);
            let filter = try_str!(filter);
            let options = SubscriptionOptions { qos: self::qos(qos)?, ..Default::default() };
            subscribe(shared, filter, options, 0, timeout_ms).map(|_| ())
        }
    }

    /// Subscribes with every MQTT 5 subscription option: `no_local` (do not receive this
    /// client's own messages), `retain_as_published`, `retain_handling` (0: send retained
    /// messages at subscribe, 1: only for a new subscription, 2: never), and a
    /// `subscription_identifier` (1..268435455, or 0 for none). Writes the SUBACK reason code
    /// (the granted QoS) to `*reason_code_out` (may be NULL); a refusal gives
    /// `TETHER_REJECTED` with the code in `tether_last_reason_code()`.
    #[no_mangle]
    pub extern "C" fn tether_client_subscribe_with_options(
        client: *mut tether_client,
        filter: *const c_char,
        qos: u8,
        no_local: bool,
        retain_as_published: bool,
        retain_handling: u8,
        subscription_identifier: u32,
        timeout_ms: u32,
        reason_code_out: *mut u8,
    ) -> tether_result {
        ffi_boundary! {
            let shared = try_ref!(client);
            let filter = try_str!(filter);
            let retain_handling = validate::retain_handling("retain_handling", retain_handling)?;
            let options = SubscriptionOptions { qos: self::qos(qos)?, no_local, retain_as_published, retain_handling };
            if let Some(code) = subscribe(shared, filter, options, subscription_identifier, timeout_ms)? {
                write_opt!(reason_code_out, code);
            }
            Ok(())
        }
    }

    /// Unsubscribes from one topic filter and waits up to `timeout_ms` for the UNSUBACK
    /// (a refusal gives `TETHER_REJECTED` with its reason code).
    #[no_mangle]
    pub extern "C" fn tether_client_unsubscribe(
        client: *mut tether_client,
        filter: *const c_char,
        timeout_ms: u32,
    ) -> tether_result {
        ffi_boundary! {
            let shared = try_ref!(client);
            let filter = try_str!(filter);
            shared.may_wait("tether_client_unsubscribe", timeout_ms)?;
            let pending = shared
                .client
                .as_async()
                .unsubscribe_request(vec![filter.to_owned()], Default::default())
                .map_err(Failure::from)?;
            if let Some(codes) = shared.wait(pending, timeout_ms, "unsubscribe")? {
                if let Some(code) = codes.first().filter(|c| c.is_error()) {
                    return Err(Failure::new(
                        tether_result::TETHER_REJECTED,
                        format!("the server refused to unsubscribe from {filter:?}: {code}"),
                    )
                    .with_reason_code(*code as u8));
                }
            }
            Ok(())
        }
    }

    /// Waits up to `timeout_ms` until every message published so far is delivered or
    /// failed (`TETHER_NO_WAIT` only checks; `TETHER_TIMEOUT` when some are not). Returns
    /// `TETHER_DELIVERY_FAILED` when deliveries failed since the previous flush (refused by
    /// the server, expired, dropped, lost with the session): `tether_last_error()` gives the
    /// count and the first failures. From inside one of this client's callbacks it returns
    /// `TETHER_WOULD_DEADLOCK`.
    #[no_mangle]
    pub extern "C" fn tether_client_flush(client: *mut tether_client, timeout_ms: u32) -> tether_result {
        ffi_boundary! {
            let shared = try_ref!(client);
            if shared.in_own_callback() {
                return Err(Failure::new(
                    tether_result::TETHER_WOULD_DEADLOCK,
                    "tether_client_flush was called from a callback of the same client; \
                     use on_delivery to learn when messages are delivered",
                ));
            }
            // The core's flush covers every publish that returned before this call.
            match shared.client.as_async().flush_request().wait(timeout_of(timeout_ms)) {
                Some(Ok(_report)) => Ok(()),
                Some(Err(e)) => Err(e.into()),
                None => Err(Failure::new(
                    tether_result::TETHER_TIMEOUT,
                    format!("flush: messages still undelivered after {timeout_ms} ms"),
                )),
            }
        }
    }

    /// Sends DISCONNECT (normal disconnection), closes the connection and stops
    /// reconnecting; waits up to `timeout_ms`. It does not wait for earlier publishes: call
    /// `tether_client_flush` first to deliver them. Messages not yet sent stay queued for a
    /// later `tether_client_connect`, and with a session expiry > 0 the server keeps the
    /// session.
    /// Not connected: stops any connection attempt and returns `TETHER_OK`.
    #[no_mangle]
    pub extern "C" fn tether_client_disconnect(client: *mut tether_client, timeout_ms: u32) -> tether_result {
        ffi_boundary! {
            let shared = try_ref!(client);
            shared.may_wait("tether_client_disconnect", timeout_ms)?;
            let pending = shared
                .client
                .as_async()
                .disconnect_request(DisconnectReasonCode::NormalDisconnection, None);
            shared.wait(pending, timeout_ms, "disconnect").map(|_| ())
        }
    }

    /// Acknowledges a QoS 1/2 message under manual acks (`tether_options_set_manual_acks`).
    /// `message` may be the borrowed message of a callback or an owned one.
    /// `TETHER_INVALID_ARGUMENT` when the message needs no ack.
    #[no_mangle]
    pub extern "C" fn tether_client_ack(
        client: *mut tether_client,
        message: *const tether_message,
    ) -> tether_result {
        ffi_boundary! {
            let shared = try_ref!(client);
            let message = try_ref!(message);
            let Some(ack_id) = message.message.ack_id() else {
                return Err(Failure::invalid("this message needs no ack (QoS 0, or manual acks are off)"));
            };
            shared.client.as_async().ack_id(ack_id).map_err(Failure::from)
        }
    }

    /// The polling alternative to on_message: takes the next received message, waiting up
    /// to `timeout_ms` (`TETHER_NO_WAIT` only looks), and writes it to `*message_out`; the
    /// caller owns it and frees it with `tether_message_free`. `TETHER_TIMEOUT` when none
    /// came. Only for a client without an on_message callback (`TETHER_INVALID_STATE`
    /// otherwise). Up to 1024 messages wait; beyond that the client stops reading from the
    /// server until the application takes some.
    #[no_mangle]
    pub extern "C" fn tether_client_recv(
        client: *mut tether_client,
        timeout_ms: u32,
        message_out: *mut *mut tether_message,
    ) -> tether_result {
        ffi_boundary! {
            let shared = try_ref!(client);
            if message_out.is_null() {
                return Err(Failure::null("message_out"));
            }
            if shared.dispatcher.has_on_message() {
                return Err(Failure::new(
                    tether_result::TETHER_INVALID_STATE,
                    "tether_client_recv needs a client without an on_message callback",
                ));
            }
            shared.may_wait("tether_client_recv", timeout_ms)?;
            let message = match timeout_ms {
                TETHER_NO_WAIT => shared.dispatcher.try_recv(),
                ms => shared.dispatcher.recv_timeout(timeout_of(ms)),
            };
            let Some(message) = message.map(MessageData::new) else {
                return Err(Failure::new(tether_result::TETHER_TIMEOUT, format!("no message within {timeout_ms} ms")));
            };
            write_out!(message_out, cast::to_boxed_mut_ptr::<tether_message>(message));
            Ok(())
        }
    }

    /// A file descriptor for poll/select/epoll that is readable while messages wait for
    /// `tether_client_recv`. It belongs to the client: do not read, write or close it; it
    /// stays valid until `tether_client_free`. -1 for NULL.
    #[no_mangle]
    pub extern "C" fn tether_client_event_fd(client: *const tether_client) -> std::ffi::c_int {
        ffi_boundary! {
            try_ref!(client).signal.fd()
        }
    }

    /// True while the client is connected.
    #[no_mangle]
    pub extern "C" fn tether_client_is_connected(client: *const tether_client) -> bool {
        ffi_boundary! {
            try_ref!(client).client.stats().connected
        }
    }

    /// How many messages were restored from the session store (`tether_options_set_store_path`)
    /// when the client was made: what a previous run published and did not see completed.
    /// Their tokens come from `tether_client_restored_token`; with an on_delivery callback set
    /// before `tether_client_connect`, each is reported there like any publish. 0 without a
    /// store.
    ///
    /// ```c
    /// size_t n = 0;
    /// tether_client_restored_count(client, &n);
    /// ```
    #[no_mangle]
    pub extern "C" fn tether_client_restored_count(
        client: *const tether_client,
        count_out: *mut usize,
    ) -> tether_result {
        ffi_boundary! {
            let n = try_ref!(client).client.as_async().restored().len();
            write_out!(count_out, n);
            Ok(())
        }
    }

    /// The token of restored message `index` (0-based, in original order; below
    /// `tether_client_restored_count`), as on_delivery will report it.
    /// `TETHER_INVALID_ARGUMENT` for an index out of range.
    ///
    /// ```c
    /// uint64_t token;
    /// tether_client_restored_token(client, 0, &token);
    /// ```
    #[no_mangle]
    pub extern "C" fn tether_client_restored_token(
        client: *const tether_client,
        index: usize,
        token_out: *mut u64,
    ) -> tether_result {
        ffi_boundary! {
            let restored = try_ref!(client).client.as_async().restored();
            let Some(d) = restored.get(index) else {
                return Err(Failure::invalid(format!(
                    "index {index} is beyond the {} restored messages",
                    restored.len()
                )));
            };
            write_out!(token_out, d.token());
            Ok(())
        }
    }

    /// Writes the client's counters to `*stats_out`.
    #[no_mangle]
    pub extern "C" fn tether_client_stats(
        client: *const tether_client,
        stats_out: *mut tether_stats,
    ) -> tether_result {
        ffi_boundary! {
            let shared = try_ref!(client);
            let s = shared.client.stats();
            let inbox = shared.dispatcher.inbox_len() as u64;
            write_out!(stats_out, tether_stats {
                messages_in: s.messages_in,
                messages_out: s.messages_out,
                retransmissions: s.retransmissions,
                reconnects: s.reconnects,
                queued: s.queued,
                queued_bytes: s.queued_bytes,
                inflight: s.inflight,
                inbox,
                connected: s.connected,
            });
            Ok(())
        }
    }
}

fn too_large(len: usize) -> Failure {
    Failure::new(
        tether_result::TETHER_PACKET_TOO_LARGE,
        format!("a payload of {len} bytes exceeds what one MQTT packet can carry ({MAX_PAYLOAD} bytes)"),
    )
    .with_reason_code(0x95)
}

/// Queues one publish; the token of its delivery.
fn publish(
    shared: &ClientShared,
    topic: &str,
    payload: &[u8],
    qos: u8,
    retain: bool,
    properties: PublishProperties,
) -> Result<u64, Failure> {
    let qos = self::qos(qos)?;
    let payload = Bytes::copy_from_slice(payload);
    let delivery = if !shared.in_own_callback() {
        shared.client.publish_with_properties(topic, qos, retain, payload, properties)?
    } else {
        // From this client's own callback: take the message only if the client can take it
        // now. Waiting here would wait for progress that may need this very thread.
        match shared.client.as_async().try_publish(topic, qos, retain, payload, properties) {
            Err(Error::QueueFull(_)) => {
                return Err(Failure::new(
                    tether_result::TETHER_QUEUE_FULL,
                    "the send queue is full and this call comes from the client's own callback, \
                     where waiting for room could deadlock",
                ))
            }
            other => other?,
        }
    };
    Ok(delivery.token())
}

/// Sends one SUBSCRIBE; the SUBACK reason code unless told not to wait.
fn subscribe(
    shared: &ClientShared,
    filter: &str,
    options: SubscriptionOptions,
    subscription_identifier: u32,
    timeout_ms: u32,
) -> Result<Option<u8>, Failure> {
    shared.may_wait("tether_client_subscribe", timeout_ms)?;
    let properties = SubscribeProperties {
        subscription_identifier: (subscription_identifier != 0).then_some(subscription_identifier),
        ..Default::default()
    };
    let subscription = Subscription { filter: filter.to_owned(), options };
    let pending = shared.client.as_async().subscribe_request(vec![subscription], properties)?;
    let Some(outcome) = shared.wait(pending, timeout_ms, "subscribe")? else {
        return Ok(None);
    };
    let Some(code) = outcome.reason_codes.first().copied() else {
        return Err(Failure::new(tether_result::TETHER_PROTOCOL_ERROR, "SUBACK without a reason code"));
    };
    if code.is_error() {
        let why = outcome.properties.reason_string.map(|s| format!(": {s}")).unwrap_or_default();
        return Err(Failure::new(
            tether_result::TETHER_REJECTED,
            format!("the server refused the subscription to {filter:?}: {code}{why}"),
        )
        .with_reason_code(code as u8));
    }
    Ok(Some(code as u8))
}
