//! Callback types and the user data they carry. Which callback hears what is decided once,
//! in the core's dispatcher (`tether_core::dispatch`), for the C and Python faces alike.

use std::ffi::{c_char, c_void};

use crate::message::tether_message;
use crate::result::tether_result;

/// Called for each received message, in order, on the client's dispatch thread. `message`
/// is borrowed until the callback returns (`tether_message_copy` keeps it). `user_data` is
/// the pointer given to `tether_client_set_on_message`.
pub type tether_on_message_callback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, message: *const tether_message)>;

/// Called for each CONNACK that accepts the connection, on the client's dispatch thread
/// (automatic reconnects included): `session_present` tells whether the server resumed the
/// session; `reason_code` is the CONNACK's, always below 0x80 (0 = success). A CONNACK that
/// refuses the connection goes to on_disconnect instead (cause `TETHER_CONNECTION_REFUSED`,
/// on_disconnect_ex `TETHER_DISCONNECT_REFUSED`), as in the Python face.
pub type tether_on_connect_callback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, session_present: bool, reason_code: u8)>;

/// Called when a connection ends, or when the server refuses one in its CONNACK, on the
/// client's dispatch thread. `reason_code` is the DISCONNECT reason code that was sent or
/// received, the refusing CONNACK's reason code, 0x8D for the client's keep-alive timeout,
/// and 0x80 (Unspecified error) when the connection was lost without DISCONNECT: the same
/// numbers as the Python face's `on_disconnect(reason_code)`. `cause` is `TETHER_OK` when
/// the application asked for it (`tether_client_disconnect`), `TETHER_IO` when the
/// connection was lost, `TETHER_TIMEOUT` after a keep-alive timeout, `TETHER_DISCONNECTED` when
/// the server sent DISCONNECT, `TETHER_PROTOCOL_ERROR` when tether closed the connection
/// because the server broke the protocol, `TETHER_CONNECTION_REFUSED` when the CONNACK
/// refused the connection. Unless the application asked for it, the client
/// reconnects by itself (when reconnect is enabled). To tell a server's DISCONNECT from the
/// client's own keep-alive expiry or a lost link without looking at `cause`, and to read the
/// reason string, use `tether_on_disconnect_ex_callback`.
pub type tether_on_disconnect_callback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, reason_code: u8, cause: tether_result)>;

/// `tether_on_disconnect_ex_callback`'s `by`: the server sent DISCONNECT (`reason_code` and
/// `reason_string` are the server's).
pub const TETHER_DISCONNECT_BY_SERVER: u8 = 1;
/// `tether_on_disconnect_ex_callback`'s `by`: the client sent DISCONNECT, because the
/// application asked for it (`tether_client_disconnect`) or because the server broke the
/// protocol (`reason_code` 0x80 or above); `reason_code` and `reason_string` are what it sent.
pub const TETHER_DISCONNECT_BY_CLIENT: u8 = 2;
/// `tether_on_disconnect_ex_callback`'s `by`: nothing arrived from the server within 1.5 ×
/// keep-alive; the client closed the connection without DISCONNECT (`reason_code` 0, no
/// reason string). Never confused with a server's DISCONNECT 0x8D "Keep Alive timeout",
/// which is `TETHER_DISCONNECT_BY_SERVER`.
pub const TETHER_DISCONNECT_KEEP_ALIVE: u8 = 3;
/// `tether_on_disconnect_ex_callback`'s `by`: the network connection failed or the server
/// closed it without DISCONNECT (`reason_code` 0, no reason string).
pub const TETHER_DISCONNECT_LOST: u8 = 4;
/// `tether_on_disconnect_ex_callback`'s `by`: the server refused the connection in its
/// CONNACK (`reason_code` and `reason_string` are the CONNACK's; 0x80 or above).
pub const TETHER_DISCONNECT_REFUSED: u8 = 5;

/// Called when a connection ends or is refused, like `tether_on_disconnect_callback`, but
/// saying who ended it: `by` is one of `TETHER_DISCONNECT_BY_SERVER`,
/// `TETHER_DISCONNECT_BY_CLIENT`, `TETHER_DISCONNECT_KEEP_ALIVE`, `TETHER_DISCONNECT_LOST`,
/// `TETHER_DISCONNECT_REFUSED`. `reason_code` is the reason code of the DISCONNECT received
/// or sent (or of the refusing CONNACK), and 0 when no such packet was exchanged
/// (`_KEEP_ALIVE`, `_LOST`), so `by` alone tells whether 0 is a real reason code.
/// `reason_string` is that packet's reason string, or NULL when it had
/// none; it is borrowed: valid until the callback returns (copy it to keep it). Set it with
/// `tether_client_set_on_disconnect_ex`.
///
/// ```c
/// static void on_gone(void *ud, uint8_t by, uint8_t reason_code, const char *reason_string) {
///     if (by == TETHER_DISCONNECT_BY_SERVER)
///         fprintf(stderr, "server: 0x%02x %s\n", reason_code, reason_string ? reason_string : "");
/// }
/// ```
pub type tether_on_disconnect_ex_callback = Option<
    unsafe extern "C" fn(user_data: *mut c_void, by: u8, reason_code: u8, reason_string: *const c_char),
>;

/// Called once for every published message when its delivery completes, on the client's
/// dispatch thread: `token` is the one `tether_client_publish_with_properties` returned;
/// `result` is `TETHER_OK` when the message was delivered (QoS 0: written; QoS 1: PUBACK;
/// QoS 2: PUBCOMP) or the reason it failed (`TETHER_REJECTED`, `TETHER_DROPPED`,
/// `TETHER_SESSION_LOST`, ...); `reason_code` is the server's PUBACK/PUBREC reason code (0x00
/// success, 0x10 no matching subscribers, 0x80 and above: refused), or 0 when none applies.
pub type tether_on_delivery_callback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, token: u64, result: tether_result, reason_code: u8)>;

/// The `void *user_data` of a callback, carried to the dispatch thread.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UserData(pub *mut c_void);

// SAFETY: tether never dereferences user data; it only hands the pointer back to the
// application's callbacks on the dispatch thread. The header tells the application that its
// callbacks run on that thread, so making the data safe to use there is the application's
// side of the contract.
unsafe impl Send for UserData {}
// SAFETY: as above: tether only copies the pointer value.
unsafe impl Sync for UserData {}

impl Default for UserData {
    fn default() -> Self {
        UserData(std::ptr::null_mut())
    }
}
