//! The one way the sandboxes take a lock.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// The guard, even after a panic elsewhere poisoned the lock: the sandboxes' state stays usable
/// for the tests that come after a failing one.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
