//! The arguments of `tether.Client` and its methods, parsed and checked before anything
//! reaches the core (bad input fails at the call), and the core client built from them.

use std::cell::Cell;
use std::time::Duration;
use tether_core::store::{Durability, FileStore};

use bytes::Bytes;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};
use tether_core::validate;
use tether_core::{
    AsyncClient, DisconnectReasonCode, MqttOptions, OverflowPolicy, ProtocolVersion, QoS, ReconnectPolicy,
    ServerAddr, SessionLostPolicy, SubscribeProperties, Subscription, SubscriptionOptions,
};

use crate::props::{ConnectProperties, PublishProperties, Will};
use crate::{convert, errors};

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
pub(crate) struct Limits {
    max_messages: usize,
    max_bytes: usize,
    overflow: OverflowPolicy,
}

impl Limits {
    /// Under `queue_overflow="fail"`, `QueueFullError` at the call when the queue is full.
    pub(crate) fn admit(&self, py: Python<'_>, core: &AsyncClient, a: &PublishArgs) -> PyResult<()> {
        let (topic, payload) = (&a.topic, &a.payload);
        if self.overflow != OverflowPolicy::Fail {
            return Ok(());
        }
        {
            let stats = core.stats();
            let weight = payload.len() + topic.len();
            if stats.queued as usize >= self.max_messages
                || (stats.queued > 0 && stats.queued_bytes as usize + weight > self.max_bytes)
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
        Ok(())
    }
}

/// The keyword arguments of `tether.Client(...)`, as pyo3 extracted them.
pub(crate) struct ClientArgs<'a, 'py> {
    pub client_id: &'a str,
    pub clean_start: bool,
    pub session_expiry_interval: Option<u32>,
    pub keep_alive: u16,
    pub username: Option<String>,
    pub password: Option<&'a Bound<'py, PyAny>>,
    pub will: Option<&'a Bound<'py, Will>>,
    pub properties: Option<&'a Bound<'py, ConnectProperties>>,
    pub reconnect: bool,
    pub reconnect_min_delay: f64,
    pub reconnect_max_delay: f64,
    pub max_queued: usize,
    pub max_queued_bytes: usize,
    pub queue_overflow: &'a str,
    pub on_session_lost: &'a str,
    pub manual_ack: bool,
    pub receive_maximum: Option<u16>,
    pub max_packet_size: Option<u32>,
    pub topic_alias_maximum: Option<u16>,
    pub connect_timeout: f64,
    pub auto_topic_alias: bool,
    pub quota_retries: u8,
    pub quota_retry_backoff: f64,
    pub tls: Option<&'a Bound<'py, crate::tls::TlsOptions>>,
    /// Extra WebSocket handshake headers: a mapping of str to str, or None.
    pub ws_headers: Option<&'a Bound<'py, PyAny>>,
    /// The protocol level: 5 (`MQTTv5`) or 4 (`MQTTv311`).
    pub protocol: u8,
    /// The most QoS 1/2 messages in flight at once (1..=65535), whatever the server allows.
    pub max_inflight: u16,
    /// An HTTP CONNECT proxy URL (`http://[user[:password]@]host[:port]`), or None.
    pub proxy: Option<&'a str>,
    /// Follow a server's redirect (0x9C / 0x9D with a Server Reference).
    pub follow_server_references: bool,
    /// The directory of the session store, or None for a session in memory only.
    pub store: Option<std::path::PathBuf>,
    /// "none", "batched" or "always".
    pub durability: &'a str,
}

/// A core client built from `ClientArgs`, and what the face keeps of them.
pub(crate) struct Built {
    pub core: AsyncClient,
    pub delivery_events: bool,
    pub limits: Limits,
    pub session_expiry: u32,
}

/// Checks every argument and builds the core client.
pub(crate) fn build(py: Python<'_>, args: ClientArgs<'_, '_>) -> PyResult<Built> {
    let ClientArgs {
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
    } = args;
    let durability = durability_level(py, durability)?;
    let mut o = MqttOptions::new(client_id, "127.0.0.1", 1883);
    let mut props = properties.map(|p| p.borrow().to_core()).unwrap_or_default();
    props.session_expiry_interval =
        merge(py, session_expiry_interval, props.session_expiry_interval, "session_expiry_interval")?;
    props.receive_maximum = merge(py, receive_maximum, props.receive_maximum, "receive_maximum")?;
    props.maximum_packet_size = merge(py, max_packet_size, props.maximum_packet_size, "maximum_packet_size")?;
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
    let connect_timeout =
        validate::connect_timeout("connect_timeout", connect_timeout).map_err(|e| errors::to_py(py, &e))?;
    o.set_connect_timeout(connect_timeout);
    // arg::protocol checked the range (4..=5).
    let version = ProtocolVersion::from_level(protocol).ok_or_else(|| {
        let e = tether_core::Error::InvalidArgument(format!(
            "protocol must be tether.MQTTv5 (5) or tether.MQTTv311 (4), not {protocol}"
        ));
        errors::to_py(py, &e)
    })?;
    o.set_protocol_version(version);
    o.set_max_inflight(max_inflight);
    o.set_follow_server_references(follow_server_references);
    let delivery_events = ASYNC_FLAVOUR.with(Cell::get);
    o.set_delivery_events(delivery_events);
    if let Some(tls) = tls {
        let tls = tls.get().to_core();
        // Reads the files (and the system's roots without ca_file): off the GIL.
        let config = py.detach(|| tls.build()).map_err(|e| errors::to_py(py, &e))?;
        o.set_tls_config(config);
    }
    if let Some(headers) = ws_headers.filter(|h| !h.is_none()) {
        for (name, value) in ws_header_pairs(headers)? {
            o.set_ws_header(&name, &value).map_err(|e| errors::to_py(py, &e))?;
        }
    }
    if let Some(url) = proxy {
        let proxy = tether_core::ProxyOptions::from_url(url).map_err(|e| errors::to_py(py, &e))?;
        o.set_proxy(proxy).map_err(|e| errors::to_py(py, &e))?;
    }
    // Anything the checks above left (a will's properties, ...): refused now rather than at
    // connect().
    o.validate().map_err(|e| errors::to_py(py, &e))?;
    if let Some(path) = store {
        if path.as_os_str().is_empty() {
            return Err(errors::invalid_argument(py, "store must be a directory path, not empty"));
        }
        // Opened (and locked) last, once every other argument is known to be good: replays
        // the log off the GIL.
        let opened = py.detach(|| FileStore::open(&path, durability));
        let store = opened.map_err(|e| {
            pyo3::exceptions::PyOSError::new_err(format!("session store {}: {e}", path.display()))
        })?;
        o.set_store(store);
    }
    let core = AsyncClient::with_runtime(o, &tether_core::runtime::shared());
    Ok(Built { core, delivery_events, limits: Limits { max_messages, max_bytes, overflow }, session_expiry })
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

fn durability_level(py: Python<'_>, s: &str) -> PyResult<Durability> {
    match s {
        "none" => Ok(Durability::None),
        "batched" => Ok(Durability::Batched),
        "always" => Ok(Durability::Always),
        other => Err(errors::invalid_argument(
            py,
            format!("durability must be 'none', 'batched' or 'always', not {other:?}"),
        )),
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

/// Where `connect(host, port)` goes: a URL in `host` when it has "://" (`mqtt://`,
/// `mqtts://`, `unix:///path`; its port then comes from the URL), else `host`:`port` over TCP
/// (1883 by default), or "unix:/path".
pub(crate) fn server_addr(py: Python<'_>, host: &str, port: Option<u16>) -> PyResult<ServerAddr> {
    if host.contains("://") {
        if port.is_some() {
            return Err(errors::invalid_argument(
                py,
                format!("port={} with a URL ({host:?}): give the port in the URL", port.unwrap_or(0)),
            ));
        }
        return ServerAddr::from_url(host).map_err(|e| errors::to_py(py, &e));
    }
    let port = port.unwrap_or(1883);
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

/// Where `connect()` goes: one server (`host` a host name with `port`, or a URL), or a
/// server list (`host` a list or tuple of URLs, tried in turn; `port` must then be None).
pub(crate) fn servers(
    py: Python<'_>,
    host: &Bound<'_, PyAny>,
    port: Option<u16>,
) -> PyResult<Vec<ServerAddr>> {
    if let Ok(one) = host.cast::<PyString>() {
        return Ok(vec![server_addr(py, &one.extract::<String>()?, port)?]);
    }
    if !(host.is_instance_of::<PyList>() || host.is_instance_of::<PyTuple>()) {
        return Err(PyTypeError::new_err(format!(
            "host must be a str or a list of URL strings, not {}",
            host.get_type().name()?
        )));
    }
    if port.is_some() {
        return Err(errors::invalid_argument(py, "port= with a server list: give each port in its URL"));
    }
    let mut urls = Vec::new();
    for (i, item) in host.try_iter()?.enumerate() {
        let url: String = item?
            .extract()
            .map_err(|_| PyTypeError::new_err(format!("server list, item {i}: expected a URL string")))?;
        urls.push(url);
    }
    ServerAddr::from_urls(urls).map_err(|e| errors::to_py(py, &e))
}

/// The arguments of a subscribe, checked.
pub(crate) struct SubscribeArgs {
    pub subscriptions: Vec<Subscription>,
    pub properties: SubscribeProperties,
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn subscribe_args(
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

pub(crate) fn unsubscribe_args(py: Python<'_>, topic: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
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

/// The arguments of a publish, checked.
pub(crate) struct PublishArgs {
    pub topic: String,
    pub payload: Bytes,
    pub qos: QoS,
    pub retain: bool,
    pub properties: tether_core::PublishProperties,
}

pub(crate) fn publish_args(
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
    Ok(PublishArgs { topic, payload, qos, retain, properties })
}

pub(crate) fn disconnect_args(
    py: Python<'_>,
    reason_code: u8,
    sei: Option<u32>,
    session_expiry: u32,
) -> PyResult<(DisconnectReasonCode, Option<u32>)> {
    let code =
        validate::disconnect_reason_code("reason_code", reason_code).map_err(|e| errors::to_py(py, &e))?;
    // The [MQTT-3.14.2-2] rule is the core's.
    let sei = validate::disconnect_session_expiry(session_expiry, sei).map_err(|e| errors::to_py(py, &e))?;
    Ok((code, sei))
}

/// The pairs of a `ws_headers=` mapping (anything with `items()` giving str pairs).
fn ws_header_pairs(headers: &Bound<'_, PyAny>) -> PyResult<Vec<(String, String)>> {
    let type_error =
        || pyo3::exceptions::PyTypeError::new_err("ws_headers must be a mapping of str to str (or None)");
    let items = headers.call_method0("items").map_err(|_| type_error())?;
    let mut pairs = Vec::new();
    for item in items.try_iter()? {
        let (name, value): (String, String) = item?.extract().map_err(|_| type_error())?;
        pairs.push((name, value));
    }
    Ok(pairs)
}
