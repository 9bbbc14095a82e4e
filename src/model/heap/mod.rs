//! The heap at one moment and what is read from it: a snapshot (the heap
//! source's raw profile, its addresses resolved by `symbols`), its stacks
//! (`stack`) and the rules that name a stack's site (`site`); the snapshot
//! grouped into rows (`table`), the live tasks by where they were spawned
//! (`tasks`), the change between two snapshots (`diff`),
//! the snapshot a diff compares against (`baseline`) and the heap drawn as
//! flamegraphs (`flamegraph`). Plain functions over snapshots, which the
//! model's tests build by hand.

pub(crate) mod baseline;
pub(crate) mod diff;
pub(crate) mod flamegraph;
mod site;
mod stack;
pub(crate) mod table;
pub(crate) mod tasks;

pub(crate) use site::{Grouping, NO_REQUEST, SiteId, key_of, named_frame, route_of_tag};
pub(crate) use stack::{AddressTable, Stack};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime};

use crate::model::ModelError;
use crate::model::allocator::{AllocatorStats, HeapSource, RawProfile, SizeClass, off_executor};
use crate::model::process::{MappedFile, heap_samples_skipped_for_stack, resident_set_size};
use crate::model::symbols::{AddressFrames, SYMBOLIZER};

/// When a heap dump was taken and the exact figures read with it: what a
/// raw dump, a snapshot and a stored point of the history share.
#[derive(Clone, Debug)]
pub(crate) struct DumpMoment {
    pub(crate) taken_at: SystemTime,
    pub(crate) instant: Instant,
    /// Mean bytes between two samples (2^lg_prof_sample).
    pub(crate) sample_interval: u64,
    pub(crate) stats: AllocatorStats,
    pub(crate) rss: Option<u64>,
    pub(crate) size_classes: Vec<SizeClass>,
    /// Heap samples since the process started that were not walked, their
    /// threads having too little stack left.
    pub(crate) skipped_for_stack: u64,
}

impl DumpMoment {
    /// A moment with no figures, for the model's tests.
    #[cfg(test)]
    pub(crate) fn at(taken_at: SystemTime, instant: Instant, sample_interval: u64) -> Self {
        Self {
            taken_at,
            instant,
            sample_interval,
            stats: AllocatorStats::default(),
            rss: None,
            size_classes: Vec::new(),
            skipped_for_stack: 0,
        }
    }
}

/// The heap at one moment: the heap source's sampled profile (jemalloc's
/// or memscope's sampling allocator's) and the allocator's exact figures.
#[derive(Debug)]
pub(crate) struct HeapSnapshot {
    pub(crate) moment: DumpMoment,
    pub(crate) stacks: Vec<Stack>,
    /// The executable mappings of files when the dump was taken.
    pub(crate) mappings: Vec<MappedFile>,
    /// The build ids of `mappings`, where the snapshot is an earlier
    /// process's (a black box capture's); `None` for this process's,
    /// whose loaded objects say.
    pub(crate) mapping_build_ids: Option<Vec<Option<String>>>,
    /// What each stack allocated is kept, freed or not (jemalloc's
    /// `prof_accum`; always with the sampling allocator).
    pub(crate) accumulates: bool,
    /// Sampling was paused when the dump was taken: the profile holds only
    /// what was sampled while it ran.
    pub(crate) paused: bool,
    /// What taking the snapshot cost: the dump and its parse (or the
    /// sampling allocator's table copied), then
    /// resolving the addresses.
    pub(crate) dump_time: Duration,
    pub(crate) symbolize_time: Duration,
}

impl HeapSnapshot {
    /// Whether it is an earlier process's heap (a black box capture's),
    /// not this one's.
    pub(crate) fn is_earlier_process(&self) -> bool {
        self.mapping_build_ids.is_some()
    }

    /// A snapshot of hand-built stacks, for the model's tests.
    #[cfg(test)]
    pub(crate) fn of_stacks(stacks: Vec<Stack>) -> Self {
        let mut snapshot = Self::empty(DumpMoment::at(SystemTime::now(), Instant::now(), 1 << 19));
        snapshot.stacks = stacks;
        snapshot
    }

    /// A snapshot with no stacks and no figures, to fill in.
    pub(crate) fn empty(moment: DumpMoment) -> Self {
        Self {
            moment,
            stacks: Vec::new(),
            mappings: Vec::new(),
            mapping_build_ids: None,
            accumulates: false,
            paused: false,
            dump_time: Duration::ZERO,
            symbolize_time: Duration::ZERO,
        }
    }
}

/// The last snapshot while a page still holds it, behind the lock that
/// lets one dump run at a time: callers that asked while it was taken share
/// it, and it is freed with the last page that reads it (a resolved
/// snapshot of tens of thousands of stacks is tens of MiB).
static LAST_SNAPSHOT: Mutex<Weak<HeapSnapshot>> = Mutex::new(Weak::new());

/// memscope's own live bytes in the last resolved snapshot, as f64 bits;
/// `u64::MAX` before the first.
static LAST_OWN_BYTES: AtomicU64 = AtomicU64::new(u64::MAX);

/// Snapshots taken so far, and the time they took (dump and symbols).
static SNAPSHOTS_TAKEN: AtomicU64 = AtomicU64::new(0);
static SNAPSHOT_NANOS: AtomicU64 = AtomicU64::new(0);

/// Snapshots taken in this process, and the time they took in all.
pub(crate) fn snapshots_taken() -> (u64, Duration) {
    (
        SNAPSHOTS_TAKEN.load(Ordering::Relaxed),
        Duration::from_nanos(SNAPSHOT_NANOS.load(Ordering::Relaxed)),
    )
}

/// memscope's own live bytes in the last snapshot (a sampled estimate), if
/// one was taken.
pub(crate) fn last_own_bytes() -> Option<f64> {
    let bits = LAST_OWN_BYTES.load(Ordering::Relaxed);
    (bits != u64::MAX).then(|| f64::from_bits(bits))
}

/// A heap profile as the heap source gave it, unresolved, with the figures
/// read with it.
#[derive(Debug)]
pub(crate) struct RawSnapshot {
    pub(crate) moment: DumpMoment,
    pub(crate) profile: RawProfile,
    pub(crate) accumulates: bool,
    pub(crate) paused: bool,
    pub(crate) dump_time: Duration,
}

/// Dumps the heap profile; the caller holds [`LAST_SNAPSHOT`]'s lock, so
/// that one dump runs at a time.
fn dump_now() -> Result<RawSnapshot, ModelError> {
    let source = HeapSource::get();
    let state = source.profiling();
    let instant = Instant::now();
    let profile = source.raw_profile()?;
    let raw = RawSnapshot {
        moment: DumpMoment {
            taken_at: SystemTime::now(),
            instant,
            sample_interval: profile.sample_interval,
            // Read before symbolizing, whose first run allocates.
            stats: source.figures(),
            size_classes: source.size_classes(),
            skipped_for_stack: heap_samples_skipped_for_stack(),
            rss: resident_set_size(),
        },
        profile,
        accumulates: state.accumulates,
        paused: !state.active,
        dump_time: instant.elapsed(),
    };
    SNAPSHOTS_TAKEN.fetch_add(1, Ordering::Relaxed);
    SNAPSHOT_NANOS.fetch_add(raw.dump_time.as_nanos() as u64, Ordering::Relaxed);
    Ok(raw)
}

/// Runs `work` holding the lock that lets one heap dump run at a time:
/// for a dump written elsewhere than a snapshot (a black box capture's).
pub(crate) fn with_dump_lock<T>(work: impl FnOnce() -> T) -> T {
    let _one_at_a_time = crate::sync::lock(&LAST_SNAPSHOT);
    work()
}

/// Takes a heap profile and leaves its addresses unresolved, for the
/// history; waits for a dump that runs.
pub(crate) fn raw_snapshot_blocking() -> Result<RawSnapshot, ModelError> {
    let _one_at_a_time = crate::sync::lock(&LAST_SNAPSHOT);
    dump_now()
}

/// Takes a heap snapshot. Blocking. Callers that arrive while a dump runs
/// wait for it; if it began after they asked, they share it rather than
/// take another.
pub(crate) fn snapshot_blocking() -> Result<Arc<HeapSnapshot>, ModelError> {
    let asked = Instant::now();
    let mut last = crate::sync::lock(&LAST_SNAPSHOT);
    if let Some(snapshot) = last.upgrade()
        && snapshot.moment.instant >= asked
    {
        return Ok(snapshot);
    }
    let snapshot = Arc::new(resolved(dump_now()?));
    *last = Arc::downgrade(&snapshot);
    Ok(snapshot)
}

/// `raw`, its addresses resolved.
pub(crate) fn resolved(raw: RawSnapshot) -> HeapSnapshot {
    let started = Instant::now();
    let frames = SYMBOLIZER.resolve_addresses(&raw.profile.addresses);
    let mut snapshot = snapshot_of(raw.moment, raw.profile, frames, raw.accumulates);
    snapshot.paused = raw.paused;
    snapshot.dump_time = raw.dump_time;
    let memscope_own_bytes = snapshot
        .stacks
        .iter()
        .filter(|stack| key_of(stack, Grouping::Site).is_none())
        .map(|stack| stack.bytes)
        .sum();
    snapshot.symbolize_time = started.elapsed();
    LAST_OWN_BYTES.store(f64::to_bits(memscope_own_bytes), Ordering::Relaxed);
    SNAPSHOT_NANOS.fetch_add(snapshot.symbolize_time.as_nanos() as u64, Ordering::Relaxed);
    snapshot
}

/// A snapshot of `profile`'s stacks, `frames` being the frames of its
/// addresses, in order: this process's, or a black box capture's named
/// after the restart.
pub(crate) fn snapshot_of(
    moment: DumpMoment,
    profile: RawProfile,
    frames: Vec<AddressFrames>,
    accumulates: bool,
) -> HeapSnapshot {
    let table = Arc::new(AddressTable {
        addresses: profile.addresses,
        frames,
    });
    let stacks = profile
        .stacks
        .into_iter()
        .map(|raw| Stack {
            numbers: raw.frames,
            table: table.clone(),
            objects: raw.live.objects,
            bytes: raw.live.bytes,
            samples: raw.live.sampled_objects,
            bytes_variance: raw.live.bytes_variance,
            allocated: raw.allocated,
            tag: raw.tag,
        })
        .collect();
    let mut snapshot = HeapSnapshot::empty(moment);
    snapshot.stacks = stacks;
    snapshot.mappings = profile.mappings;
    snapshot.accumulates = accumulates;
    snapshot
}

/// Takes a heap snapshot off the async executor.
pub(crate) async fn snapshot() -> Result<Arc<HeapSnapshot>, ModelError> {
    with_snapshot("heap profile", Ok).await
}

/// Takes a heap snapshot and runs `work` on it, both off the async
/// executor on the one thread (memscope's, in its arena, where jemalloc
/// is the allocator): what `work` allocates after it lets the snapshot go
/// reuses the pages the snapshot gave back.
pub(crate) async fn with_snapshot<T: Send + 'static>(
    what: &str,
    work: impl FnOnce(Arc<HeapSnapshot>) -> Result<T, ModelError> + Send + 'static,
) -> Result<T, ModelError> {
    off_executor(what, move || work(snapshot_blocking()?)).await?
}
