//! Casts between the opaque C handle types and the Rust values behind them.
//!
//! Each opaque type names its Rust type and how C holds it (`Castable`): a `Box` owned by the
//! caller or an `Arc` shared with tether's own threads. The helpers only accept the matching
//! ownership, so a `Box` can never be freed as an `Arc`. Values that C only borrows (the
//! message of a callback, the properties of a message) are lent with `to_const_ptr` and
//! documented with their lifetime.

use std::sync::Arc;

/// C owns a `Box<RustType>` through the pointer; `_free` gives it back.
pub(crate) struct OwnershipBox;
/// C owns one strong count of an `Arc<RustType>`; `_free` drops it.
pub(crate) struct OwnershipArc;

/// Links an opaque C type to the Rust type behind its pointers.
pub(crate) trait Castable {
    type Ownership;
    type RustType;
}

/// Borrows the value behind `ptr`, or `None` for NULL.
///
/// # Safety
///
/// `ptr` is NULL or was made by this module for `C` and is still alive, and nothing mutates
/// the value for `'a`.
pub(crate) unsafe fn try_ref<'a, C: Castable>(ptr: *const C) -> Option<&'a C::RustType> {
    // SAFETY: the caller guarantees a live pointer to a `C::RustType` (or NULL).
    unsafe { ptr.cast::<C::RustType>().as_ref() }
}

/// Mutably borrows the value behind `ptr`, or `None` for NULL.
///
/// # Safety
///
/// As for [`try_ref`], and no other reference to the value exists for `'a`. Only for
/// caller-owned boxes: values shared with other threads are never handed out mutably.
pub(crate) unsafe fn try_mut<'a, C: Castable<Ownership = OwnershipBox>>(
    ptr: *mut C,
) -> Option<&'a mut C::RustType> {
    // SAFETY: the caller guarantees a live, unaliased pointer to a `C::RustType` (or NULL).
    unsafe { ptr.cast::<C::RustType>().as_mut() }
}

/// Moves `value` into a new box that C owns.
pub(crate) fn to_boxed_mut_ptr<C: Castable<Ownership = OwnershipBox>>(value: C::RustType) -> *mut C {
    Box::into_raw(Box::new(value)).cast()
}

/// Takes back the box behind `ptr` (None for NULL).
///
/// # Safety
///
/// `ptr` is NULL or came from [`to_boxed_mut_ptr`] for `C` and was not taken back before.
pub(crate) unsafe fn take_box<C: Castable<Ownership = OwnershipBox>>(
    ptr: *mut C,
) -> Option<Box<C::RustType>> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: the caller guarantees the pointer came from `Box::into_raw` of this type, once.
    Some(unsafe { Box::from_raw(ptr.cast::<C::RustType>()) })
}

/// Hands one strong count of `value` to C.
pub(crate) fn to_arc_const_ptr<C: Castable<Ownership = OwnershipArc>>(value: Arc<C::RustType>) -> *const C {
    Arc::into_raw(value).cast()
}

/// Takes back the strong count C held (None for NULL).
///
/// # Safety
///
/// `ptr` is NULL or came from [`to_arc_const_ptr`] for `C` and was not taken back before.
pub(crate) unsafe fn take_arc<C: Castable<Ownership = OwnershipArc>>(
    ptr: *const C,
) -> Option<Arc<C::RustType>> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: the caller guarantees the pointer came from `Arc::into_raw` of this type and
    // that its count was not given back yet.
    Some(unsafe { Arc::from_raw(ptr.cast::<C::RustType>()) })
}

/// Lends `value` to C as a `const` pointer (for values that C only borrows).
pub(crate) fn to_const_ptr<C: Castable>(value: &C::RustType) -> *const C {
    (value as *const C::RustType).cast()
}
