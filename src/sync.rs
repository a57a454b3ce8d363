// SPDX-License-Identifier: MPL-2.0
//! Locking helpers shared by every layer (camera model, backends, elements).

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
