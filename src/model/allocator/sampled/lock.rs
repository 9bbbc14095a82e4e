//! The table's lock: a flag spun on, yielding the processor between tries.
//!
//! A lock on an allocator's path may neither allocate nor take another
//! lock on its slow path: a parking lot's does both (parking_lot grows its
//! table of waiters, under its own global locks, with an allocation), and
//! an allocation sampled there took this lock's slow path back into
//! parking_lot and deadlocked. The table is held for a copy or an insert,
//! so waiting by yielding is short; and the flag can be released in a
//! fork's child, whose other threads are gone.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};

pub(super) struct TableLock<T> {
    held: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the value is reached only through a guard, which the flag lets
// one thread hold at a time.
unsafe impl<T: Send> Sync for TableLock<T> {}

impl<T> TableLock<T> {
    pub(super) const fn new(value: T) -> Self {
        Self {
            held: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    pub(super) fn lock(&self) -> TableGuard<'_, T> {
        while self
            .held
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            // `sched_yield`: no allocation, no other lock.
            std::thread::yield_now();
        }
        TableGuard { lock: self }
    }

    /// Releases the lock without a guard.
    ///
    /// # Safety
    /// Only where its holder is known to be gone: in a fork's child, after
    /// the parent's thread locked it for the fork and forgot its guard.
    pub(super) unsafe fn force_unlock(&self) {
        self.held.store(false, Ordering::Release);
    }
}

pub(super) struct TableGuard<'a, T> {
    lock: &'a TableLock<T>,
}

impl<T> Deref for TableGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard's holder is the only one past the flag.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for TableGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as above, and the guard is borrowed mutably.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for TableGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.held.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_take_turns() {
        static COUNTER: TableLock<u64> = TableLock::new(0);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..10_000 {
                        *COUNTER.lock() += 1;
                    }
                });
            }
        });
        assert_eq!(*COUNTER.lock(), 40_000);
    }
}
