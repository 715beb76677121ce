//! The C boundary: every `extern "C"` body runs inside [`ffi_boundary!`], which catches
//! panics and records failures; pointer arguments go through the `try_*!` macros, which turn
//! NULL into `TETHER_NULL_ARGUMENT` (or the function's neutral value) instead of a crash.

use std::any::Any;
use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::result::{set_last_error, tether_result, Failure, Outcome};

/// How a body's value leaves the boundary, and what a caught panic returns instead.
pub(crate) trait Boundary {
    type Output;
    fn finish(self) -> Self::Output;
    fn on_panic() -> Self::Output;
}

impl Boundary for Outcome {
    type Output = tether_result;
    fn finish(self) -> tether_result {
        match self {
            Ok(()) => tether_result::TETHER_OK,
            Err(failure) => failure.record(),
        }
    }
    fn on_panic() -> tether_result {
        tether_result::TETHER_PANIC
    }
}

/// Values returned by infallible calls (accessors, constructors that return a pointer): the
/// neutral value stands for NULL arguments and caught panics.
pub(crate) trait Neutral: Sized {
    fn neutral() -> Self;
}

macro_rules! neutral {
    ($($t:ty => $v:expr),* $(,)?) => {
        $(impl Neutral for $t {
            fn neutral() -> Self { $v }
        })*
    };
}

neutral! {
    () => (),
    bool => false,
    u8 => 0,
    u16 => 0,
    u32 => 0,
    u64 => 0,
    usize => 0,
    i32 => -1,
}

impl<T> Neutral for *const T {
    fn neutral() -> Self {
        std::ptr::null()
    }
}

impl<T> Neutral for *mut T {
    fn neutral() -> Self {
        std::ptr::null_mut()
    }
}

impl<T: Neutral> Boundary for T {
    type Output = T;
    fn finish(self) -> T {
        self
    }
    fn on_panic() -> T {
        T::neutral()
    }
}

/// What a body returns early when a required pointer is NULL.
pub(crate) trait NullDefault {
    fn null_default(name: &str) -> Self;
}

impl<T> NullDefault for Result<T, Failure> {
    fn null_default(name: &str) -> Self {
        Err(Failure::null(name))
    }
}

impl<T: Neutral> NullDefault for T {
    fn null_default(_name: &str) -> Self {
        T::neutral()
    }
}

/// Runs `body`; a panic inside becomes `TETHER_PANIC` (or the neutral value) and never
/// unwinds into C.
pub(crate) fn guard<R: Boundary>(body: impl FnOnce() -> R) -> R::Output {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(value) => value.finish(),
        Err(payload) => {
            set_last_error(&format!("internal error: panic: {}", panic_message(&*payload)), None);
            R::on_panic()
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(no message)"
    }
}

/// Wraps the body of an `extern "C"` function. The signature stays literal so that cbindgen
/// reads it; inside, `return Err(..)`, `?` and the `try_*!` macros work as in a closure.
macro_rules! ffi_boundary {
    ($($body:tt)*) => {
        $crate::boundary::guard(|| { $($body)* })
    };
}

/// `&RustType` behind a handle pointer; NULL returns early.
macro_rules! try_ref {
    ($ptr:ident) => {
        // SAFETY: the C contract of every function: a handle argument is NULL or a live
        // handle of its type, not freed while the call runs.
        match unsafe { $crate::cast::try_ref($ptr) } {
            Some(value) => value,
            None => return $crate::boundary::NullDefault::null_default(stringify!($ptr)),
        }
    };
}

/// `&mut RustType` behind a caller-owned box; NULL returns early.
macro_rules! try_mut {
    ($ptr:ident) => {
        // SAFETY: the C contract: a live handle that no other thread uses during the call
        // (the header says that options and properties objects are not thread-safe).
        match unsafe { $crate::cast::try_mut($ptr) } {
            Some(value) => value,
            None => return $crate::boundary::NullDefault::null_default(stringify!($ptr)),
        }
    };
}

/// `&str` from a NUL-terminated C string; NULL or invalid UTF-8 returns early.
macro_rules! try_str {
    ($ptr:ident) => {
        match $crate::boundary::c_str($ptr, stringify!($ptr)) {
            Ok(s) => s,
            Err(e) => return Err(e),
        }
    };
}

/// `&[u8]` from a pointer and a length (NULL is fine when the length is 0).
macro_rules! try_bytes {
    ($ptr:ident, $len:ident) => {
        match $crate::boundary::c_bytes($ptr, $len, stringify!($ptr)) {
            Ok(s) => s,
            Err(e) => return Err(e),
        }
    };
}

/// Writes an output pointer (required: NULL returns `TETHER_NULL_ARGUMENT`).
macro_rules! write_out {
    ($ptr:ident, $value:expr) => {{
        if $ptr.is_null() {
            return Err($crate::result::Failure::null(stringify!($ptr)));
        }
        // SAFETY: not NULL, and the C contract: an output pointer points to writable memory
        // of its type.
        unsafe { $ptr.write($value) };
    }};
}

/// Writes an optional output pointer (NULL means "not wanted").
macro_rules! write_opt {
    ($ptr:ident, $value:expr) => {{
        if !$ptr.is_null() {
            // SAFETY: not NULL, and the C contract: an output pointer points to writable
            // memory of its type.
            unsafe { $ptr.write($value) };
        }
    }};
}

pub(crate) use {ffi_boundary, try_bytes, try_mut, try_ref, try_str, write_opt, write_out};

/// A C string argument as `&str`.
pub(crate) fn c_str<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, Failure> {
    if ptr.is_null() {
        return Err(Failure::null(name));
    }
    // SAFETY: not NULL, and the C contract: a string argument is NUL-terminated and stays
    // valid and unchanged during the call (`'a` never outlives the call at the call sites).
    let cstr = unsafe { std::ffi::CStr::from_ptr(ptr) };
    cstr.to_str().map_err(|e| {
        Failure::new(
            tether_result::TETHER_INVALID_UTF8,
            format!("`{name}` is not valid UTF-8 (invalid byte at offset {})", e.valid_up_to()),
        )
    })
}

/// An array of `n` C strings (`const char *const *`) as `&str`s; NULL is fine when `n` is 0.
/// A NULL entry is named with its index (`name[i]`).
pub(crate) fn c_str_array<'a>(
    ptr: *const *const c_char,
    n: usize,
    name: &str,
) -> Result<Vec<&'a str>, Failure> {
    if n == 0 {
        return Ok(Vec::new());
    }
    if ptr.is_null() {
        return Err(Failure::null(name));
    }
    if n > isize::MAX as usize / std::mem::size_of::<*const c_char>() {
        return Err(Failure::invalid(format!("`{name}` count {n} is larger than any array")));
    }
    // SAFETY: not NULL, the length fits a slice, and the C contract: `ptr` points to `n`
    // pointers that stay valid and unchanged during the call.
    let pointers = unsafe { std::slice::from_raw_parts(ptr, n) };
    pointers.iter().enumerate().map(|(i, &p)| c_str(p, &format!("{name}[{i}]"))).collect()
}

/// A byte buffer argument as a slice.
pub(crate) fn c_bytes<'a>(ptr: *const u8, len: usize, name: &str) -> Result<&'a [u8], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Failure::null(name));
    }
    if len > isize::MAX as usize {
        return Err(Failure::invalid(format!("`{name}` length {len} is larger than any buffer")));
    }
    // SAFETY: not NULL, the length fits a slice, and the C contract: `ptr` points to `len`
    // readable bytes that stay unchanged during the call.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::tether_result::*;

    fn fallible(fail: bool) -> tether_result {
        ffi_boundary! {
            if fail {
                return Err(Failure::invalid("no"));
            }
            Ok(())
        }
    }

    #[test]
    fn failures_and_panics_stop_at_the_boundary() {
        assert_eq!(fallible(false), TETHER_OK);
        assert_eq!(fallible(true), TETHER_INVALID_ARGUMENT);
        let r: tether_result = ffi_boundary! {
            if true {
                panic!("boom");
            }
            Ok(())
        };
        assert_eq!(r, TETHER_PANIC);
        // SAFETY: valid until the next failure on this thread.
        let text = unsafe { std::ffi::CStr::from_ptr(crate::result::tether_last_error()) };
        assert!(text.to_str().unwrap().contains("boom"));
        let p: *const u8 = ffi_boundary! {
            if true {
                panic!("boom");
            }
            std::ptr::null()
        };
        assert!(p.is_null());
    }

    #[test]
    fn string_arrays() {
        let two = [c"a".as_ptr(), c"b".as_ptr()];
        assert_eq!(c_str_array(two.as_ptr(), 2, "xs").unwrap(), vec!["a", "b"]);
        assert!(c_str_array(std::ptr::null(), 0, "xs").unwrap().is_empty());
        assert_eq!(c_str_array(std::ptr::null(), 1, "xs").unwrap_err().result, TETHER_NULL_ARGUMENT);
        let hole = [c"a".as_ptr(), std::ptr::null()];
        let e = c_str_array(hole.as_ptr(), 2, "xs").unwrap_err();
        assert_eq!(e.result, TETHER_NULL_ARGUMENT);
        assert!(e.message.contains("xs[1]"), "{}", e.message);
    }

    #[test]
    fn strings_and_bytes() {
        assert_eq!(c_str(c"abc".as_ptr(), "s").unwrap(), "abc");
        assert_eq!(c_str(std::ptr::null(), "s").unwrap_err().result, TETHER_NULL_ARGUMENT);
        let bad = [0xC3u8, 0x28, 0];
        assert_eq!(c_str(bad.as_ptr().cast(), "s").unwrap_err().result, TETHER_INVALID_UTF8);
        assert_eq!(c_bytes(std::ptr::null(), 0, "b").unwrap(), b"");
        assert_eq!(c_bytes(std::ptr::null(), 1, "b").unwrap_err().result, TETHER_NULL_ARGUMENT);
    }
}
