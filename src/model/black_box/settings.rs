//! The black box as the app configures it: where captures go, when they
//! are taken on their own, and how many are kept.

use std::path::{Path, PathBuf};
use std::time::Duration;

use std::sync::Mutex;

/// A black box: what memory looked like before the process was killed,
/// kept in files that outlive it and served by the next process's pages
/// (`/_debug/memory/postmortem`).
///
/// Given to [`DebugLayer::black_box`](crate::DebugLayer::black_box), it
/// watches the nearest memory limit (the cgroup's, or
/// [`DebugLayer::memory_limit`](crate::DebugLayer::memory_limit)) and
/// takes a capture on its own when the process's memory passes
/// [`capture_at_percent`](Self::capture_at_percent) of it and at each
/// further [`step_percent`](Self::step_percent); when the low end of the
/// forecast's time to the limit falls under
/// [`forecast_under`](Self::forecast_under); and when the cgroup counts a
/// new `high` or `max` event in `memory.events`. At most one capture is
/// taken on its own every [`at_most_every`](Self::at_most_every); the
/// newest [`keep`](Self::keep) are kept, at most
/// [`max_bytes`](Self::max_bytes) in all.
///
/// `dir` must be on a volume that outlives the process (a container's
/// mounted volume, not its own root). A capture resolves no names (the
/// process that reads it does), streams to its file, and is renamed into
/// place only when whole.
///
/// ```no_run
/// let black_box = memscope::BlackBox::new("/var/lib/myapp/memscope");
/// // Take one by hand, say from a panic hook:
/// let on_panic = black_box.clone();
/// std::panic::set_hook(Box::new(move |_| {
///     let _ = on_panic.capture("panic");
/// }));
/// let layer = memscope::DebugLayer::new().black_box(black_box);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct BlackBox {
    pub(crate) dir: PathBuf,
    pub(crate) capture_at_percent: u32,
    pub(crate) step_percent: u32,
    pub(crate) forecast_under: Duration,
    pub(crate) at_most_every: Duration,
    pub(crate) keep: usize,
    pub(crate) max_bytes: u64,
}

impl BlackBox {
    /// The share of the memory limit at which the first capture is taken.
    pub const DEFAULT_CAPTURE_AT_PERCENT: u32 = 80;
    /// The further steps, in percent of the limit, that each take one.
    pub const DEFAULT_STEP_PERCENT: u32 = 5;
    /// A capture is taken when the low end of the forecast's time to the
    /// limit falls under this.
    pub const DEFAULT_FORECAST_UNDER: Duration = Duration::from_secs(5 * 60);
    /// Captures taken on their own come at most this often.
    pub const DEFAULT_AT_MOST_EVERY: Duration = Duration::from_secs(60);
    /// Captures kept, newest first.
    pub const DEFAULT_KEEP: usize = 8;
    /// Bytes the kept captures may take in all.
    pub const DEFAULT_MAX_BYTES: u64 = 64 << 20;

    /// A black box that keeps its captures in `dir`, created if missing.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            capture_at_percent: Self::DEFAULT_CAPTURE_AT_PERCENT,
            step_percent: Self::DEFAULT_STEP_PERCENT,
            forecast_under: Self::DEFAULT_FORECAST_UNDER,
            at_most_every: Self::DEFAULT_AT_MOST_EVERY,
            keep: Self::DEFAULT_KEEP,
            max_bytes: Self::DEFAULT_MAX_BYTES,
        }
    }

    /// Takes the first capture when memory passes `percent` of the limit
    /// (1 to 100).
    #[must_use]
    pub fn capture_at_percent(mut self, percent: u32) -> Self {
        self.capture_at_percent = percent.clamp(1, 100);
        self
    }

    /// Takes another at each further `percent` of the limit (at least 1).
    #[must_use]
    pub fn step_percent(mut self, percent: u32) -> Self {
        self.step_percent = percent.max(1);
        self
    }

    /// Takes a capture when the forecast's time to the limit (its low end)
    /// falls under `time`; `Duration::ZERO` never.
    #[must_use]
    pub fn forecast_under(mut self, time: Duration) -> Self {
        self.forecast_under = time;
        self
    }

    /// Takes captures on their own at most once every `interval`.
    #[must_use]
    pub fn at_most_every(mut self, interval: Duration) -> Self {
        self.at_most_every = interval;
        self
    }

    /// Keeps the newest `captures` (at least 1).
    #[must_use]
    pub fn keep(mut self, captures: usize) -> Self {
        self.keep = captures.max(1);
        self
    }

    /// Keeps at most `bytes` of captures in all; the newest is kept
    /// whatever its size.
    #[must_use]
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// The directory the captures are kept in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The memory limit set on the layers given a black box, by its
/// directory: what a capture taken by hand reports beside the cgroup's.
static LAYER_LIMITS: Mutex<Vec<(PathBuf, u64)>> = Mutex::new(Vec::new());

/// Notes that a layer with `limit` keeps its black box in `dir`.
pub(crate) fn note_layer_limit(dir: &Path, limit: u64) {
    let mut limits = crate::sync::lock(&LAYER_LIMITS);
    if !limits.iter().any(|(known, _)| known == dir) {
        limits.push((dir.to_owned(), limit));
    }
}

/// The limit set on a layer whose black box is in `dir`.
pub(crate) fn layer_limit_for(dir: &Path) -> Option<u64> {
    crate::sync::lock(&LAYER_LIMITS)
        .iter()
        .find(|(known, _)| known == dir)
        .map(|(_, limit)| *limit)
}
