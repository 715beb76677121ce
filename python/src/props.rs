//! Property objects (CONNECT, PUBLISH, Will, CONNACK) and the connection answer, as plain
//! Python value classes that convert to and from the core's types.

use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use tether_core::codec::{
    ConnAckProperties as CoreConnAckProperties, ConnectProperties as CoreConnectProperties,
};
use tether_core::{
    ConnAck as CoreConnAck, LastWill, PublishProperties as CorePublishProperties,
    WillProperties as CoreWillProperties,
};

use crate::convert::{self, opt_int_field};
use crate::errors;
use tether_core::validate::{FLAG, FOUR_BYTE, MAXIMUM_PACKET_SIZE, RECEIVE_MAXIMUM, TOPIC_ALIAS, TWO_BYTE};

/// Writes `name=value` pairs for the fields that are set, for `__repr__`.
struct Repr(Vec<String>);

impl Repr {
    fn new() -> Self {
        Repr(Vec::new())
    }
    fn opt<T: std::fmt::Display>(&mut self, name: &str, v: &Option<T>) {
        if let Some(v) = v {
            self.0.push(format!("{name}={v}"));
        }
    }
    fn opt_str(&mut self, name: &str, v: &Option<String>) {
        if let Some(v) = v {
            self.0.push(format!("{name}={}", str_repr(v)));
        }
    }
    fn opt_bytes(&mut self, name: &str, v: &Option<Vec<u8>>) {
        if let Some(v) = v {
            self.0.push(format!("{name}={}", bytes_repr(v)));
        }
    }
    fn users(&mut self, v: &[(String, String)]) {
        if !v.is_empty() {
            let items: Vec<String> =
                v.iter().map(|(k, v)| format!("({}, {})", str_repr(k), str_repr(v))).collect();
            self.0.push(format!("user_properties=[{}]", items.join(", ")));
        }
    }
    fn finish(self, class: &str) -> String {
        format!("{class}({})", self.0.join(", "))
    }
}

/// A Python-like repr of a string (single quotes).
pub(crate) fn str_repr(s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A short Python-like repr of bytes.
pub(crate) fn bytes_repr(b: &[u8]) -> String {
    let shown = &b[..b.len().min(40)];
    let mut s = String::from("b'");
    for &c in shown {
        match c {
            b'\\' => s.push_str("\\\\"),
            b'\'' => s.push_str("\\'"),
            0x20..=0x7e => s.push(c as char),
            b'\n' => s.push_str("\\n"),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s.push('\'');
    if b.len() > shown.len() {
        s.push_str(&format!("...({} bytes)", b.len()));
    }
    s
}

fn opt_bytes_to_py<'py>(py: Python<'py>, v: &Option<Vec<u8>>) -> Option<Bound<'py, PyBytes>> {
    v.as_ref().map(|b| PyBytes::new(py, b))
}

/// PUBLISH properties (MQTT 5, 3.3.2.3): set them on `Client.publish(properties=...)`, read them
/// on `Message.properties`.
///
/// `user_properties` is a list of (key, value) string pairs, in order, keys may repeat;
/// `subscription_identifiers` is set by the server on received messages only.
#[pyclass(module = "tether")]
#[derive(Clone, Default, PartialEq, Eq)]
pub struct PublishProperties {
    /// 0 = unspecified bytes, 1 = UTF-8 text.
    #[pyo3(get)]
    pub payload_format_indicator: Option<u8>,
    /// Seconds the message may wait (in the client's queue and at the server) before it expires.
    #[pyo3(get)]
    pub message_expiry_interval: Option<u32>,
    /// A MIME type describing the payload.
    #[pyo3(get, set)]
    pub content_type: Option<String>,
    /// The topic a responder should publish its answer to (request/response).
    #[pyo3(get, set)]
    pub response_topic: Option<String>,
    pub correlation_data: Option<Vec<u8>>,
    pub user_properties: Vec<(String, String)>,
    /// Subscription identifiers of the subscriptions that matched (received messages only).
    #[pyo3(get)]
    pub subscription_identifiers: Vec<u32>,
    /// The Topic Alias to send (1..65535), only on a client made with
    /// `auto_topic_alias=False`: sent as given together with the full topic, refused at
    /// `publish()` when above the server's Topic Alias Maximum (before the first CONNACK it is
    /// checked when sent, and the delivery fails). A message sent again after a reconnect goes
    /// without it.
    ///
    ///     client = tether.Client("id", auto_topic_alias=False)
    ///     client.publish("a/long/topic", b"1", properties=tether.PublishProperties(topic_alias=1))
    #[pyo3(get)]
    pub topic_alias: Option<u16>,
}

#[pymethods]
impl PublishProperties {
    #[new]
    #[pyo3(signature = (*, payload_format_indicator=None, message_expiry_interval=None, content_type=None,
        response_topic=None, correlation_data=None, user_properties=None, topic_alias=None))]
    #[allow(clippy::too_many_arguments)]
    fn py_new(
        payload_format_indicator: Option<&Bound<'_, PyAny>>,
        message_expiry_interval: Option<&Bound<'_, PyAny>>,
        content_type: Option<String>,
        response_topic: Option<String>,
        correlation_data: Option<&Bound<'_, PyAny>>,
        user_properties: Option<&Bound<'_, PyAny>>,
        topic_alias: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        Ok(PublishProperties {
            payload_format_indicator: opt_int_field(
                payload_format_indicator,
                "payload_format_indicator",
                FLAG,
            )?,
            message_expiry_interval: opt_int_field(
                message_expiry_interval,
                "message_expiry_interval",
                FOUR_BYTE,
            )?,
            content_type,
            response_topic,
            correlation_data: convert::optional_binary(correlation_data, "correlation_data")?,
            user_properties: convert::user_properties(user_properties)?,
            subscription_identifiers: Vec::new(),
            topic_alias: opt_int_field(topic_alias, "topic_alias", TOPIC_ALIAS)?,
        })
    }

    /// Binary data that ties a response to its request.
    #[getter(correlation_data)]
    fn get_correlation_data<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        opt_bytes_to_py(py, &self.correlation_data)
    }

    #[setter(correlation_data)]
    fn set_correlation_data(&mut self, value: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        self.correlation_data = convert::optional_binary(value, "correlation_data")?;
        Ok(())
    }

    /// (key, value) string pairs, in order.
    #[getter(user_properties)]
    fn get_user_properties<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        convert::user_properties_to_py(py, &self.user_properties)
    }

    #[setter(user_properties)]
    fn set_user_properties(&mut self, value: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        self.user_properties = convert::user_properties(value)?;
        Ok(())
    }

    #[setter]
    fn set_payload_format_indicator(&mut self, value: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        self.payload_format_indicator = opt_int_field::<u8>(value, "payload_format_indicator", FLAG)?;
        Ok(())
    }

    #[setter]
    fn set_message_expiry_interval(&mut self, value: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        self.message_expiry_interval = opt_int_field::<u32>(value, "message_expiry_interval", FOUR_BYTE)?;
        Ok(())
    }

    #[setter]
    fn set_topic_alias(&mut self, value: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        self.topic_alias = opt_int_field::<u16>(value, "topic_alias", TOPIC_ALIAS)?;
        Ok(())
    }

    fn __eq__(&self, other: PyRef<'_, Self>) -> bool {
        *self == *other
    }

    fn __repr__(&self) -> String {
        let mut r = Repr::new();
        r.opt("payload_format_indicator", &self.payload_format_indicator);
        r.opt("topic_alias", &self.topic_alias);
        r.opt("message_expiry_interval", &self.message_expiry_interval);
        r.opt_str("content_type", &self.content_type);
        r.opt_str("response_topic", &self.response_topic);
        r.opt_bytes("correlation_data", &self.correlation_data);
        r.users(&self.user_properties);
        if !self.subscription_identifiers.is_empty() {
            r.0.push(format!("subscription_identifiers={:?}", self.subscription_identifiers));
        }
        r.finish("PublishProperties")
    }
}

impl PublishProperties {
    pub(crate) fn to_core(&self) -> CorePublishProperties {
        CorePublishProperties {
            payload_format_indicator: self.payload_format_indicator,
            message_expiry_interval: self.message_expiry_interval,
            topic_alias: self.topic_alias,
            response_topic: self.response_topic.clone(),
            correlation_data: self.correlation_data.clone().map(Bytes::from),
            user_properties: self.user_properties.clone(),
            subscription_identifiers: Vec::new(),
            content_type: self.content_type.clone(),
        }
    }

    pub(crate) fn from_core(p: &CorePublishProperties) -> Self {
        PublishProperties {
            payload_format_indicator: p.payload_format_indicator,
            message_expiry_interval: p.message_expiry_interval,
            content_type: p.content_type.clone(),
            response_topic: p.response_topic.clone(),
            correlation_data: p.correlation_data.as_ref().map(|b| b.to_vec()),
            user_properties: p.user_properties.clone(),
            subscription_identifiers: p.subscription_identifiers.clone(),
            topic_alias: p.topic_alias,
        }
    }
}

/// CONNECT properties (MQTT 5, 3.1.2.11): the general way to set every connect option, as in
/// `Client("id", properties=ConnectProperties(session_expiry_interval=3600))`. None means "not
/// sent": the specification's default applies.
#[pyclass(module = "tether")]
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ConnectProperties {
    /// Seconds the server keeps the session after the connection ends; 0 ends it with the
    /// connection, SESSION_NEVER_EXPIRES (0xFFFFFFFF) never.
    #[pyo3(get)]
    pub session_expiry_interval: Option<u32>,
    /// How many QoS 1/2 messages the server may have in flight towards this client (1..65535).
    #[pyo3(get)]
    pub receive_maximum: Option<u16>,
    /// The largest packet this client accepts, in bytes.
    #[pyo3(get)]
    pub maximum_packet_size: Option<u32>,
    /// How many topic aliases the server may use towards this client.
    #[pyo3(get)]
    pub topic_alias_maximum: Option<u16>,
    /// Ask the server for Response Information in CONNACK.
    #[pyo3(get, set)]
    pub request_response_information: Option<bool>,
    /// Whether the server may send reason strings and user properties on failures.
    #[pyo3(get, set)]
    pub request_problem_information: Option<bool>,
    pub user_properties: Vec<(String, String)>,
    /// The enhanced-authentication method name.
    #[pyo3(get, set)]
    pub authentication_method: Option<String>,
    pub authentication_data: Option<Vec<u8>>,
}

#[pymethods]
impl ConnectProperties {
    #[new]
    #[pyo3(signature = (*, session_expiry_interval=None, receive_maximum=None, maximum_packet_size=None,
        topic_alias_maximum=None, request_response_information=None, request_problem_information=None,
        user_properties=None, authentication_method=None, authentication_data=None))]
    #[allow(clippy::too_many_arguments)]
    fn py_new(
        session_expiry_interval: Option<&Bound<'_, PyAny>>,
        receive_maximum: Option<&Bound<'_, PyAny>>,
        maximum_packet_size: Option<&Bound<'_, PyAny>>,
        topic_alias_maximum: Option<&Bound<'_, PyAny>>,
        request_response_information: Option<bool>,
        request_problem_information: Option<bool>,
        user_properties: Option<&Bound<'_, PyAny>>,
        authentication_method: Option<String>,
        authentication_data: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        Ok(ConnectProperties {
            session_expiry_interval: opt_int_field(
                session_expiry_interval,
                "session_expiry_interval",
                FOUR_BYTE,
            )?,
            receive_maximum: opt_int_field(receive_maximum, "receive_maximum", RECEIVE_MAXIMUM)?,
            maximum_packet_size: opt_int_field(
                maximum_packet_size,
                "maximum_packet_size",
                MAXIMUM_PACKET_SIZE,
            )?,
            topic_alias_maximum: opt_int_field(topic_alias_maximum, "topic_alias_maximum", TWO_BYTE)?,
            request_response_information,
            request_problem_information,
            user_properties: convert::user_properties(user_properties)?,
            authentication_method,
            authentication_data: convert::optional_binary(authentication_data, "authentication_data")?,
        })
    }

    /// (key, value) string pairs sent in CONNECT, in order.
    #[getter(user_properties)]
    fn get_user_properties<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        convert::user_properties_to_py(py, &self.user_properties)
    }

    #[setter(user_properties)]
    fn set_user_properties(&mut self, value: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        self.user_properties = convert::user_properties(value)?;
        Ok(())
    }

    /// Enhanced-authentication data.
    #[getter(authentication_data)]
    fn get_authentication_data<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        opt_bytes_to_py(py, &self.authentication_data)
    }

    #[setter(authentication_data)]
    fn set_authentication_data(&mut self, value: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        self.authentication_data = convert::optional_binary(value, "authentication_data")?;
        Ok(())
    }

    #[setter]
    fn set_session_expiry_interval(&mut self, value: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        self.session_expiry_interval = opt_int_field::<u32>(value, "session_expiry_interval", FOUR_BYTE)?;
        Ok(())
    }

    #[setter]
    fn set_receive_maximum(&mut self, value: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        self.receive_maximum = opt_int_field::<u16>(value, "receive_maximum", RECEIVE_MAXIMUM)?;
        Ok(())
    }

    #[setter]
    fn set_maximum_packet_size(&mut self, value: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        self.maximum_packet_size = opt_int_field::<u32>(value, "maximum_packet_size", MAXIMUM_PACKET_SIZE)?;
        Ok(())
    }

    #[setter]
    fn set_topic_alias_maximum(&mut self, value: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        self.topic_alias_maximum = opt_int_field::<u16>(value, "topic_alias_maximum", TWO_BYTE)?;
        Ok(())
    }

    fn __eq__(&self, other: PyRef<'_, Self>) -> bool {
        *self == *other
    }

    fn __repr__(&self) -> String {
        let mut r = Repr::new();
        r.opt("session_expiry_interval", &self.session_expiry_interval);
        r.opt("receive_maximum", &self.receive_maximum);
        r.opt("maximum_packet_size", &self.maximum_packet_size);
        r.opt("topic_alias_maximum", &self.topic_alias_maximum);
        r.opt("request_response_information", &self.request_response_information.map(py_bool));
        r.opt("request_problem_information", &self.request_problem_information.map(py_bool));
        r.users(&self.user_properties);
        r.opt_str("authentication_method", &self.authentication_method);
        r.opt_bytes("authentication_data", &self.authentication_data);
        r.finish("ConnectProperties")
    }
}

fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

impl ConnectProperties {
    pub(crate) fn to_core(&self) -> CoreConnectProperties {
        let mut p = CoreConnectProperties::new();
        p.session_expiry_interval = self.session_expiry_interval;
        p.receive_maximum = self.receive_maximum;
        p.maximum_packet_size = self.maximum_packet_size;
        p.topic_alias_maximum = self.topic_alias_maximum;
        p.request_response_information = self.request_response_information.map(u8::from);
        p.request_problem_information = self.request_problem_information.map(u8::from);
        p.user_properties = self.user_properties.clone();
        p.authentication_method = self.authentication_method.clone();
        p.authentication_data = self.authentication_data.clone().map(Bytes::from);
        p
    }
}

/// Will properties (MQTT 5, 3.1.3.2), for `Will(properties=...)`.
#[pyclass(module = "tether")]
#[derive(Clone, Default, PartialEq, Eq)]
pub struct WillProperties {
    /// Seconds the server waits after the connection is lost before it publishes the will.
    #[pyo3(get)]
    pub will_delay_interval: Option<u32>,
    /// 0 = unspecified bytes, 1 = UTF-8 text.
    #[pyo3(get)]
    pub payload_format_indicator: Option<u8>,
    /// Lifetime of the will message, in seconds.
    #[pyo3(get)]
    pub message_expiry_interval: Option<u32>,
    /// A MIME type describing the will payload.
    #[pyo3(get, set)]
    pub content_type: Option<String>,
    /// Response topic of the will message.
    #[pyo3(get, set)]
    pub response_topic: Option<String>,
    pub correlation_data: Option<Vec<u8>>,
    pub user_properties: Vec<(String, String)>,
}

#[pymethods]
impl WillProperties {
    #[new]
    #[pyo3(signature = (*, will_delay_interval=None, payload_format_indicator=None, message_expiry_interval=None,
        content_type=None, response_topic=None, correlation_data=None, user_properties=None))]
    #[allow(clippy::too_many_arguments)]
    fn py_new(
        will_delay_interval: Option<&Bound<'_, PyAny>>,
        payload_format_indicator: Option<&Bound<'_, PyAny>>,
        message_expiry_interval: Option<&Bound<'_, PyAny>>,
        content_type: Option<String>,
        response_topic: Option<String>,
        correlation_data: Option<&Bound<'_, PyAny>>,
        user_properties: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        Ok(WillProperties {
            will_delay_interval: opt_int_field(will_delay_interval, "will_delay_interval", FOUR_BYTE)?,
            payload_format_indicator: opt_int_field(
                payload_format_indicator,
                "payload_format_indicator",
                FLAG,
            )?,
            message_expiry_interval: opt_int_field(
                message_expiry_interval,
                "message_expiry_interval",
                FOUR_BYTE,
            )?,
            content_type,
            response_topic,
            correlation_data: convert::optional_binary(correlation_data, "correlation_data")?,
            user_properties: convert::user_properties(user_properties)?,
        })
    }

    /// Correlation data of the will message.
    #[getter(correlation_data)]
    fn get_correlation_data<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        opt_bytes_to_py(py, &self.correlation_data)
    }

    #[setter(correlation_data)]
    fn set_correlation_data(&mut self, value: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        self.correlation_data = convert::optional_binary(value, "correlation_data")?;
        Ok(())
    }

    /// (key, value) string pairs of the will message.
    #[getter(user_properties)]
    fn get_user_properties<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        convert::user_properties_to_py(py, &self.user_properties)
    }

    #[setter(user_properties)]
    fn set_user_properties(&mut self, value: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        self.user_properties = convert::user_properties(value)?;
        Ok(())
    }

    #[setter]
    fn set_will_delay_interval(&mut self, value: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        self.will_delay_interval = opt_int_field::<u32>(value, "will_delay_interval", FOUR_BYTE)?;
        Ok(())
    }

    #[setter]
    fn set_payload_format_indicator(&mut self, value: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        self.payload_format_indicator = opt_int_field::<u8>(value, "payload_format_indicator", FLAG)?;
        Ok(())
    }

    #[setter]
    fn set_message_expiry_interval(&mut self, value: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        self.message_expiry_interval = opt_int_field::<u32>(value, "message_expiry_interval", FOUR_BYTE)?;
        Ok(())
    }

    fn __eq__(&self, other: PyRef<'_, Self>) -> bool {
        *self == *other
    }

    fn __repr__(&self) -> String {
        let mut r = Repr::new();
        r.opt("will_delay_interval", &self.will_delay_interval);
        r.opt("payload_format_indicator", &self.payload_format_indicator);
        r.opt("message_expiry_interval", &self.message_expiry_interval);
        r.opt_str("content_type", &self.content_type);
        r.opt_str("response_topic", &self.response_topic);
        r.opt_bytes("correlation_data", &self.correlation_data);
        r.users(&self.user_properties);
        r.finish("WillProperties")
    }
}

impl WillProperties {
    fn to_core(&self) -> CoreWillProperties {
        CoreWillProperties {
            will_delay_interval: self.will_delay_interval,
            payload_format_indicator: self.payload_format_indicator,
            message_expiry_interval: self.message_expiry_interval,
            content_type: self.content_type.clone(),
            response_topic: self.response_topic.clone(),
            correlation_data: self.correlation_data.clone().map(Bytes::from),
            user_properties: self.user_properties.clone(),
        }
    }
}

/// The Will Message the server publishes when the connection ends without DISCONNECT:
/// `Client("id", will=Will("status/id", b"offline", qos=1, retain=True))`.
#[pyclass(module = "tether")]
pub struct Will {
    /// The topic the will is published to.
    #[pyo3(get)]
    pub topic: String,
    pub payload: Bytes,
    /// QoS of the will message (0, 1 or 2).
    #[pyo3(get)]
    pub qos: u8,
    /// Whether the will message is retained.
    #[pyo3(get, set)]
    pub retain: bool,
    /// Will properties (delay, expiry, content type, ...), or None.
    #[pyo3(get, set)]
    pub properties: Option<Py<WillProperties>>,
}

#[pymethods]
impl Will {
    #[new]
    #[pyo3(signature = (topic, payload=None, qos=0, retain=false, properties=None))]
    fn py_new(
        py: Python<'_>,
        topic: &Bound<'_, PyAny>,
        payload: Option<&Bound<'_, PyAny>>,
        #[pyo3(from_py_with = convert::arg::qos)] qos: u8,
        retain: bool,
        properties: Option<Py<WillProperties>>,
    ) -> PyResult<Self> {
        let topic = convert::topic(topic, "will topic")?;
        tether_core::codec::validate_topic_name(&topic)
            .map_err(|e| errors::invalid_topic(py, format!("will topic {topic:?}: {e}")))?;
        let qos = convert::qos(py, qos)? as u8;
        Ok(Will { topic, payload: convert::payload(payload, "will payload")?, qos, retain, properties })
    }

    /// The will payload.
    #[getter]
    fn payload<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.payload)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let props = match &self.properties {
            Some(p) => format!(", properties={}", p.borrow(py).__repr__()),
            None => String::new(),
        };
        format!(
            "Will(topic={}, payload={}, qos={}, retain={}{props})",
            str_repr(&self.topic),
            bytes_repr(&self.payload),
            self.qos,
            py_bool(self.retain)
        )
    }
}

impl Will {
    pub(crate) fn to_core(&self, py: Python<'_>) -> PyResult<LastWill> {
        let properties = match &self.properties {
            Some(p) => p.borrow(py).to_core(),
            None => CoreWillProperties::default(),
        };
        Ok(LastWill {
            topic: self.topic.clone(),
            payload: self.payload.clone(),
            qos: convert::qos(py, self.qos)?,
            retain: self.retain,
            properties,
        })
    }
}

/// CONNACK properties (MQTT 5, 3.2.2.3): what the server announced. None means the server did
/// not send the property (the specification's default applies).
#[pyclass(module = "tether", frozen)]
pub struct ConnAckProperties {
    /// The session expiry the server uses, when it overrides the client's.
    #[pyo3(get)]
    pub session_expiry_interval: Option<u32>,
    /// How many QoS 1/2 messages the server accepts in flight from this client.
    #[pyo3(get)]
    pub receive_maximum: Option<u16>,
    /// The highest QoS the server supports (0 or 1; None means 2).
    #[pyo3(get)]
    pub maximum_qos: Option<u8>,
    /// Whether the server supports retained messages (None means yes).
    #[pyo3(get)]
    pub retain_available: Option<bool>,
    /// The largest packet the server accepts.
    #[pyo3(get)]
    pub maximum_packet_size: Option<u32>,
    /// The client identifier the server assigned (when the client sent an empty one).
    #[pyo3(get)]
    pub assigned_client_identifier: Option<String>,
    /// How many topic aliases this client may use towards the server.
    #[pyo3(get)]
    pub topic_alias_maximum: Option<u16>,
    /// The server's reason string.
    #[pyo3(get)]
    pub reason_string: Option<String>,
    pub user_properties: Vec<(String, String)>,
    /// Whether wildcard subscriptions are supported (None means yes).
    #[pyo3(get)]
    pub wildcard_subscription_available: Option<bool>,
    /// Whether subscription identifiers are supported (None means yes).
    #[pyo3(get)]
    pub subscription_identifiers_available: Option<bool>,
    /// Whether shared subscriptions are supported (None means yes).
    #[pyo3(get)]
    pub shared_subscription_available: Option<bool>,
    /// The keep-alive the server imposes instead of the client's, in seconds.
    #[pyo3(get)]
    pub server_keep_alive: Option<u16>,
    /// Response Information (when requested).
    #[pyo3(get)]
    pub response_information: Option<String>,
    /// Another server the client should use.
    #[pyo3(get)]
    pub server_reference: Option<String>,
    /// The enhanced-authentication method.
    #[pyo3(get)]
    pub authentication_method: Option<String>,
    pub authentication_data: Option<Vec<u8>>,
}

#[pymethods]
impl ConnAckProperties {
    /// (key, value) string pairs the server sent.
    #[getter]
    fn user_properties<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        convert::user_properties_to_py(py, &self.user_properties)
    }

    /// Enhanced-authentication data the server sent.
    #[getter]
    fn authentication_data<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        opt_bytes_to_py(py, &self.authentication_data)
    }

    fn __repr__(&self) -> String {
        let mut r = Repr::new();
        r.opt("session_expiry_interval", &self.session_expiry_interval);
        r.opt("receive_maximum", &self.receive_maximum);
        r.opt("maximum_qos", &self.maximum_qos);
        r.opt("retain_available", &self.retain_available.map(py_bool));
        r.opt("maximum_packet_size", &self.maximum_packet_size);
        r.opt_str("assigned_client_identifier", &self.assigned_client_identifier);
        r.opt("topic_alias_maximum", &self.topic_alias_maximum);
        r.opt_str("reason_string", &self.reason_string);
        r.users(&self.user_properties);
        r.opt("wildcard_subscription_available", &self.wildcard_subscription_available.map(py_bool));
        r.opt("subscription_identifiers_available", &self.subscription_identifiers_available.map(py_bool));
        r.opt("shared_subscription_available", &self.shared_subscription_available.map(py_bool));
        r.opt("server_keep_alive", &self.server_keep_alive);
        r.opt_str("response_information", &self.response_information);
        r.opt_str("server_reference", &self.server_reference);
        r.opt_str("authentication_method", &self.authentication_method);
        r.opt_bytes("authentication_data", &self.authentication_data);
        r.finish("ConnAckProperties")
    }
}

impl ConnAckProperties {
    fn from_core(p: &CoreConnAckProperties) -> Self {
        let flag = |v: Option<u8>| v.map(|b| b != 0);
        ConnAckProperties {
            session_expiry_interval: p.session_expiry_interval,
            receive_maximum: p.receive_maximum,
            maximum_qos: p.maximum_qos,
            retain_available: flag(p.retain_available),
            maximum_packet_size: p.maximum_packet_size,
            assigned_client_identifier: p.assigned_client_identifier.clone(),
            topic_alias_maximum: p.topic_alias_maximum,
            reason_string: p.reason_string.clone(),
            user_properties: p.user_properties.clone(),
            wildcard_subscription_available: flag(p.wildcard_subscription_available),
            subscription_identifiers_available: flag(p.subscription_identifiers_available),
            shared_subscription_available: flag(p.shared_subscription_available),
            server_keep_alive: p.server_keep_alive,
            response_information: p.response_information.clone(),
            server_reference: p.server_reference.clone(),
            authentication_method: p.authentication_method.clone(),
            authentication_data: p.authentication_data.as_ref().map(|b| b.to_vec()),
        }
    }
}

/// The server's answer to a connection (CONNACK): returned by `connect()` and passed to
/// `on_connect` (also after every automatic reconnect).
#[pyclass(module = "tether", frozen)]
pub struct ConnAck {
    /// True when the server resumed an existing session (its subscriptions and queued
    /// messages are there).
    #[pyo3(get)]
    pub session_present: bool,
    /// The CONNACK reason code (0 = success).
    #[pyo3(get)]
    pub reason_code: u8,
    /// The CONNACK properties (assigned client identifier, server keep-alive, limits, ...).
    #[pyo3(get)]
    pub properties: Py<ConnAckProperties>,
}

#[pymethods]
impl ConnAck {
    fn __repr__(&self) -> String {
        format!(
            "ConnAck(session_present={}, reason_code={}, properties={})",
            py_bool(self.session_present),
            self.reason_code,
            self.properties.get().__repr__()
        )
    }
}

impl ConnAck {
    pub(crate) fn from_core(py: Python<'_>, ack: &CoreConnAck) -> PyResult<Py<ConnAck>> {
        let properties = Py::new(py, ConnAckProperties::from_core(&ack.properties))?;
        Py::new(
            py,
            ConnAck { session_present: ack.session_present, reason_code: ack.reason_code as u8, properties },
        )
    }
}

/// The payload of a message as Python bytes.
pub(crate) fn payload_bytes<'py>(py: Python<'py>, payload: &Bytes) -> Bound<'py, PyBytes> {
    PyBytes::new(py, payload)
}
