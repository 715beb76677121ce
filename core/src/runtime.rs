//! The one background tokio runtime shared by every client in the process and by the C and
//! Python faces: a multi-thread runtime with one worker per core, at most four, started lazily
//! on first use; thousands of clients share its threads. [`crate::Client`] and the faces always
//! use it; [`crate::AsyncClient::new`] uses it only when called outside a tokio runtime, and
//! otherwise runs its driver on the caller's runtime (which may be a current-thread one).
//! Nothing of tether's blocks a worker: the before-connect hook runs on the blocking pool.

use once_cell::sync::Lazy;
use tokio::runtime::{Builder, Handle, Runtime};

static RUNTIME: Lazy<Runtime> = Lazy::new(|| {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).clamp(1, 4);
    Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("tether-rt")
        .enable_all()
        .build()
        .expect("tether: cannot start the background tokio runtime")
});

/// A handle to the shared runtime, starting it on first use.
///
/// ```
/// let handle = tether_core::runtime::shared();
/// let answer = handle.block_on(async { 42 });
/// assert_eq!(answer, 42);
/// ```
pub fn shared() -> Handle {
    RUNTIME.handle().clone()
}

/// The shared runtime itself, for libraries that want a `&'static Runtime` (such as
/// pyo3-async-runtimes).
///
/// ```
/// let rt: &'static tokio::runtime::Runtime = tether_core::runtime::shared_runtime();
/// assert_eq!(rt.block_on(async { 1 + 1 }), 2);
/// ```
pub fn shared_runtime() -> &'static Runtime {
    &RUNTIME
}

/// The runtime the caller is already in, or the shared one.
pub(crate) fn current_or_shared() -> Handle {
    Handle::try_current().unwrap_or_else(|_| shared())
}
