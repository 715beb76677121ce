//! Locks that survive a panic elsewhere. A panic while a lock is held (in a user callback, say)
//! poisons it; the data behind every lock in tether stays consistent between statements, so
//! the poison is ignored rather than spread: one panic must not make a client, its session
//! state or its waiters unreachable. The faces use the same helpers.

use std::sync::{Condvar, Mutex, MutexGuard, WaitTimeoutResult};
use std::time::Duration;

/// Lock `m`, ignoring poison.
///
/// ```
/// let m = std::sync::Mutex::new(1);
/// *tether_core::sync::lock(&m) += 1;
/// assert_eq!(*tether_core::sync::lock(&m), 2);
/// ```
pub fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// [`Condvar::wait_while`], ignoring poison.
pub fn wait_while<'a, T>(
    ready: &Condvar,
    guard: MutexGuard<'a, T>,
    condition: impl FnMut(&mut T) -> bool,
) -> MutexGuard<'a, T> {
    ready.wait_while(guard, condition).unwrap_or_else(|p| p.into_inner())
}

/// [`Condvar::wait_timeout_while`], ignoring poison.
pub fn wait_timeout_while<'a, T>(
    ready: &Condvar,
    guard: MutexGuard<'a, T>,
    timeout: Duration,
    condition: impl FnMut(&mut T) -> bool,
) -> (MutexGuard<'a, T>, WaitTimeoutResult) {
    ready.wait_timeout_while(guard, timeout, condition).unwrap_or_else(|p| p.into_inner())
}
