//! asyncio integration: a Rust future runs on tether's shared tokio runtime and resolves an
//! asyncio future of the caller's running loop through `loop.call_soon_threadsafe`. No thread
//! per call, no polling: the loop sleeps until the answer arrives. Cancelling the asyncio
//! future drops the Rust future; a received message whose `recv()` was cancelled in the last
//! instant is put back at the head of the queue, never lost.
//!
//! A leaf: it knows asyncio, the core and the exceptions, not the client. The bookkeeping of
//! awaited deliveries ([`DeliveryWaiters`]) lives here, beside the futures it resolves.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::Mutex;

use pyo3::prelude::*;
use tether_core::Delivery as CoreDelivery;

use crate::errors;
use crate::{lock, FINALIZING};

/// An asyncio future waiting for a delivery, and its loop.
pub(crate) struct AsyncWaiter {
    pub event_loop: Py<PyAny>,
    pub future: Py<PyAny>,
}

pub(crate) type DeliveryResult = Result<tether_core::PublishOutcome, tether_core::Error>;

/// How many recent delivery outcomes are remembered for late waiters.
const RECENT: usize = 1024;

/// asyncio waiters of deliveries (AsyncClient), by token. The core may report a delivery
/// complete an instant before its `Delivery` says so; the recent outcomes cover a waiter that
/// registers in that instant.
#[derive(Default)]
pub(crate) struct DeliveryWaiters {
    pub waiting: HashMap<u64, Vec<AsyncWaiter>>,
    recent: VecDeque<(u64, DeliveryResult)>,
}

impl DeliveryWaiters {
    fn remember(&mut self, token: u64, result: &DeliveryResult) {
        if self.recent.len() >= RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back((token, result.clone()));
    }

    /// Remembers a completed delivery; true when somebody waits for it.
    pub(crate) fn completed(&mut self, token: u64, result: &DeliveryResult) -> bool {
        self.remember(token, result);
        self.waiting.contains_key(&token)
    }

    fn recent(&self, token: u64) -> Option<DeliveryResult> {
        self.recent.iter().rev().find(|(t, _)| *t == token).map(|(_, r)| r.clone())
    }
}

/// How to turn the result into Python, run once attached.
pub(crate) type Outcome = Box<dyn for<'py> FnOnce(Python<'py>) -> PyResult<Py<PyAny>> + Send>;

/// Puts a received message back if nobody takes it.
pub(crate) type Requeue = Option<Box<dyn FnOnce() + Send>>;

pub(crate) fn outcome(
    f: impl for<'py> FnOnce(Python<'py>) -> PyResult<Py<PyAny>> + Send + 'static,
) -> Outcome {
    Box::new(f)
}

/// Sets the result (or exception) of an asyncio future unless it is already done (cancelled);
/// then a message it carried goes back to its queue.
#[pyclass(frozen)]
struct Resolve {
    requeue: Mutex<Requeue>,
}

impl Resolve {
    fn requeue(&self) {
        if let Some(put_back) = lock(&self.requeue).take() {
            put_back();
        }
    }
}

#[pymethods]
impl Resolve {
    fn __call__(&self, future: &Bound<'_, PyAny>, ok: bool, value: &Bound<'_, PyAny>) -> PyResult<()> {
        if future.call_method0("done")?.is_truthy()? {
            self.requeue();
            return Ok(());
        }
        let method = if ok { "set_result" } else { "set_exception" };
        future.call_method1(method, (value,))?;
        Ok(())
    }
}

/// Tells the Rust side that the asyncio future was cancelled.
#[pyclass(frozen)]
struct CancelOnDone {
    tx: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

#[pymethods]
impl CancelOnDone {
    fn __call__(&self, future: &Bound<'_, PyAny>) -> PyResult<()> {
        if future.call_method0("cancelled")?.is_truthy()? {
            if let Some(tx) = lock(&self.tx).take() {
                let _ = tx.send(());
            }
        }
        Ok(())
    }
}

fn running_loop(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    py.import("asyncio")?.call_method0("get_running_loop")
}

/// Schedules `resolve(future, ok, value)` on the loop; when the loop is gone, the message
/// goes back to its queue.
fn post(
    py: Python<'_>,
    event_loop: &Py<PyAny>,
    future: &Py<PyAny>,
    result: PyResult<Py<PyAny>>,
    requeue: Requeue,
) {
    let (ok, value) = match result {
        Ok(v) => (true, v),
        Err(e) => (false, e.into_value(py).into_any()),
    };
    let resolve = match Py::new(py, Resolve { requeue: Mutex::new(requeue) }) {
        Ok(r) => r,
        Err(e) => {
            e.write_unraisable(py, None);
            return;
        }
    };
    if event_loop
        .call_method1(py, "call_soon_threadsafe", (resolve.clone_ref(py), future, ok, value))
        .is_err()
    {
        // The loop is closed: nobody will take the value.
        resolve.get().requeue();
    }
}

/// An asyncio future (of the running loop) that `fut` resolves. `fut` runs on the shared
/// runtime; its outcome is turned into Python on a blocking-pool thread, never on a runtime
/// worker.
pub(crate) fn spawn<'py, F>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = (Outcome, Requeue)> + Send + 'static,
{
    let event_loop = running_loop(py)?;
    let future = event_loop.call_method0("create_future")?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    future.call_method1("add_done_callback", (CancelOnDone { tx: Mutex::new(Some(tx)) },))?;
    let loop_ref = event_loop.unbind();
    let future_ref = future.clone().unbind();
    tether_core::runtime::shared().spawn(async move {
        let cancelled = async {
            if rx.await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            (outcome, requeue) = fut => {
                tokio::task::spawn_blocking(move || {
                    if FINALIZING.load(std::sync::atomic::Ordering::Acquire) {
                        return;
                    }
                    Python::try_attach(|py| {
                        let result = outcome(py);
                        post(py, &loop_ref, &future_ref, result, requeue);
                    });
                });
            }
            _ = cancelled => {}
        }
    });
    Ok(future)
}

/// An asyncio future already resolved with `result`.
pub(crate) fn ready<'py>(py: Python<'py>, result: PyResult<Py<PyAny>>) -> PyResult<Bound<'py, PyAny>> {
    let future = running_loop(py)?.call_method0("create_future")?;
    match result {
        Ok(v) => future.call_method1("set_result", (v,))?,
        Err(e) => future.call_method1("set_exception", (e.into_value(py),))?,
    };
    Ok(future)
}

fn delivery_result(
    py: Python<'_>,
    result: &Result<tether_core::PublishOutcome, tether_core::Error>,
) -> PyResult<Py<PyAny>> {
    match result {
        Ok(_) => Ok(py.None()),
        Err(e) => Err(errors::to_py(py, e)),
    }
}

/// An asyncio future for a delivery of an `AsyncClient`, resolved by the dispatch thread
/// when the core reports the delivery complete (`waiters` are its client's).
pub(crate) fn delivery_future<'py>(
    py: Python<'py>,
    delivery: &CoreDelivery,
    waiters: &Mutex<DeliveryWaiters>,
) -> PyResult<Bound<'py, PyAny>> {
    if let Some(r) = delivery.result() {
        return ready(py, delivery_result(py, &r));
    }
    let event_loop = running_loop(py)?;
    let future = event_loop.call_method0("create_future")?;
    let mut waiters = lock(waiters);
    // Checked again under the lock, where the dispatch thread completes waiters; the core may
    // also have reported the outcome an instant before the delivery shows it.
    let token = delivery.token();
    if let Some(r) = delivery.result().or_else(|| waiters.recent(token)) {
        drop(waiters);
        match delivery_result(py, &r) {
            Ok(v) => future.call_method1("set_result", (v,))?,
            Err(e) => future.call_method1("set_exception", (e.into_value(py),))?,
        };
        return Ok(future);
    }
    waiters
        .waiting
        .entry(token)
        .or_default()
        .push(AsyncWaiter { event_loop: event_loop.unbind(), future: future.clone().unbind() });
    Ok(future)
}

/// On the dispatch thread: a delivery an asyncio task waits for completed.
pub(crate) fn resolve_delivery(
    py: Python<'_>,
    waiter: AsyncWaiter,
    result: &Result<tether_core::PublishOutcome, tether_core::Error>,
) {
    post(py, &waiter.event_loop, &waiter.future, delivery_result(py, result), None);
}
