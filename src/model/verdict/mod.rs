//! "Is it a leak?": the first question about memory that grows, answered
//! from the figures memscope already keeps. The parts of the RSS are
//! followed over the heap history's window on the timeline's points
//! (`evidence`, with the parts from `rss`), and the verdict is the part
//! that grew:
//!
//! - tasks: the async runtime's live tasks pile up (spawned and never
//!   ended), named by where they were spawned where heap profiles show
//!   it; judged before a leak, whose growing sites would be the tasks';
//! - a leak: sites grow steadily beyond sampling noise (the growth
//!   suspects), or, where there are no heap profiles, the live bytes grow
//!   all along the window, the app's part that grew most;
//! - retention: what grew is the freed pages jemalloc keeps for reuse (and
//!   its metadata), while the live heap did not: a purge gives it back;
//! - fragmentation: what grew is the room in jemalloc's pages that live
//!   allocations do not use;
//! - outside the heap: what grew most is memory jemalloc does not hold
//!   (thread stacks, the C library's malloc, named or other anonymous
//!   maps, mapped files), the part named;
//! - steady: nothing grew beyond noise, or the live heap rose once and
//!   stayed (a cache that filled, not a leak);
//! - too early: the history holds too few snapshots, and no site grows
//!   beyond noise yet.
//!
//! Growth must pass a noise floor (4 MiB, or 2 % of the RSS at the
//! window's start if more): resident memory moves by that much as arenas
//! warm and threads come and go. memscope's own debug info, mapped while
//! it names stacks, is left out of the file-backed pages, and its own
//! heap is left out of the growth suspects. The time to the memory limit
//! is `forecast`'s. The verdict is facts (a kind, the reason and the
//! figures); the pages write its sentence.

mod evidence;
mod forecast;
pub(crate) mod rss;

pub(crate) use evidence::{Evidence, HistoryWatch, PartTrend, Watch, evidence};
use forecast::time_to_limit;
pub(crate) use forecast::{Limit, LimitSource, TimeToLimit};

use std::time::Duration;

use serde::Serialize;

use crate::model::allocator::ProfilingState;
use crate::model::over_time::growth::GrowthReport;
use crate::model::over_time::history;
use crate::model::over_time::timeline::{self, TimelinePoint};
use crate::model::over_time::trend::Trend;
use crate::model::process::cgroup::CgroupMemory;
use crate::model::process::resident_set_size;
use rss::Part;

/// Snapshots of the heap history a verdict needs.
pub(crate) const MIN_SNAPSHOTS: usize = 3;
/// Timeline points a verdict needs where there is no heap history.
pub(crate) const MIN_TIMELINE_POINTS: usize = 3;
/// What the verdict says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum VerdictKind {
    /// The runtime's live tasks pile up.
    Tasks,
    Leak,
    Retention,
    Fragmentation,
    OutsideHeap,
    /// Over another allocator than jemalloc: anonymous memory beyond the
    /// live heap grew, the allocator's or outside it, which memscope
    /// cannot tell apart there.
    BeyondLiveHeap,
    Steady,
    TooEarly,
}

/// The answer, why, and the figures it rests on.
#[derive(Clone, Debug)]
pub(crate) struct Verdict {
    pub(crate) kind: VerdictKind,
    pub(crate) reason: Reason,
    pub(crate) evidence: Evidence,
}

/// Why the verdict is what it is: the facts its sentence tells.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Reason {
    /// Not enough to judge yet: the history has `snapshots` of the
    /// [`MIN_SNAPSHOTS`] it needs, one every `interval`; or, without a
    /// history, the timeline has too few points.
    TooEarly {
        history: Option<(usize, Duration)>,
        points: usize,
    },
    /// The runtime's live tasks pile up: `alive`, their count over the
    /// window, where a layer runs on tokio; the spawn site whose tasks
    /// grow is `Evidence::task_site`, where heap profiles show it.
    TasksPileUp { alive: Option<Trend> },
    /// Sites grow steadily beyond noise (`Evidence::suspects`), over the
    /// history's `minutes`.
    SitesGrow { minutes: f64 },
    /// The live heap grows all along the window, and no site grows
    /// steadily enough to name; `history` says whether sites were looked
    /// for.
    LiveHeapGrows { live: Trend, history: bool },
    /// A part other than the live heap grew most.
    PartGrew {
        grown: PartTrend,
        live: Option<Trend>,
    },
    /// The live heap rose beyond noise and stays there.
    LiveHeapRoseOnce { live: Trend },
    /// Nothing grew beyond noise.
    NothingGrew,
}

/// The verdict now, on `timeline` (the timeline's points, oldest first) and
/// the heap history; `growth` is the report over every stored snapshot,
/// where the history runs.
pub(crate) fn now(timeline: &[TimelinePoint], growth: Option<&GrowthReport>) -> Verdict {
    let (timeline_interval, _) = timeline::settings();
    judge(&Watch {
        timeline,
        timeline_interval,
        history: history_watch(growth),
    })
}

/// The time to the nearest limit now (`builder_limit`, or the cgroup's),
/// at the rate the RSS grew over the verdict's window: for `/metrics`,
/// which has no verdict at hand.
pub(crate) fn time_to_limit_now(
    builder_limit: Option<u64>,
    cgroup: Option<&CgroupMemory>,
) -> Option<TimeToLimit> {
    let timeline = timeline::points();
    let (timeline_interval, _) = timeline::settings();
    let empty = GrowthReport::default();
    let watch = Watch {
        timeline: &timeline,
        timeline_interval,
        history: history_watch(Some(&empty)),
    };
    forecast(&evidence(watch.window()), builder_limit, cgroup)
}

/// The time to the nearest limit (`builder_limit`, or the cgroup's) at the
/// rate the RSS grew in `evidence`, less the debug info memscope mapped
/// meanwhile: a step that is memscope's, given back a minute after its
/// last use, and no part of the app's rate.
pub(crate) fn forecast(
    evidence: &Evidence,
    builder_limit: Option<u64>,
    cgroup: Option<&CgroupMemory>,
) -> Option<TimeToLimit> {
    forecast_at(evidence, builder_limit, resident_set_size(), cgroup)
}

/// As [`forecast`], from the RSS `rss` rather than now's: a black box
/// capture's, read after the restart.
pub(crate) fn forecast_at(
    evidence: &Evidence,
    builder_limit: Option<u64>,
    rss: Option<u64>,
    cgroup: Option<&CgroupMemory>,
) -> Option<TimeToLimit> {
    let limits = Limit::all(builder_limit, rss, cgroup);
    time_to_limit(&evidence.app_rss?, evidence.noise_bytes, &limits)
}

/// The heap history as the verdict reads it, where it runs and heap
/// profiling is on (off, it takes nothing).
fn history_watch(growth: Option<&GrowthReport>) -> Option<HistoryWatch<'_>> {
    let (interval, _) = history::settings()?;
    let growth = growth?;
    if !ProfilingState::read().enabled {
        return None;
    }
    let (snapshots, first_taken, last_taken) = history::span();
    Some(HistoryWatch {
        interval,
        snapshots,
        first_taken,
        last_taken,
        growth,
    })
}

/// The verdict on what `watch` shows.
pub(crate) fn judge(watch: &Watch<'_>) -> Verdict {
    let window = watch.window();
    let mut evidence = evidence(window);
    let verdict = |kind, reason, evidence| Verdict {
        kind,
        reason,
        evidence,
    };
    if let Some(history) = &watch.history {
        evidence.heap_snapshots = history.snapshots;
    }
    // Tasks that pile up before a leak: their cells and what they hold are
    // the sites that grow.
    let alive = evidence
        .tasks
        .filter(|alive| window.len() >= MIN_TIMELINE_POINTS && tasks_pile_up(alive));
    let site = watch
        .history
        .as_ref()
        .and_then(|history| history.growth.tasks.first())
        .filter(|site| site.piles_up);
    if alive.is_some() || site.is_some() {
        evidence.task_site = site.cloned();
        return verdict(VerdictKind::Tasks, Reason::TasksPileUp { alive }, evidence);
    }
    if let Some(history) = &watch.history {
        // Sites that grow beyond noise are a leak however short the
        // history: the growth page names them, and the verdict says the
        // same.
        evidence.suspects = history
            .growth
            .suspects
            .iter()
            .filter(|suspect| suspect.significant)
            .cloned()
            .collect();
        if !evidence.suspects.is_empty() {
            let minutes = history.growth.minutes;
            return verdict(VerdictKind::Leak, Reason::SitesGrow { minutes }, evidence);
        }
    }
    if let Some(knows_in) = too_early(watch, window.len()) {
        evidence.knows_in_seconds = Some(knows_in.as_secs().max(1));
        let reason = Reason::TooEarly {
            history: watch
                .history
                .as_ref()
                .map(|history| (history.snapshots, history.interval)),
            points: window.len(),
        };
        return verdict(VerdictKind::TooEarly, reason, evidence);
    }
    let noise = evidence.noise_bytes;
    let live = evidence.part(Part::LiveHeap).map(|live| live.fit);
    // The app's part that grew most: a small rise of the live heap beside
    // a larger growth elsewhere is that growth, not a leak.
    let grown = evidence
        .parts
        .iter()
        .filter(|part| !part.part.is_memscopes() && part.fit.grew_beyond(noise))
        .max_by_key(|part| part.fit.growth)
        .copied();
    let rss_grew = evidence.app_rss.is_some_and(|rss| rss.grew_beyond(noise));
    match grown {
        Some(grown) if grown.part == Part::LiveHeap && grown.fit.grows_steadily(noise) => {
            let reason = Reason::LiveHeapGrows {
                live: grown.fit,
                history: watch.history.is_some(),
            };
            verdict(VerdictKind::Leak, reason, evidence)
        }
        Some(grown) if grown.part != Part::LiveHeap && rss_grew => {
            evidence.grown_part = Some(grown.part);
            let kind = match grown.part {
                Part::KeptForReuse | Part::AllocatorMetadata => VerdictKind::Retention,
                Part::BeyondLiveHeap => VerdictKind::BeyondLiveHeap,
                Part::AllocatorOverhead => VerdictKind::Fragmentation,
                _ => VerdictKind::OutsideHeap,
            };
            verdict(kind, Reason::PartGrew { grown, live }, evidence)
        }
        _ => {
            let reason = match live.filter(|live| live.grew_beyond(noise)) {
                Some(live) => Reason::LiveHeapRoseOnce { live },
                None => Reason::NothingGrew,
            };
            verdict(VerdictKind::Steady, reason, evidence)
        }
    }
}

/// Live tasks that grew by more than [`MIN_TASKS_GROWTH`], all along the
/// window, at a rate beyond its error.
fn tasks_pile_up(alive: &Trend) -> bool {
    alive.grows_steadily(MIN_TASKS_GROWTH)
}

/// The least growth in live tasks that counts: a service's tasks come and
/// go by the dozen with its connections.
const MIN_TASKS_GROWTH: u64 = 100;

/// How long until the verdict can be given, where it cannot yet.
fn too_early(watch: &Watch<'_>, points: usize) -> Option<Duration> {
    match &watch.history {
        Some(history) if history.snapshots < MIN_SNAPSHOTS => {
            let since_last = history
                .last_taken
                .and_then(|last| last.elapsed().ok())
                .unwrap_or_default();
            let missing = (MIN_SNAPSHOTS - history.snapshots) as u32;
            Some((history.interval * missing).saturating_sub(since_last))
        }
        Some(_) => None,
        None if points < MIN_TIMELINE_POINTS => {
            Some(watch.timeline_interval * (MIN_TIMELINE_POINTS - points) as u32)
        }
        None => None,
    }
}

#[cfg(test)]
mod tests;
