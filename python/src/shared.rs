//! What a Python client shares between its handles and its dispatch thread: the core client,
//! the callbacks, the queue of received messages that `recv()` reads, and the thread that
//! takes the core's events and hands them to Python in order.
//!
//! Threads: the dispatch thread (one per client, started at `connect()` or when the first
//! callback is set) blocks on the core's event stream without the GIL, and attaches to Python
//! once per batch of events to run callbacks. No lock of this module is held while Python code
//! runs, and no Python object is dropped while a lock is held.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;
use tether_core::{AsyncClient, Event, Message as CoreMessage};

use crate::aio;
use crate::disconnect::DisconnectInfo;
use crate::errors;
use crate::message::Message;
use crate::props::ConnAck;

/// Received messages waiting for `recv()` beyond this number hold the dispatch thread back,
/// so that flow control reaches the core (which then stops reading from the socket).
const QUEUE_CAPACITY: usize = 1024;
/// Events taken from the core in one go (one GIL acquisition for callbacks).
const BATCH: usize = 256;

/// Set by the interpreter's `atexit`: no thread attaches to Python after it.
pub(crate) static FINALIZING: AtomicBool = AtomicBool::new(false);

/// Every live client, so that `atexit` can stop their dispatch threads before the interpreter
/// goes away.
static CLIENTS: Mutex<Vec<Weak<Shared>>> = Mutex::new(Vec::new());

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Which callback.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Slot {
    Message,
    Connect,
    Disconnect,
}

impl Slot {
    fn name(self) -> &'static str {
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

#[derive(Default)]
struct Queue {
    items: VecDeque<CoreMessage>,
    /// The dispatch thread is gone: nothing more will arrive.
    closed: bool,
}

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
    fn completed(&mut self, token: u64, result: &DeliveryResult) -> bool {
        self.remember(token, result);
        self.waiting.contains_key(&token)
    }

    pub(crate) fn recent(&self, token: u64) -> Option<DeliveryResult> {
        self.recent.iter().rev().find(|(t, _)| *t == token).map(|(_, r)| r.clone())
    }
}

pub(crate) struct Shared {
    pub core: AsyncClient,
    pub client_id: String,
    /// Deliveries report completion as events (AsyncClient): `await delivery` is resolved by
    /// the dispatch thread.
    pub delivery_events: bool,
    callbacks: Mutex<Callbacks>,
    has_on_message: AtomicBool,
    queue: Mutex<Queue>,
    /// A message arrived (blocking `recv`).
    queue_ready: Condvar,
    /// There is room in the queue again (the dispatch thread).
    queue_room: Condvar,
    /// A message arrived (asyncio `recv`).
    pub queue_notify: tokio::sync::Notify,
    /// `connect()` succeeded and `disconnect()` was not called since: requests may wait for
    /// the server.
    pub active: AtomicBool,
    stop: AtomicBool,
    stop_notify: tokio::sync::Notify,
    dispatch: Mutex<Option<JoinHandle<()>>>,
    dispatch_id: OnceLock<ThreadId>,
    pub delivery_waiters: Mutex<DeliveryWaiters>,
    /// How the last connection ended (`Client.last_disconnect`).
    pub last_disconnect: Mutex<Option<DisconnectInfo>>,
}

impl Shared {
    pub(crate) fn new(core: AsyncClient, delivery_events: bool) -> Arc<Shared> {
        let shared = Arc::new(Shared {
            client_id: core.client_id().to_owned(),
            core,
            delivery_events,
            callbacks: Mutex::new(Callbacks::default()),
            has_on_message: AtomicBool::new(false),
            queue: Mutex::new(Queue::default()),
            queue_ready: Condvar::new(),
            queue_room: Condvar::new(),
            queue_notify: tokio::sync::Notify::new(),
            active: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            stop_notify: tokio::sync::Notify::new(),
            dispatch: Mutex::new(None),
            dispatch_id: OnceLock::new(),
            delivery_waiters: Mutex::new(DeliveryWaiters::default()),
            last_disconnect: Mutex::new(None),
        });
        let mut clients = lock(&CLIENTS);
        clients.retain(|w| w.strong_count() > 0);
        clients.push(Arc::downgrade(&shared));
        shared
    }

    /// True on this client's dispatch thread (inside one of its callbacks).
    pub(crate) fn on_dispatch_thread(&self) -> bool {
        self.dispatch_id.get() == Some(&std::thread::current().id())
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

    /// Starts the dispatch thread if it is not running.
    pub(crate) fn ensure_dispatch(self: &Arc<Self>) {
        if self.stop.load(Ordering::Acquire) {
            return;
        }
        let mut slot = lock(&self.dispatch);
        if slot.is_some() {
            return;
        }
        let shared = self.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("tether-dispatch-{}", self.client_id))
            .spawn(move || dispatch(shared));
        match spawned {
            Ok(handle) => {
                let _ = self.dispatch_id.set(handle.thread().id());
                *slot = Some(handle);
            }
            Err(_) => {
                // No thread: recv() and callbacks get nothing; close so that waiters return.
                lock(&self.queue).closed = true;
            }
        }
    }

    /// Stops the dispatch thread (it ends after the batch it is in); does not wait.
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.stop_notify.notify_one();
        let _guard = lock(&self.queue);
        self.queue_room.notify_all();
        self.queue_ready.notify_all();
        self.queue_notify.notify_waiters();
    }

    /// Wakes every `recv()` so that it sees the client disconnected.
    pub(crate) fn wake_receivers(&self) {
        let _guard = lock(&self.queue);
        self.queue_ready.notify_all();
        self.queue_notify.notify_waiters();
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    // --- callbacks -----------------------------------------------------------------------

    pub(crate) fn callback(&self, py: Python<'_>, slot: Slot) -> Option<Py<PyAny>> {
        lock(&self.callbacks).slot(slot).as_ref().map(|c| c.clone_ref(py))
    }

    /// Replaces a callback; the old one is dropped after the lock is released.
    /// `with_info`: for `on_disconnect`, whether it takes the `DisconnectInfo` too.
    pub(crate) fn set_callback(self: &Arc<Self>, slot: Slot, value: Option<Py<PyAny>>, with_info: bool) {
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
            self.has_on_message.store(is_some, Ordering::Release);
            let _guard = lock(&self.queue);
            self.queue_room.notify_all();
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
        self.has_on_message.store(false, Ordering::Release);
        drop(old);
    }

    // --- the message queue ---------------------------------------------------------------

    pub(crate) fn pop(&self) -> Option<CoreMessage> {
        let mut q = lock(&self.queue);
        let m = q.items.pop_front();
        if m.is_some() {
            self.queue_room.notify_one();
        }
        m
    }

    /// Puts a message back at the head (an asyncio `recv` cancelled after it took it).
    pub(crate) fn push_front(&self, m: CoreMessage) {
        let mut q = lock(&self.queue);
        q.items.push_front(m);
        self.queue_ready.notify_one();
        self.queue_notify.notify_waiters();
    }

    /// Waits up to `slice` for a message; call without the GIL.
    pub(crate) fn pop_wait(&self, slice: Duration) -> Option<CoreMessage> {
        let q = lock(&self.queue);
        let (mut q, _) = self
            .queue_ready
            .wait_timeout_while(q, slice, |q| q.items.is_empty() && !q.closed && !self.stopped())
            .unwrap_or_else(|p| p.into_inner());
        let m = q.items.pop_front();
        if m.is_some() {
            self.queue_room.notify_one();
        }
        m
    }

    /// Nothing more can arrive: the dispatch thread is gone, or the application disconnected
    /// and the queue is empty.
    pub(crate) fn drained(&self) -> bool {
        let q = lock(&self.queue);
        q.items.is_empty() && (q.closed || self.stopped() || !self.active.load(Ordering::Acquire))
    }

    /// Appends a received message, waiting while the queue is full (unless a callback now
    /// takes the messages). Call without the GIL. False when the client is stopping.
    fn push(&self, m: CoreMessage) -> bool {
        let mut q = lock(&self.queue);
        while q.items.len() >= QUEUE_CAPACITY
            && !self.stopped()
            && !self.has_on_message.load(Ordering::Acquire)
        {
            q = self
                .queue_room
                .wait_timeout(q, Duration::from_millis(200))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        if self.stopped() {
            return false;
        }
        q.items.push_back(m);
        self.queue_ready.notify_one();
        self.queue_notify.notify_waiters();
        true
    }

    fn close_queue(&self) {
        let mut q = lock(&self.queue);
        q.closed = true;
        self.queue_ready.notify_all();
        self.queue_notify.notify_waiters();
    }

    // --- the dispatch thread -------------------------------------------------------------

    fn handle_batch(self: &Arc<Self>, mut batch: Vec<Event>) {
        let use_callback = self.has_on_message.load(Ordering::Acquire);
        // Completed deliveries: remembered for late waiters; only those with waiters go on.
        batch.retain(|e| match e {
            Event::PublishComplete { token, result, .. } => {
                lock(&self.delivery_waiters).completed(*token, result)
            }
            // Not enabled by this face (it asks for one event per delivery); handled alike.
            Event::PublishesComplete(batch) => {
                let mut w = lock(&self.delivery_waiters);
                let mut wanted = false;
                for c in batch {
                    // Every one is remembered: no short-circuit.
                    wanted |= w.completed(c.token, &c.result);
                }
                wanted
            }
            _ => true,
        });
        let needs_python = |e: &Event| match e {
            Event::Message(_) => use_callback,
            _ => true,
        };
        let mut events = batch.into_iter().peekable();
        while let Some(first) = events.next() {
            if self.stopped() {
                return;
            }
            if !needs_python(&first) {
                if let Event::Message(m) = first {
                    if !self.push(m) {
                        return;
                    }
                }
                continue;
            }
            // Everything up to the next event that needs no Python goes in one attachment.
            let mut group = vec![first];
            while let Some(e) = events.next_if(|e| needs_python(e)) {
                group.push(e);
            }
            if FINALIZING.load(Ordering::Acquire) {
                return;
            }
            let attached = Python::try_attach(|py| {
                if use_callback {
                    // Messages that waited in the queue from before on_message was set come first.
                    while let Some(m) = self.pop() {
                        self.deliver(py, m);
                    }
                }
                for event in group {
                    if self.stopped() {
                        break;
                    }
                    self.handle_event(py, event);
                }
            });
            if attached.is_none() {
                return;
            }
        }
    }

    fn handle_event(self: &Arc<Self>, py: Python<'_>, event: Event) {
        match event {
            Event::Message(m) => self.deliver(py, m),
            Event::Connected(ack) => {
                if let Some(cb) = self.callback(py, Slot::Connect) {
                    match ConnAck::from_core(py, &ack) {
                        Ok(ack) => self.call(py, Slot::Connect, &cb, ack.into_any()),
                        Err(e) => report(py, &self.client_id, Slot::Connect.name(), e),
                    }
                }
            }
            Event::Disconnected { reason_code, cause } => {
                let info = DisconnectInfo::from_core(&cause);
                *lock(&self.last_disconnect) = Some(info.clone());
                // The one-argument form keeps its old values: a connection lost without a
                // reason code is 0x80 (unspecified); the DisconnectInfo says who ended it.
                self.report_disconnect(py, reason_code.unwrap_or(0x80), info);
            }
            Event::SessionLost { republished, failed } => log(
                py,
                "warning",
                format!(
                    "client {:?}: the server did not keep the session: {republished} message(s) published \
                     again, {failed} delivery(ies) failed",
                    self.client_id
                ),
            ),
            // At debug: a drop nobody sees also comes as DeliveryFailed, said once at warning.
            Event::Dropped { token, reason } => log(
                py,
                "debug",
                format!("client {:?}: publish {token} dropped before it was sent: {reason}", self.client_id),
            ),
            Event::DeliveryFailed(f) => log(
                py,
                "warning",
                format!(
                    "client {:?}: delivery failed and nobody awaited it: topic {:?}, packet id {}, {}",
                    self.client_id,
                    f.topic,
                    f.packet_id.map_or_else(|| "none".to_owned(), |p| p.to_string()),
                    f.error
                ),
            ),
            Event::Reconnecting { attempt, delay, error } => log(
                py,
                "info",
                format!(
                    "client {:?}: reconnecting in {:.3} s (attempt {attempt}): {error}",
                    self.client_id,
                    delay.as_secs_f64()
                ),
            ),
            Event::PublishComplete { token, result, .. } => self.resolve_waiters(py, token, &result),
            Event::PublishesComplete(batch) => {
                for c in batch {
                    self.resolve_waiters(py, c.token, &c.result);
                }
            }
        }
    }

    /// Resolves the asyncio waiters of a completed delivery.
    fn resolve_waiters(&self, py: Python<'_>, token: u64, result: &DeliveryResult) {
        let waiters = lock(&self.delivery_waiters).waiting.remove(&token).unwrap_or_default();
        for w in waiters {
            aio::resolve_delivery(py, w, result);
        }
    }

    fn report_disconnect(&self, py: Python<'_>, code: u8, info: DisconnectInfo) {
        let (cb, with_info) = {
            let c = lock(&self.callbacks);
            (c.on_disconnect.as_ref().map(|cb| cb.clone_ref(py)), c.on_disconnect_with_info)
        };
        let Some(cb) = cb else { return };
        let called = if with_info {
            Py::new(py, info).and_then(|info| cb.call1(py, (code, info)))
        } else {
            cb.call1(py, (code,))
        };
        if let Err(e) = called {
            report(py, &self.client_id, Slot::Disconnect.name(), e);
        }
    }

    /// One message to `on_message`, or to the queue when the callback is gone.
    fn deliver(self: &Arc<Self>, py: Python<'_>, m: CoreMessage) {
        match self.callback(py, Slot::Message) {
            Some(cb) => match Py::new(py, Message::new(m, Arc::downgrade(self))) {
                Ok(msg) => self.call(py, Slot::Message, &cb, msg.into_any()),
                Err(e) => report(py, &self.client_id, Slot::Message.name(), e),
            },
            None => {
                py.detach(|| self.push(m));
            }
        }
    }

    fn call(&self, py: Python<'_>, slot: Slot, cb: &Py<PyAny>, arg: Py<PyAny>) {
        if let Err(e) = cb.call1(py, (arg,)) {
            report(py, &self.client_id, slot.name(), e);
        }
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

fn dispatch(shared: Arc<Shared>) {
    let rt = tether_core::runtime::shared();
    for _ in 0..u64::MAX {
        if shared.stopped() {
            break;
        }
        let next = rt.block_on(async {
            tokio::select! {
                biased;
                _ = shared.stop_notify.notified() => None,
                e = shared.core.recv() => Some(e),
            }
        });
        let first = match next {
            None | Some(None) => break,
            Some(Some(e)) => e,
        };
        let mut batch = Vec::with_capacity(16);
        batch.push(first);
        while batch.len() < BATCH {
            match shared.core.try_recv() {
                Some(e) => batch.push(e),
                None => break,
            }
        }
        shared.handle_batch(batch);
    }
    shared.close_queue();
}

/// `atexit`: stops every dispatch thread and waits (without the GIL, at most `limit`) until
/// they are gone, so that none attaches to a finalizing interpreter.
pub(crate) fn shutdown_all(py: Python<'_>, limit: Duration) {
    FINALIZING.store(true, Ordering::Release);
    let clients: Vec<Arc<Shared>> = lock(&CLIENTS).iter().filter_map(Weak::upgrade).collect();
    let mut handles = Vec::new();
    for c in &clients {
        c.stop();
        if let Some(h) = lock(&c.dispatch).take() {
            handles.push(h);
        }
    }
    drop(clients);
    py.detach(|| {
        let deadline = Instant::now() + limit;
        for h in handles {
            while !h.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if h.is_finished() {
                let _ = h.join();
            }
        }
    });
}
