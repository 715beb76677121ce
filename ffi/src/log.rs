//! The optional log callback: tether's `tracing` records, forwarded to C from one logging
//! thread (never from the runtime's threads, so a slow callback cannot stall a connection).

use std::ffi::{c_char, c_void, CString};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};

use crate::boundary::ffi_boundary;
use crate::callback::UserData;
use crate::result::{tether_result, Failure};

/// Log level: errors only.
pub const TETHER_LOG_ERROR: u8 = 1;
/// Log level: warnings and errors.
pub const TETHER_LOG_WARN: u8 = 2;
/// Log level: connections, disconnections and the like.
pub const TETHER_LOG_INFO: u8 = 3;
/// Log level: details for debugging.
pub const TETHER_LOG_DEBUG: u8 = 4;
/// Log level: everything.
pub const TETHER_LOG_TRACE: u8 = 5;

/// Receives one log record: its level (`TETHER_LOG_*`), the module it comes from and the
/// text (both NUL-terminated, borrowed until the callback returns). Called on tether's
/// logging thread, one record at a time; it must not call `tether_set_log_callback`.
pub type tether_log_callback = Option<
    unsafe extern "C" fn(user_data: *mut c_void, level: u8, target: *const c_char, message: *const c_char),
>;

/// Records waiting for the logging thread; beyond this they are dropped (and counted).
const QUEUE: usize = 4_096;

struct LogRecord {
    level: u8,
    target: CString,
    message: CString,
}

struct Logger {
    sender: SyncSender<LogRecord>,
    max_level: AtomicU8,
    callback: Mutex<(tether_log_callback, UserData)>,
    dropped: AtomicU64,
}

static LOGGER: OnceLock<Result<Logger, String>> = OnceLock::new();

fn level_number(level: &Level) -> u8 {
    match *level {
        Level::ERROR => TETHER_LOG_ERROR,
        Level::WARN => TETHER_LOG_WARN,
        Level::INFO => TETHER_LOG_INFO,
        Level::DEBUG => TETHER_LOG_DEBUG,
        Level::TRACE => TETHER_LOG_TRACE,
    }
}

fn logger() -> Option<&'static Logger> {
    LOGGER.get().and_then(|l| l.as_ref().ok())
}

/// The `tracing` subscriber that feeds the logging thread.
struct ToC {
    next_span: AtomicU64,
}

struct Text(String);

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{}{value:?}", if self.0.is_empty() { "" } else { " " });
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

impl Subscriber for ToC {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        // The level can change at any time: ask `enabled` every time.
        Interest::sometimes()
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        logger().is_some_and(|l| level_number(metadata.level()) <= l.max_level.load(Ordering::Relaxed))
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed).max(1))
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let Some(logger) = logger() else { return };
        let mut text = Text(String::new());
        event.record(&mut text);
        let record = LogRecord {
            level: level_number(event.metadata().level()),
            target: CString::new(event.metadata().target()).unwrap_or_default(),
            message: CString::new(text.0.replace('\0', "\u{FFFD}")).unwrap_or_default(),
        };
        if logger.sender.try_send(record).is_err() {
            logger.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

fn run(records: Receiver<LogRecord>) {
    for record in records {
        let Some(logger) = logger() else { return };
        let (callback, user_data) = *logger.callback.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = callback {
            // SAFETY: the function the application registered, with its user data, called on
            // the logging thread as documented; the strings live until it returns.
            unsafe { f(user_data.0, record.level, record.target.as_ptr(), record.message.as_ptr()) };
        }
    }
}

fn start() -> Result<Logger, String> {
    let (sender, receiver) = sync_channel(QUEUE);
    let logger = Logger {
        sender,
        max_level: AtomicU8::new(0),
        callback: Mutex::new((None, UserData::default())),
        dropped: AtomicU64::new(0),
    };
    tracing::subscriber::set_global_default(ToC { next_span: AtomicU64::new(1) })
        .map_err(|_| "another tracing subscriber is already installed in this process".to_owned())?;
    std::thread::Builder::new()
        .name("tether-log".into())
        .spawn(move || run(receiver))
        .map_err(|e| format!("cannot start the logging thread: {e}"))?;
    Ok(logger)
}

/// Sends tether's log records up to `max_level` (`TETHER_LOG_ERROR` .. `TETHER_LOG_TRACE`;
/// 0 turns logging off) to `callback` (NULL turns it off), with `user_data`. Process-wide:
/// one log callback for every client. Records are delivered in order on tether's own
/// logging thread; if the callback falls more than 4096 records behind, newer ones are
/// dropped. `TETHER_INVALID_STATE` when the process already installed another `tracing`
/// subscriber (a Rust host application).
#[no_mangle]
pub extern "C" fn tether_set_log_callback(
    callback: tether_log_callback,
    user_data: *mut c_void,
    max_level: u8,
) -> tether_result {
    ffi_boundary! {
        if max_level > TETHER_LOG_TRACE {
            return Err(Failure::invalid(format!("max_level {max_level} is above TETHER_LOG_TRACE")));
        }
        if callback.is_none() && LOGGER.get().is_none() {
            return Ok(());
        }
        let logger = LOGGER.get_or_init(start).as_ref().map_err(|e| {
            Failure::new(tether_result::TETHER_INVALID_STATE, e.clone())
        })?;
        *logger.callback.lock().unwrap_or_else(|p| p.into_inner()) = (callback, UserData(user_data));
        let level = if callback.is_some() { max_level } else { 0 };
        logger.max_level.store(level, Ordering::Relaxed);
        Ok(())
    }
}
