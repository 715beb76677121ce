//! The outcome of one publish.

use std::sync::{Arc, Weak};
use std::time::Instant;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use tether_core::Delivery as CoreDelivery;

use crate::shared::Shared;
use crate::{aio, convert, errors, wait_slice};

/// The outcome of one `publish()`: it completes when the server acknowledged the message
/// (QoS 1: PUBACK, QoS 2: PUBCOMP; QoS 0: once written), or fails with the reason.
///
/// `publish()` returns at once; `wait()` blocks until the delivery completes (raising
/// `PublishError`, `DroppedError`, `SessionLostError`, ... when it failed). Deliveries of an
/// `AsyncClient` can be awaited: `await delivery`. A delivery is never lost silently: if the
/// connection drops, the message is sent again (DUP) when the session resumes.
#[pyclass(module = "tether", frozen)]
pub struct Delivery {
    pub(crate) inner: CoreDelivery,
    pub(crate) client: Weak<Shared>,
    qos: u8,
}

impl Delivery {
    pub(crate) fn new(inner: CoreDelivery, client: &Arc<Shared>, qos: u8) -> Self {
        Delivery { inner, client: Arc::downgrade(client), qos }
    }
}

/// Turns a finished delivery into `None` or the exception it failed with.
pub(crate) fn finish(
    py: Python<'_>,
    result: &Result<tether_core::PublishOutcome, tether_core::Error>,
) -> PyResult<()> {
    match result {
        Ok(_) => Ok(()),
        Err(e) => Err(errors::to_py(py, e)),
    }
}

#[pymethods]
impl Delivery {
    /// Block until the delivery completes, at most `timeout` seconds (None: as long as it
    /// takes). Returns None when the server acknowledged the message; raises the delivery's
    /// error when it failed, `TimeoutError` when it is still under way. Releases the GIL and
    /// can be interrupted with Ctrl-C.
    #[pyo3(signature = (timeout=None))]
    fn wait(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = convert::arg::timeout)] timeout: Option<f64>,
    ) -> PyResult<()> {
        let limit = convert::timeout(py, timeout)?;
        if let Some(r) = self.inner.result() {
            return finish(py, &r);
        }
        if let Some(client) = self.client.upgrade() {
            client.refuse_in_callback(py, "Delivery.wait()")?;
        }
        let deadline = limit.map(|t| Instant::now() + t);
        for _ in 0..u64::MAX {
            let slice = wait_slice(deadline);
            let r = py.detach(|| {
                let _ = self.inner.wait(Some(slice));
                self.inner.result()
            });
            if let Some(r) = r {
                return finish(py, &r);
            }
            py.check_signals()?;
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
        }
        Err(errors::timeout(
            py,
            format!("the delivery was not acknowledged within {} s", timeout.unwrap_or(0.0)),
        ))
    }

    /// True once the delivery completed (acknowledged or failed).
    #[getter]
    fn done(&self) -> bool {
        self.inner.is_done()
    }

    /// The reason code once completed: 0 (success) or 0x10 (no matching subscribers) when
    /// acknowledged, the server's refusal code (>= 0x80) when refused; None while under way or
    /// when the failure has no reason code.
    #[getter]
    fn reason_code(&self) -> Option<u8> {
        match self.inner.result()? {
            Ok(outcome) => Some(outcome.reason_code as u8),
            Err(e) => e.reason_code(),
        }
    }

    /// The error the delivery failed with, or None (under way, or acknowledged).
    #[getter]
    fn exception(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        match self.inner.result()? {
            Ok(_) => None,
            Err(e) => Some(errors::to_py(py, &e).into_value(py).into_any()),
        }
    }

    /// The MQTT packet identifier, once the message is in flight (QoS 1 and 2), else None.
    #[getter]
    fn packet_id(&self) -> Option<u16> {
        self.inner.packet_id().map(|p| p.get())
    }

    /// The QoS the message was published with.
    #[getter]
    fn qos(&self) -> u8 {
        self.qos
    }

    fn __await__<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let d = slf.get();
        let future = match (d.inner.result(), d.client.upgrade()) {
            (Some(r), _) => aio::ready(py, finish(py, &r).map(|()| py.None()))?,
            (None, None) => return Err(errors::closed(py, "the client of this delivery is gone")),
            (None, Some(client)) => {
                if !client.delivery_events {
                    return Err(PyTypeError::new_err(
                        "only deliveries of a tether.AsyncClient can be awaited; use delivery.wait() with \
                         tether.Client",
                    ));
                }
                client.ensure_dispatch();
                aio::delivery_future(py, &d.inner, &client.delivery_waiters)?
            }
        };
        future.call_method0("__await__")
    }

    fn __repr__(&self) -> String {
        let state = match self.inner.result() {
            None => "pending".to_owned(),
            Some(Ok(o)) => format!("acknowledged, reason_code={}", o.reason_code as u8),
            Some(Err(e)) => format!("failed: {e}"),
        };
        let pid = self.inner.packet_id().map(|p| format!(", packet_id={}", p.get())).unwrap_or_default();
        format!("<tether.Delivery qos={}{pid} {state}>", self.qos)
    }
}
