//! `tether.Client`: the blocking client (and the asyncio primitives `tether.AsyncClient` is
//! built on).

use std::cell::Cell;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};
use tether_core::validate;
use tether_core::{
    AsyncClient, DisconnectReasonCode, MqttOptions, OverflowPolicy, Pending, QoS, ReconnectPolicy,
    ServerAddr, SessionLostPolicy, SubscribeProperties, Subscription, SubscriptionOptions,
};

use crate::aio::{self, outcome, Outcome, Requeue};
use crate::convert::arg;
use crate::delivery::Delivery;
use crate::disconnect::DisconnectInfo;
use crate::message::Message;
use crate::props::{ConnAck, ConnectProperties, PublishProperties, Will};
use crate::shared::{Shared, Slot};
use crate::{convert, errors, lock, wait_slice};

thread_local! {
    static ASYNC_FLAVOUR: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` (which constructs a `Client`) so that the client reports deliveries as events.
pub(crate) fn with_async_flavour<T>(f: impl FnOnce() -> T) -> T {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            ASYNC_FLAVOUR.with(|c| c.set(false));
        }
    }
    ASYNC_FLAVOUR.with(|c| c.set(true));
    let _reset = Reset;
    f()
}

/// Queue limits as configured, for the early `QueueFullError` of `queue_overflow="fail"`.
#[derive(Clone, Copy)]
struct Limits {
    max_messages: usize,
    max_bytes: usize,
    overflow: OverflowPolicy,
}

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
/// that many times; default 5 from 0.1 s).
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

/// A keyword and the same field in `properties=` must agree.
fn merge<T: PartialEq + Copy + std::fmt::Display>(
    py: Python<'_>,
    keyword: Option<T>,
    property: Option<T>,
    name: &str,
) -> PyResult<Option<T>> {
    match (keyword, property) {
        (Some(k), Some(p)) if k != p => Err(errors::invalid_argument(
            py,
            format!("{name}={k} contradicts properties.{name}={p}; set it in one place"),
        )),
        (Some(k), _) => Ok(Some(k)),
        (None, p) => Ok(p),
    }
}

fn overflow_policy(py: Python<'_>, s: &str) -> PyResult<OverflowPolicy> {
    match s {
        "block" => Ok(OverflowPolicy::Block),
        "fail" => Ok(OverflowPolicy::Fail),
        "drop_oldest" => Ok(OverflowPolicy::DropOldest),
        other => Err(errors::invalid_argument(
            py,
            format!("queue_overflow must be 'block', 'fail' or 'drop_oldest', not {other:?}"),
        )),
    }
}

fn session_lost_policy(py: Python<'_>, s: &str) -> PyResult<SessionLostPolicy> {
    match s {
        "republish" => Ok(SessionLostPolicy::Republish),
        "fail" => Ok(SessionLostPolicy::Fail),
        other => Err(errors::invalid_argument(
            py,
            format!("on_session_lost must be 'republish' or 'fail', not {other:?}"),
        )),
    }
}

fn server_addr(py: Python<'_>, host: &str, port: u16) -> PyResult<ServerAddr> {
    if let Some(path) = host.strip_prefix("unix://").or_else(|| host.strip_prefix("unix:")) {
        if path.is_empty() {
            return Err(errors::invalid_argument(py, "unix: needs a socket path"));
        }
        return Ok(ServerAddr::unix(path));
    }
    if host.is_empty() {
        return Err(errors::invalid_argument(py, "host must not be empty"));
    }
    Ok(ServerAddr::tcp(host, port))
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

/// The arguments of a subscribe, checked.
struct SubscribeArgs {
    subscriptions: Vec<Subscription>,
    properties: SubscribeProperties,
}

#[allow(clippy::too_many_arguments)]
fn subscribe_args(
    py: Python<'_>,
    topic: &Bound<'_, PyAny>,
    qos: u8,
    no_local: bool,
    retain_as_published: bool,
    retain_handling: u8,
    subscription_identifier: Option<u32>,
    user_properties: Option<&Bound<'_, PyAny>>,
) -> PyResult<SubscribeArgs> {
    let default_qos = convert::qos(py, qos)?;
    let retain_handling =
        validate::retain_handling("retain_handling", retain_handling).map_err(|e| errors::to_py(py, &e))?;
    let options = |qos: QoS| SubscriptionOptions { qos, no_local, retain_as_published, retain_handling };
    let one = |item: &Bound<'_, PyAny>| -> PyResult<Subscription> {
        let (filter, qos) = if item.is_instance_of::<PyTuple>() {
            let (f, q): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item.extract().map_err(|_| {
                PyTypeError::new_err("a subscription tuple must be (topic_filter: str, qos: int)")
            })?;
            (f, convert::qos(py, convert::arg::qos(&q)?)?)
        } else {
            (item.clone(), default_qos)
        };
        let filter = convert::topic(&filter, "topic filter")?;
        tether_core::codec::validate_topic_filter(&filter)
            .map_err(|e| errors::invalid_topic(py, format!("topic filter {filter:?}: {e}")))?;
        Ok(Subscription { filter, options: options(qos) })
    };
    let single = topic.is_instance_of::<PyString>()
        || topic.is_instance_of::<PyBytes>()
        || (topic.is_instance_of::<PyTuple>()
            && topic.len()? == 2
            && !topic.get_item(1)?.is_instance_of::<PyString>());
    let subscriptions = if single {
        vec![one(topic)?]
    } else {
        let iter = topic.try_iter().map_err(|_| {
            PyTypeError::new_err(format!(
                "topic must be a str, a (str, qos) tuple or a list of them, not {}",
                convert::type_name(topic)
            ))
        })?;
        let mut v = Vec::new();
        for item in iter {
            v.push(one(&item?)?);
        }
        v
    };
    if subscriptions.is_empty() {
        return Err(errors::invalid_argument(py, "subscribe needs at least one topic filter"));
    }
    Ok(SubscribeArgs {
        subscriptions,
        properties: SubscribeProperties {
            subscription_identifier,
            user_properties: convert::user_properties(user_properties)?,
        },
    })
}

fn unsubscribe_args(py: Python<'_>, topic: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    let items: Vec<Bound<'_, PyAny>> =
        if topic.is_instance_of::<PyString>() || topic.is_instance_of::<PyBytes>() {
            vec![topic.clone()]
        } else {
            let iter = topic.try_iter().map_err(|_| {
                PyTypeError::new_err(format!(
                    "topic must be a str or a list of str, not {}",
                    convert::type_name(topic)
                ))
            })?;
            iter.collect::<PyResult<_>>()?
        };
    let mut filters = Vec::with_capacity(items.len());
    for item in &items {
        let f = convert::topic(item, "topic filter")?;
        tether_core::codec::validate_topic_filter(&f)
            .map_err(|e| errors::invalid_topic(py, format!("topic filter {f:?}: {e}")))?;
        filters.push(f);
    }
    if filters.is_empty() {
        return Err(errors::invalid_argument(py, "unsubscribe needs at least one topic filter"));
    }
    Ok(filters)
}

fn reason_codes<T: Into<u8> + Copy>(codes: &[T]) -> Vec<u8> {
    codes.iter().map(|c| (*c).into()).collect()
}

/// Reason codes as a list of ints (a `Vec<u8>` would become bytes).
fn codes_list(py: Python<'_>, codes: Vec<u8>) -> PyResult<Bound<'_, PyList>> {
    PyList::new(py, codes)
}

/// The arguments of a publish, checked.
struct PublishArgs {
    topic: String,
    payload: Bytes,
    qos: QoS,
    retain: bool,
    properties: tether_core::PublishProperties,
}

/// Resets `active` and wakes the receivers when a connect attempt is abandoned (asyncio
/// cancellation): the client must not go on connecting behind the application's back.
struct AbortConnect {
    core: Option<AsyncClient>,
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
    fn publish_args(
        &self,
        py: Python<'_>,
        topic: &Bound<'_, PyAny>,
        payload: Option<&Bound<'_, PyAny>>,
        qos: u8,
        retain: bool,
        properties: Option<&Bound<'_, PublishProperties>>,
    ) -> PyResult<PublishArgs> {
        let topic = convert::topic(topic, "topic")?;
        let payload = convert::payload(payload, "payload")?;
        let qos = convert::qos(py, qos)?;
        let properties = properties.map(|p| p.borrow().to_core()).unwrap_or_default();
        if self.limits.overflow == OverflowPolicy::Fail {
            let stats = self.shared.core.stats();
            let weight = payload.len() + topic.len();
            if stats.queued as usize >= self.limits.max_messages
                || (stats.queued > 0 && stats.queued_bytes as usize + weight > self.limits.max_bytes)
            {
                return Err(errors::queue_full(
                    py,
                    format!(
                        "the send queue is full ({} messages, {} bytes; queue_overflow='fail')",
                        stats.queued, stats.queued_bytes
                    ),
                ));
            }
        }
        Ok(PublishArgs { topic, payload, qos, retain, properties })
    }

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

    fn disconnect_code(
        &self,
        py: Python<'_>,
        reason_code: u8,
        sei: Option<u32>,
    ) -> PyResult<(DisconnectReasonCode, Option<u32>)> {
        let code = validate::disconnect_reason_code("reason_code", reason_code)
            .map_err(|e| errors::to_py(py, &e))?;
        let sei = match sei {
            None => None,
            Some(s) => {
                if s != 0 && self.session_expiry == 0 {
                    // [MQTT-3.14.2-2]
                    return Err(errors::invalid_argument(
                        py,
                        "session_expiry_interval cannot be set on disconnect when the client connected \
                         with session_expiry_interval=0",
                    ));
                }
                Some(s)
            }
        };
        Ok((code, sei))
    }

    fn connect_outcome(
        shared: &Arc<Shared>,
        r: Option<Result<tether_core::ConnAck, tether_core::Error>>,
        what: String,
    ) -> Outcome {
        match r {
            Some(Ok(ack)) => {
                shared.active.store(true, Ordering::Release);
                outcome(move |py| Ok(ConnAck::from_core(py, &ack)?.into_any()))
            }
            Some(Err(e)) => outcome(move |py| Err(errors::to_py(py, &e))),
            None => outcome(move |py| Err(errors::timeout(py, what))),
        }
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
        quota_retry_backoff=0.1))]
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
    ) -> PyResult<Self> {
        let mut o = MqttOptions::new(client_id, "127.0.0.1", 1883);
        let mut props = properties.map(|p| p.borrow().to_core()).unwrap_or_default();
        props.session_expiry_interval =
            merge(py, session_expiry_interval, props.session_expiry_interval, "session_expiry_interval")?;
        props.receive_maximum = merge(py, receive_maximum, props.receive_maximum, "receive_maximum")?;
        props.maximum_packet_size =
            merge(py, max_packet_size, props.maximum_packet_size, "maximum_packet_size")?;
        props.topic_alias_maximum =
            merge(py, topic_alias_maximum, props.topic_alias_maximum, "topic_alias_maximum")?;
        let session_expiry = props.session_expiry_interval.unwrap_or(0);
        o.set_connect_properties(props);
        o.set_clean_start(clean_start);
        o.set_keep_alive(Duration::from_secs(u64::from(keep_alive)));
        let password = match password {
            None => None,
            Some(p) if p.is_none() => None,
            Some(p) => Some(convert::payload(Some(p), "password")?),
        };
        // Either may come alone (MQTT 5 allows a password without a user name).
        o.set_username(username);
        o.set_password(password);
        if let Some(w) = will {
            o.set_last_will(w.borrow().to_core(py)?);
        }
        let min_delay = convert::seconds(py, reconnect_min_delay, "reconnect_min_delay")?;
        let max_delay = convert::seconds(py, reconnect_max_delay, "reconnect_max_delay")?;
        validate::reconnect_delays("reconnect_min_delay", min_delay, "reconnect_max_delay", max_delay)
            .map_err(|e| errors::to_py(py, &e))?;
        o.set_reconnect(ReconnectPolicy {
            enabled: reconnect,
            min_delay,
            max_delay,
            ..ReconnectPolicy::default()
        });
        let (max_messages, max_bytes) = (max_queued, max_queued_bytes);
        let overflow = overflow_policy(py, queue_overflow)?;
        o.set_queue_limits(max_messages, max_bytes, overflow);
        o.set_on_session_lost(session_lost_policy(py, on_session_lost)?);
        o.set_manual_acks(manual_ack);
        o.set_auto_topic_alias(auto_topic_alias);
        let backoff = convert::seconds(py, quota_retry_backoff, "quota_retry_backoff")?;
        o.set_quota_retry(tether_core::QuotaRetry { attempts: quota_retries, backoff });
        let connect_timeout = convert::seconds(py, connect_timeout, "connect_timeout")?;
        let connect_timeout = validate::connect_timeout("connect_timeout", connect_timeout)
            .map_err(|e| errors::to_py(py, &e))?;
        o.set_connect_timeout(connect_timeout);
        let delivery_events = ASYNC_FLAVOUR.with(Cell::get);
        o.set_delivery_events(delivery_events);
        // Anything the checks above left (a will's properties, ...): refused now rather than at
        // connect().
        o.validate().map_err(|e| errors::to_py(py, &e))?;
        let core = AsyncClient::with_runtime(o, &tether_core::runtime::shared());
        Ok(Client {
            shared: Shared::new(core, delivery_events),
            limits: Limits { max_messages, max_bytes, overflow },
            session_expiry,
        })
    }

    /// The client identifier.
    #[getter]
    fn client_id(&self) -> &str {
        &self.shared.client_id
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

    /// Connect to the server at `host`:`port` ("unix:///path" for a Unix socket) and wait for
    /// its CONNACK, at most `timeout` seconds. Returns the `ConnAck` (`session_present`,
    /// `reason_code`, `properties`). Raises `ConnectError` when the server refuses (with
    /// `.reason_code` and `.reason_string`) or cannot be reached, `TimeoutError` when no
    /// answer came in time. After a success the client reconnects by itself.
    #[pyo3(signature = (host, port=1883, timeout=10.0))]
    fn connect(
        &self,
        py: Python<'_>,
        host: &str,
        #[pyo3(from_py_with = arg::port)] port: u16,
        #[pyo3(from_py_with = arg::timeout)] timeout: Option<f64>,
    ) -> PyResult<Py<ConnAck>> {
        let server = server_addr(py, host, port)?;
        let limit = convert::timeout(py, timeout)?;
        self.shared.refuse_in_callback(py, "connect()")?;
        self.shared.ensure_dispatch();
        let pending = self.shared.core.connect_request(Some(vec![server]));
        let mut abort = AbortConnect { core: Some(self.shared.core.clone()) };
        let r = wait_pending(py, &pending, limit)?;
        if r.is_some() {
            abort.core = None;
        }
        drop(abort);
        match r {
            Some(Ok(ack)) => {
                self.shared.active.store(true, Ordering::Release);
                ConnAck::from_core(py, &ack)
            }
            Some(Err(e)) => Err(errors::to_py(py, &e)),
            None => Err(errors::timeout(
                py,
                format!("no CONNACK from {host}:{port} within {}", seconds_text(limit)),
            )),
        }
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
    ) -> PyResult<Bound<'py, PyList>> {
        let args = subscribe_args(
            py,
            topic,
            qos,
            no_local,
            retain_as_published,
            retain_handling,
            subscription_identifier,
            user_properties,
        )?;
        let limit = convert::timeout(py, timeout)?;
        self.shared.refuse_in_callback(py, "subscribe()")?;
        self.require_active(py, "subscribe()")?;
        let pending = self
            .shared
            .core
            .subscribe_request(args.subscriptions, args.properties)
            .map_err(|e| errors::to_py(py, &e))?;
        match wait_pending(py, &pending, limit)? {
            Some(Ok(outcome)) => codes_list(py, reason_codes(&outcome.reason_codes)),
            Some(Err(e)) => Err(errors::to_py(py, &e)),
            None => Err(errors::timeout(py, format!("no SUBACK within {}", seconds_text(limit)))),
        }
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
    ) -> PyResult<Bound<'py, PyList>> {
        let filters = unsubscribe_args(py, topic)?;
        let properties = tether_core::codec::UnsubscribeProperties {
            user_properties: convert::user_properties(user_properties)?,
        };
        let limit = convert::timeout(py, timeout)?;
        self.shared.refuse_in_callback(py, "unsubscribe()")?;
        self.require_active(py, "unsubscribe()")?;
        let pending =
            self.shared.core.unsubscribe_request(filters, properties).map_err(|e| errors::to_py(py, &e))?;
        match wait_pending(py, &pending, limit)? {
            Some(Ok(codes)) => codes_list(py, reason_codes(&codes)),
            Some(Err(e)) => Err(errors::to_py(py, &e)),
            None => Err(errors::timeout(py, format!("no UNSUBACK within {}", seconds_text(limit)))),
        }
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
        let a = self.publish_args(py, topic, payload, qos, retain, properties)?;
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
    fn flush(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = arg::timeout)] timeout: Option<f64>,
    ) -> PyResult<()> {
        let limit = convert::timeout(py, timeout)?;
        self.shared.refuse_in_callback(py, "flush()")?;
        let pending = self.shared.core.flush_request();
        match wait_pending(py, &pending, limit)? {
            Some(Ok(_report)) => Ok(()),
            Some(Err(e)) => Err(errors::to_py(py, &e)),
            None => {
                Err(errors::timeout(py, format!("deliveries still under way after {}", seconds_text(limit))))
            }
        }
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
    fn disconnect(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = arg::reason_code)] reason_code: u8,
        #[pyo3(from_py_with = arg::session_expiry_interval)] session_expiry_interval: Option<u32>,
        #[pyo3(from_py_with = arg::timeout)] timeout: Option<f64>,
    ) -> PyResult<()> {
        let (code, sei) = self.disconnect_code(py, reason_code, session_expiry_interval)?;
        let limit = convert::timeout(py, timeout)?;
        self.shared.active.store(false, Ordering::Release);
        self.shared.wake_receivers();
        let pending = self.shared.core.disconnect_request(code, sei);
        if self.shared.on_dispatch_thread() {
            // No waiting inside a callback: `on_disconnect` reports the outcome.
            return Ok(());
        }
        match wait_pending(py, &pending, limit)? {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(errors::to_py(py, &e)),
            None => Err(errors::timeout(
                py,
                format!("the disconnect did not complete within {}", seconds_text(limit)),
            )),
        }
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

    #[pyo3(signature = (host, port=1883, timeout=10.0))]
    fn _aconnect<'py>(
        &self,
        py: Python<'py>,
        host: &str,
        #[pyo3(from_py_with = arg::port)] port: u16,
        #[pyo3(from_py_with = arg::timeout)] timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let server = server_addr(py, host, port)?;
        let limit = convert::timeout(py, timeout)?;
        self.shared.ensure_dispatch();
        let pending = self.shared.core.connect_request(Some(vec![server]));
        let shared = self.shared.clone();
        let what = format!("no CONNACK from {host}:{port} within {}", seconds_text(limit));
        aio::spawn(py, async move {
            let mut abort = AbortConnect { core: Some(shared.core.clone()) };
            let r = match limit {
                Some(t) => tokio::time::timeout(t, pending).await.ok(),
                None => Some(pending.await),
            };
            if r.is_some() {
                abort.core = None;
            }
            drop(abort);
            (Client::connect_outcome(&shared, r, what), None)
        })
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
        let args = subscribe_args(
            py,
            topic,
            qos,
            no_local,
            retain_as_published,
            retain_handling,
            subscription_identifier,
            user_properties,
        )?;
        let limit = convert::timeout(py, timeout)?;
        self.require_active(py, "subscribe()")?;
        let pending = self
            .shared
            .core
            .subscribe_request(args.subscriptions, args.properties)
            .map_err(|e| errors::to_py(py, &e))?;
        let what = format!("no SUBACK within {}", seconds_text(limit));
        aio::spawn(py, async move {
            let r = match limit {
                Some(t) => tokio::time::timeout(t, pending).await.ok(),
                None => Some(pending.await),
            };
            let o = match r {
                Some(Ok(outcome)) => {
                    let codes = reason_codes(&outcome.reason_codes);
                    outcome_codes(codes)
                }
                Some(Err(e)) => aio::outcome(move |py| Err(errors::to_py(py, &e))),
                None => aio::outcome(move |py| Err(errors::timeout(py, what))),
            };
            (o, None)
        })
    }

    #[pyo3(signature = (topic, *, user_properties=None, timeout=None))]
    fn _aunsubscribe<'py>(
        &self,
        py: Python<'py>,
        topic: &Bound<'py, PyAny>,
        user_properties: Option<&Bound<'py, PyAny>>,
        #[pyo3(from_py_with = arg::timeout)] timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let filters = unsubscribe_args(py, topic)?;
        let properties = tether_core::codec::UnsubscribeProperties {
            user_properties: convert::user_properties(user_properties)?,
        };
        let limit = convert::timeout(py, timeout)?;
        self.require_active(py, "unsubscribe()")?;
        let pending =
            self.shared.core.unsubscribe_request(filters, properties).map_err(|e| errors::to_py(py, &e))?;
        let what = format!("no UNSUBACK within {}", seconds_text(limit));
        aio::spawn(py, async move {
            let r = match limit {
                Some(t) => tokio::time::timeout(t, pending).await.ok(),
                None => Some(pending.await),
            };
            let o = match r {
                Some(Ok(codes)) => outcome_codes(reason_codes(&codes)),
                Some(Err(e)) => aio::outcome(move |py| Err(errors::to_py(py, &e))),
                None => aio::outcome(move |py| Err(errors::timeout(py, what))),
            };
            (o, None)
        })
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
        let a = self.publish_args(py, topic, payload, qos, retain, properties)?;
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
        let limit = convert::timeout(py, timeout)?;
        let pending = self.shared.core.flush_request();
        let what = format!("deliveries still under way after {}", seconds_text(limit));
        aio::spawn(py, async move {
            let r = match limit {
                Some(t) => tokio::time::timeout(t, pending).await.ok(),
                None => Some(pending.await),
            };
            (unit_outcome(r.map(|r| r.map(drop)), what), None)
        })
    }

    #[pyo3(signature = (reason_code=0, session_expiry_interval=None, timeout=10.0))]
    fn _adisconnect<'py>(
        &self,
        py: Python<'py>,
        #[pyo3(from_py_with = arg::reason_code)] reason_code: u8,
        #[pyo3(from_py_with = arg::session_expiry_interval)] session_expiry_interval: Option<u32>,
        #[pyo3(from_py_with = arg::timeout)] timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (code, sei) = self.disconnect_code(py, reason_code, session_expiry_interval)?;
        let limit = convert::timeout(py, timeout)?;
        self.shared.active.store(false, Ordering::Release);
        self.shared.wake_receivers();
        let pending = self.shared.core.disconnect_request(code, sei);
        let what = format!("the disconnect did not complete within {}", seconds_text(limit));
        aio::spawn(py, async move {
            let r = match limit {
                Some(t) => tokio::time::timeout(t, pending).await.ok(),
                None => Some(pending.await),
            };
            (unit_outcome(r, what), None)
        })
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

fn outcome_codes(codes: Vec<u8>) -> Outcome {
    aio::outcome(move |py| Ok(codes_list(py, codes)?.into_any().unbind()))
}

fn unit_outcome(r: Option<Result<(), tether_core::Error>>, what: String) -> Outcome {
    match r {
        Some(Ok(())) => aio::outcome(|py| Ok(py.None())),
        Some(Err(e)) => aio::outcome(move |py| Err(errors::to_py(py, &e))),
        None => aio::outcome(move |py| Err(errors::timeout(py, what))),
    }
}

impl Client {
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
