//! The bounded inbox of received messages that `recv` reads when no message callback is set.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use super::lock;
use crate::Message;

#[derive(Default)]
struct Items {
    messages: VecDeque<Message>,
    /// The dispatch thread is gone: nothing more will arrive.
    closed: bool,
    /// Bumped by `wake_receivers`: a waiting `recv` returns to check its own conditions.
    wakes: u64,
}

pub(super) struct Inbox {
    items: Mutex<Items>,
    capacity: usize,
    /// A message arrived (or the inbox closed, or receivers were woken).
    ready: Condvar,
    /// A message left (or the dispatcher stopped, or messages go to the handler now).
    room: Condvar,
    /// The same as `ready`, for async receivers.
    changed: tokio::sync::Notify,
    signal: Option<Box<dyn Fn(bool) + Send + Sync>>,
}

impl Inbox {
    pub(super) fn new(capacity: usize, signal: Option<Box<dyn Fn(bool) + Send + Sync>>) -> Self {
        Inbox {
            items: Mutex::default(),
            capacity: capacity.max(1),
            ready: Condvar::new(),
            room: Condvar::new(),
            changed: tokio::sync::Notify::new(),
            signal,
        }
    }

    fn signal(&self, ready: bool) {
        if let Some(s) = &self.signal {
            s(ready);
        }
    }

    fn arrived(&self) {
        self.ready.notify_one();
        self.changed.notify_waiters();
    }

    /// Takes the head, with the inbox locked.
    fn take(&self, items: &mut MutexGuard<'_, Items>) -> Option<Message> {
        let m = items.messages.pop_front()?;
        if items.messages.is_empty() {
            self.signal(false);
        }
        self.room.notify_one();
        Some(m)
    }

    /// Appends a message, waiting while the inbox is full, unless `to_handler()` (then it
    /// goes beyond the capacity: the handler takes it next). False, and the message dropped,
    /// once `stopped()`. Both are checked after every wake-up.
    pub(super) fn push(
        &self,
        message: Message,
        stopped: impl Fn() -> bool,
        to_handler: impl Fn() -> bool,
    ) -> bool {
        let items = lock(&self.items);
        let mut items = self
            .room
            .wait_while(items, |i| i.messages.len() >= self.capacity && !stopped() && !to_handler())
            .unwrap_or_else(|p| p.into_inner());
        if stopped() {
            return false;
        }
        if items.messages.is_empty() {
            self.signal(true);
        }
        items.messages.push_back(message);
        drop(items);
        self.arrived();
        true
    }

    pub(super) fn push_front(&self, message: Message) {
        let mut items = lock(&self.items);
        if items.messages.is_empty() {
            self.signal(true);
        }
        items.messages.push_front(message);
        drop(items);
        self.arrived();
    }

    pub(super) fn pop(&self) -> Option<Message> {
        self.take(&mut lock(&self.items))
    }

    /// Waits at most `timeout` (None: no limit) for a message; `None` when the inbox closed,
    /// `stopped()`, receivers were woken, or the time is up.
    pub(super) fn pop_wait(&self, timeout: Option<Duration>, stopped: impl Fn() -> bool) -> Option<Message> {
        let items = lock(&self.items);
        let wakes = items.wakes;
        let waiting = |i: &mut Items| i.messages.is_empty() && !i.closed && i.wakes == wakes && !stopped();
        let mut items = match timeout {
            None => self.ready.wait_while(items, waiting).unwrap_or_else(|p| p.into_inner()),
            Some(t) => self.ready.wait_timeout_while(items, t, waiting).unwrap_or_else(|p| p.into_inner()).0,
        };
        self.take(&mut items)
    }

    /// The next message; `None` once drained or `done()`.
    pub(super) async fn pop_async(&self, done: impl Fn() -> bool) -> Option<Message> {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(m) = self.pop() {
                return Some(m);
            }
            if done() || self.drained(false) {
                return None;
            }
            notified.await;
        }
    }

    pub(super) fn len(&self) -> usize {
        lock(&self.items).messages.len()
    }

    pub(super) fn drained(&self, stopped: bool) -> bool {
        let items = lock(&self.items);
        items.messages.is_empty() && (items.closed || stopped)
    }

    /// Nothing more will arrive.
    pub(super) fn close(&self) {
        lock(&self.items).closed = true;
        self.wake_all();
    }

    pub(super) fn wake_receivers(&self) {
        lock(&self.items).wakes += 1;
        self.ready.notify_all();
        self.changed.notify_waiters();
    }

    /// A pusher waiting for room checks again (messages go to the handler now).
    pub(super) fn wake_pusher(&self) {
        let _guard = lock(&self.items);
        self.room.notify_all();
    }

    /// Every waiter checks again (the dispatcher stopped).
    pub(super) fn wake_all(&self) {
        let _guard = lock(&self.items);
        self.room.notify_all();
        self.ready.notify_all();
        self.changed.notify_waiters();
    }
}
