//! memscope's own sampling allocator: heap profiles on any global
//! allocator (the system's, mimalloc, jemalloc without profiling).
//!
//! It samples as jemalloc and Go do: each thread counts the bytes it
//! allocates down to its next sample, an exponential draw around the mean
//! interval, so that an allocation of `size` bytes is sampled with chance
//! `1 - exp(-size / mean)` (the rule the heap pages undo to estimate). A
//! sampled allocation's stack is walked by memscope's walker, tagged with
//! the request's route as jemalloc's samples are, and kept in a table of
//! live samples until it is freed. A free is recognised as not sampled by
//! one bit of a filter over addresses, before any lock.
//!
//! Nothing here can recurse or deadlock: the walk and the table run as the
//! sampler (`record::as_sampler`), whose own allocations are never sampled
//! and whose frees skip the table; the table's lock is taken only as the
//! sampler, and held across `fork` so that the child finds it free.

#![allow(unsafe_code)]

mod filter;
mod lock;
mod profile;
mod table;

pub(crate) use profile::raw_profile;

use std::alloc::{GlobalAlloc, Layout};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};

use crate::record::{Due, as_sampler, count_allocation, count_free, next_sample};
use lock::TableLock;
use table::Table;

/// The mean interval by default: one sample per 512 KiB allocated, as Go.
const DEFAULT_LG_SAMPLE: u32 = 19;
/// Return addresses kept for a sample, as jemalloc keeps.
const MOST_FRAMES: usize = 128;

static TABLE: TableLock<Table> = TableLock::new(Table::new());
/// Sampling switched on (`POST /_debug/profiling`).
static ACTIVE: AtomicBool = AtomicBool::new(true);
/// The wrapper's `lg_sample`, for the profile's estimates.
static LG_SAMPLE: AtomicU32 = AtomicU32::new(DEFAULT_LG_SAMPLE);
/// The allocator wrapped is the system's (the C library's malloc), as its
/// first sample found.
static INNER_IS_SYSTEM: AtomicBool = AtomicBool::new(false);

/// A global allocator that samples the heap for memscope's pages, over any
/// other: `#[global_allocator] static ALLOC: memscope::Sampled<std::alloc::System>
/// = memscope::Sampled::new(std::alloc::System);`.
///
/// Every allocation and free is counted per thread (the per-request
/// figures and `allocated` read these counts); one allocation in about
/// every 512 KiB allocated is sampled: its stack is walked and kept until
/// it is freed, and the heap pages read those samples as they read
/// jemalloc's. Stacks are walked on x86-64 Linux; elsewhere the wrapper
/// counts but takes no samples.
///
/// ```no_run
/// #[global_allocator]
/// static ALLOC: memscope::Sampled<std::alloc::System> =
///     memscope::Sampled::new(std::alloc::System);
/// ```
///
/// # Beside jemalloc's own profiling
#[doc = include_str!("../../../docs/sampled.md")]
#[derive(Debug)]
pub struct Sampled<A> {
    inner: A,
    lg_sample: u32,
}

impl<A> Sampled<A> {
    /// `inner`, sampled once per 512 KiB allocated on average.
    pub const fn new(inner: A) -> Self {
        Self::with_lg_sample(inner, DEFAULT_LG_SAMPLE)
    }

    /// `inner`, sampled once per `2^lg_sample` bytes allocated on average
    /// (jemalloc's `lg_prof_sample`): 19 is 512 KiB, 14 is 16 KiB. Smaller
    /// intervals give finer estimates for more samples.
    pub const fn with_lg_sample(inner: A, lg_sample: u32) -> Self {
        let lg_sample = if lg_sample > 40 { 40 } else { lg_sample };
        Self { inner, lg_sample }
    }

    /// Counts the allocation of `bytes` at `address` (none where null) and
    /// samples it when its thread's countdown runs out.
    #[inline(always)]
    fn counted(&self, address: *mut u8, bytes: usize) -> *mut u8 {
        if !address.is_null() && count_allocation(bytes) {
            self.sample_due(address, bytes);
        }
        address
    }

    /// The allocation at `address` ran its thread's countdown out.
    #[cold]
    #[inline(never)]
    fn sample_due(&self, address: *mut u8, bytes: usize) {
        INNER_IS_SYSTEM.store(
            std::any::type_name::<A>() == std::any::type_name::<std::alloc::System>(),
            Relaxed,
        );
        if next_sample(1 << self.lg_sample) == Due::Sample && ACTIVE.load(Relaxed) {
            as_sampler(|| take_sample(address as usize, bytes as u64, self.lg_sample));
        }
    }
}

/// Walks the stack and keeps the sample; as the sampler.
#[inline(never)]
fn take_sample(address: usize, bytes: u64, lg_sample: u32) {
    LG_SAMPLE.store(lg_sample, Relaxed);
    let mut frames = [0u64; MOST_FRAMES];
    let count = walk(&mut frames);
    if count == 0 {
        // No stack to keep it under: left unsampled.
        return;
    }
    hold_table_across_fork();
    TABLE.lock().insert(address, bytes, &frames[..count]);
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn walk(frames: &mut [u64]) -> usize {
    crate::model::process::unwind::walk_from_caller(frames)
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn walk(_frames: &mut [u64]) -> usize {
    0
}

/// A free of `address`, which the filter says may be sampled.
#[cold]
#[inline(never)]
fn forget(address: *mut u8) {
    as_sampler(|| TABLE.lock().remove(address as usize));
}

/// Counts a free and forgets its sample; before the inner allocator frees,
/// so that the address, reused, cannot lose a new sample.
#[inline(always)]
fn before_free(address: *mut u8, bytes: usize) {
    let inside_sampler = count_free(bytes);
    if !inside_sampler && filter::may_be_sampled(address as usize) {
        forget(address);
    }
}

// SAFETY: every call is passed to `inner` with its arguments unchanged;
// the wrapper only counts, and reads no memory it is given.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Sampled<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        self.counted(unsafe { self.inner.alloc(layout) }, layout.size())
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        self.counted(unsafe { self.inner.alloc_zeroed(layout) }, layout.size())
    }

    #[inline]
    unsafe fn dealloc(&self, address: *mut u8, layout: Layout) {
        before_free(address, layout.size());
        // SAFETY: the caller's contract, passed on.
        unsafe { self.inner.dealloc(address, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, address: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Counted as a free and an allocation of the new size, sampled
        // anew: what is live is the new block, at the stack that grew it.
        before_free(address, layout.size());
        // SAFETY: the caller's contract, passed on.
        let moved = unsafe { self.inner.realloc(address, layout, new_size) };
        if moved.is_null() {
            // The old block stands, counted again (a sample it had is lost).
            count_allocation(layout.size());
            return moved;
        }
        self.counted(moved, new_size)
    }
}

/// Whether any allocation went through the wrapper.
pub(crate) fn in_use() -> bool {
    crate::record::wrapper_in_use()
}

/// Whether the allocator the wrapper wraps is the system's, whose memory
/// the C library's malloc figures count too (known from the first
/// sample).
pub(crate) fn inner_is_system() -> bool {
    INNER_IS_SYSTEM.load(Relaxed)
}

/// Whether the wrapper samples now.
pub(crate) fn is_active() -> bool {
    ACTIVE.load(Relaxed)
}

/// Switches sampling on or off; samples taken stay until freed.
pub(crate) fn set_active(active: bool) {
    ACTIVE.store(active, Relaxed);
}

/// The wrapper's mean interval, as a power of two.
pub(crate) fn lg_sample() -> u32 {
    LG_SAMPLE.load(Relaxed)
}

/// Holds the table's lock across `fork`, so that the child, whose other
/// threads are gone, does not find it held forever. Installed at the first
/// sample.
fn hold_table_across_fork() {
    static INSTALLED: Once = Once::new();
    static HELD: AtomicBool = AtomicBool::new(false);
    extern "C" fn before_fork() {
        as_sampler(|| {
            std::mem::forget(TABLE.lock());
            HELD.store(true, Relaxed);
        });
    }
    extern "C" fn after_fork() {
        if HELD.swap(false, Relaxed) {
            // SAFETY: `before_fork` locked it on this thread and forgot
            // the guard; in the child this thread is the only one.
            unsafe { TABLE.force_unlock() };
        }
    }
    INSTALLED.call_once(|| {
        // SAFETY: three handlers with the C signature, valid for the
        // process's life.
        unsafe { libc::pthread_atfork(Some(before_fork), Some(after_fork), Some(after_fork)) };
    });
}
