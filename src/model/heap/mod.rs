//! Heap profiles: a dump from jemalloc, parsed, scaled, symbolized, and the
//! rules that name a stack's site.

mod dump;
mod dwarf;
mod frames;
mod names;
mod objects;
mod site;
mod source;
mod symbolize;

pub(crate) use dump::{Counts, MappedFile, mapped_files};
pub(crate) use frames::FrameKind;
pub(crate) use site::{Grouping, SiteId, key_of, named_frame};
pub(crate) use symbolize::{AddressFrames, Frame, SYMBOLIZER};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::allocator::{AllocatorStats, ProfilingState, SizeClass, size_classes};
use super::process::resident_set_size;
use super::{ModelError, ModelErrorKind};

/// One stack of a heap profile, symbolized.
#[derive(Debug)]
pub(crate) struct Stack {
    /// Return addresses, leaf first, as jemalloc gave them.
    pub(crate) addresses: Vec<u64>,
    /// Frames per address, in the same order; inlined frames innermost
    /// first.
    pub(crate) address_frames: Vec<AddressFrames>,
    /// Estimated live objects and bytes.
    pub(crate) objects: f64,
    pub(crate) bytes: f64,
    /// Sampled live objects behind the estimate.
    pub(crate) samples: u64,
    /// The variance of `bytes` that sampling leaves.
    pub(crate) bytes_variance: f64,
    /// What the stack allocated since profiling began; zero unless
    /// jemalloc accumulates (`prof_accum`).
    pub(crate) allocated: Counts,
}

impl Stack {
    /// Every frame, innermost first.
    pub(crate) fn frames(&self) -> impl Iterator<Item = &Frame> {
        self.address_frames.iter().flat_map(|frames| frames.iter())
    }
}

/// The heap at one moment: jemalloc's sampled profile and its exact figures.
#[derive(Debug)]
pub(crate) struct HeapSnapshot {
    pub(crate) taken_at: SystemTime,
    pub(crate) instant: Instant,
    pub(crate) sample_interval: u64,
    pub(crate) stacks: Vec<Stack>,
    pub(crate) stats: AllocatorStats,
    pub(crate) rss: Option<u64>,
    pub(crate) size_classes: Vec<SizeClass>,
    /// The executable mappings of files when the dump was taken.
    pub(crate) mappings: Vec<MappedFile>,
    /// jemalloc accumulates what each stack allocated (`prof_accum`).
    pub(crate) accumulates: bool,
    /// Sampling was paused when the dump was taken: the profile holds only
    /// what was sampled while it ran.
    pub(crate) paused: bool,
    /// memscope's own live bytes, estimated: the stacks through its code.
    pub(crate) memscope_own_bytes: f64,
    /// What taking the snapshot cost: jemalloc's dump and its parse, then
    /// resolving the addresses.
    pub(crate) dump_time: Duration,
    pub(crate) symbolize_time: Duration,
}

impl HeapSnapshot {
    /// A snapshot of hand-built stacks, for the model's tests.
    #[cfg(test)]
    pub(crate) fn of_stacks(stacks: Vec<Stack>) -> Self {
        Self {
            taken_at: SystemTime::now(),
            instant: Instant::now(),
            sample_interval: 1 << 19,
            stacks,
            stats: AllocatorStats::default(),
            rss: None,
            size_classes: Vec::new(),
            mappings: Vec::new(),
            accumulates: false,
            memscope_own_bytes: 0.0,
            paused: false,
            dump_time: Duration::ZERO,
            symbolize_time: Duration::ZERO,
        }
    }
}

/// The last snapshot, behind the lock that lets one dump run at a time.
static LAST_SNAPSHOT: Mutex<Option<Arc<HeapSnapshot>>> = Mutex::new(None);

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
    crate::sync::lock(&LAST_SNAPSHOT)
        .as_ref()
        .map(|snapshot| snapshot.memscope_own_bytes)
}

/// Takes a heap snapshot. Blocking. Callers that arrive while a dump runs
/// wait for it; if it began after they asked, they share it rather than
/// take another.
pub(crate) fn snapshot_blocking() -> Result<Arc<HeapSnapshot>, ModelError> {
    let asked = Instant::now();
    let mut last = crate::sync::lock(&LAST_SNAPSHOT);
    if let Some(snapshot) = last.as_ref()
        && snapshot.instant >= asked
    {
        return Ok(snapshot.clone());
    }
    let state = ProfilingState::read();
    if let Some(hint) = state.hint() {
        return Err(ModelError::new(
            ModelErrorKind::ProfilingUnavailable,
            format!(
                "no heap profile to read: {hint} Meanwhile `group=size` works without profiling."
            ),
        ));
    }
    let instant = Instant::now();
    let raw = dump::dump_heap_profile()
        .map_err(|error| ModelError::failed(format!("could not take a heap profile: {error}")))?;
    // Read before symbolizing, whose first run allocates.
    let stats = AllocatorStats::read();
    let classes = size_classes();
    let rss = resident_set_size();
    let dump_time = instant.elapsed();
    let resolved = SYMBOLIZER.resolve_all(raw.stacks.iter().map(|stack| &stack.addresses[..]));
    let stacks = raw
        .stacks
        .into_iter()
        .zip(resolved)
        .map(|(raw, address_frames)| Stack {
            addresses: raw.addresses,
            address_frames,
            objects: raw.live.objects,
            bytes: raw.live.bytes,
            samples: raw.live.sampled_objects,
            bytes_variance: raw.live.bytes_variance,
            allocated: raw.allocated,
        })
        .collect::<Vec<Stack>>();
    let memscope_own_bytes = stacks
        .iter()
        .filter(|stack| key_of(stack, Grouping::Site).is_none())
        .map(|stack| stack.bytes)
        .sum();
    let snapshot = Arc::new(HeapSnapshot {
        taken_at: SystemTime::now(),
        instant,
        sample_interval: raw.sample_interval,
        stacks,
        stats,
        rss,
        size_classes: classes,
        mappings: raw.mappings,
        accumulates: state.accumulates,
        memscope_own_bytes,
        paused: !state.active,
        dump_time,
        symbolize_time: instant.elapsed() - dump_time,
    });
    SNAPSHOTS_TAKEN.fetch_add(1, Ordering::Relaxed);
    SNAPSHOT_NANOS.fetch_add(instant.elapsed().as_nanos() as u64, Ordering::Relaxed);
    *last = Some(snapshot.clone());
    Ok(snapshot)
}

/// Takes a heap snapshot off the async executor.
pub(crate) async fn snapshot() -> Result<Arc<HeapSnapshot>, ModelError> {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => runtime
            .spawn_blocking(snapshot_blocking)
            .await
            .map_err(|error| {
                ModelError::failed(format!("the heap profile task failed: {error}"))
            })?,
        Err(_) => snapshot_blocking(),
    }
}
