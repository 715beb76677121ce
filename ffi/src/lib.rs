//! libtether: the C ABI of tether, an MQTT 5.0 client whose session survives.
//!
//! Built as `libtether.so` and `libtether.a`; the header `include/tether.h` is generated from
//! this crate by cbindgen (`ffi/cbindgen.toml`). Conventions, as the header states them:
//!
//! * Opaque handles, each with one `_free` (NULL is fine, never twice).
//! * Every fallible call returns `tether_result`; `tether_last_error()` holds the detail.
//! * Outputs (`*_out`) are written only on `TETHER_OK`.
//! * Panics never cross into C: each entry point catches them (`TETHER_PANIC`).
//!
//! One module per C type (`options`, `properties`, `client`, `message`), plus `result`,
//! `version` and `log`; `boundary`, `cast`, `callback` and `signal` are private helpers.

#![allow(non_camel_case_types)]
#![warn(clippy::undocumented_unsafe_blocks)]
// The entry points are safe `extern "C"` functions that take raw pointers from C: that is the
// C calling convention, and the header states each pointer's contract. The dereferences
// happen in `boundary`/`cast`, each in an `unsafe` block with its SAFETY note.
#![allow(clippy::not_unsafe_ptr_arg_deref)]
// The C face reads clocks only through condition-variable timeouts; nothing here is sans-IO.
#![allow(clippy::disallowed_methods)]

mod boundary;
mod callback;
mod cast;
mod signal;

pub mod client;
pub mod log;
pub mod message;
pub mod options;
pub mod properties;
pub mod result;
pub mod version;

pub use callback::{
    tether_on_connect_callback, tether_on_delivery_callback, tether_on_disconnect_callback,
    tether_on_disconnect_ex_callback, tether_on_message_callback, TETHER_DISCONNECT_BY_CLIENT,
    TETHER_DISCONNECT_BY_SERVER, TETHER_DISCONNECT_KEEP_ALIVE, TETHER_DISCONNECT_LOST,
};
pub use client::{tether_client, tether_stats};
pub use message::tether_message;
pub use options::tether_options;
pub use properties::tether_properties;
pub use result::tether_result;
