//! The application's hooks, run so that they never stall the runtime: the before-connect hook
//! on the blocking pool, the authenticator shared between the options and the engine.

use std::sync::{Arc, Mutex};

use crate::{BeforeConnect, ConnectAttempt};

/// Run the application's before-connect hook on the blocking pool, never on a runtime worker:
/// it may take its time (fetch a token, read a file) without stalling the other clients on the
/// runtime, and it works on a current-thread runtime too (where `block_in_place` would panic).
/// The driver waits for it, as it did when the hook ran inline. A panic in the hook goes on
/// in the driver task, as before.
pub(super) async fn before_connect(hook: BeforeConnect, mut attempt: ConnectAttempt) -> ConnectAttempt {
    let unchanged = attempt.clone();
    let span = tracing::Span::current();
    let ran = tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        hook(&mut attempt);
        attempt
    })
    .await;
    match ran {
        Ok(attempt) => attempt,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // The runtime is shutting down (and this task with it).
        Err(_) => unchanged,
    }
}

/// The authenticator as the engine wants it, shared with the options that own it (options
/// are `Clone`; an authenticator is not).
pub(crate) struct SharedAuthenticator {
    inner: Arc<Mutex<Box<dyn crate::session::Authenticator>>>,
    /// The method name does not change during the authenticator's life; a copy is kept so
    /// that `method()` can hand out a reference without holding the lock.
    method: String,
}

impl SharedAuthenticator {
    pub(crate) fn new(inner: Arc<Mutex<Box<dyn crate::session::Authenticator>>>) -> Self {
        let method = crate::sync::lock(&inner).method().to_owned();
        SharedAuthenticator { inner, method }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Box<dyn crate::session::Authenticator>> {
        crate::sync::lock(&self.inner)
    }
}

impl crate::session::Authenticator for SharedAuthenticator {
    fn method(&self) -> &str {
        &self.method
    }
    fn initial_data(&mut self) -> Option<bytes::Bytes> {
        self.lock().initial_data()
    }
    fn challenge(&mut self, data: Option<&bytes::Bytes>) -> Result<Option<bytes::Bytes>, String> {
        self.lock().challenge(data)
    }
    fn success(&mut self, data: Option<&bytes::Bytes>) -> Result<(), String> {
        self.lock().success(data)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::ServerAddr;

    /// The hook runs off the runtime's threads (here a current-thread runtime, where
    /// `block_in_place` would panic), and what it changes comes back to the attempt.
    #[test]
    fn before_connect_runs_on_the_blocking_pool() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let runtime_thread = std::thread::current().id();
        let hook: BeforeConnect = Arc::new(move |attempt: &mut ConnectAttempt| {
            assert_ne!(std::thread::current().id(), runtime_thread);
            std::thread::sleep(Duration::from_millis(10));
            attempt.username = Some(format!("user-{}", attempt.attempt));
        });
        let attempt = ConnectAttempt {
            server: ServerAddr::tcp("127.0.0.1", 1883),
            attempt: 3,
            username: None,
            password: None,
        };
        let attempt = rt.block_on(before_connect(hook, attempt));
        assert_eq!(attempt.username.as_deref(), Some("user-3"));
    }
}
