//! Why a capture was taken, and what the process's black box has done so
//! far: captures by reason, the last one's time, failed writes and the
//! last failure, for `/metrics` and the overview.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// Why a capture was taken (`reason` in JSON, and `/metrics`' label).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Reason {
    /// Memory passed a step of the limit (80 %, 85 %, …).
    Limit,
    /// The low end of the forecast's time to the limit fell under the
    /// black box's warning time.
    Forecast,
    /// The cgroup counted a new `high` event: its usage passed
    /// `memory.high` and the kernel throttled it.
    CgroupHigh,
    /// The cgroup counted a new `max` event: its usage reached the limit.
    CgroupMax,
    /// `POST /_debug/memory/postmortem/capture`.
    Request,
    /// The app's own call: `BlackBox::capture`, from a panic or signal
    /// hook.
    Hook,
}

impl Reason {
    pub(crate) const ALL: [Reason; 6] = [
        Reason::Limit,
        Reason::Forecast,
        Reason::CgroupHigh,
        Reason::CgroupMax,
        Reason::Request,
        Reason::Hook,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Reason::Limit => "limit",
            Reason::Forecast => "forecast",
            Reason::CgroupHigh => "cgroup_high",
            Reason::CgroupMax => "cgroup_max",
            Reason::Request => "request",
            Reason::Hook => "hook",
        }
    }

    fn index(self) -> usize {
        Self::ALL
            .iter()
            .position(|reason| *reason == self)
            .unwrap_or(0)
    }
}

static TAKEN: [AtomicU64; 6] = [const { AtomicU64::new(0) }; 6];
static LAST_TAKEN_UNIX_MS: AtomicU64 = AtomicU64::new(0);
static FAILED: AtomicU64 = AtomicU64::new(0);
static LAST_FAILURE: Mutex<Option<String>> = Mutex::new(None);

/// Counts a capture written.
pub(crate) fn count_taken(reason: Reason, unix_ms: u64) {
    TAKEN[reason.index()].fetch_add(1, Ordering::Relaxed);
    LAST_TAKEN_UNIX_MS.store(unix_ms, Ordering::Relaxed);
    *crate::sync::lock(&LAST_FAILURE) = None;
}

/// Counts a capture that could not be written, and why.
pub(crate) fn count_failed(why: String) {
    FAILED.fetch_add(1, Ordering::Relaxed);
    *crate::sync::lock(&LAST_FAILURE) = Some(why);
}

/// What the process's black box has done so far.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tally {
    /// Captures written, by reason.
    pub(crate) taken: Vec<(Reason, u64)>,
    /// When the last was written (Unix ms); `None` before the first.
    pub(crate) last_taken_unix_ms: Option<u64>,
    pub(crate) failed: u64,
    /// Why the last attempt failed, while no capture has been written
    /// since.
    pub(crate) last_failure: Option<String>,
}

/// The tally now.
pub(crate) fn tally() -> Tally {
    let last = LAST_TAKEN_UNIX_MS.load(Ordering::Relaxed);
    Tally {
        taken: Reason::ALL
            .iter()
            .map(|reason| (*reason, TAKEN[reason.index()].load(Ordering::Relaxed)))
            .collect(),
        last_taken_unix_ms: (last > 0).then_some(last),
        failed: FAILED.load(Ordering::Relaxed),
        last_failure: crate::sync::lock(&LAST_FAILURE).clone(),
    }
}
