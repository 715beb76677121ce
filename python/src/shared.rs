//! What a Python client shares between its handles and its dispatch thread: the core client,
//! the callbacks, and the calls into Python that the core's dispatcher
//! (`tether_core::dispatch`) makes. The dispatch thread, the inbox `recv()` reads, the
//! batching and which callback hears what are the core's, shared with the C face.
//!
//! Threads: the dispatch thread (one per client, started at `connect()` or when the first
//! callback is set) waits for the core's events without the GIL and attaches to Python once
//! per run of callbacks ([`Handler::enter`]). No lock of this module is held while Python code
//! runs, and no Python object is dropped while a lock is held.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;
use tether_core::dispatch::{Disconnection, DispatchOptions, Dispatcher, Handler, Notice};
use tether_core::{AsyncClient, ConnAck as CoreConnAck, Message as CoreMessage, PublishCompletion};

use crate::aio::{self, DeliveryWaiters};
use crate::disconnect::DisconnectInfo;
use crate::errors;
use crate::message::Message;
use crate::props::ConnAck;
use crate::{lock, FINALIZING};

/// Every live client, so that `atexit` can stop their dispatch threads before the interpreter
/// goes away.
static CLIENTS: Mutex<Vec<Weak<Shared>>> = Mutex::new(Vec::new());

/// Which callback.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Slot {
    Message,
    Connect,
    Disconnect,
}

impl Slot {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Slot::Message => "on_message",
            Slot::Connect => "on_connect",
            Slot::Disconnect => "on_disconnect",
        }
    }
}

#[derive(Default)]
pub(crate) struct Callbacks {
    pub on_message: Option<Py<PyAny>>,
    pub on_connect: Option<Py<PyAny>>,
    pub on_disconnect: Option<Py<PyAny>>,
    /// `on_disconnect` takes two parameters: (reason_code, DisconnectInfo).
    pub on_disconnect_with_info: bool,
}

impl Callbacks {
    pub(crate) fn slot(&mut self, slot: Slot) -> &mut Option<Py<PyAny>> {
        match slot {
            Slot::Message => &mut self.on_message,
            Slot::Connect => &mut self.on_connect,
            Slot::Disconnect => &mut self.on_disconnect,
        }
    }
}

pub(crate) struct Shared {
    pub core: AsyncClient,
    pub client_id: String,
    /// Deliveries report completion as events (AsyncClient): `await delivery` is resolved by
    /// the dispatch thread.
    pub delivery_events: bool,
    pub dispatcher: Dispatcher,
    callbacks: Arc<Mutex<Callbacks>>,
    /// `connect()` succeeded and `disconnect()` was not called since: requests may wait for
    /// the server.
    pub active: AtomicBool,
    pub delivery_waiters: Arc<Mutex<DeliveryWaiters>>,
    /// How the last connection ended (`Client.last_disconnect`).
    pub last_disconnect: Arc<Mutex<Option<DisconnectInfo>>>,
}

impl Shared {
    pub(crate) fn new(core: AsyncClient, delivery_events: bool) -> Arc<Shared> {
        let shared = Arc::new_cyclic(|weak: &Weak<Shared>| {
            let client_id = core.client_id().to_owned();
            let callbacks = Arc::new(Mutex::new(Callbacks::default()));
            let delivery_waiters = Arc::new(Mutex::new(DeliveryWaiters::default()));
            let last_disconnect = Arc::new(Mutex::new(None));
            let handler = PyHandler {
                client_id: client_id.clone(),
                client: weak.clone(),
                callbacks: callbacks.clone(),
                delivery_waiters: delivery_waiters.clone(),
                last_disconnect: last_disconnect.clone(),
            };
            let options = DispatchOptions {
                thread_name: format!("tether-dispatch-{client_id}"),
                ..DispatchOptions::default()
            };
            Shared {
                dispatcher: Dispatcher::new(core.clone(), Box::new(handler), options),
                core,
                client_id,
                delivery_events,
                callbacks,
                active: AtomicBool::new(false),
                delivery_waiters,
                last_disconnect,
            }
        });
        let mut clients = lock(&CLIENTS);
        clients.retain(|w| w.strong_count() > 0);
        clients.push(Arc::downgrade(&shared));
        shared
    }

    /// True on this client's dispatch thread (inside one of its callbacks).
    pub(crate) fn on_dispatch_thread(&self) -> bool {
        self.dispatcher.is_dispatch_thread()
    }

    /// Refuses to wait for the server from inside a callback of this client: the answer would
    /// have to come through the very thread that is waiting.
    pub(crate) fn refuse_in_callback(&self, py: Python<'_>, what: &str) -> PyResult<()> {
        if self.on_dispatch_thread() {
            return Err(errors::base(
                py,
                format!(
                    "{what} cannot wait inside a callback of the same client: the callback runs on the \
                     thread that delivers the answer, so it would deadlock. Call it from another thread \
                     (or use AsyncClient); to keep subscriptions across reconnects, use a session \
                     (session_expiry_interval > 0)"
                ),
            ));
        }
        Ok(())
    }

    /// Starts the dispatch thread if it is not running. Without a thread, recv() and
    /// callbacks get nothing; the inbox closes so that waiters return.
    pub(crate) fn ensure_dispatch(&self) {
        let _ = self.dispatcher.start();
    }

    /// Stops the dispatch thread (it ends after the callback it is in); does not wait.
    pub(crate) fn stop(&self) {
        self.dispatcher.stop();
    }

    /// Wakes every `recv()` so that it sees the client disconnected.
    pub(crate) fn wake_receivers(&self) {
        self.dispatcher.wake_receivers();
    }

    // --- callbacks -----------------------------------------------------------------------

    pub(crate) fn callback(&self, py: Python<'_>, slot: Slot) -> Option<Py<PyAny>> {
        lock(&self.callbacks).slot(slot).as_ref().map(|c| c.clone_ref(py))
    }

    /// Replaces a callback; the old one is dropped after the lock is released.
    /// `with_info`: for `on_disconnect`, whether it takes the `DisconnectInfo` too.
    pub(crate) fn set_callback(&self, slot: Slot, value: Option<Py<PyAny>>, with_info: bool) {
        let is_some = value.is_some();
        let old = {
            let mut callbacks = lock(&self.callbacks);
            if let Slot::Disconnect = slot {
                callbacks.on_disconnect_with_info = with_info;
            }
            std::mem::replace(callbacks.slot(slot), value)
        };
        drop(old);
        if let Slot::Message = slot {
            self.dispatcher.set_on_message(is_some);
        }
        if is_some {
            self.ensure_dispatch();
        }
    }

    /// For the garbage collector: visits the callbacks without blocking.
    pub(crate) fn traverse(&self, visit: &pyo3::gc::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        if let Ok(c) = self.callbacks.try_lock() {
            for cb in [&c.on_message, &c.on_connect, &c.on_disconnect].into_iter().flatten() {
                visit.call(cb)?;
            }
        }
        Ok(())
    }

    /// For the garbage collector: drops the callbacks (breaking cycles through them).
    pub(crate) fn clear_callbacks(&self) {
        let old = std::mem::take(&mut *lock(&self.callbacks));
        self.dispatcher.set_on_message(false);
        drop(old);
    }

    // --- the inbox -----------------------------------------------------------------------

    /// Nothing more can arrive: the dispatch thread is gone, or the application disconnected
    /// and the inbox is empty.
    pub(crate) fn drained(&self) -> bool {
        self.dispatcher.is_drained()
            || (!self.active.load(Ordering::Acquire) && self.dispatcher.inbox_len() == 0)
    }
}

/// The Python side of the dispatcher: each callback attaches (cheaply: `enter` attached
/// already) and calls the Python callable, reporting what it raises.
struct PyHandler {
    client_id: String,
    client: Weak<Shared>,
    callbacks: Arc<Mutex<Callbacks>>,
    delivery_waiters: Arc<Mutex<DeliveryWaiters>>,
    last_disconnect: Arc<Mutex<Option<DisconnectInfo>>>,
}

impl PyHandler {
    fn callback(&self, py: Python<'_>, slot: Slot) -> Option<Py<PyAny>> {
        lock(&self.callbacks).slot(slot).as_ref().map(|c| c.clone_ref(py))
    }

    fn call(&self, py: Python<'_>, slot: Slot, cb: &Py<PyAny>, arg: Py<PyAny>) {
        if let Err(e) = cb.call1(py, (arg,)) {
            report(py, &self.client_id, slot.name(), e);
        }
    }
}

impl Handler for PyHandler {
    fn enter(&mut self, run: &mut dyn FnMut(&mut dyn Handler)) {
        if FINALIZING.load(Ordering::Acquire) {
            return;
        }
        Python::try_attach(|_py| run(self));
    }

    fn on_message(&mut self, m: CoreMessage) -> Option<CoreMessage> {
        Python::attach(|py| {
            let Some(cb) = self.callback(py, Slot::Message) else { return Some(m) };
            match Py::new(py, Message::new(m, self.client.clone())) {
                Ok(msg) => self.call(py, Slot::Message, &cb, msg.into_any()),
                Err(e) => report(py, &self.client_id, Slot::Message.name(), e),
            }
            None
        })
    }

    fn on_connect(&mut self, ack: &CoreConnAck) {
        Python::attach(|py| {
            let Some(cb) = self.callback(py, Slot::Connect) else { return };
            match ConnAck::from_core(py, ack) {
                Ok(ack) => self.call(py, Slot::Connect, &cb, ack.into_any()),
                Err(e) => report(py, &self.client_id, Slot::Connect.name(), e),
            }
        })
    }

    fn on_disconnect(&mut self, d: &Disconnection) {
        let info = DisconnectInfo::from_core(&d.cause);
        *lock(&self.last_disconnect) = Some(info.clone());
        Python::attach(|py| {
            let (cb, with_info) = {
                let c = lock(&self.callbacks);
                (c.on_disconnect.as_ref().map(|cb| cb.clone_ref(py)), c.on_disconnect_with_info)
            };
            let Some(cb) = cb else { return };
            let called = if with_info {
                Py::new(py, info).and_then(|info| cb.call1(py, (d.reason_code, info)))
            } else {
                cb.call1(py, (d.reason_code,))
            };
            if let Err(e) = called {
                report(py, &self.client_id, Slot::Disconnect.name(), e);
            }
        })
    }

    /// Completed deliveries are remembered for late waiters; only those with waiters go on.
    fn wanted_deliveries(&mut self, deliveries: &mut Vec<PublishCompletion>) {
        let mut w = lock(&self.delivery_waiters);
        deliveries.retain(|c| w.completed(c.token, &c.result));
    }

    fn on_deliveries(&mut self, deliveries: Vec<PublishCompletion>) {
        Python::attach(|py| {
            for c in deliveries {
                let waiters = lock(&self.delivery_waiters).waiting.remove(&c.token).unwrap_or_default();
                for w in waiters {
                    aio::resolve_delivery(py, w, &c.result);
                }
            }
        })
    }

    fn on_notice(&mut self, notice: Notice) {
        Python::attach(|py| log(py, notice.level.as_str(), notice.text))
    }
}

/// An exception raised by a callback goes to the `tether` logger (with its traceback); the
/// client carries on.
fn report(py: Python<'_>, client_id: &str, what: &str, error: PyErr) {
    let logged = (|| -> PyResult<()> {
        let kwargs = PyDict::new(py);
        kwargs.set_item("exc_info", error.value(py))?;
        logger(py)?.call_method(
            "error",
            ("exception in the %s callback of tether client %r", what, client_id),
            Some(&kwargs),
        )?;
        Ok(())
    })();
    if let Err(e) = logged {
        e.write_unraisable(py, None);
        error.write_unraisable(py, None);
    }
}

fn logger(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static LOGGER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    LOGGER
        .get_or_try_init(py, || {
            py.import("logging")?.call_method1("getLogger", ("tether",)).map(Bound::unbind)
        })
        .map(|l| l.bind(py))
}

/// A record on the `tether` logger (level: "debug", "info", "warning", "error").
pub(crate) fn log(py: Python<'_>, level: &str, message: String) {
    let result = logger(py).and_then(|l| l.call_method1(level, ("%s", message)));
    if let Err(e) = result {
        e.write_unraisable(py, None);
    }
}

/// `atexit`: stops every dispatch thread and waits (without the GIL, at most `limit`) until
/// they are gone, so that none attaches to a finalizing interpreter.
pub(crate) fn shutdown_all(py: Python<'_>, limit: Duration) {
    FINALIZING.store(true, Ordering::Release);
    let clients: Vec<Arc<Shared>> = lock(&CLIENTS).iter().filter_map(Weak::upgrade).collect();
    for c in &clients {
        c.stop();
    }
    py.detach(|| {
        let deadline = Instant::now() + limit;
        for c in &clients {
            c.dispatcher.join(Some(deadline.saturating_duration_since(Instant::now())));
        }
    });
    drop(clients);
}
