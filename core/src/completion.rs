//! A one-shot result that can be awaited (async), waited for with a timeout (blocking), and
//! looked at without consuming it: the shape every face needs for deliveries and requests.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::sync::{lock, wait_timeout_while, wait_while};

struct State<T> {
    value: Option<T>,
    wakers: Vec<Waker>,
    /// Threads blocked in `wait`: the condition variable is signalled only when there are
    /// some (a notify is a futex system call even with nobody waiting).
    blocked: usize,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
    /// A number the completing side can make known before the result (a delivery's packet
    /// id); kept here so that a publish costs one allocation for both.
    aux: AtomicU32,
}

/// A result that arrives later: await it, `wait` for it with a timeout from blocking code, or
/// look at it without consuming it. Cloning shares the same result.
///
/// ```no_run
/// # fn f(client: &tether_core::AsyncClient) {
/// use std::time::Duration;
/// let pending = client.flush_request();
/// match pending.wait(Some(Duration::from_secs(5))) {
///     Some(result) => println!("flushed: {result:?}"),
///     None => println!("still flushing"),
/// }
/// # }
/// ```
pub struct Completion<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Completion<T> {
    fn clone(&self) -> Self {
        Completion { shared: self.shared.clone() }
    }
}

/// The completing side, held by the driver. Dropped without a result (the driver stopped),
/// it completes with `on_drop()`, so that no waiter hangs.
pub(crate) struct Completer<T> {
    shared: Arc<Shared<T>>,
    on_drop: fn() -> T,
}

pub(crate) fn completion<T>(on_drop: fn() -> T) -> (Completer<T>, Completion<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State { value: None, wakers: Vec::new(), blocked: 0 }),
        ready: Condvar::new(),
        aux: AtomicU32::new(0),
    });
    (Completer { shared: shared.clone(), on_drop }, Completion { shared })
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        let value = (self.on_drop)();
        self.set(value);
    }
}

impl<T> Completer<T> {
    /// Make `value` known to the waiters ahead of the result (see [`Completion::aux`]).
    pub fn set_aux(&self, value: u32) {
        self.shared.aux.store(value, Ordering::Relaxed);
    }

    /// The value of the last `set_aux` (0 before).
    pub fn aux(&self) -> u32 {
        self.shared.aux.load(Ordering::Relaxed)
    }

    /// True when no `Completion` is left: nobody can await or look at the result.
    pub fn is_abandoned(&self) -> bool {
        Arc::strong_count(&self.shared) == 1
    }

    /// Store the result (the first one wins) and wake every waiter.
    pub fn complete(self, value: T) {
        self.set(value);
    }

    fn set(&self, value: T) {
        let (wakers, blocked) = {
            let mut state = lock(&self.shared.state);
            if state.value.is_some() {
                return;
            }
            state.value = Some(value);
            (std::mem::take(&mut state.wakers), state.blocked)
        };
        if blocked > 0 {
            self.shared.ready.notify_all();
        }
        for w in wakers {
            w.wake();
        }
    }
}

impl<T> Completion<T> {
    /// The number the completing side made known ahead of the result (0 before): a
    /// delivery's packet id.
    pub(crate) fn aux(&self) -> u32 {
        self.shared.aux.load(Ordering::Relaxed)
    }
}

impl<T: Clone> Completion<T> {
    /// True once the result is there.
    pub fn is_done(&self) -> bool {
        lock(&self.shared.state).value.is_some()
    }

    /// The result, if it is there, without waiting.
    pub fn peek(&self) -> Option<T> {
        lock(&self.shared.state).value.clone()
    }

    /// Block the calling thread until done or `timeout` (None = forever).
    pub fn wait(&self, timeout: Option<Duration>) -> Option<T> {
        let mut state = lock(&self.shared.state);
        if state.value.is_some() {
            return state.value.clone();
        }
        state.blocked += 1;
        match timeout {
            None => state = wait_while(&self.shared.ready, state, |s| s.value.is_none()),
            Some(t) => state = wait_timeout_while(&self.shared.ready, state, t, |s| s.value.is_none()).0,
        }
        state.blocked -= 1;
        state.value.clone()
    }
}

impl<T: Clone> Future for Completion<T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut state = lock(&self.shared.state);
        match &state.value {
            Some(v) => Poll::Ready(v.clone()),
            None => {
                if !state.wakers.iter().any(|w| w.will_wake(cx.waker())) {
                    state.wakers.push(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

/// Wakes a thread parked in [`block_on`].
struct ThreadWaker(std::thread::Thread);

impl std::task::Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Run `future` to completion on this thread, parking while it is pending: for the blocking
/// client, to wait for what tokio's channels only offer as futures (a reserved slot), outside
/// any runtime.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}
