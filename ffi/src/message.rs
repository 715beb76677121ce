//! `tether_message`: a received application message.

use std::ffi::{c_char, CString};

use tether_core::Message;

use crate::boundary::{ffi_boundary, try_ref, write_opt};
use crate::cast::{self, Castable, OwnershipBox};
use crate::properties::{tether_properties, Properties};

/// A received message.
///
/// Who owns it: the `const tether_message *` passed to an on_message callback is borrowed
/// from tether and valid only until the callback returns (keep one longer with
/// `tether_message_copy`). A message from `tether_client_recv` or `tether_message_copy` is
/// owned by the caller, who frees it with `tether_message_free`. Everything read from a
/// message (topic, payload, properties) lives as long as the message. Reading one message
/// from several threads at once is fine.
///
/// Methods: `tether_message_topic`, `tether_message_payload`, `tether_message_qos`,
/// `tether_message_dup`, `tether_message_retain`, `tether_message_properties`,
/// `tether_message_copy`, `tether_message_free` (and `tether_client_ack`).
pub struct tether_message {
    _private: [u8; 0],
}

impl Castable for tether_message {
    type Ownership = OwnershipBox;
    type RustType = MessageData;
}

/// The Rust value behind `tether_message`: the core message plus the C views of it.
#[derive(Debug, Clone)]
pub struct MessageData {
    pub(crate) message: Message,
    topic: CString,
    properties: Properties,
}

impl MessageData {
    pub(crate) fn new(message: Message) -> Self {
        // MQTT forbids U+0000 in topic names, so the decoder never lets one through; the
        // replacement only keeps this infallible.
        let topic = CString::new(message.topic.replace('\0', "\u{FFFD}")).unwrap_or_default();
        let properties = Properties::from_publish(&message.properties);
        MessageData { message, topic, properties }
    }
}

impl tether_message {
    /// The topic, a NUL-terminated UTF-8 string owned by the message (NULL for a NULL
    /// message).
    #[no_mangle]
    pub extern "C" fn tether_message_topic(message: *const tether_message) -> *const c_char {
        ffi_boundary! {
            try_ref!(message).topic.as_ptr()
        }
    }

    /// The payload and its length in `*len_out` (`len_out` may be NULL). The bytes are owned
    /// by the message and are not NUL-terminated; an empty payload gives a non-NULL pointer
    /// and length 0. NULL for a NULL message.
    #[no_mangle]
    pub extern "C" fn tether_message_payload(
        message: *const tether_message,
        len_out: *mut usize,
    ) -> *const u8 {
        ffi_boundary! {
            let payload = &try_ref!(message).message.payload;
            write_opt!(len_out, payload.len());
            if payload.is_empty() { [].as_ptr() } else { payload.as_ptr() }
        }
    }

    /// The QoS the message arrived with (0, 1 or 2).
    #[no_mangle]
    pub extern "C" fn tether_message_qos(message: *const tether_message) -> u8 {
        ffi_boundary! {
            try_ref!(message).message.qos as u8
        }
    }

    /// The DUP flag: the server may have sent this message before.
    #[no_mangle]
    pub extern "C" fn tether_message_dup(message: *const tether_message) -> bool {
        ffi_boundary! {
            try_ref!(message).message.dup
        }
    }

    /// The RETAIN flag: a retained message sent for a new subscription.
    #[no_mangle]
    pub extern "C" fn tether_message_retain(message: *const tether_message) -> bool {
        ffi_boundary! {
            try_ref!(message).message.retain
        }
    }

    /// The message's PUBLISH properties (content type, response topic, correlation data,
    /// message expiry, payload format, subscription identifiers, user properties), read with
    /// the `tether_properties_get_*` functions. Borrowed from the message: never NULL for a
    /// message, lives as long as it, and must not be freed.
    #[no_mangle]
    pub extern "C" fn tether_message_properties(message: *const tether_message) -> *const tether_properties {
        ffi_boundary! {
            cast::to_const_ptr::<tether_properties>(&try_ref!(message).properties)
        }
    }

    /// A copy of a message that the caller owns (free it with `tether_message_free`): the
    /// way to keep a message beyond its callback. NULL for a NULL message.
    #[no_mangle]
    pub extern "C" fn tether_message_copy(message: *const tether_message) -> *mut tether_message {
        ffi_boundary! {
            cast::to_boxed_mut_ptr::<tether_message>(try_ref!(message).clone())
        }
    }

    /// Frees a message from `tether_client_recv` or `tether_message_copy`. Calling with NULL
    /// is fine. Must not be called twice, nor on the borrowed message of a callback.
    #[no_mangle]
    pub extern "C" fn tether_message_free(message: *mut tether_message) {
        ffi_boundary! {
            // SAFETY: the C contract: NULL or a message the caller owns, freed once.
            drop(unsafe { cast::take_box(message) });
        }
    }
}
