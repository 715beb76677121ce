//! `tether.Client`: the blocking client (and the asyncio primitives `tether.AsyncClient` is
//! built on).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use tether_core::{AsyncClient, DisconnectReasonCode, Pending, QoS};

use crate::aio::{self, Requeue};
use crate::convert::arg;
use crate::delivery::Delivery;
use crate::disconnect::DisconnectInfo;
use crate::message::Message;
use crate::options::{self, ClientArgs, Limits, PublishArgs};
use crate::props::{ConnAck, ConnectProperties, PublishProperties, Will};
use crate::shared::{Shared, Slot};
use crate::{convert, errors, lock, wait_slice};

/// An MQTT 5.0 client with a session that survives (blocking API; see `tether.AsyncClient`
/// for asyncio).
///
/// Every MQTT 5 connect option is a keyword argument. The client reconnects by itself after
/// the first successful `connect()`, resuming the session: unacknowledged QoS 1/2 messages are
/// sent again with DUP set, and messages published while disconnected wait in a bounded queue.
///
///     client = tether.Client("sensor-1", clean_start=False,
///                            session_expiry_interval=tether.SESSION_NEVER_EXPIRES)
///     ack = client.connect("127.0.0.1", 1883)
///     client.subscribe("sensors/#", qos=1)
///     client.publish("sensors/1", b"21.5", qos=1).wait(timeout=5)
///     for msg in client.messages(timeout=1.0):
///         print(msg.topic, msg.payload)
///     client.disconnect()
///
/// Keyword arguments: `clean_start` (first connection only; reconnects always resume),
/// `session_expiry_interval` (seconds; 0 ends the session with the connection,
/// `SESSION_NEVER_EXPIRES` never), `keep_alive` (seconds), `username`, `password`, `will`
/// (`tether.Will`), `properties` (`tether.ConnectProperties`, the general way to set CONNECT
/// properties; a keyword that contradicts it is an error), `reconnect`, `reconnect_min_delay`
/// and `reconnect_max_delay` (seconds, exponential backoff with jitter), `max_queued` and
/// `max_queued_bytes` (the send queue), `queue_overflow` ("block": publish waits for room;
/// "fail": QueueFullError; "drop_oldest": the oldest queued message is dropped and reported),
/// `on_session_lost` ("republish" queued messages again when the server lost the session, or
/// "fail" their deliveries with SessionLostError), `manual_ack` (acknowledge each QoS 1/2
/// message with `msg.ack()`), `receive_maximum`, `max_packet_size`, `topic_alias_maximum`,
/// `connect_timeout` (seconds for the TCP connection), `auto_topic_alias` (default True:
/// the client assigns topic aliases itself; False lets `PublishProperties(topic_alias=...)`
/// give them), `quota_retries` and `quota_retry_backoff` (a message the server refuses with
/// 0x97 Quota exceeded is published again after the back-off in seconds, doubling, at most
/// that many times; default 5 from 0.1 s), `protocol` (`tether.MQTTv5`, the default, or
/// `tether.MQTTv311`; on 3.1.1 a 5.0-only feature raises `NotSupportedError` before anything
/// is sent), `max_inflight` (the most QoS 1/2 messages in flight at once, whatever the server
/// allows; default 65535 — on 3.1.1, whose servers announce no limit, this is the window),
/// `proxy` (an HTTP CONNECT proxy, "http://[user[:password]@]host[:port]", user and password
/// percent-encoded, for mqtt://, mqtts://, ws:// and wss:// servers alike; TLS and WebSocket
/// run end to end through the tunnel; a refusal raises `ProxyError`; only http:// proxies),
/// `follow_server_references` (default True: a CONNACK or DISCONNECT with 0x9C "Use another
/// server" or 0x9D "Server moved" and a Server Reference sends the client there at once,
/// resuming its session; 0x9D replaces the server for later reconnects; at most 5 in a row).
///
///     client = tether.Client("sensor-1", proxy="http://user:secret@proxy.example:3128")
///
/// Callbacks (`on_message`, `on_connect`, `on_disconnect`) run in order on the client's own
/// dispatch thread with the GIL held; an exception they raise is logged on the `tether`
/// logger and the client carries on. The client is safe to share between threads.
///
/// Without `on_message`, received messages wait for `recv()` in a bounded buffer; when nobody
/// takes them the client stops reading from the server (flow control instead of unbounded
/// memory), which also holds back the acknowledgements of its own publishes.
#[pyclass(module = "tether", frozen, subclass, weakref)]
pub struct Client {
    shared: Arc<Shared>,
    limits: Limits,
    session_expiry: u32,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.shared.stop();
    }
}

/// Waits for a pending request in slices, without the GIL, checking for signals. `None`
/// when `limit` passed first.
fn wait_pending<T: Clone + Send>(
    py: Python<'_>,
    p: &Pending<T>,
    limit: Option<Duration>,
) -> PyResult<Option<T>> {
    if let Some(v) = p.peek() {
        return Ok(Some(v));
    }
    let deadline = limit.map(|t| Instant::now() + t);
    for _ in 0..u64::MAX {
        let slice = wait_slice(deadline);
        if let Some(v) = py.detach(|| p.wait(Some(slice))) {
            return Ok(Some(v));
        }
        py.check_signals()?;
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
    }
    Ok(None)
}

fn seconds_text(limit: Option<Duration>) -> String {
    limit.map(|d| format!("{} s", d.as_secs_f64())).unwrap_or_else(|| "the time allowed".into())
}

fn reason_codes<T: Into<u8> + Copy>(codes: &[T]) -> Vec<u8> {
    codes.iter().map(|c| (*c).into()).collect()
}

/// Reason codes as a list of ints (a `Vec<u8>` would become bytes).
fn codes_list(py: Python<'_>, codes: Vec<u8>) -> PyResult<Bound<'_, PyList>> {
    PyList::new(py, codes)
}

/// Resets `active` and wakes the receivers when a connect attempt is abandoned (asyncio
/// cancellation): the client must not go on connecting behind the application's back.
struct AbortConnect {
    core: Option<AsyncClient>,
}

impl AbortConnect {
    /// The request was answered: nothing to abandon.
    fn disarm(&mut self) {
        self.core = None;
    }
}

impl Drop for AbortConnect {
    fn drop(&mut self) {
        if let Some(core) = self.core.take() {
            // The request is sent at once; nobody waits for its outcome.
            drop(core.disconnect_request(DisconnectReasonCode::NormalDisconnection, None));
        }
    }
}

impl Client {
    /// Publishes if the client takes the message now; `None` when it would have to wait for
    /// room.
    fn try_publish(&self, py: Python<'_>, a: &PublishArgs) -> PyResult<Option<tether_core::Delivery>> {
        let core = &self.shared.core;
        match core.try_publish(a.topic.clone(), a.qos, a.retain, a.payload.clone(), a.properties.clone()) {
            Ok(d) => Ok(Some(d)),
            Err(tether_core::Error::QueueFull(_)) => Ok(None),
            Err(e) => Err(errors::to_py(py, &e)),
        }
    }

    fn delivery(&self, py: Python<'_>, d: tether_core::Delivery, qos: QoS) -> PyResult<Py<Delivery>> {
        Py::new(py, Delivery::new(d, &self.shared, qos as u8))
    }

    fn require_active(&self, py: Python<'_>, what: &str) -> PyResult<()> {
        if !self.shared.active.load(Ordering::Acquire) {
            return Err(errors::not_connected(
                py,
                format!("{what} needs a connection: call connect() first"),
            ));
        }
        Ok(())
    }
}

#[pymethods]
impl Client {
    #[new]
    #[pyo3(signature = (client_id="", *, clean_start=true, session_expiry_interval=None, keep_alive=60,
        username=None, password=None, will=None, properties=None, reconnect=true, reconnect_min_delay=0.1,
        reconnect_max_delay=30.0, max_queued=1_000, max_queued_bytes=16_777_216, queue_overflow="block",
        on_session_lost="republish", manual_ack=false, receive_maximum=None, max_packet_size=None,
        topic_alias_maximum=None, connect_timeout=10.0, auto_topic_alias=true, quota_retries=5,
        quota_retry_backoff=0.1, tls=None, ws_headers=None, protocol=5, max_inflight=65535, proxy=None,
        follow_server_references=true, store=None, durability="batched"))]
    #[allow(clippy::too_many_arguments)]
    fn py_new(
        py: Python<'_>,
        client_id: &str,
        clean_start: bool,
        #[pyo3(from_py_with = arg::session_expiry_interval)] session_expiry_interval: Option<u32>,
        #[pyo3(from_py_with = arg::keep_alive)] keep_alive: u16,
        username: Option<String>,
        password: Option<&Bound<'_, PyAny>>,
        will: Option<&Bound<'_, Will>>,
        properties: Option<&Bound<'_, ConnectProperties>>,
        reconnect: bool,
        #[pyo3(from_py_with = arg::reconnect_min_delay)] reconnect_min_delay: f64,
        #[pyo3(from_py_with = arg::reconnect_max_delay)] reconnect_max_delay: f64,
        #[pyo3(from_py_with = arg::max_queued)] max_queued: usize,
        #[pyo3(from_py_with = arg::max_queued_bytes)] max_queued_bytes: usize,
        queue_overflow: &str,
        on_session_lost: &str,
        manual_ack: bool,
        #[pyo3(from_py_with = arg::receive_maximum)] receive_maximum: Option<u16>,
        #[pyo3(from_py_with = arg::max_packet_size)] max_packet_size: Option<u32>,
        #[pyo3(from_py_with = arg::topic_alias_maximum)] topic_alias_maximum: Option<u16>,
        #[pyo3(from_py_with = arg::connect_timeout)] connect_timeout: f64,
        auto_topic_alias: bool,
        #[pyo3(from_py_with = arg::quota_retries)] quota_retries: u8,
        #[pyo3(from_py_with = arg::quota_retry_backoff)] quota_retry_backoff: f64,
        tls: Option<&Bound<'_, crate::tls::TlsOptions>>,
        ws_headers: Option<&Bound<'_, PyAny>>,
        #[pyo3(from_py_with = arg::protocol)] protocol: u8,
        #[pyo3(from_py_with = arg::max_inflight)] max_inflight: u16,
        proxy: Option<&str>,
        follow_server_references: bool,
        store: Option<std::path::PathBuf>,
        durability: &str,
    ) -> PyResult<Self> {
        let built = options::build(
            py,
            ClientArgs {
                client_id,
                clean_start,
                session_expiry_interval,
                keep_alive,
                username,
                password,
                will,
                properties,
                reconnect,
                reconnect_min_delay,
                reconnect_max_delay,
                max_queued,
                max_queued_bytes,
                queue_overflow,
                on_session_lost,
                manual_ack,
                receive_maximum,
                max_packet_size,
                topic_alias_maximum,
                connect_timeout,
                auto_topic_alias,
                quota_retries,
                quota_retry_backoff,
                tls,
                ws_headers,
                protocol,
                max_inflight,
                proxy,
                follow_server_references,
                store,
                durability,
            },
        )?;
        Ok(Client {
            shared: Shared::new(built.core, built.delivery_events),
            limits: built.limits,
            session_expiry: built.session_expiry,
        })
    }

    /// The client identifier.
    #[getter]
    fn client_id(&self) -> &str {
        &self.shared.client_id
    }

    /// The deliveries of the messages restored from the session store (`store=`) when the
    /// client was made, in their original order: what a previous run of the process
    /// published and did not see completed. Wait for them like any `Delivery`. Empty
    /// without a store.
    ///
    ///     for d in client.restored(): d.wait(10)
    fn restored(&self, py: Python<'_>) -> PyResult<Vec<Py<Delivery>>> {
        let restored = self.shared.core.restored_details();
        restored.into_iter().map(|(d, _, qos)| self.delivery(py, d, qos)).collect()
    }

    /// True between a successful `connect()` and `disconnect()` (also while reconnecting).
    #[getter]
    fn _active(&self) -> bool {
        self.shared.active.load(Ordering::Acquire)
    }

    /// True while a connection is up.
    #[getter]
    fn is_connected(&self) -> bool {
        self.shared.core.stats().connected
    }

    /// How the last connection ended (`DisconnectInfo`), or None before any ended. Set on the
    /// dispatch thread just before `on_disconnect` is called.
    ///
    ///     if client.last_disconnect and client.last_disconnect.by == "keep_alive": ...
    #[getter]
    fn last_disconnect(&self) -> Option<DisconnectInfo> {
        lock(&self.shared.last_disconnect).clone()
    }

    /// Connect to the server at `host`:`port` (port 1883 by default), or at the URL in
    /// `host` ("mqtt://host[:1883]", "mqtts://host[:8883]" secured by `tls=`,
    /// "ws://host[:80][/path]" and "wss://host[:443][/path]" over WebSocket (path "/mqtt" by
    /// default, headers from `ws_headers=`), "unix:///path"; the port is then the URL's), and
    /// wait for its CONNACK, at most `timeout` seconds. `TlsError` (a `ConnectError`) when
    /// the server's certificate is not trusted, expired or for another host, or the server
    /// refused the handshake; `WebSocketError` (a `ConnectError`) when the server refused
    /// the WebSocket upgrade (the HTTP status is in the message) or the "mqtt" subprotocol;
    /// `ProxyError` (a `ConnectError`) when the HTTP proxy of `proxy=` refused CONNECT (its
    /// status, e.g. 407, in the message). Returns the `ConnAck` (`session_present`,
    /// `reason_code`, `properties`). Raises `ConnectError` when the server refuses (with
    /// `.reason_code` and `.reason_string`) or cannot be reached, `TimeoutError` when no
    /// answer came in time. After a success the client reconnects by itself.
    ///
    /// `host` may also be a server list, URLs tried in turn (`port` None): the client
    /// connects to the first that answers and, when a connection is lost, reconnects to the
    /// next, going round (failover across the nodes of a cluster).
    ///
    ///     client.connect(["mqtt://10.0.0.1", "mqtt://10.0.0.2", "mqtt://10.0.0.3"])
    #[pyo3(signature = (host, port=None, timeout=10.0))]
    fn connect<'py>(
        &self,
        py: Python<'py>,
        host: &Bound<'_, PyAny>,
        #[pyo3(from_py_with = arg::port)] port: Option<u16>,
        #[pyo3(from_py_with = arg::timeout)] timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.connect_in(py, Mode::Blocking, host, port, timeout)
    }

    /// Subscribe and wait for the server's answer; returns one reason code per filter (the
    /// granted QoS 0/1/2, or a refusal >= 0x80).
    ///
    /// `topic` is a filter, a list of filters, or (filter, qos) tuples (a list of them mixes
    /// QoS). `no_local`, `retain_as_published`, `retain_handling` (0: send retained
    /// messages, 1: only for a new subscription, 2: never) apply to every filter;
    /// `subscription_identifier` (1..268435455) comes back on matching messages.
    #[pyo3(signature = (topic, qos=0, *, no_local=false, retain_as_published=false, retain_handling=0,
        subscription_identifier=None, user_properties=None, timeout=None))]
    #[allow(clippy::too_many_arguments)]
    fn subscribe<'py>(
        &self,
        py: Python<'py>,
        topic: &Bound<'_, PyAny>,
        #[pyo3(from_py_with = arg::qos)] qos: u8,
        no_local: bool,
        retain_as_published: bool,
        #[pyo3(from_py_with = arg::retain_handling)] retain_handling: u8,
        #[pyo3(from_py_with = arg::subscription_identifier)] subscription_identifier: Option<u32>,
        user_properties: Option<&Bound<'_, PyAny>>,
        #[pyo3(from_py_with = arg::timeout)] timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = options::subscribe_args(
            py,
            topic,
            qos,
            no_local,
            retain_as_published,
            retain_handling,
            subscription_identifier,
            user_properties,
        )?;
        self.subscribe_in(py, Mode::Blocking, args, timeout)
    }

    /// Unsubscribe from a filter or a list of filters and wait for the server's answer;
    /// returns one reason code per filter (0 = success, 0x11 = no subscription existed).
    #[pyo3(signature = (topic, *, user_properties=None, timeout=None))]
    fn unsubscribe<'py>(
        &self,
        py: Python<'py>,
        topic: &Bound<'_, PyAny>,
        user_properties: Option<&Bound<'_, PyAny>>,
        #[pyo3(from_py_with = arg::timeout)] timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.unsubscribe_in(py, Mode::Blocking, topic, user_properties, timeout)
    }

    /// Publish a message; returns a `Delivery` at once (it does not wait for the server).
    ///
    /// `payload` is bytes, bytearray, memoryview or str (UTF-8); None sends an empty payload.
    /// The message is queued while disconnected and sent (again, with DUP) until the server
    /// acknowledges it. Under `queue_overflow="block"` it blocks once the send queue
    /// (`max_queued`) and the client's request buffer (1,024 publishes) are full, until there
    /// is room (releasing the GIL; Ctrl-C interrupts). Invalid input raises
    /// (`InvalidTopicError`, `InvalidArgumentError`, `TypeError`) before anything is queued.
    #[pyo3(signature = (topic, payload=None, qos=0, retain=false, properties=None))]
    fn publish(
        &self,
        py: Python<'_>,
        topic: &Bound<'_, PyAny>,
        payload: Option<&Bound<'_, PyAny>>,
        #[pyo3(from_py_with = arg::qos)] qos: u8,
        retain: bool,
        properties: Option<&Bound<'_, PublishProperties>>,
    ) -> PyResult<Py<Delivery>> {
        let a = options::publish_args(py, topic, payload, qos, retain, properties)?;
        self.limits.admit(py, &self.shared.core, &a)?;
        let qos = a.qos;
        if let Some(d) = self.try_publish(py, &a)? {
            return self.delivery(py, d, qos);
        }
        // The send queue is full and the client waits for room.
        if self.shared.on_dispatch_thread() {
            return Err(errors::queue_full(
                py,
                "the send queue is full; publish() cannot wait for room inside a callback of the same client",
            ));
        }
        let mut fut = Box::pin(self.shared.core.publish_with_properties(
            a.topic,
            a.qos,
            a.retain,
            a.payload,
            a.properties,
        ));
        let rt = tether_core::runtime::shared();
        for _ in 0..u64::MAX {
            let r =
                py.detach(|| rt.block_on(async { tokio::time::timeout(crate::SLICE, &mut fut).await.ok() }));
            if let Some(r) = r {
                let d = r.map_err(|e| errors::to_py(py, &e))?;
                return self.delivery(py, d, qos);
            }
            py.check_signals()?;
        }
        Err(errors::queue_full(py, "the send queue stayed full"))
    }

    /// Wait until every delivery published so far has completed (acknowledged or failed), at
    /// most `timeout` seconds (None: as long as it takes); `TimeoutError` otherwise. Raises
    /// `PublishError` (with `failed` and `failures`) when deliveries failed since the
    /// previous flush.
    #[pyo3(signature = (timeout=None))]
    fn flush<'py>(
        &self,
        py: Python<'py>,
        #[pyo3(from_py_with = arg::timeout)] timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.flush_in(py, Mode::Blocking, timeout)
    }

    /// The next received message, waiting at most `timeout` seconds (None: until one comes);
    /// None when none came in time, or when the client is not connected (after `disconnect()`)
    /// and no message is left. Releases the GIL; Ctrl-C interrupts it. Not for use together
    /// with `on_message` (which then takes the messages).
    #[pyo3(signature = (timeout=None))]
    fn recv(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = arg::timeout)] timeout: Option<f64>,
    ) -> PyResult<Option<Py<Message>>> {
        recv_blocking(py, &self.shared, convert::timeout(py, timeout)?)
    }

    /// Iterate over received messages: `for msg in client.messages(timeout=1.0): ...`. The
    /// iteration ends when no message came within `timeout` seconds (None: it waits as long as
    /// the client is connected) or after `disconnect()`.
    #[pyo3(signature = (timeout=None))]
    fn messages(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = arg::timeout)] timeout: Option<f64>,
    ) -> PyResult<MessageIterator> {
        Ok(MessageIterator { shared: self.shared.clone(), timeout: convert::timeout(py, timeout)? })
    }

    /// Send DISCONNECT (with `reason_code`, 0 = normal; 4 = disconnect with the will message)
    /// and close the connection, waiting at most `timeout` seconds. `session_expiry_interval`
    /// changes the session's expiry (for example 0 to end a persistent session now). Queued
    /// messages stay queued for a later `connect()`. Inside a callback it does not wait.
    #[pyo3(signature = (reason_code=0, session_expiry_interval=None, timeout=10.0))]
    fn disconnect<'py>(
        &self,
        py: Python<'py>,
        #[pyo3(from_py_with = arg::reason_code)] reason_code: u8,
        #[pyo3(from_py_with = arg::session_expiry_interval)] session_expiry_interval: Option<u32>,
        #[pyo3(from_py_with = arg::timeout)] timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.disconnect_in(py, Mode::Blocking, reason_code, session_expiry_interval, timeout)
    }

    /// The client's counters: messages_in, messages_out, retransmissions, reconnects, queued,
    /// queued_bytes, inflight, connected.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.shared.core.stats();
        let d = PyDict::new(py);
        d.set_item("messages_in", s.messages_in)?;
        d.set_item("messages_out", s.messages_out)?;
        d.set_item("retransmissions", s.retransmissions)?;
        d.set_item("reconnects", s.reconnects)?;
        d.set_item("queued", s.queued)?;
        d.set_item("queued_bytes", s.queued_bytes)?;
        d.set_item("inflight", s.inflight)?;
        d.set_item("connected", s.connected)?;
        d.set_item("deliveries_failed", s.deliveries_failed)?;
        d.set_item("quota_retries", s.quota_retries)?;
        Ok(d)
    }

    /// Called with each received `Message` on the dispatch thread (then `recv()` gets nothing).
    #[getter]
    fn get_on_message(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.shared.callback(py, Slot::Message)
    }

    #[setter]
    fn set_on_message(&self, value: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        self.set_slot(Slot::Message, value)
    }

    /// Called with the `ConnAck` of every connection the server accepts (the first and each
    /// automatic reconnect). A CONNACK that refuses the connection goes to `on_disconnect`
    /// (`info.by == "refused"`), in the C face as well.
    #[getter]
    fn get_on_connect(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.shared.callback(py, Slot::Connect)
    }

    #[setter]
    fn set_on_connect(&self, value: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        self.set_slot(Slot::Connect, value)
    }

    /// Called when a connection ends or a CONNACK refuses one, as `fn(reason_code)` or
    /// `fn(reason_code, info)`. `reason_code` (int) is the same number the C face's
    /// on_disconnect gets: 0 after `disconnect()`, the server's DISCONNECT reason code, the
    /// refusing CONNACK's, 0x8D for the client's keep-alive timeout, 0x80 when the
    /// connection was lost without one, so 0x80 and 0x8D alone do not say who ended it. A
    /// callback with two positional parameters also gets a `DisconnectInfo` (`.by`,
    /// `.reason_code`, `.reason_string`), which does:
    ///
    ///     def gone(reason_code: int, info: tether.DisconnectInfo) -> None:
    ///         if info.by == "lost": ...
    ///     client.on_disconnect = gone
    #[getter]
    fn get_on_disconnect(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.shared.callback(py, Slot::Disconnect)
    }

    #[setter]
    fn set_on_disconnect(&self, value: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        self.set_slot(Slot::Disconnect, value)
    }

    /// Returns the client; leaving the `with` block disconnects it.
    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Disconnects (when connected); an error of that disconnect is raised only when the
    /// block itself raised nothing.
    #[pyo3(signature = (exc_type=None, exc_value=None, traceback=None))]
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyAny>>,
        exc_value: Option<&Bound<'_, PyAny>>,
        traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let _ = (exc_value, traceback);
        if self.shared.active.load(Ordering::Acquire) || self.shared.core.stats().connected {
            let r = self.disconnect(py, 0, None, Some(10.0));
            if exc_type.is_none_or(|t| t.is_none()) {
                r?;
            }
        }
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let state = if self.shared.core.stats().connected { "connected" } else { "not connected" };
        format!("<tether.Client {} {state}>", crate::props::str_repr(&self.shared.client_id))
    }

    fn __traverse__(&self, visit: pyo3::gc::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        self.shared.traverse(&visit)
    }

    fn __clear__(&self) {
        self.shared.clear_callbacks();
    }

    // --- asyncio primitives (tether.AsyncClient builds its coroutines on these) ----------

    #[pyo3(signature = (host, port=None, timeout=10.0))]
    fn _aconnect<'py>(
        &self,
        py: Python<'py>,
        host: &Bound<'_, PyAny>,
        #[pyo3(from_py_with = arg::port)] port: Option<u16>,
        #[pyo3(from_py_with = arg::timeout)] timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.connect_in(py, Mode::Async, host, port, timeout)
    }

    #[pyo3(signature = (topic, qos=0, *, no_local=false, retain_as_published=false, retain_handling=0,
        subscription_identifier=None, user_properties=None, timeout=None))]
    #[allow(clippy::too_many_arguments)]
    fn _asubscribe<'py>(
        &self,
        py: Python<'py>,
        topic: &Bound<'py, PyAny>,
        #[pyo3(from_py_with = arg::qos)] qos: u8,
        no_local: bool,
        retain_as_published: bool,
        #[pyo3(from_py_with = arg::retain_handling)] retain_handling: u8,
        #[pyo3(from_py_with = arg::subscription_identifier)] subscription_identifier: Option<u32>,
        user_properties: Option<&Bound<'py, PyAny>>,
        #[pyo3(from_py_with = arg::timeout)] timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = options::subscribe_args(
            py,
            topic,
            qos,
            no_local,
            retain_as_published,
            retain_handling,
            subscription_identifier,
            user_properties,
        )?;
        self.subscribe_in(py, Mode::Async, args, timeout)
    }

    #[pyo3(signature = (topic, *, user_properties=None, timeout=None))]
    fn _aunsubscribe<'py>(
        &self,
        py: Python<'py>,
        topic: &Bound<'py, PyAny>,
        user_properties: Option<&Bound<'py, PyAny>>,
        #[pyo3(from_py_with = arg::timeout)] timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.unsubscribe_in(py, Mode::Async, topic, user_properties, timeout)
    }

    /// Returns a `Delivery` when the client took the message at once, else an asyncio future
    /// of it (the send queue is full under "block").
    #[pyo3(signature = (topic, payload=None, qos=0, retain=false, properties=None))]
    fn _apublish<'py>(
        &self,
        py: Python<'py>,
        topic: &Bound<'py, PyAny>,
        payload: Option<&Bound<'py, PyAny>>,
        #[pyo3(from_py_with = arg::qos)] qos: u8,
        retain: bool,
        properties: Option<&Bound<'py, PublishProperties>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let a = options::publish_args(py, topic, payload, qos, retain, properties)?;
        self.limits.admit(py, &self.shared.core, &a)?;
        let qos = a.qos;
        if let Some(d) = self.try_publish(py, &a)? {
            return Ok(self.delivery(py, d, qos)?.into_bound(py).into_any());
        }
        let core = self.shared.core.clone();
        let fut = async move {
            core.publish_with_properties(a.topic, a.qos, a.retain, a.payload, a.properties).await
        };
        let client = self.shared.clone();
        aio::spawn(py, async move {
            let r = fut.await;
            let o = aio::outcome(move |py| match r {
                Ok(d) => Ok(Py::new(py, Delivery::new(d, &client, qos as u8))?.into_any()),
                Err(e) => Err(errors::to_py(py, &e)),
            });
            (o, None)
        })
    }

    #[pyo3(signature = (timeout=None))]
    fn _aflush<'py>(
        &self,
        py: Python<'py>,
        #[pyo3(from_py_with = arg::timeout)] timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.flush_in(py, Mode::Async, timeout)
    }

    #[pyo3(signature = (reason_code=0, session_expiry_interval=None, timeout=10.0))]
    fn _adisconnect<'py>(
        &self,
        py: Python<'py>,
        #[pyo3(from_py_with = arg::reason_code)] reason_code: u8,
        #[pyo3(from_py_with = arg::session_expiry_interval)] session_expiry_interval: Option<u32>,
        #[pyo3(from_py_with = arg::timeout)] timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.disconnect_in(py, Mode::Async, reason_code, session_expiry_interval, timeout)
    }

    /// A `Message` when one is waiting, None when none can come, else an asyncio future of
    /// the next one (or of None after `timeout`).
    #[pyo3(signature = (timeout=None))]
    fn _arecv<'py>(
        &self,
        py: Python<'py>,
        #[pyo3(from_py_with = arg::timeout)] timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let limit = convert::timeout(py, timeout)?;
        self.shared.ensure_dispatch();
        if let Some(m) = self.shared.dispatcher.try_recv() {
            return Ok(Bound::new(py, Message::new(m, Arc::downgrade(&self.shared)))?.into_any());
        }
        if self.shared.drained() {
            return Ok(py.None().into_bound(py));
        }
        let shared = self.shared.clone();
        aio::spawn(py, async move {
            let wait = shared.dispatcher.recv_async(|| !shared.active.load(Ordering::Acquire));
            let got = match limit {
                Some(t) => tokio::time::timeout(t, wait).await.ok().flatten(),
                None => wait.await,
            };
            match got {
                Some(m) => {
                    let weak = Arc::downgrade(&shared);
                    let back = (weak.clone(), m.clone());
                    let requeue: Requeue = Some(Box::new(move || {
                        if let Some(client) = back.0.upgrade() {
                            client.dispatcher.push_front(back.1);
                        }
                    }));
                    (aio::outcome(move |py| Ok(Py::new(py, Message::new(m, weak))?.into_any())), requeue)
                }
                None => (aio::outcome(|py| Ok(py.None())), None),
            }
        })
    }
}

/// How a method answers: blocking (without the GIL, interruptible with Ctrl-C) for
/// `tether.Client`, or with an asyncio future for `tether.AsyncClient`. Each operation is
/// written once, for both.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Blocking,
    Async,
}

/// Turns a request's value into Python.
type OnOk<T> = Box<dyn for<'py> FnOnce(Python<'py>, T) -> PyResult<Py<PyAny>> + Send>;

/// The answer to a request in Python: `on_ok` for its value, its error's exception, or
/// `TimeoutError` saying `what` when none came in time.
fn answer_of<T>(
    py: Python<'_>,
    r: Option<Result<T, tether_core::Error>>,
    what: String,
    on_ok: OnOk<T>,
) -> PyResult<Py<PyAny>> {
    match r {
        Some(Ok(v)) => on_ok(py, v),
        Some(Err(e)) => Err(errors::to_py(py, &e)),
        None => Err(errors::timeout(py, what)),
    }
}

/// Waits for `pending` at most `limit`, as `mode` says. `abort` (a connect) is dropped, which
/// abandons the request, when the wait is (timeout, Ctrl-C, asyncio cancellation), and kept
/// from it when an answer came.
fn answer<'py, T: Clone + Send + 'static>(
    py: Python<'py>,
    mode: Mode,
    pending: Pending<Result<T, tether_core::Error>>,
    limit: Option<Duration>,
    what: String,
    mut abort: Option<AbortConnect>,
    on_ok: OnOk<T>,
) -> PyResult<Bound<'py, PyAny>> {
    match mode {
        Mode::Blocking => {
            let r = wait_pending(py, &pending, limit)?;
            if r.is_some() {
                abort.iter_mut().for_each(AbortConnect::disarm);
            }
            drop(abort);
            answer_of(py, r, what, on_ok).map(|v| v.into_bound(py))
        }
        Mode::Async => aio::spawn(py, async move {
            let r = match limit {
                Some(t) => tokio::time::timeout(t, pending).await.ok(),
                None => Some(pending.await),
            };
            if r.is_some() {
                abort.iter_mut().for_each(AbortConnect::disarm);
            }
            drop(abort);
            (aio::outcome(move |py| answer_of(py, r, what, on_ok)), None)
        }),
    }
}

fn codes_answer<T: Into<u8> + Copy + Send + 'static>() -> OnOk<Vec<T>> {
    Box::new(|py, codes| Ok(codes_list(py, reason_codes(&codes))?.into_any().unbind()))
}

fn none_answer<T: Send + 'static>() -> OnOk<T> {
    Box::new(|py, _| Ok(py.None()))
}

impl Client {
    fn connect_in<'py>(
        &self,
        py: Python<'py>,
        mode: Mode,
        host: &Bound<'_, PyAny>,
        port: Option<u16>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let servers = options::servers(py, host, port)?;
        let limit = convert::timeout(py, timeout)?;
        if mode == Mode::Blocking {
            self.shared.refuse_in_callback(py, "connect()")?;
        }
        self.shared.ensure_dispatch();
        let where_to = servers.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        let pending = self.shared.core.connect_request(Some(servers));
        let abort = AbortConnect { core: Some(self.shared.core.clone()) };
        let what = format!("no CONNACK from {where_to} within {}", seconds_text(limit));
        let shared = self.shared.clone();
        let on_ok: OnOk<tether_core::ConnAck> = Box::new(move |py, ack| {
            shared.active.store(true, Ordering::Release);
            Ok(ConnAck::from_core(py, &ack)?.into_any())
        });
        answer(py, mode, pending, limit, what, Some(abort), on_ok)
    }

    fn subscribe_in<'py>(
        &self,
        py: Python<'py>,
        mode: Mode,
        args: options::SubscribeArgs,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let limit = convert::timeout(py, timeout)?;
        if mode == Mode::Blocking {
            self.shared.refuse_in_callback(py, "subscribe()")?;
        }
        self.require_active(py, "subscribe()")?;
        let pending = self
            .shared
            .core
            .subscribe_request(args.subscriptions, args.properties)
            .map_err(|e| errors::to_py(py, &e))?;
        let what = format!("no SUBACK within {}", seconds_text(limit));
        let on_ok: OnOk<tether_core::SubscribeOutcome> =
            Box::new(|py, o| Ok(codes_list(py, reason_codes(&o.reason_codes))?.into_any().unbind()));
        answer(py, mode, pending, limit, what, None, on_ok)
    }

    fn unsubscribe_in<'py>(
        &self,
        py: Python<'py>,
        mode: Mode,
        topic: &Bound<'_, PyAny>,
        user_properties: Option<&Bound<'_, PyAny>>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let filters = options::unsubscribe_args(py, topic)?;
        let properties = tether_core::codec::UnsubscribeProperties {
            user_properties: convert::user_properties(user_properties)?,
        };
        let limit = convert::timeout(py, timeout)?;
        if mode == Mode::Blocking {
            self.shared.refuse_in_callback(py, "unsubscribe()")?;
        }
        self.require_active(py, "unsubscribe()")?;
        let pending =
            self.shared.core.unsubscribe_request(filters, properties).map_err(|e| errors::to_py(py, &e))?;
        let what = format!("no UNSUBACK within {}", seconds_text(limit));
        answer(py, mode, pending, limit, what, None, codes_answer())
    }

    fn flush_in<'py>(
        &self,
        py: Python<'py>,
        mode: Mode,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let limit = convert::timeout(py, timeout)?;
        if mode == Mode::Blocking {
            self.shared.refuse_in_callback(py, "flush()")?;
        }
        let pending = self.shared.core.flush_request();
        let what = format!("deliveries still under way after {}", seconds_text(limit));
        answer(py, mode, pending, limit, what, None, none_answer())
    }

    fn disconnect_in<'py>(
        &self,
        py: Python<'py>,
        mode: Mode,
        reason_code: u8,
        session_expiry_interval: Option<u32>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (code, sei) =
            options::disconnect_args(py, reason_code, session_expiry_interval, self.session_expiry)?;
        let limit = convert::timeout(py, timeout)?;
        self.shared.active.store(false, Ordering::Release);
        self.shared.wake_receivers();
        let pending = self.shared.core.disconnect_request(code, sei);
        if mode == Mode::Blocking && self.shared.on_dispatch_thread() {
            // No waiting inside a callback: `on_disconnect` reports the outcome.
            return Ok(py.None().into_bound(py));
        }
        let what = format!("the disconnect did not complete within {}", seconds_text(limit));
        answer(py, mode, pending, limit, what, None, none_answer())
    }

    fn set_slot(&self, slot: Slot, value: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        let value = match value {
            Some(v) if v.is_none() => None,
            Some(v) if !v.is_callable() => {
                return Err(PyTypeError::new_err(format!(
                    "{} must be callable or None, not {}",
                    slot.name(),
                    convert::type_name(&v)
                )))
            }
            Some(v) => Some(v.unbind()),
            None => None,
        };
        let with_info = match (&value, slot) {
            (Some(v), Slot::Disconnect) => Python::attach(|py| takes_two_arguments(v.bind(py))),
            _ => false,
        };
        self.shared.set_callback(slot, value, with_info);
        Ok(())
    }
}

/// True when `f` has at least two positional parameters without a default: such an
/// `on_disconnect` is called with `(reason_code, DisconnectInfo)`. A callable whose signature
/// cannot be read (some builtins) or that takes `*args` keeps the one-argument form, so that
/// no existing callback gets an argument it does not expect.
fn takes_two_arguments(f: &Bound<'_, PyAny>) -> bool {
    let py = f.py();
    let count = || -> PyResult<usize> {
        let inspect = py.import("inspect")?;
        let parameter = inspect.getattr("Parameter")?;
        let positional = [parameter.getattr("POSITIONAL_ONLY")?, parameter.getattr("POSITIONAL_OR_KEYWORD")?];
        let empty = parameter.getattr("empty")?;
        let mut n = 0;
        for p in inspect
            .call_method1("signature", (f,))?
            .getattr("parameters")?
            .call_method0("values")?
            .try_iter()?
        {
            let p = p?;
            let kind = p.getattr("kind")?;
            if positional.iter().any(|k| k.eq(&kind).unwrap_or(false)) && p.getattr("default")?.is(&empty) {
                n += 1;
            }
        }
        Ok(n)
    };
    count().is_ok_and(|n| n >= 2)
}

fn recv_blocking(
    py: Python<'_>,
    shared: &Arc<Shared>,
    limit: Option<Duration>,
) -> PyResult<Option<Py<Message>>> {
    let message = |py: Python<'_>, m| Py::new(py, Message::new(m, Arc::downgrade(shared))).map(Some);
    if let Some(m) = shared.dispatcher.try_recv() {
        return message(py, m);
    }
    shared.refuse_in_callback(py, "recv()")?;
    shared.ensure_dispatch();
    let deadline = limit.map(|t| Instant::now() + t);
    for _ in 0..u64::MAX {
        if shared.drained() {
            return Ok(None);
        }
        let slice = wait_slice(deadline);
        if let Some(m) = py.detach(|| shared.dispatcher.recv_timeout(Some(slice))) {
            return message(py, m);
        }
        py.check_signals()?;
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
    }
    Ok(None)
}

/// Iterates over received messages (see `Client.messages`).
#[pyclass(module = "tether")]
pub struct MessageIterator {
    shared: Arc<Shared>,
    timeout: Option<Duration>,
}

#[pymethods]
impl MessageIterator {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<Message>>> {
        recv_blocking(py, &self.shared, self.timeout)
    }
}
