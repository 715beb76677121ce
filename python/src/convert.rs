//! Argument checks and conversions shared by the classes: every bad argument is refused here,
//! with a clear message, before anything reaches the core.

use std::time::Duration;

use bytes::Bytes;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyList, PyString, PyTuple};
use tether_core::QoS;

use crate::errors;

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

pub(crate) fn qos(py: Python<'_>, value: i64) -> PyResult<QoS> {
    u8::try_from(value)
        .ok()
        .and_then(|v| QoS::try_from(v).ok())
        .ok_or_else(|| errors::invalid_argument(py, format!("qos must be 0, 1 or 2, not {value}")))
}

/// A timeout in seconds: None waits forever; negative or not finite is refused.
pub(crate) fn timeout(py: Python<'_>, seconds: Option<f64>) -> PyResult<Option<Duration>> {
    match seconds {
        None => Ok(None),
        Some(s) if s.is_finite() && s >= 0.0 => Ok(Some(Duration::from_secs_f64(s.min(1e9)))),
        Some(s) => {
            Err(errors::invalid_argument(py, format!("timeout must be None or >= 0 seconds, not {s}")))
        }
    }
}

/// A duration in seconds that must be finite and non-negative.
pub(crate) fn seconds(py: Python<'_>, value: f64, what: &str) -> PyResult<Duration> {
    if value.is_finite() && value >= 0.0 {
        Ok(Duration::from_secs_f64(value.min(1e9)))
    } else {
        Err(errors::invalid_argument(py, format!("{what} must be a number of seconds >= 0, not {value}")))
    }
}

pub(crate) fn in_range<T: TryFrom<i64>>(
    py: Python<'_>,
    value: i64,
    lo: i64,
    hi: i64,
    what: &str,
) -> PyResult<T> {
    if value < lo || value > hi {
        return Err(errors::invalid_argument(py, format!("{what} must be in {lo}..={hi}, not {value}")));
    }
    T::try_from(value).map_err(|_| errors::invalid_argument(py, format!("{what} out of range: {value}")))
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
