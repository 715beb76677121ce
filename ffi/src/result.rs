//! `tether_result`, the one error model of the C face, and the thread-local detail behind it.

use std::cell::{Cell, RefCell};
use std::ffi::{c_char, CStr, CString};

use tether_core::{Error, ErrorKind};

use crate::boundary::ffi_boundary;

/// The result of every fallible call. `TETHER_OK` is 0; every other value names one class of
/// error. The numbers are explicit and never reused: a retired value stays reserved.
///
/// Ranges: 1xx bad arguments, 2xx client state and flow, 3xx connection and time, 4xx the
/// server said no or broke the protocol, 9xx internal.
///
/// `tether_result_str()` gives a fixed sentence for each value; `tether_last_error()` gives the
/// detail of the last failure on the calling thread, and `tether_last_reason_code()` its MQTT
/// reason code.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum tether_result {
    /// Success.
    TETHER_OK = 0,

    /// An argument is out of range or does not fit the call (QoS > 2, a property that does
    /// not belong where it is used, ...).
    TETHER_INVALID_ARGUMENT = 100,
    /// A pointer argument that must not be NULL was NULL.
    TETHER_NULL_ARGUMENT = 101,
    /// A string argument is not valid UTF-8.
    TETHER_INVALID_UTF8 = 102,
    /// A topic name or topic filter is not valid (empty, wildcards in a topic name, ...).
    TETHER_INVALID_TOPIC = 103,
    /// The packet would exceed the maximum packet size (the server's or MQTT's own limit).
    TETHER_PACKET_TOO_LARGE = 104,
    /// The server does not support what was asked (QoS above its maximum, retain, ...).
    TETHER_NOT_SUPPORTED = 105,
    /// The call does not fit the client's state (already connected; `tether_client_recv`
    /// while an on_message callback is set; ...).
    TETHER_INVALID_STATE = 106,

    /// The client is not connected.
    TETHER_NOT_CONNECTED = 200,
    /// The send queue is full (overflow policy Fail, or Block from inside a callback).
    TETHER_QUEUE_FULL = 201,
    /// The client is closed: it no longer processes requests.
    TETHER_CLOSED = 202,
    /// The call would wait for the client's own dispatch thread, which is running the
    /// callback that made it.
    TETHER_WOULD_DEADLOCK = 203,
    /// A queued message was dropped before it was sent (it expired, or overflowed the queue).
    TETHER_DROPPED = 204,

    /// The operation did not complete within its timeout (it may still complete later).
    TETHER_TIMEOUT = 300,
    /// A network error: the connection failed or was lost.
    TETHER_IO = 301,
    /// The server refused the connection; `tether_last_reason_code()` gives the CONNACK
    /// reason code.
    TETHER_CONNECTION_REFUSED = 302,
    /// The server closed the connection with DISCONNECT; the reason code says why.
    TETHER_DISCONNECTED = 303,
    /// TLS failed in a way retrying will not fix: a CA, certificate or key file that cannot
    /// be read (named in `tether_last_error()`), a server certificate that is not trusted,
    /// expired or for another host, or a handshake the server refused (for example without
    /// the client certificate it requires). Automatic reconnects stop on it.
    TETHER_TLS = 304,
    /// The WebSocket upgrade failed in a way retrying will not fix: the server answered with
    /// an HTTP status other than 101 (in `tether_last_error()`, e.g. "upgrade refused: 404 Not
    /// Found"), or did not confirm the `mqtt` subprotocol. Automatic reconnects stop on it.
    TETHER_WEBSOCKET = 305,
    /// The HTTP proxy (`tether_options_set_proxy`) refused to open the tunnel: its status
    /// and reason are in `tether_last_error()`, e.g. "proxy http://127.0.0.1:3128 refused
    /// CONNECT to broker:1883: 407 Proxy Authentication Required". A 407 or 403 (any 4xx)
    /// stops automatic reconnects; a 502/503/504 is retried like a connection failure, and
    /// a proxy that cannot be reached at all is `TETHER_IO`.
    TETHER_PROXY = 306,

    /// The server broke the MQTT protocol, or a request failed with a protocol error.
    TETHER_PROTOCOL_ERROR = 400,
    /// The server refused a message or a subscription; `tether_last_reason_code()` gives
    /// the reason code.
    TETHER_REJECTED = 401,
    /// The server did not keep the session and the message was not delivered (on_session_lost
    /// policy "fail").
    TETHER_SESSION_LOST = 402,
    /// From `tether_client_flush`: deliveries failed since the previous flush. The count and
    /// the first failures (topic, packet id, reason) are in `tether_last_error()`, the first
    /// failure's reason code in `tether_last_reason_code()`.
    TETHER_DELIVERY_FAILED = 403,

    /// A bug inside tether: a Rust panic was caught at the C boundary.
    TETHER_PANIC = 900,
}

use tether_result::*;

impl tether_result {
    /// Every value, for tests and for `tether_result_str`.
    pub const ALL: &'static [tether_result] = &[
        TETHER_OK,
        TETHER_INVALID_ARGUMENT,
        TETHER_NULL_ARGUMENT,
        TETHER_INVALID_UTF8,
        TETHER_INVALID_TOPIC,
        TETHER_PACKET_TOO_LARGE,
        TETHER_NOT_SUPPORTED,
        TETHER_INVALID_STATE,
        TETHER_NOT_CONNECTED,
        TETHER_QUEUE_FULL,
        TETHER_CLOSED,
        TETHER_WOULD_DEADLOCK,
        TETHER_DROPPED,
        TETHER_TIMEOUT,
        TETHER_IO,
        TETHER_CONNECTION_REFUSED,
        TETHER_DISCONNECTED,
        TETHER_TLS,
        TETHER_WEBSOCKET,
        TETHER_PROXY,
        TETHER_PROTOCOL_ERROR,
        TETHER_REJECTED,
        TETHER_SESSION_LOST,
        TETHER_DELIVERY_FAILED,
        TETHER_PANIC,
    ];

    /// The fixed sentence for this value.
    pub fn describe(self) -> &'static CStr {
        match self {
            TETHER_OK => c"success",
            TETHER_INVALID_ARGUMENT => c"invalid argument",
            TETHER_NULL_ARGUMENT => c"a required pointer argument was NULL",
            TETHER_INVALID_UTF8 => c"a string argument is not valid UTF-8",
            TETHER_INVALID_TOPIC => c"invalid topic name or topic filter",
            TETHER_PACKET_TOO_LARGE => c"the packet exceeds the maximum packet size",
            TETHER_NOT_SUPPORTED => c"not supported by the server or the protocol version",
            TETHER_INVALID_STATE => c"the call does not fit the client's state",
            TETHER_NOT_CONNECTED => c"the client is not connected",
            TETHER_QUEUE_FULL => c"the send queue is full",
            TETHER_CLOSED => c"the client is closed",
            TETHER_WOULD_DEADLOCK => {
                c"the call would wait on the client's own dispatch thread (called from a callback)"
            }
            TETHER_DROPPED => c"the message was dropped before it was sent",
            TETHER_TIMEOUT => c"timed out",
            TETHER_IO => c"network error",
            TETHER_CONNECTION_REFUSED => c"the server refused the connection",
            TETHER_DISCONNECTED => c"the server closed the connection",
            TETHER_TLS => c"TLS failed (certificate, key or CA problem, or handshake refused)",
            TETHER_WEBSOCKET => c"WebSocket upgrade refused (HTTP status, or no mqtt subprotocol)",
            TETHER_PROXY => c"the HTTP proxy refused CONNECT (HTTP status in tether_last_error)",
            TETHER_PROTOCOL_ERROR => c"MQTT protocol error",
            TETHER_REJECTED => c"the server refused the request",
            TETHER_SESSION_LOST => c"the server did not keep the session; the message was not delivered",
            TETHER_DELIVERY_FAILED => c"deliveries failed since the previous flush",
            TETHER_PANIC => c"internal error (a panic was caught at the C boundary)",
        }
    }

    /// The value for a raw number from C, if it is one.
    pub fn from_raw(raw: u32) -> Option<tether_result> {
        Self::ALL.iter().copied().find(|r| *r as u32 == raw)
    }
}

/// The result class of a core error.
pub(crate) fn result_of_kind(kind: ErrorKind) -> tether_result {
    match kind {
        ErrorKind::InvalidArgument => TETHER_INVALID_ARGUMENT,
        ErrorKind::InvalidTopic => TETHER_INVALID_TOPIC,
        ErrorKind::PacketTooLarge => TETHER_PACKET_TOO_LARGE,
        ErrorKind::NotSupported => TETHER_NOT_SUPPORTED,
        ErrorKind::QueueFull => TETHER_QUEUE_FULL,
        ErrorKind::NotConnected => TETHER_NOT_CONNECTED,
        ErrorKind::Timeout => TETHER_TIMEOUT,
        ErrorKind::ConnectionRefused => TETHER_CONNECTION_REFUSED,
        ErrorKind::Io => TETHER_IO,
        ErrorKind::Tls => TETHER_TLS,
        ErrorKind::WebSocket => TETHER_WEBSOCKET,
        ErrorKind::Proxy => TETHER_PROXY,
        ErrorKind::Protocol => TETHER_PROTOCOL_ERROR,
        ErrorKind::Rejected => TETHER_REJECTED,
        ErrorKind::SessionLost => TETHER_SESSION_LOST,
        ErrorKind::DeliveryFailed => TETHER_DELIVERY_FAILED,
        ErrorKind::Dropped => TETHER_DROPPED,
        ErrorKind::Closed => TETHER_CLOSED,
    }
}

/// A failed call: its result, the detail text and the MQTT reason code when there is one.
/// The boundary records it in the thread-local slots on the way out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub result: tether_result,
    pub message: String,
    pub reason_code: Option<u8>,
}

impl Failure {
    pub fn new(result: tether_result, message: impl Into<String>) -> Self {
        debug_assert_ne!(result, TETHER_OK);
        Failure { result, message: message.into(), reason_code: None }
    }

    pub fn with_reason_code(mut self, code: u8) -> Self {
        self.reason_code = Some(code);
        self
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(TETHER_INVALID_ARGUMENT, message)
    }

    pub fn null(name: &str) -> Self {
        Self::new(TETHER_NULL_ARGUMENT, format!("`{name}` must not be NULL"))
    }

    /// Stores this failure as the calling thread's last error and returns its result.
    pub fn record(self) -> tether_result {
        set_last_error(&self.message, self.reason_code);
        self.result
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure { result: result_of_kind(e.kind()), reason_code: e.reason_code(), message: e.to_string() }
    }
}

/// What a fallible call's body returns; the boundary turns it into a `tether_result`.
pub(crate) type Outcome = Result<(), Failure>;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
    static LAST_REASON_CODE: Cell<u8> = const { Cell::new(0) };
}

pub(crate) fn set_last_error(message: &str, reason_code: Option<u8>) {
    // A NUL inside the text would cut it short: replace it rather than lose the message.
    let text = CString::new(message.replace('\0', "\u{FFFD}")).unwrap_or_default();
    LAST_ERROR.with(|slot| *slot.borrow_mut() = text);
    LAST_REASON_CODE.with(|slot| slot.set(reason_code.unwrap_or(0)));
}

/// A fixed, readable sentence for a `tether_result` ("timed out", ...). Never NULL; a number
/// that is no `tether_result` gives "unknown tether_result". The string is static: do not
/// free it.
#[no_mangle]
pub extern "C" fn tether_result_str(result: u32) -> *const c_char {
    // Taken as the raw number (`tether_result` is a `uint32_t` in C): C may pass any value,
    // and a Rust enum must never hold one that is not a variant.
    ffi_boundary! {
        match tether_result::from_raw(result) {
            Some(r) => r.describe().as_ptr(),
            None => c"unknown tether_result".as_ptr(),
        }
    }
}

/// Detail about the last call on **this thread** that did not return `TETHER_OK`: what was
/// wrong, including the server's reason code and reason string where it sent them. Empty when
/// no call on this thread has failed yet. Successful calls leave it unchanged.
///
/// The string belongs to tether and stays valid until the next tether call on this thread;
/// copy it to keep it. Never NULL.
#[no_mangle]
pub extern "C" fn tether_last_error() -> *const c_char {
    // The buffer lives in a thread-local that is only replaced by a later failure on this
    // thread, which matches the documented lifetime.
    ffi_boundary! {
        LAST_ERROR.try_with(|slot| slot.borrow().as_ptr()).unwrap_or(c"".as_ptr())
    }
}

/// The MQTT reason code carried by the last failure on **this thread** (for example the
/// CONNACK reason code with `TETHER_CONNECTION_REFUSED`, or the PUBACK/SUBACK reason code
/// with `TETHER_REJECTED`), or 0 when that failure carried none. MQTT error reason codes are
/// all 0x80 or above, so 0 is never one of them.
#[no_mangle]
pub extern "C" fn tether_last_reason_code() -> u8 {
    ffi_boundary! {
        LAST_REASON_CODE.try_with(Cell::get).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_result_has_a_distinct_number_and_sentence() {
        let mut numbers: Vec<u32> = tether_result::ALL.iter().map(|r| *r as u32).collect();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(numbers.len(), tether_result::ALL.len());
        for r in tether_result::ALL {
            assert_eq!(tether_result::from_raw(*r as u32), Some(*r));
            assert!(!r.describe().to_bytes().is_empty());
        }
        assert_eq!(TETHER_OK as u32, 0);
        assert_eq!(tether_result::from_raw(12345), None);
    }

    #[test]
    fn core_errors_map_with_their_reason_code() {
        let f = Failure::from(Error::ConnectionRefused {
            reason_code: tether_core::ConnectReasonCode::NotAuthorized,
            reason_string: Some("go away".into()),
        });
        assert_eq!(f.result, TETHER_CONNECTION_REFUSED);
        assert_eq!(f.reason_code, Some(0x87));
        assert!(f.message.contains("go away"), "{}", f.message);
        assert_eq!(Failure::from(Error::Closed).result, TETHER_CLOSED);
    }

    #[test]
    fn last_error_is_per_thread() {
        Failure::new(TETHER_TIMEOUT, "here").with_reason_code(0x97).record();
        // SAFETY: the pointer is valid until the next failure on this thread.
        let here = unsafe { CStr::from_ptr(tether_last_error()) };
        assert_eq!(here.to_str().unwrap(), "here");
        assert_eq!(tether_last_reason_code(), 0x97);
        std::thread::spawn(|| {
            // SAFETY: as above, on this thread.
            let there = unsafe { CStr::from_ptr(tether_last_error()) };
            assert!(there.to_bytes().is_empty());
            assert_eq!(tether_last_reason_code(), 0);
        })
        .join()
        .unwrap();
    }
}
