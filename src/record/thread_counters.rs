//! The calling thread's allocated and freed byte totals, read around every
//! poll of a request's future and body.
//!
//! jemalloc keeps both counters per thread and hands out pointers to them.
//! Looking the pointers up by name is a `mallctl` call each time; reading
//! through a cached pointer is a plain load, so each thread looks them up
//! once.

use tikv_jemalloc_ctl::thread::{ThreadLocal, allocatedp, deallocatedp};

thread_local! {
    static COUNTERS: Option<(ThreadLocal<u64>, ThreadLocal<u64>)> =
        allocatedp::read().ok().zip(deallocatedp::read().ok());
}

/// Bytes this thread has allocated and freed since it started: memscope's
/// sampling allocator's exact counts where it is the global allocator,
/// else jemalloc's, rounded to size classes. `(0, 0)` where jemalloc has no statistics.
#[inline]
pub(crate) fn thread_allocation_totals() -> (u64, u64) {
    if super::wrapper_counters::wrapper_in_use()
        && let Some(totals) = super::wrapper_counters::wrapper_thread_totals()
    {
        return totals;
    }
    COUNTERS
        .try_with(|counters| {
            counters.map_or((0, 0), |(allocated, freed)| (allocated.get(), freed.get()))
        })
        .unwrap_or((0, 0))
}
