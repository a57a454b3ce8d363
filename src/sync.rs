// SPDX-License-Identifier: MPL-2.0
//! Locking and thread helpers shared by every layer (camera model, backends, elements).

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `m`, recovering the data if a thread panicked while holding it.
///
/// A lock is poisoned only when a panic happened while it was held. Every lock in this crate
/// guards plain data whose invariants hold between statements, so the data is still usable,
/// and refusing it would turn one panic (already reported) into a cascade of them in a
/// plugin, which takes down the user's whole application.
pub(crate) fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The message of a panic's payload (`catch_unwind`'s error): the text given to `panic!`, or a
/// placeholder for a payload of another type.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}
