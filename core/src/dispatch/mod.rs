//! The dispatch thread every face shares: one thread per client that takes the client's
//! events in order and hands them to the face's [`Handler`], a bounded inbox that `recv`
//! reads when no message callback is set, and the one mapping from a disconnect cause to the
//! callback and number a face reports ([`Disconnection`]).
//!
//! The C and Python faces used to do all of this twice, and the two copies drifted apart (a
//! lost connection was 0 in C and 0x80 in Python; a refused CONNACK went to `on_connect` in C
//! and to `on_disconnect` in Python). What is left in a face is the call into its language.
//!
//! **The story every face tells** (the handler is called in this order, one call at a time):
//!
//! * every CONNACK that accepts the connection: [`Handler::on_connect`] (automatic
//!   reconnects too);
//! * every end of a connection, and every CONNACK that refuses one (reason code 0x80 or
//!   above, [`DisconnectKind::Refused`]): [`Handler::on_disconnect`], never `on_connect`;
//! * every received message: [`Handler::on_message`] while [`Dispatcher::set_on_message`]
//!   is on, else the inbox ([`Dispatcher::recv_timeout`] and friends);
//! * completed deliveries (with [`Dispatcher::report_deliveries`]): batched into one
//!   [`Handler::on_deliveries`] per run;
//! * what has no callback (a lost session, a dropped publish, ...): [`Handler::on_notice`].
//!
//! Threads and locks: the handler runs on the dispatch thread only, with no lock of this
//! module held; a panic in it is caught and logged, never carried into the face's caller.
//! A full inbox makes the dispatch thread wait, which stops the client from reading the
//! socket: flow control reaches the server instead of memory growing.
//!
//! ```no_run
//! use tether_core::dispatch::{Dispatcher, DispatchOptions, Disconnection, Handler};
//! use tether_core::{AsyncClient, ConnAck, Message, MqttOptions};
//!
//! struct Print;
//! impl Handler for Print {
//!     fn enter(&mut self, run: &mut dyn FnMut(&mut dyn Handler)) {
//!         run(self)
//!     }
//!     fn on_message(&mut self, m: Message) -> Option<Message> {
//!         println!("{}: {:?}", m.topic, m.payload);
//!         None
//!     }
//!     fn on_connect(&mut self, ack: &ConnAck) {
//!         println!("connected, session present: {}", ack.session_present)
//!     }
//!     fn on_disconnect(&mut self, d: &Disconnection) {
//!         println!("{}: 0x{:02X}", d.kind.as_str(), d.reason_code)
//!     }
//! }
//!
//! let client = AsyncClient::with_runtime(
//!     MqttOptions::new("printer", "127.0.0.1", 1883),
//!     &tether_core::runtime::shared(),
//! );
//! let dispatcher = Dispatcher::new(client, Box::new(Print), DispatchOptions::default());
//! dispatcher.set_on_message(true);
//! dispatcher.start()?;
//! # Ok::<(), std::io::Error>(())
//! ```

// `join` waits against a deadline read from the clock: this is the face side of the core,
// not the sans-IO engine.
#![allow(clippy::disallowed_methods)]

mod inbox;
#[cfg(test)]
mod tests;

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::codec::ConnAck;
use crate::session::{DisconnectCause, DisconnectKind};
use crate::{AsyncClient, DeliveryEvents, Event, Message, PublishCompletion};
use inbox::Inbox;

/// How many received messages wait in the inbox before the dispatch thread stops taking
/// events (and so the client stops reading from the server).
pub const INBOX_CAPACITY: usize = 1_024;
/// Events taken from the client in one go: one [`Handler::enter`] for many callbacks.
pub const BATCH: usize = 256;

/// The reason code a face's simple disconnect callback gets for a connection lost without a
/// DISCONNECT: 0x80 "Unspecified error" (0 would read as a normal disconnection).
pub const LOST_REASON_CODE: u8 = 0x80;
/// The reason code for the client's own keep-alive expiry: 0x8D "Keep Alive timeout" (no
/// DISCONNECT was exchanged; [`DisconnectKind::KeepAliveTimeout`] says so).
pub const KEEP_ALIVE_REASON_CODE: u8 = 0x8D;

/// How a connection ended, or why a connection attempt was refused: the one mapping every
/// face reports.
///
/// ```
/// use tether_core::dispatch::Disconnection;
/// use tether_core::{DisconnectCause, DisconnectKind};
/// let lost = Disconnection::new(DisconnectCause::ConnectionLost);
/// assert_eq!((lost.kind, lost.reason_code), (DisconnectKind::ConnectionLost, 0x80));
/// assert_eq!(lost.packet_reason_code(), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disconnection {
    /// Who ended it ("server", "client", "keep_alive", "lost", "refused").
    pub kind: DisconnectKind,
    /// The one number a face's simple callback reports: the reason code of the DISCONNECT
    /// received or sent, or of the refusing CONNACK; [`KEEP_ALIVE_REASON_CODE`] for the
    /// client's keep-alive expiry; [`LOST_REASON_CODE`] for a lost connection.
    pub reason_code: u8,
    /// Everything the core knows.
    pub cause: DisconnectCause,
}

impl Disconnection {
    pub fn new(cause: DisconnectCause) -> Self {
        let kind = cause.kind();
        let reason_code = cause.reason_code().unwrap_or(match kind {
            DisconnectKind::KeepAliveTimeout => KEEP_ALIVE_REASON_CODE,
            _ => LOST_REASON_CODE,
        });
        Disconnection { kind, reason_code, cause }
    }

    /// The reason code of the packet that ended it (DISCONNECT or refusing CONNACK); `None`
    /// when there was none (lost, keep-alive).
    pub fn packet_reason_code(&self) -> Option<u8> {
        self.cause.reason_code()
    }

    /// That packet's reason string, if it had one.
    pub fn reason_string(&self) -> Option<&str> {
        self.cause.reason_string()
    }
}

/// How loud a [`Notice`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeLevel {
    Debug,
    Info,
    Warning,
}

impl NoticeLevel {
    /// "debug", "info", "warning" (the names of Python's logging methods, for one).
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeLevel::Debug => "debug",
            NoticeLevel::Info => "info",
            NoticeLevel::Warning => "warning",
        }
    }
}

/// An event that has no callback of its own, said in words (the core also logs it through
/// `tracing`): a face that has its own logger passes it on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub level: NoticeLevel,
    pub text: String,
}

/// What a face does with the events of its client; called on the dispatch thread only, one
/// call at a time, never with a lock of the dispatcher held.
pub trait Handler: Send + 'static {
    /// Runs `run` with the handler, once for a run of callbacks. A face that must enter a
    /// context before it calls the application (Python: attach to the interpreter) enters it
    /// here, once for many events; others call `run(self)`. Returning without calling `run`
    /// drops those events (Python, while the interpreter shuts down).
    fn enter(&mut self, run: &mut dyn FnMut(&mut dyn Handler));

    /// A received message (only while [`Dispatcher::set_on_message`] is on). Returns it when
    /// no callback took it (removed in the meantime): it then goes to the inbox, in order,
    /// after [`Handler::enter`] returns.
    fn on_message(&mut self, message: Message) -> Option<Message>;

    /// A CONNACK that accepted the connection (reason code below 0x80).
    fn on_connect(&mut self, ack: &ConnAck);

    /// A connection ended, or a CONNACK refused one ([`DisconnectKind::Refused`]).
    fn on_disconnect(&mut self, disconnection: &Disconnection);

    /// Completed deliveries, in order (only with [`Dispatcher::report_deliveries`], or
    /// delivery events set on the client).
    fn on_deliveries(&mut self, deliveries: Vec<PublishCompletion>) {
        let _ = deliveries;
    }

    /// Called outside [`Handler::enter`] before deliveries are dispatched: keep only those
    /// `on_deliveries` needs (a run with none left does not enter at all).
    fn wanted_deliveries(&mut self, deliveries: &mut Vec<PublishCompletion>) {
        let _ = deliveries;
    }

    /// An event without a callback of its own, in words.
    fn on_notice(&mut self, notice: Notice) {
        let _ = notice;
    }
}

/// Settings of a [`Dispatcher`].
pub struct DispatchOptions {
    /// The dispatch thread's name.
    pub thread_name: String,
    /// Received messages that wait in the inbox at most ([`INBOX_CAPACITY`]).
    pub inbox_capacity: usize,
    /// Called with `true` when the inbox stops being empty and `false` when it becomes empty,
    /// under the inbox lock (so it always matches the inbox): for a readiness signal such as
    /// an eventfd. It must not block or call into the application.
    pub inbox_signal: Option<Box<dyn Fn(bool) + Send + Sync>>,
}

impl Default for DispatchOptions {
    fn default() -> Self {
        DispatchOptions {
            thread_name: "tether-dispatch".into(),
            inbox_capacity: INBOX_CAPACITY,
            inbox_signal: None,
        }
    }
}

/// What the dispatch thread shares with the dispatcher's owner.
struct State {
    client: AsyncClient,
    inbox: Inbox,
    /// Messages go to [`Handler::on_message`] rather than the inbox.
    on_message: AtomicBool,
    stop: AtomicBool,
    wake: tokio::sync::Notify,
}

impl State {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// What the dispatch thread records in `DISPATCHING`.
    fn key(self: &Arc<Self>) -> usize {
        Arc::as_ptr(self) as usize
    }
}

thread_local! {
    /// On a dispatch thread, the key of its dispatcher's state; 0 elsewhere. A plain
    /// thread-local rather than `std::thread::current()`, which allocates on threads that
    /// Rust did not start (valgrind counts that as a leak in C programs).
    static DISPATCHING: Cell<usize> = const { Cell::new(0) };
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every lock of this module guards plain data left consistent by each assignment.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One client's dispatch thread and inbox. Dropping it stops the thread (without waiting).
pub struct Dispatcher {
    state: Arc<State>,
    name: String,
    handler: Mutex<Option<Box<dyn Handler>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("name", &self.name)
            .field("stopped", &self.state.stopped())
            .finish()
    }
}

impl Dispatcher {
    /// A dispatcher for `client`; its thread starts with [`Dispatcher::start`].
    pub fn new(client: AsyncClient, handler: Box<dyn Handler>, options: DispatchOptions) -> Self {
        Dispatcher {
            state: Arc::new(State {
                client,
                inbox: Inbox::new(options.inbox_capacity, options.inbox_signal),
                on_message: AtomicBool::new(false),
                stop: AtomicBool::new(false),
                wake: tokio::sync::Notify::new(),
            }),
            name: options.thread_name,
            handler: Mutex::new(Some(handler)),
            thread: Mutex::new(None),
        }
    }

    /// The client whose events this dispatcher takes.
    pub fn client(&self) -> &AsyncClient {
        &self.state.client
    }

    /// Starts the dispatch thread unless it runs, ran, or the dispatcher is stopped. When the
    /// thread cannot start, the inbox closes (so no `recv` waits for ever) and the error is
    /// returned.
    pub fn start(&self) -> std::io::Result<()> {
        if self.state.stopped() {
            return Ok(());
        }
        let mut thread = lock(&self.thread);
        let Some(handler) = lock(&self.handler).take() else { return Ok(()) };
        let state = self.state.clone();
        match std::thread::Builder::new().name(self.name.clone()).spawn(move || run(state, handler)) {
            Ok(handle) => {
                *thread = Some(handle);
                Ok(())
            }
            Err(e) => {
                self.state.inbox.close();
                Err(e)
            }
        }
    }

    /// True while the dispatch thread has been started and not stopped.
    pub fn is_running(&self) -> bool {
        lock(&self.thread).as_ref().is_some_and(|h| !h.is_finished()) && !self.state.stopped()
    }

    /// True on this dispatcher's thread, that is inside one of its handler's callbacks: a
    /// call that would wait for this client there would wait for itself.
    pub fn is_dispatch_thread(&self) -> bool {
        let key = self.state.key();
        DISPATCHING.try_with(|d| d.get() == key).unwrap_or(false)
    }

    /// Stops the dispatch thread after the callback it is in (no other callback follows) and
    /// wakes every waiter of the inbox; does not wait. Messages left in the inbox can still
    /// be taken.
    pub fn stop(&self) {
        self.state.stop.store(true, Ordering::Release);
        self.state.wake.notify_one();
        self.state.inbox.wake_all();
    }

    /// True after [`Dispatcher::stop`].
    pub fn is_stopped(&self) -> bool {
        self.state.stopped()
    }

    /// Waits for the dispatch thread to end (after [`Dispatcher::stop`]), at most `timeout`
    /// (None: as long as it takes). On the dispatch thread itself it does not wait (the
    /// thread ends after the current callback) and returns false; false also when the
    /// thread still runs after `timeout`.
    pub fn join(&self, timeout: Option<Duration>) -> bool {
        if self.is_dispatch_thread() {
            return false;
        }
        let Some(handle) = lock(&self.thread).take() else { return true };
        if let Some(t) = timeout {
            let deadline = Instant::now() + t;
            while !handle.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if !handle.is_finished() {
                *lock(&self.thread) = Some(handle);
                return false;
            }
        }
        let _ = handle.join();
        true
    }

    /// Whether received messages go to [`Handler::on_message`] (true) or wait in the inbox
    /// (false, the start). Messages already in the inbox when it is turned on go to the
    /// handler first, in order.
    pub fn set_on_message(&self, on: bool) {
        self.state.on_message.store(on, Ordering::Release);
        self.state.inbox.wake_pusher();
    }

    /// Whether messages go to the handler.
    pub fn has_on_message(&self) -> bool {
        self.state.on_message.load(Ordering::Acquire)
    }

    /// Reports completed deliveries to [`Handler::on_deliveries`], batched (one event per
    /// turn of the client under load), or not at all (then they cost nothing).
    pub fn report_deliveries(&self, on: bool) {
        let mode = if on { DeliveryEvents::Batched } else { DeliveryEvents::Off };
        self.state.client.set_delivery_events(mode);
    }

    /// The next message of the inbox, if one waits.
    pub fn try_recv(&self) -> Option<Message> {
        self.state.inbox.pop()
    }

    /// The next message of the inbox, waiting at most `timeout` (None: no limit). `None`
    /// after the timeout, once nothing more can come ([`Dispatcher::is_drained`]) or after
    /// [`Dispatcher::wake_receivers`].
    pub fn recv_timeout(&self, timeout: Option<Duration>) -> Option<Message> {
        self.state.inbox.pop_wait(timeout, || self.state.stopped())
    }

    /// The next message of the inbox, for async code: `None` once the inbox is drained or
    /// `done()` says to stop (checked after every wake-up).
    pub async fn recv_async(&self, done: impl Fn() -> bool) -> Option<Message> {
        self.state.inbox.pop_async(|| done() || self.state.stopped()).await
    }

    /// Puts a message back at the head of the inbox (an async `recv` cancelled after it took
    /// it).
    pub fn push_front(&self, message: Message) {
        self.state.inbox.push_front(message);
    }

    /// Messages waiting in the inbox.
    pub fn inbox_len(&self) -> usize {
        self.state.inbox.len()
    }

    /// True when the inbox is empty and nothing more will arrive (the dispatcher stopped or
    /// its thread ended).
    pub fn is_drained(&self) -> bool {
        self.state.inbox.drained(self.state.stopped())
    }

    /// Wakes every waiting `recv` so that it checks again (after the application
    /// disconnected, for one).
    pub fn wake_receivers(&self) {
        self.state.inbox.wake_receivers();
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One event as the handler hears it.
enum Item {
    Message(Message),
    Connect(ConnAck),
    Disconnect(Disconnection),
    Deliveries(Vec<PublishCompletion>),
    Notice(Notice),
}

fn notice(client_id: &str, event: Event) -> Option<Item> {
    let (level, text) = match event {
        Event::SessionLost { republished, failed } => (
            NoticeLevel::Warning,
            format!(
                "client {client_id:?}: the server did not keep the session: {republished} message(s) \
                 published again, {failed} delivery(ies) failed"
            ),
        ),
        // At debug: a drop nobody sees also comes as DeliveryFailed, said once at warning.
        Event::Dropped { token, reason } => (
            NoticeLevel::Debug,
            format!("client {client_id:?}: publish {token} dropped before it was sent: {reason}"),
        ),
        Event::DeliveryFailed(f) => (
            NoticeLevel::Warning,
            format!(
                "client {client_id:?}: delivery failed and nobody awaited it: topic {:?}, packet id {}, {}",
                f.topic,
                f.packet_id.map_or_else(|| "none".to_owned(), |p| p.to_string()),
                f.error
            ),
        ),
        Event::Reconnecting { attempt, delay, error } => (
            NoticeLevel::Info,
            format!(
                "client {client_id:?}: reconnecting in {:.3} s (attempt {attempt}): {error}",
                delay.as_secs_f64()
            ),
        ),
        Event::ReconnectStopped { error } => {
            (NoticeLevel::Warning, format!("client {client_id:?}: not reconnecting: {error}"))
        }
        Event::StoreError { error } => (NoticeLevel::Warning, format!("client {client_id:?}: {error}")),
        Event::StoreCorrupt { skipped } => (
            NoticeLevel::Warning,
            format!(
                "client {client_id:?}: session store: {skipped} corrupt records skipped, the rest restored"
            ),
        ),
        _ => return None,
    };
    Some(Item::Notice(Notice { level, text }))
}

/// The events of one batch as the handler hears them, deliveries merged.
fn items(client_id: &str, batch: Vec<Event>) -> Vec<Item> {
    let mut items: Vec<Item> = Vec::with_capacity(batch.len());
    for event in batch {
        let completed = match event {
            Event::Message(m) => {
                items.push(Item::Message(m));
                continue;
            }
            Event::Connected(ack) => {
                items.push(Item::Connect(ack));
                continue;
            }
            Event::Disconnected { cause, .. } => {
                items.push(Item::Disconnect(Disconnection::new(cause)));
                continue;
            }
            Event::PublishComplete { token, packet_id, result } => {
                vec![PublishCompletion { token, packet_id, result }]
            }
            Event::PublishesComplete(batch) => batch,
            other => {
                items.extend(notice(client_id, other));
                continue;
            }
        };
        match items.last_mut() {
            Some(Item::Deliveries(d)) => d.extend(completed),
            _ => items.push(Item::Deliveries(completed)),
        }
    }
    items
}

/// Runs `f`, reporting a panic instead of carrying it on.
fn guarded(what: &str, f: impl FnOnce()) {
    if catch_unwind(AssertUnwindSafe(f)).is_err() {
        tracing::error!("tether: internal error in the {what} callback handler; the event is dropped");
    }
}

/// Calls the handler for one item; a message it did not take goes to `returned`.
fn call(handler: &mut dyn Handler, item: Item, returned: &mut Vec<Message>) {
    match item {
        Item::Message(m) => guarded("message", || returned.extend(handler.on_message(m))),
        Item::Connect(ack) => guarded("connect", || handler.on_connect(&ack)),
        Item::Disconnect(d) => guarded("disconnect", || handler.on_disconnect(&d)),
        Item::Deliveries(d) => guarded("delivery", || handler.on_deliveries(d)),
        Item::Notice(n) => guarded("notice", || handler.on_notice(n)),
    }
}

fn handle_batch(state: &State, handler: &mut Box<dyn Handler>, batch: Vec<Event>) {
    let on_message = state.on_message.load(Ordering::Acquire);
    let mut items = items(state.client.client_id(), batch);
    for item in &mut items {
        if let Item::Deliveries(d) = item {
            guarded("delivery", || handler.wanted_deliveries(d));
        }
    }
    items.retain(|i| !matches!(i, Item::Deliveries(d) if d.is_empty()));
    let to_handler = |i: &Item| on_message || !matches!(i, Item::Message(_));
    let mut items = items.into_iter().peekable();
    while let Some(first) = items.next() {
        if state.stopped() {
            return;
        }
        if !to_handler(&first) {
            if let Item::Message(m) = first {
                if !state.inbox.push(m, || state.stopped(), || state.on_message.load(Ordering::Acquire)) {
                    return;
                }
            }
            continue;
        }
        // Everything up to the next message for the inbox, in one `enter`.
        let mut run = vec![first];
        while let Some(i) = items.next_if(|i| to_handler(i)) {
            run.push(i);
        }
        let mut run = run.into_iter();
        let mut returned = Vec::new();
        guarded("enter", || {
            handler.enter(&mut |h| {
                if on_message {
                    // Messages that waited in the inbox from before on_message come first.
                    while let Some(m) = state.inbox.pop() {
                        if state.stopped() {
                            return;
                        }
                        call(h, Item::Message(m), &mut returned);
                    }
                }
                for item in run.by_ref() {
                    if state.stopped() {
                        return;
                    }
                    call(h, item, &mut returned);
                }
            })
        });
        // Outside `enter`: the inbox may have to wait for room.
        for m in returned {
            if !state.inbox.push(m, || state.stopped(), || false) {
                return;
            }
        }
    }
}

/// The dispatch thread: batches of events in order until stopped or the client is gone.
fn run(state: Arc<State>, mut handler: Box<dyn Handler>) {
    DISPATCHING.with(|d| d.set(state.key()));
    let rt = crate::runtime::shared();
    while !state.stopped() {
        // Under load events come in bursts: take what is there without entering the runtime
        // (block_on costs more than the callback it would wait for).
        let first = match state.client.try_recv() {
            Some(e) => e,
            None => {
                let next = rt.block_on(async {
                    tokio::select! {
                        biased;
                        _ = state.wake.notified() => None,
                        e = state.client.recv() => e,
                    }
                });
                match next {
                    Some(e) => e,
                    None => break,
                }
            }
        };
        let mut batch = Vec::with_capacity(16);
        batch.push(first);
        while batch.len() < BATCH {
            match state.client.try_recv() {
                Some(e) => batch.push(e),
                None => break,
            }
        }
        handle_batch(&state, &mut handler, batch);
    }
    state.inbox.close();
}
