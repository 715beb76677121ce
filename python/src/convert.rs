//! Argument checks and conversions shared by the classes: every bad argument is refused here,
//! with a clear message, before anything reaches the core.

use std::time::Duration;

use bytes::Bytes;
use pyo3::exceptions::{PyOverflowError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyList, PyString, PyTuple};
use tether_core::validate::{self, Range};
use tether_core::QoS;

use crate::errors;

/// The one conversion of a Python int (an argument or a property) to a Rust integer: any int
/// is taken, and one outside `range` (from the core) raises `InvalidArgumentError` naming
/// `field`, whatever its size. pyo3's own conversion would raise `OverflowError` (not a
/// `ValueError`) for a negative number or one too wide for the Rust type. A value that is not
/// an int stays a `TypeError`.
pub(crate) fn int_field<T: TryFrom<i128>>(obj: &Bound<'_, PyAny>, field: &str, range: Range) -> PyResult<T> {
    let py = obj.py();
    match obj.extract::<i128>() {
        Ok(v) => range.check(field, v).map_err(|e| errors::to_py(py, &e)),
        Err(e) if e.is_instance_of::<PyOverflowError>(py) => {
            Err(errors::to_py(py, &range.refuse(field, huge_int_text(obj))))
        }
        Err(_) => Err(PyTypeError::new_err(format!("{field} must be an int, not {}", type_name(obj)))),
    }
}

/// `int_field` for an optional value: None (or no value) stays None.
pub(crate) fn opt_int_field<T: TryFrom<i128>>(
    obj: Option<&Bound<'_, PyAny>>,
    field: &str,
    range: Range,
) -> PyResult<Option<T>> {
    match obj {
        Some(o) if !o.is_none() => int_field(o, field, range).map(Some),
        _ => Ok(None),
    }
}

/// An int too wide for an `i128`, shown in a message (Python refuses to print one with
/// thousands of digits).
fn huge_int_text(obj: &Bound<'_, PyAny>) -> String {
    match obj.str() {
        Ok(s) if s.to_string().len() <= 60 => s.to_string(),
        _ => {
            let negative = obj.lt(0).unwrap_or(false);
            format!("{}an int of {} bits", if negative { "-" } else { "" }, bit_length(obj))
        }
    }
}

fn bit_length(obj: &Bound<'_, PyAny>) -> String {
    obj.call_method0("bit_length").and_then(|b| b.str()).map(|s| s.to_string()).unwrap_or_else(|_| "?".into())
}

/// A number of seconds (int or float) as a float; an int too large for a float raises
/// `InvalidArgumentError` naming `field` (not `OverflowError`). The range is checked by
/// [`seconds`] and [`timeout`].
pub(crate) fn float_field(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<f64> {
    let py = obj.py();
    match obj.extract::<f64>() {
        Ok(v) => Ok(v),
        Err(e) if e.is_instance_of::<PyOverflowError>(py) => {
            Err(errors::to_py(py, &validate::refuse_seconds(field, huge_int_text(obj))))
        }
        Err(_) => Err(PyTypeError::new_err(format!("{field} must be a number, not {}", type_name(obj)))),
    }
}

/// Extractors for `#[pyo3(from_py_with = arg::<field>)]`, one per numeric argument of the
/// classes' methods, named after the argument (the name its errors carry): pyo3 would convert
/// these itself, with `OverflowError`s.
pub(crate) mod arg {
    use pyo3::prelude::*;
    use tether_core::validate;

    macro_rules! ints {
        ($($field:ident: $t:ty = $range:ident;)*) => {$(
            pub(crate) fn $field(obj: &Bound<'_, PyAny>) -> PyResult<$t> {
                super::int_field(obj, stringify!($field), validate::$range)
            }
        )*};
    }

    macro_rules! optional_ints {
        ($($field:ident: $t:ty = $range:ident;)*) => {$(
            pub(crate) fn $field(obj: &Bound<'_, PyAny>) -> PyResult<Option<$t>> {
                super::opt_int_field(Some(obj), stringify!($field), validate::$range)
            }
        )*};
    }

    macro_rules! seconds {
        ($($field:ident;)*) => {$(
            pub(crate) fn $field(obj: &Bound<'_, PyAny>) -> PyResult<f64> {
                super::float_field(obj, stringify!($field))
            }
        )*};
    }

    ints! {
        qos: u8 = QOS;
        retain_handling: u8 = RETAIN_HANDLING;
        keep_alive: u16 = TWO_BYTE;
        max_queued: usize = QUEUE_LIMIT;
        max_queued_bytes: usize = QUEUE_LIMIT;
        reason_code: u8 = REASON_CODE;
        quota_retries: u8 = QUOTA_RETRIES;
        protocol: u8 = PROTOCOL_LEVEL;
        max_inflight: u16 = RECEIVE_MAXIMUM;
    }

    optional_ints! {
        port: u16 = PORT;
        session_expiry_interval: u32 = FOUR_BYTE;
        receive_maximum: u16 = RECEIVE_MAXIMUM;
        max_packet_size: u32 = MAXIMUM_PACKET_SIZE;
        topic_alias_maximum: u16 = TWO_BYTE;
        subscription_identifier: u32 = SUBSCRIPTION_IDENTIFIER;
    }

    seconds! {
        reconnect_min_delay;
        reconnect_max_delay;
        connect_timeout;
        quota_retry_backoff;
    }

    /// `timeout`: seconds, or None to wait as long as it takes.
    pub(crate) fn timeout(obj: &Bound<'_, PyAny>) -> PyResult<Option<f64>> {
        if obj.is_none() {
            return Ok(None);
        }
        let seconds = super::float_field(obj, "timeout")?;
        super::timeout(obj.py(), Some(seconds))?;
        Ok(Some(seconds))
    }
}

/// A payload: bytes, bytearray, memoryview or str (UTF-8 encoded); None is an empty payload.
pub(crate) fn payload(obj: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Bytes> {
    let Some(obj) = obj else { return Ok(Bytes::new()) };
    if obj.is_none() {
        return Ok(Bytes::new());
    }
    bytes_like(obj).ok_or_else(|| {
        PyTypeError::new_err(format!(
            "{what} must be bytes, bytearray, memoryview or str, not {}",
            type_name(obj)
        ))
    })?
}

/// bytes, bytearray, memoryview or str as bytes; None when `obj` is none of these.
fn bytes_like(obj: &Bound<'_, PyAny>) -> Option<PyResult<Bytes>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Some(Ok(Bytes::copy_from_slice(b.as_bytes())));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Some(Ok(Bytes::from(b.to_vec())));
    }
    if obj.is_instance_of::<PyString>() {
        return Some(obj.extract::<String>().map(Bytes::from));
    }
    let memoryview = obj.py().get_type::<pyo3::types::PyMemoryView>();
    if obj.is_instance(&memoryview).unwrap_or(false) {
        return Some(obj.call_method0("tobytes").and_then(|b| {
            let b = b.cast_into::<PyBytes>()?;
            Ok(Bytes::copy_from_slice(b.as_bytes()))
        }));
    }
    None
}

/// Binary data of a property (correlation data, authentication data): bytes-like, not str.
pub(crate) fn binary(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u8>> {
    if obj.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(format!("{what} must be bytes, not str")));
    }
    match bytes_like(obj) {
        Some(b) => Ok(b?.to_vec()),
        None => Err(PyTypeError::new_err(format!("{what} must be bytes, not {}", type_name(obj)))),
    }
}

pub(crate) fn optional_binary(obj: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Option<Vec<u8>>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => binary(o, what).map(Some),
    }
}

pub(crate) fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}

/// A topic name or filter as a Rust string: str, or bytes holding UTF-8.
pub(crate) fn topic(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    let py = obj.py();
    if let Ok(s) = obj.cast::<PyString>() {
        return s.extract::<String>().map_err(|_| {
            errors::invalid_topic(py, format!("{what} {s:?} is not valid UTF-8 (it holds a lone surrogate)"))
        });
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return String::from_utf8(b.as_bytes().to_vec())
            .map_err(|_| errors::invalid_topic(py, format!("{what} {:?} is not valid UTF-8", b.as_bytes())));
    }
    Err(PyTypeError::new_err(format!("{what} must be str, not {}", type_name(obj))))
}

pub(crate) fn qos(py: Python<'_>, value: u8) -> PyResult<QoS> {
    validate::qos("qos", value).map_err(|e| errors::to_py(py, &e))
}

/// A timeout in seconds: None waits as long as it takes.
pub(crate) fn timeout(py: Python<'_>, seconds: Option<f64>) -> PyResult<Option<Duration>> {
    seconds.map(|s| self::seconds(py, s, "timeout")).transpose()
}

/// A duration in seconds, within the core's range of durations.
pub(crate) fn seconds(py: Python<'_>, value: f64, what: &str) -> PyResult<Duration> {
    validate::seconds(what, value).map_err(|e| errors::to_py(py, &e))
}

/// User properties: an iterable of (str, str) pairs (a dict works too).
pub(crate) fn user_properties(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<(String, String)>> {
    let Some(obj) = obj else { return Ok(Vec::new()) };
    if obj.is_none() {
        return Ok(Vec::new());
    }
    let py = obj.py();
    let items =
        if let Ok(d) = obj.cast::<pyo3::types::PyDict>() { d.items().into_any() } else { obj.clone() };
    if items.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err("user_properties must be a list of (str, str) pairs, not str"));
    }
    let mut out = Vec::new();
    let iter = items.try_iter().map_err(|_| {
        PyTypeError::new_err(format!(
            "user_properties must be a list of (str, str) pairs, not {}",
            type_name(obj)
        ))
    })?;
    for item in iter {
        let item = item?;
        let pair: Result<(String, String), _> =
            if item.is_instance_of::<PyTuple>() || item.is_instance_of::<PyList>() {
                item.extract::<(String, String)>()
            } else {
                Err(PyTypeError::new_err(""))
            };
        match pair {
            Ok(p) => out.push(p),
            Err(_) => {
                return Err(PyTypeError::new_err(format!(
                    "each user property must be a (str, str) pair, not {}",
                    item.repr().map(|r| r.to_string()).unwrap_or_else(|_| type_name(&item))
                )))
            }
        }
    }
    let _ = py;
    Ok(out)
}

/// User properties as a Python list of tuples.
pub(crate) fn user_properties_to_py<'py>(
    py: Python<'py>,
    values: &[(String, String)],
) -> PyResult<Bound<'py, PyList>> {
    PyList::new(py, values.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}
