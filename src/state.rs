//! The configuration and the state shared by every clone of the service.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::access::AccessPolicy;
use crate::allocator::{ProfilingState, use_memscope_unwinder};
use crate::heap::HeapSnapshot;
use crate::requests::RequestLog;
use crate::timeline::Timeline;

/// Requests kept in the ring unless the builder says otherwise.
pub(crate) const DEFAULT_REQUEST_HISTORY: usize = 1_000;
/// How often the timeline takes a point unless the builder says otherwise.
pub(crate) const DEFAULT_SAMPLER_INTERVAL: Duration = Duration::from_secs(1);
/// Points kept: an hour at one a second.
pub(crate) const DEFAULT_TIMELINE_POINTS: usize = 3_600;
use crate::layer::DEFAULT_PREFIX;

/// What the builder on [`DebugLayer`](crate::DebugLayer) sets.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) prefix: String,
    pub(crate) access: AccessPolicy,
    pub(crate) request_history: usize,
    pub(crate) sampler_interval: Duration,
    pub(crate) timeline_points: usize,
    /// Leave jemalloc's own unwinder in place rather than memscope's walker.
    pub(crate) keep_jemalloc_unwinder: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_PREFIX.to_owned(),
            access: AccessPolicy::default(),
            request_history: DEFAULT_REQUEST_HISTORY,
            sampler_interval: DEFAULT_SAMPLER_INTERVAL,
            timeline_points: DEFAULT_TIMELINE_POINTS,
            keep_jemalloc_unwinder: false,
        }
    }
}

/// The heap the memory diff compares against.
#[derive(Debug)]
pub(crate) struct Baseline {
    pub(crate) snapshot: Arc<HeapSnapshot>,
    /// The layer's request count when the baseline was taken.
    pub(crate) requests: u64,
}

/// Built once per layer and shared behind an `Arc` by all its services.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: Config,
    /// The requests the layer passed to the inner service.
    pub(crate) requests: Arc<RequestLog>,
    /// Memory over time, filled by a background thread.
    pub(crate) timeline: Timeline,
    /// One stored snapshot at most.
    baseline: Mutex<Option<Baseline>>,
}

impl Shared {
    pub(crate) fn new(config: Config) -> Self {
        if !config.keep_jemalloc_unwinder && ProfilingState::read().enabled {
            // Fails only off x86-64 Linux, where jemalloc's unwinder stays;
            // the overview names the unwinder in use either way.
            let _ = use_memscope_unwinder();
        }
        Self {
            requests: Arc::new(RequestLog::new(config.request_history)),
            timeline: Timeline::new(config.timeline_points, config.sampler_interval),
            config,
            baseline: Mutex::new(None),
        }
    }

    /// Requests the layer has recorded so far (ended or dropped).
    pub(crate) fn requests(&self) -> u64 {
        self.requests.count()
    }

    pub(crate) fn baseline(&self) -> MutexGuard<'_, Option<Baseline>> {
        crate::sync::lock(&self.baseline)
    }

    /// Whether `path` is the prefix itself or below it (`/_debug/x`, not
    /// `/_debugger`).
    pub(crate) fn is_debug_path(&self, path: &str) -> bool {
        self.page_path(path).is_some()
    }

    /// The part of `path` after the prefix, starting with `/` (the overview
    /// is `/`), or `None` when `path` is not a debug path.
    pub(crate) fn page_path<'a>(&self, path: &'a str) -> Option<&'a str> {
        let rest = path.strip_prefix(self.config.prefix.as_str())?;
        match rest {
            "" => Some("/"),
            rest if rest.starts_with('/') => Some(rest),
            _ => None,
        }
    }
}
