//! `tether.DisconnectInfo`: who ended a connection, converted from the core's
//! `DisconnectCause` (the classification is the core's; this face only converts it).

use pyo3::prelude::*;
use tether_core::DisconnectCause;

use crate::props::str_repr;

/// How a connection ended: passed as the second argument to an `on_disconnect` callback that
/// takes two parameters, and kept in `Client.last_disconnect`.
///
/// `by` is "server" (the server sent DISCONNECT), "client" (this client sent DISCONNECT:
/// `disconnect()` or a protocol error of the server), "keep_alive" (nothing arrived from the
/// server within 1.5 × keep-alive), "lost" (the network connection failed or was closed
/// without DISCONNECT) or "refused" (CONNACK refused the connection). `reason_code` and
/// `reason_string` are those of the DISCONNECT (or refusing CONNACK) that ended it; both are
/// None for "keep_alive" and "lost", where no such packet exists.
///
///     def on_disconnect(reason_code: int, info: tether.DisconnectInfo) -> None:
///         if info.by == "server":
///             print("server said", hex(info.reason_code or 0), info.reason_string)
#[pyclass(module = "tether", frozen)]
#[derive(Clone, PartialEq, Eq)]
pub struct DisconnectInfo {
    /// "server", "client", "keep_alive", "lost" or "refused".
    #[pyo3(get)]
    pub by: &'static str,
    /// The reason code of the DISCONNECT sent or received (or of the refusing CONNACK); None
    /// when no such packet was exchanged.
    #[pyo3(get)]
    pub reason_code: Option<u8>,
    /// That packet's reason string, if it had one.
    #[pyo3(get)]
    pub reason_string: Option<String>,
}

impl DisconnectInfo {
    pub(crate) fn from_core(cause: &DisconnectCause) -> Self {
        DisconnectInfo {
            by: cause.kind().as_str(),
            reason_code: cause.reason_code(),
            reason_string: cause.reason_string().map(str::to_owned),
        }
    }
}

#[pymethods]
impl DisconnectInfo {
    fn __eq__(&self, other: PyRef<'_, Self>) -> bool {
        *self == *other
    }

    fn __repr__(&self) -> String {
        let code = self.reason_code.map_or("None".to_owned(), |c| format!("0x{c:02X}"));
        let reason = self.reason_string.as_deref().map_or("None".to_owned(), str_repr);
        format!("DisconnectInfo(by={}, reason_code={code}, reason_string={reason})", str_repr(self.by))
    }
}
