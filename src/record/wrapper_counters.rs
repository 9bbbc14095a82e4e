//! What memscope's sampling allocator (`memscope::Sampled`) counts on
//! every allocation and free, per thread: the bytes allocated and freed
//! (the per-request figures read them as they read jemalloc's counters),
//! and the bytes left before the thread's next heap sample.
//!
//! All of it is on the path of every allocation, so a thread touches only
//! its own state: a thread-local with no destructor (always reachable,
//! even while the thread is being torn down) and a slot of totals that
//! only that thread writes.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// Slots of per-thread totals. A thread claims one at its first
/// allocation and gives it back when it ends; the thread that claims it
/// next adds to its sums, which are the process's totals either way.
/// Threads past these share one slot, with atomic adds.
const SLOTS: usize = 512;

/// One thread's totals, on a cache line of its own.
#[repr(align(64))]
struct Slot {
    allocated: AtomicU64,
    freed: AtomicU64,
    claimed: AtomicBool,
}

impl Slot {
    const fn new() -> Self {
        Self {
            allocated: AtomicU64::new(0),
            freed: AtomicU64::new(0),
            claimed: AtomicBool::new(false),
        }
    }
}

static SLOTS_BY_THREAD: [Slot; SLOTS] = [const { Slot::new() }; SLOTS];
static SHARED: Slot = Slot::new();

/// Set once any thread allocates through the wrapper.
static IN_USE: AtomicBool = AtomicBool::new(false);

struct ThreadState {
    /// The slot this thread writes alone; `None` before its first
    /// allocation and after it gave the slot back.
    slot: Cell<Option<&'static Slot>>,
    /// The thread has ended (its slot was given back): it counts in the
    /// shared slot from now on.
    ended: Cell<bool>,
    /// Bytes to allocate before the next sample; at or below zero, the
    /// next allocation takes the slow path.
    countdown: Cell<i64>,
    /// Inside memscope's sampler (a walk, the table of samples): what is
    /// allocated here is counted but never sampled, and frees skip the
    /// table, so that nothing recurses.
    busy: Cell<bool>,
    /// The state of the thread's random draws; 0 before the first.
    random: Cell<u64>,
}

thread_local! {
    static THREAD: ThreadState = const {
        ThreadState {
            slot: Cell::new(None),
            ended: Cell::new(false),
            countdown: Cell::new(0),
            busy: Cell::new(false),
            random: Cell::new(0),
        }
    };
    /// Gives the slot back when the thread ends. A destructor needs
    /// registering, so this lives apart from `THREAD`, which must stay
    /// reachable to the last free of the thread.
    static GIVE_BACK: SlotGiver = const { SlotGiver };
}

struct SlotGiver;

impl Drop for SlotGiver {
    fn drop(&mut self) {
        THREAD.with(|thread| {
            thread.ended.set(true);
            if let Some(slot) = thread.slot.take() {
                slot.claimed.store(false, Relaxed);
            }
        });
    }
}

/// Adds `bytes` to a counter only this thread writes: a load and a store,
/// no locked instruction; the shared slot's are added atomically.
#[inline(always)]
fn add(counter: &AtomicU64, bytes: usize, shared: bool) {
    if shared {
        counter.fetch_add(bytes as u64, Relaxed);
    } else {
        counter.store(counter.load(Relaxed) + bytes as u64, Relaxed);
    }
}

#[inline(always)]
fn slot_of(thread: &ThreadState) -> &'static Slot {
    match thread.slot.get() {
        Some(slot) => slot,
        None => claim_slot(thread),
    }
}

/// The slot of a thread without one: a free one, or the shared one.
#[cold]
#[inline(never)]
fn claim_slot(thread: &ThreadState) -> &'static Slot {
    IN_USE.store(true, Relaxed);
    if thread.ended.get() {
        return &SHARED;
    }
    // Registers the destructor that gives the slot back; a thread whose
    // thread-locals are being torn down cannot, and shares.
    // Registering may allocate: that allocation, busy, counts in the
    // shared slot rather than claiming again.
    if thread.busy.replace(true) {
        return &SHARED;
    }
    let registered = GIVE_BACK.try_with(|_| ()).is_ok();
    thread.busy.set(false);
    if !registered {
        return &SHARED;
    }
    let slot = SLOTS_BY_THREAD
        .iter()
        .find(|slot| {
            slot.claimed
                .compare_exchange(false, true, Relaxed, Relaxed)
                .is_ok()
        })
        .unwrap_or(&SHARED);
    thread.slot.set(Some(slot));
    slot
}

/// Counts an allocation of `bytes`; `true` when the thread's countdown to
/// its next sample ran out, and the caller takes the slow path.
#[inline(always)]
pub(crate) fn count_allocation(bytes: usize) -> bool {
    THREAD.with(|thread| {
        let slot = slot_of(thread);
        add(&slot.allocated, bytes, std::ptr::eq(slot, &SHARED));
        let left = thread.countdown.get() - bytes as i64;
        thread.countdown.set(left);
        left <= 0
    })
}

/// Counts a free of `bytes`; `true` when the thread is inside the sampler,
/// whose frees are its own and never of sampled objects.
#[inline(always)]
pub(crate) fn count_free(bytes: usize) -> bool {
    THREAD.with(|thread| {
        let slot = slot_of(thread);
        add(&slot.freed, bytes, std::ptr::eq(slot, &SHARED));
        thread.busy.get()
    })
}

/// What the slow path found when the countdown ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Due {
    /// Sample this allocation.
    Sample,
    /// The thread's first draw, or an allocation made inside the sampler:
    /// the countdown was set again and nothing is sampled.
    Skip,
}

/// Sets the thread's countdown to its next sample, an exponential draw of
/// mean `mean_interval` bytes (allocations then sampled each with a chance
/// of `1 - exp(-size / mean)`, the rule the profile's estimates undo), and
/// says whether the allocation that ran it out is sampled.
#[cold]
pub(crate) fn next_sample(mean_interval: u64) -> Due {
    THREAD.with(|thread| {
        let seeded = thread.random.get() != 0;
        let next = draw(thread, mean_interval);
        thread.countdown.set(next);
        if seeded && !thread.busy.get() {
            Due::Sample
        } else {
            Due::Skip
        }
    })
}

fn draw(thread: &ThreadState, mean_interval: u64) -> i64 {
    let mut state = thread.random.get();
    if state == 0 {
        // Each thread its own sequence: its state's address and the time.
        let address = std::ptr::from_ref(thread) as u64;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.subsec_nanos() as u64);
        state = (address ^ nanos.rotate_left(32)) | 1;
    }
    // xorshift64*: fast, and good enough to space samples.
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    thread.random.set(state);
    let bits = state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
    // Uniform in (0, 1]: never the logarithm of zero.
    let uniform = (bits + 1) as f64 / (1u64 << 53) as f64;
    let next = -uniform.ln() * mean_interval as f64;
    (next as i64).max(1)
}

/// Runs `work` as the sampler: what it allocates is never sampled and
/// what it frees skips the table. `None`, without running it, when the
/// thread is already inside the sampler.
#[inline]
pub(crate) fn as_sampler<R>(work: impl FnOnce() -> R) -> Option<R> {
    let entered = THREAD.with(|thread| !thread.busy.replace(true));
    if !entered {
        return None;
    }
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            THREAD.with(|thread| thread.busy.set(false));
        }
    }
    let _leave = Leave;
    Some(work())
}

/// Whether any allocation went through memscope's sampling allocator.
pub(crate) fn wrapper_in_use() -> bool {
    IN_USE.load(Relaxed)
}

/// The calling thread's bytes allocated and freed through the wrapper, if
/// it counts in a slot of its own.
#[inline]
pub(crate) fn wrapper_thread_totals() -> Option<(u64, u64)> {
    THREAD.with(|thread| {
        let slot = thread.slot.get()?;
        (!std::ptr::eq(slot, &SHARED))
            .then(|| (slot.allocated.load(Relaxed), slot.freed.load(Relaxed)))
    })
}

/// The process's bytes allocated and freed through the wrapper, summed
/// over every thread's slot.
pub(crate) fn wrapper_totals() -> (u64, u64) {
    SLOTS_BY_THREAD.iter().chain(std::iter::once(&SHARED)).fold(
        (0, 0),
        |(allocated, freed), slot| {
            (
                allocated + slot.allocated.load(Relaxed),
                freed + slot.freed.load(Relaxed),
            )
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_average_the_mean_interval() {
        let thread = ThreadState {
            slot: Cell::new(None),
            ended: Cell::new(false),
            countdown: Cell::new(0),
            busy: Cell::new(false),
            random: Cell::new(0),
        };
        let draws = 100_000;
        let mean = 512 * 1024;
        let sum: i64 = (0..draws).map(|_| draw(&thread, mean)).sum();
        let average = sum as f64 / draws as f64;
        // The standard error of the mean of 100,000 exponential draws is
        // 0.3 % of the mean; 2 % is well outside chance.
        assert!(
            (average / mean as f64 - 1.0).abs() < 0.02,
            "average {average} for a mean of {mean}"
        );
    }

    #[test]
    fn the_sampler_does_not_enter_twice() {
        let nested = as_sampler(|| as_sampler(|| ()).is_some());
        assert_eq!(nested, Some(false));
        assert_eq!(as_sampler(|| 1), Some(1));
    }
}
