//! The exception hierarchy and the one mapping from the core's [`ErrorKind`] to it.
//!
//! The classes are ordinary Python classes (defined from the source below when the module is
//! imported) so that they can inherit from two bases where a builtin fits too:
//! `ConnectError` is also a `ConnectionError` (an `OSError`, as paho users catch), `TimeoutError`
//! is also the builtin `TimeoutError`, and the argument errors are also `ValueError`s. Every
//! class carries `reason_code` and `reason_string` (None where there is none).

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyType};
use tether_core::{Error as CoreError, ErrorKind};

const SOURCE: &std::ffi::CStr = c"
import builtins as _builtins


class Error(Exception):
    \"\"\"Base class of every tether error.

    ``reason_code`` is the MQTT reason code behind the error and ``reason_string`` the
    server's reason string, where there is one (otherwise None).
    \"\"\"

    reason_code = None
    reason_string = None

    def __init__(self, *args, reason_code=None, reason_string=None):
        super().__init__(*args)
        self.reason_code = reason_code
        self.reason_string = reason_string


class ConnectError(Error, ConnectionError):
    \"\"\"The connection could not be made: the server refused it (CONNACK reason code >= 0x80,
    in ``reason_code``, with the server's ``reason_string``) or the network failed
    (``reason_code`` is None). Also a builtin ``ConnectionError``.\"\"\"


class TlsError(ConnectError):
    \"\"\"TLS failed in a way retrying will not fix: a CA, certificate or key file that cannot
    be read (the message names it), a server certificate that is not trusted, expired or for
    another host, or a handshake the server refused (for example without the client
    certificate it requires). Automatic reconnects stop on it. Also a ``ConnectError``.\"\"\"


class WebSocketError(ConnectError):
    \"\"\"The WebSocket upgrade failed in a way retrying will not fix: the server answered with an
    HTTP status other than 101 (in the message, e.g. \"upgrade refused: 404 Not Found\"), or did
    not confirm the ``mqtt`` subprotocol. Automatic reconnects stop on it. Also a
    ``ConnectError``.\"\"\"


class ProxyError(ConnectError):
    \"\"\"The HTTP proxy (``proxy=``) refused to open the tunnel: the message names the proxy
    (without credentials), the broker and the HTTP status and reason, e.g. \"proxy
    http://127.0.0.1:3128 refused CONNECT to broker:1883: 407 Proxy Authentication Required\".
    A 407 or 403 (any 4xx) stops automatic reconnects; a 502/503/504 is retried. A proxy that
    cannot be reached at all is a plain ``ConnectError``. Also a ``ConnectError``.\"\"\"


class TimeoutError(Error, _builtins.TimeoutError):
    \"\"\"The operation did not complete within its timeout. Also the builtin ``TimeoutError``.\"\"\"


class NotConnectedError(Error):
    \"\"\"The operation needs a connection and the client has none.\"\"\"


class ProtocolError(Error):
    \"\"\"The server broke the MQTT protocol, or a request failed because of a protocol error;
    ``reason_code`` is the DISCONNECT reason code.\"\"\"


class QueueFullError(Error):
    \"\"\"The send queue is full (``max_queued`` / ``max_queued_bytes``) and the overflow policy
    does not let the call wait.\"\"\"


class InvalidArgumentError(Error, ValueError):
    \"\"\"An argument is invalid (an int outside its MQTT range, whatever its size, is one;
    the message names the field); nothing was sent. Also a ``ValueError``.\"\"\"


class InvalidTopicError(InvalidArgumentError):
    \"\"\"A topic name or topic filter is invalid (empty, wildcards where none are allowed, bad
    UTF-8, too long); nothing was sent. Also a ``ValueError``.\"\"\"


class PacketTooLargeError(InvalidArgumentError):
    \"\"\"The packet would exceed the server's Maximum Packet Size (reason code 0x95); nothing
    was sent. Also a ``ValueError``.\"\"\"


class NotSupportedError(Error):
    \"\"\"The server does not support what was asked (a QoS above its Maximum QoS, retained
    messages where Retain Available is 0, ...).\"\"\"


class PublishError(Error):
    \"\"\"A delivery failed: the server refused the message (``reason_code`` >= 0x80 from
    PUBACK/PUBREC, with its ``reason_string``), or the message was dropped or lost.

    Raised by ``flush()`` when deliveries failed since the previous flush: ``failed`` is
    their number and ``failures`` the first of them as ``(topic, packet_id, reason)``
    tuples (``packet_id`` None for a message never in flight); ``reason_code`` is the first
    failure's. For a single delivery ``failed`` is 1 and ``failures`` is empty.\"\"\"

    failed = 1
    failures = ()


class DroppedError(PublishError):
    \"\"\"The message was dropped before it was sent: it expired while queued (Message Expiry
    Interval) or the ``drop_oldest`` overflow policy made room for a newer one.\"\"\"


class SessionLostError(PublishError):
    \"\"\"The server did not keep the session and ``on_session_lost='fail'`` was chosen: the
    message was not delivered.\"\"\"


class ClosedError(Error):
    \"\"\"The client is closed.\"\"\"
";

/// Every class, looked up once.
pub(crate) struct Classes {
    pub error: Py<PyType>,
    pub connect: Py<PyType>,
    pub tls: Py<PyType>,
    pub websocket: Py<PyType>,
    pub proxy: Py<PyType>,
    pub timeout: Py<PyType>,
    pub not_connected: Py<PyType>,
    pub protocol: Py<PyType>,
    pub queue_full: Py<PyType>,
    pub invalid_argument: Py<PyType>,
    pub invalid_topic: Py<PyType>,
    pub packet_too_large: Py<PyType>,
    pub not_supported: Py<PyType>,
    pub publish: Py<PyType>,
    pub dropped: Py<PyType>,
    pub session_lost: Py<PyType>,
    pub closed: Py<PyType>,
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

pub(crate) const NAMES: &[&str] = &[
    "Error",
    "ConnectError",
    "TlsError",
    "WebSocketError",
    "ProxyError",
    "TimeoutError",
    "NotConnectedError",
    "ProtocolError",
    "QueueFullError",
    "InvalidArgumentError",
    "InvalidTopicError",
    "PacketTooLargeError",
    "NotSupportedError",
    "PublishError",
    "DroppedError",
    "SessionLostError",
    "ClosedError",
];

fn define(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let globals = PyDict::new(py);
    globals.set_item("__name__", "tether")?;
    py.run(SOURCE, Some(&globals), None)?;
    Ok(globals)
}

/// Defines the classes and adds them to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let globals = define(py)?;
    let get = |name: &str| -> PyResult<Py<PyType>> {
        let item = globals
            .get_item(name)?
            .ok_or_else(|| pyo3::exceptions::PyRuntimeError::new_err(format!("missing class {name}")))?;
        Ok(item.cast_into::<PyType>()?.unbind())
    };
    for name in NAMES {
        m.add(*name, get(name)?)?;
    }
    let classes = Classes {
        error: get("Error")?,
        connect: get("ConnectError")?,
        tls: get("TlsError")?,
        websocket: get("WebSocketError")?,
        proxy: get("ProxyError")?,
        timeout: get("TimeoutError")?,
        not_connected: get("NotConnectedError")?,
        protocol: get("ProtocolError")?,
        queue_full: get("QueueFullError")?,
        invalid_argument: get("InvalidArgumentError")?,
        invalid_topic: get("InvalidTopicError")?,
        packet_too_large: get("PacketTooLargeError")?,
        not_supported: get("NotSupportedError")?,
        publish: get("PublishError")?,
        dropped: get("DroppedError")?,
        session_lost: get("SessionLostError")?,
        closed: get("ClosedError")?,
    };
    // A second import of the module (a subinterpreter, a reload) keeps the first classes.
    let _ = CLASSES.set(py, classes);
    Ok(())
}

pub(crate) fn classes(py: Python<'_>) -> &Classes {
    CLASSES.get(py).expect("tether: the exception classes are defined when the module is imported")
}

/// An instance of `class` with a message and optional reason code and reason string.
pub(crate) fn make(
    py: Python<'_>,
    class: &Py<PyType>,
    message: impl Into<String>,
    reason_code: Option<u8>,
    reason_string: Option<&str>,
) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let kwargs = PyDict::new(py);
        kwargs.set_item("reason_code", reason_code)?;
        kwargs.set_item("reason_string", reason_string)?;
        let value = class.bind(py).call((message.into(),), Some(&kwargs))?;
        Ok(PyErr::from_value(value))
    };
    build().unwrap_or_else(|e| e)
}

/// The one mapping from a core error to a Python exception.
pub(crate) fn to_py(py: Python<'_>, error: &CoreError) -> PyErr {
    if error.is_store() {
        // The disk, not the network: what Python code expects of a failed write.
        return pyo3::exceptions::PyOSError::new_err(error.to_string());
    }
    let c = classes(py);
    let class = match error.kind() {
        ErrorKind::InvalidArgument => &c.invalid_argument,
        ErrorKind::InvalidTopic => &c.invalid_topic,
        ErrorKind::PacketTooLarge => &c.packet_too_large,
        ErrorKind::NotSupported => &c.not_supported,
        ErrorKind::QueueFull => &c.queue_full,
        ErrorKind::NotConnected => &c.not_connected,
        ErrorKind::Timeout => &c.timeout,
        // A connection that could not be made, refused or not: both are connect failures.
        ErrorKind::ConnectionRefused | ErrorKind::Io => &c.connect,
        ErrorKind::Tls => &c.tls,
        ErrorKind::WebSocket => &c.websocket,
        ErrorKind::Proxy => &c.proxy,
        ErrorKind::Protocol => &c.protocol,
        ErrorKind::Rejected => &c.publish,
        ErrorKind::SessionLost => &c.session_lost,
        ErrorKind::Dropped => &c.dropped,
        ErrorKind::Closed => &c.closed,
        ErrorKind::DeliveryFailed => &c.publish,
    };
    let err = make(py, class, error.to_string(), error.reason_code(), error.reason_string());
    if let CoreError::DeliveryFailed(report) = error {
        let failures: Vec<(String, Option<u16>, String)> = report
            .first_failures
            .iter()
            .map(|f| (f.topic.clone(), f.packet_id.map(|p| p.get()), f.error.to_string()))
            .collect();
        let value = err.value(py);
        let set = pyo3::types::PyTuple::new(py, failures)
            .and_then(|failures| value.setattr("failures", failures))
            .and_then(|()| value.setattr("failed", report.failed));
        if let Err(e) = set {
            return e;
        }
    }
    err
}

/// Shorthands for errors raised by the Python face itself.
pub(crate) fn invalid_argument(py: Python<'_>, message: impl Into<String>) -> PyErr {
    make(py, &classes(py).invalid_argument, message, None, None)
}

pub(crate) fn invalid_topic(py: Python<'_>, message: impl Into<String>) -> PyErr {
    make(py, &classes(py).invalid_topic, message, None, None)
}

pub(crate) fn timeout(py: Python<'_>, message: impl Into<String>) -> PyErr {
    make(py, &classes(py).timeout, message, None, None)
}

pub(crate) fn not_connected(py: Python<'_>, message: impl Into<String>) -> PyErr {
    make(py, &classes(py).not_connected, message, None, None)
}

pub(crate) fn queue_full(py: Python<'_>, message: impl Into<String>) -> PyErr {
    make(py, &classes(py).queue_full, message, None, None)
}

pub(crate) fn closed(py: Python<'_>, message: impl Into<String>) -> PyErr {
    make(py, &classes(py).closed, message, None, None)
}

pub(crate) fn base(py: Python<'_>, message: impl Into<String>) -> PyErr {
    make(py, &classes(py).error, message, None, None)
}
