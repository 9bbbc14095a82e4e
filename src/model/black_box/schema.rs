//! What a capture file holds, as it is written: one gzip stream of lines.
//!
//! ```text
//! memscope black box capture 1            the format and its version
//! {"id":…,"reason":…,"objects":[…],…}     the summary (`Summary`), one line
//! {"timeline":[…],"heap_history":{…}}     the figures over time, one line
//! heap_v2/16384                           the heap profile, addresses
//! @ 0x55d0… 0x55d0… …                     unresolved, as jemalloc writes it
//! ```
//!
//! The list of captures reads the first two lines only. The types here are
//! the file's, apart from the pages' JSON: a page's fields may change, a
//! capture written by one version is read by the next.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::model::allocator::AllocatorStats;
use crate::model::over_time::history::{Change, HistoryWindow, StackTable};
use crate::model::over_time::reading::MemoryReading;
use crate::model::over_time::timeline::TimelinePoint;
use crate::model::process::cgroup::CgroupMemory;
use crate::model::process::{LibcMalloc, ResidentByKind};
use crate::model::verdict::LimitSource;
use crate::record::RouteTotals;

use super::reason::Reason;

/// The first line of every capture.
pub(crate) const MAGIC: &str = "memscope black box capture";
/// The version of the layout this memscope writes and reads.
pub(crate) const FORMAT: u32 = 1;

/// The capture in brief: who took it, when, why, and what the process's
/// memory and its limit were.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Summary {
    pub(crate) id: String,
    pub(crate) reason: Reason,
    /// In words: "RSS passed 85 % of the 200 MiB limit", or the hook's own.
    pub(crate) detail: String,
    pub(crate) taken_at_unix_ms: u64,
    pub(crate) pid: u32,
    /// When the process started, from `/proc`.
    pub(crate) started_at_unix_ms: Option<u64>,
    pub(crate) executable: Option<String>,
    /// The executable's GNU build id, in hex.
    pub(crate) build_id: Option<String>,
    pub(crate) memscope_version: String,
    pub(crate) rss: Option<u64>,
    /// The limit set on the layer (`DebugLayer::memory_limit`).
    pub(crate) builder_limit: Option<u64>,
    /// The nearest limit, whose, and what counted against it.
    pub(crate) limit: Option<u64>,
    pub(crate) limit_source: Option<LimitSource>,
    pub(crate) used: Option<u64>,
    pub(crate) cgroup: Option<CgroupMemory>,
    pub(crate) figures: AllocatorStats,
    /// What memscope held itself: its heap (a sampled estimate), its heap
    /// history, its resolved addresses.
    pub(crate) memscope_heap: Option<u64>,
    pub(crate) memscope_history_bytes: u64,
    pub(crate) symbolizer_cached_addresses: usize,
    pub(crate) timeline_interval_ms: u64,
    /// The heap history's interval, where it ran.
    pub(crate) history_interval_ms: Option<u64>,
    /// Heap profiling as it was: whether on, who sampled, how often,
    /// whether samples carry routes.
    pub(crate) profiling_enabled: bool,
    pub(crate) sampler: String,
    pub(crate) lg_sample: Option<u32>,
    /// Whether the profile keeps what each stack allocated, freed or not.
    pub(crate) accumulates: bool,
    pub(crate) routes_tagged: bool,
    /// The loaded objects, to resolve the addresses against after the
    /// restart.
    pub(crate) objects: Vec<StoredObject>,
    /// The names of the route tags the stacks carry.
    pub(crate) route_tags: Vec<StoredTag>,
}

/// How far apart two readings of one process's start may be: `/proc`
/// gives it in clock ticks after boot, and the boot time moves with the
/// clock.
const SAME_START_WITHIN_MS: u64 = 2_000;

impl Summary {
    /// Whether `other` was taken by the same process: the same pid and
    /// start time (a container's processes are all pid 1, one after the
    /// other).
    pub(crate) fn same_process(&self, other: &Summary) -> bool {
        self.pid == other.pid
            && match (self.started_at_unix_ms, other.started_at_unix_ms) {
                (Some(a), Some(b)) => a.abs_diff(b) <= SAME_START_WITHIN_MS,
                _ => true,
            }
    }

    /// Whether this process took it.
    pub(crate) fn is_this_process(&self) -> bool {
        let started = crate::model::process::process_age().map(|age| {
            unix_ms(std::time::SystemTime::now()).saturating_sub(age.as_millis() as u64)
        });
        self.pid == std::process::id()
            && match (self.started_at_unix_ms, started) {
                (Some(a), Some(b)) => a.abs_diff(b) <= SAME_START_WITHIN_MS,
                _ => true,
            }
    }
}

/// A loaded object of the process that took the capture.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredObject {
    pub(crate) path: String,
    pub(crate) executable: bool,
    /// Added to the file's addresses where it was loaded.
    pub(crate) bias: u64,
    /// Its loadable segments: start, end (exclusive), executable.
    pub(crate) segments: Vec<(u64, u64, bool)>,
    pub(crate) build_id: Option<String>,
}

/// A route tag and the name it stood for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredTag {
    pub(crate) tag: u32,
    pub(crate) name: String,
    /// A `memscope::scope`'s name rather than a route.
    pub(crate) scope: bool,
}

/// The figures over time, as written: borrowed from the process's
/// timeline and heap history, so that nothing is copied to write them.
#[derive(Serialize)]
pub(crate) struct OverTimeOut<'a> {
    pub(crate) timeline: Vec<StoredPoint>,
    pub(crate) heap_history: Option<WindowOut<'a>>,
}

/// The figures over time, as read back.
#[derive(Deserialize)]
pub(crate) struct OverTimeIn {
    pub(crate) timeline: Vec<StoredPoint>,
    pub(crate) heap_history: Option<WindowIn>,
}

/// The heap history's stored snapshots, as written.
#[derive(Serialize)]
pub(crate) struct WindowOut<'a> {
    pub(crate) frames: &'a [u64],
    pub(crate) stacks: &'a StackTable,
    pub(crate) points: Vec<HistoryPointOut<'a>>,
}

/// The heap history's stored snapshots, as read back.
#[derive(Deserialize)]
pub(crate) struct WindowIn {
    pub(crate) frames: Vec<u64>,
    pub(crate) stacks: Vec<Option<Arc<[u32]>>>,
    pub(crate) points: Vec<HistoryPointIn>,
}

/// One stored snapshot: when, its figures, the routes' totals, and the
/// stacks whose counts changed since the one before.
#[derive(Serialize)]
pub(crate) struct HistoryPointOut<'a> {
    pub(crate) taken_at_unix_ms: u64,
    pub(crate) sample_interval: u64,
    pub(crate) stats: AllocatorStats,
    pub(crate) rss: Option<u64>,
    pub(crate) skipped_for_stack: u64,
    pub(crate) took_us: u64,
    pub(crate) routes: Vec<(&'a str, RouteTotals)>,
    pub(crate) changes: &'a [Change],
}

#[derive(Deserialize)]
pub(crate) struct HistoryPointIn {
    pub(crate) taken_at_unix_ms: u64,
    pub(crate) sample_interval: u64,
    pub(crate) stats: AllocatorStats,
    pub(crate) rss: Option<u64>,
    pub(crate) skipped_for_stack: u64,
    pub(crate) took_us: u64,
    pub(crate) routes: Vec<(String, RouteTotals)>,
    pub(crate) changes: Box<[Change]>,
}

impl<'a> WindowOut<'a> {
    pub(crate) fn of(window: &'a HistoryWindow) -> Self {
        Self {
            frames: &window.frames,
            stacks: &window.stacks,
            points: window
                .stored
                .iter()
                .map(|point| HistoryPointOut {
                    taken_at_unix_ms: unix_ms(point.moment.taken_at),
                    sample_interval: point.moment.sample_interval,
                    stats: point.moment.stats,
                    rss: point.moment.rss,
                    skipped_for_stack: point.moment.skipped_for_stack,
                    took_us: point.took.as_micros() as u64,
                    routes: point
                        .routes
                        .iter()
                        .map(|(route, totals)| (&**route, *totals))
                        .collect(),
                    changes: &point.changes,
                })
                .collect(),
        }
    }
}

/// A timeline point, every figure kept (the page's JSON leaves some out).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(crate) struct StoredPoint {
    pub(crate) unix_ms: u64,
    pub(crate) allocated: u64,
    pub(crate) resident: u64,
    pub(crate) rss: Option<u64>,
    pub(crate) requests: u64,
    pub(crate) stats: AllocatorStats,
    pub(crate) kinds: Option<ResidentByKind>,
    pub(crate) thread_stacks: u64,
    pub(crate) named_maps: u64,
    pub(crate) binary: u64,
    pub(crate) memscope_debug_info: u64,
    pub(crate) threads: u32,
    pub(crate) libc: Option<LibcMalloc>,
    pub(crate) memscope_heap: u64,
    pub(crate) tasks: Option<u64>,
    pub(crate) allocator_figures: bool,
    pub(crate) live_heap_in_libc: bool,
}

impl From<&TimelinePoint> for StoredPoint {
    fn from(point: &TimelinePoint) -> Self {
        let memory = &point.memory;
        Self {
            unix_ms: point.unix_ms,
            allocated: point.allocated,
            resident: point.resident,
            rss: point.rss,
            requests: point.requests,
            stats: memory.stats,
            kinds: memory.kinds,
            thread_stacks: memory.thread_stacks,
            named_maps: memory.named_maps,
            binary: memory.binary,
            memscope_debug_info: memory.memscope_debug_info,
            threads: memory.threads,
            libc: memory.libc,
            memscope_heap: memory.memscope_heap,
            tasks: memory.tasks,
            allocator_figures: memory.allocator_figures,
            live_heap_in_libc: memory.live_heap_in_libc,
        }
    }
}

impl From<&StoredPoint> for TimelinePoint {
    fn from(point: &StoredPoint) -> Self {
        Self {
            unix_ms: point.unix_ms,
            allocated: point.allocated,
            resident: point.resident,
            rss: point.rss,
            requests: point.requests,
            memory: MemoryReading {
                stats: point.stats,
                kinds: point.kinds,
                thread_stacks: point.thread_stacks,
                named_maps: point.named_maps,
                binary: point.binary,
                memscope_debug_info: point.memscope_debug_info,
                threads: point.threads,
                libc: point.libc,
                memscope_heap: point.memscope_heap,
                tasks: point.tasks,
                allocator_figures: point.allocator_figures,
                live_heap_in_libc: point.live_heap_in_libc,
            },
        }
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn unix_ms(at: std::time::SystemTime) -> u64 {
    at.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}
