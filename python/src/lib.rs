//! tether's Python face: the extension module `tether._tether`, re-exported by the `tether`
//! package. One Rust core (`tether-core`) does the protocol, the IO and the session; this
//! crate wraps it with pyo3:
//!
//! * [`client::Client`]: the blocking client. Every wait releases the GIL, is cut in slices of
//!   at most 100 ms and checks for signals in between, so Ctrl-C interrupts it.
//! * [`shared`]: the per-client dispatch thread that runs callbacks in order and fills the
//!   queue `recv()` reads.
//! * [`aio`]: asyncio futures resolved from tether's shared tokio runtime (the Python
//!   `tether.AsyncClient` builds its coroutines on them).
//! * [`errors`]: the exception hierarchy and the one mapping from the core's `ErrorKind`.

// Deadlines of the blocking waits are read from the clock (the core's sans-IO rule does not
// apply to this face).
#![allow(clippy::disallowed_methods)]
// No unsafe code: pyo3 wraps every call into the interpreter.
#![forbid(unsafe_code)]

mod aio;
mod client;
mod convert;
mod delivery;
mod disconnect;
mod errors;
mod message;
mod options;
mod props;
mod shared;
mod tls;

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

/// Set by the interpreter's `atexit`: no thread attaches to Python after it.
pub(crate) static FINALIZING: AtomicBool = AtomicBool::new(false);

/// Every lock of this crate guards plain data left consistent by each assignment, so a
/// poisoned one is used as it is.
pub(crate) use tether_core::sync::lock;

/// The longest a blocking wait goes without checking for signals (Ctrl-C).
const SLICE: Duration = Duration::from_millis(100);

/// The next slice of a wait that ends at `deadline` (None: no end).
pub(crate) fn wait_slice(deadline: Option<Instant>) -> Duration {
    match deadline {
        None => SLICE,
        Some(d) => d.saturating_duration_since(Instant::now()).min(SLICE),
    }
}

/// Builds a `Client` whose deliveries can be awaited (for `tether.AsyncClient`): the same
/// arguments as `Client`.
#[pyfunction]
#[pyo3(signature = (*args, **kwargs))]
fn _async_client<'py>(
    py: Python<'py>,
    args: &Bound<'py, PyTuple>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    options::with_async_flavour(|| py.get_type::<client::Client>().call(args, kwargs))
}

/// Registered with `atexit`: stops the dispatch threads before the interpreter finalizes.
#[pyfunction]
fn _shutdown(py: Python<'_>) {
    shared::shutdown_all(py, Duration::from_secs(2));
}

#[pymodule(gil_used = false)]
fn _tether(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    errors::register(m)?;
    m.add_class::<client::Client>()?;
    m.add_class::<client::MessageIterator>()?;
    m.add_class::<delivery::Delivery>()?;
    m.add_class::<disconnect::DisconnectInfo>()?;
    m.add_class::<message::Message>()?;
    m.add_class::<props::ConnAck>()?;
    m.add_class::<props::ConnAckProperties>()?;
    m.add_class::<props::ConnectProperties>()?;
    m.add_class::<props::PublishProperties>()?;
    m.add_class::<props::Will>()?;
    m.add_class::<props::WillProperties>()?;
    m.add_class::<tls::TlsOptions>()?;
    m.add("SESSION_NEVER_EXPIRES", tether_core::SESSION_NEVER_EXPIRES)?;
    // The protocol levels of CONNECT (3.1.2.2), for `Client(protocol=...)`.
    m.add("MQTTv5", tether_core::ProtocolVersion::V5.level())?;
    m.add("MQTTv311", tether_core::ProtocolVersion::V311.level())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(_async_client, m)?)?;
    // The public names only (pyo3 also lists `_async_client`).
    let mut public: Vec<&str> = errors::NAMES.to_vec();
    public.extend([
        "Client",
        "MessageIterator",
        "Delivery",
        "DisconnectInfo",
        "Message",
        "ConnAck",
        "ConnAckProperties",
        "ConnectProperties",
        "PublishProperties",
        "Will",
        "WillProperties",
        "TlsOptions",
        "SESSION_NEVER_EXPIRES",
        "MQTTv5",
        "MQTTv311",
        "__version__",
    ]);
    m.setattr("__all__", public)?;
    let shutdown = wrap_pyfunction!(_shutdown, m)?;
    py.import("atexit")?.call_method1("register", (shutdown,))?;
    Ok(())
}
