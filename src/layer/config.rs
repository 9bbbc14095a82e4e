//! What the builder on [`DebugLayer`](crate::DebugLayer) sets, and its
//! defaults: a leaf that the layer and its state both read.

use std::time::Duration;

use crate::pages::AccessPolicy;

/// Where the pages are mounted unless the builder says otherwise.
pub const DEFAULT_PREFIX: &str = "/_debug";
/// Requests kept in the history unless the builder says otherwise.
pub(crate) const DEFAULT_REQUEST_HISTORY: usize = 1_000;
/// How often the timeline takes a point unless the builder says otherwise.
pub(crate) const DEFAULT_TIMELINE_INTERVAL: Duration = Duration::from_secs(1);
/// Points kept: an hour at one a second.
pub(crate) const DEFAULT_TIMELINE_POINTS: usize = 3_600;
/// The heap history unless the builder says otherwise: an hour, a snapshot
/// a minute.
pub(crate) const DEFAULT_HEAP_HISTORY: HistorySettings = HistorySettings {
    interval: Duration::from_secs(60),
    snapshots: 60,
};

/// How often the heap history takes a snapshot, and how many it keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HistorySettings {
    pub(crate) interval: Duration,
    pub(crate) snapshots: usize,
}

/// What the builder on [`DebugLayer`](crate::DebugLayer) sets.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) prefix: String,
    pub(crate) access: AccessPolicy,
    pub(crate) request_history: usize,
    pub(crate) timeline_interval: Duration,
    pub(crate) timeline_points: usize,
    /// `None` where the builder switched the heap history off.
    pub(crate) heap_history: Option<HistorySettings>,
    /// Leave jemalloc's own unwinder in place rather than memscope's walker.
    pub(crate) keep_jemalloc_unwinder: bool,
    /// The RSS past which the process is killed, where the user knows one
    /// the cgroup does not say.
    pub(crate) memory_limit: Option<u64>,
    /// Crates the flamegraphs fold besides the default ones.
    pub(crate) framework_crates: Vec<String>,
    /// Where captures go before an OOM kill, if anywhere.
    pub(crate) black_box: Option<crate::model::black_box::BlackBox>,
    /// Whether the layer answers the pages itself; `false` once split, the
    /// pages then served by `DebugPages` on a listener of their own.
    pub(crate) answers_pages: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_PREFIX.to_owned(),
            access: AccessPolicy::default(),
            request_history: DEFAULT_REQUEST_HISTORY,
            timeline_interval: DEFAULT_TIMELINE_INTERVAL,
            timeline_points: DEFAULT_TIMELINE_POINTS,
            heap_history: Some(DEFAULT_HEAP_HISTORY),
            keep_jemalloc_unwinder: false,
            memory_limit: None,
            framework_crates: Vec::new(),
            black_box: None,
            answers_pages: true,
        }
    }
}
