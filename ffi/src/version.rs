//! The library version, as macros for the compiler and as a string at run time.

use std::ffi::c_char;

use crate::boundary::ffi_boundary;

/// Major version of the header (matches `tether_version()` of the library it ships with).
pub const TETHER_VERSION_MAJOR: u32 = 0;
/// Minor version of the header.
pub const TETHER_VERSION_MINOR: u32 = 1;
/// Patch version of the header.
pub const TETHER_VERSION_PATCH: u32 = 0;

const VERSION: &std::ffi::CStr =
    match std::ffi::CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(v) => v,
        Err(_) => panic!("the package version contains a NUL"),
    };

/// The version of the library, "MAJOR.MINOR.PATCH": compare it with the
/// `TETHER_VERSION_*` macros to detect a header/library mismatch. Static: do not free it.
#[no_mangle]
pub extern "C" fn tether_version() -> *const c_char {
    ffi_boundary! {
        VERSION.as_ptr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_macros_match_the_package_version() {
        // Keep TETHER_VERSION_* in sync with `version` in the workspace Cargo.toml.
        let expected = format!("{TETHER_VERSION_MAJOR}.{TETHER_VERSION_MINOR}.{TETHER_VERSION_PATCH}");
        assert_eq!(expected, env!("CARGO_PKG_VERSION"));
        // SAFETY: a static NUL-terminated string.
        let runtime = unsafe { std::ffi::CStr::from_ptr(tether_version()) };
        assert_eq!(runtime.to_str().unwrap(), expected);
    }
}
