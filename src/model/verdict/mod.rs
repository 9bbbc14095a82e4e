//! "Is it a leak?": the first question about memory that grows, answered
//! from the figures memscope already keeps. The parts of the RSS are
//! followed over the heap history's window on the timeline's points, and
//! the verdict is the part that grew:
//!
//! - a leak: sites grow steadily beyond sampling noise (the growth
//!   suspects), or, where there are no heap profiles, jemalloc's live
//!   bytes grow all along the window;
//! - retention: what grew is the freed pages jemalloc keeps for reuse (and
//!   its metadata), while the live heap did not: a purge gives it back;
//! - fragmentation: what grew is the room in jemalloc's pages that live
//!   allocations do not use;
//! - outside the heap: what grew is memory jemalloc does not hold (thread
//!   stacks, another allocator, anonymous maps, mapped files);
//! - steady: nothing grew beyond noise, or the live heap rose once and
//!   stayed (a cache that filled, not a leak);
//! - too early: the history holds too few snapshots.
//!
//! Growth must pass a noise floor (4 MiB, or 2 % of the RSS at the
//! window's start if more): resident memory moves by that much as arenas
//! warm and threads come and go. memscope's own debug info, mapped while
//! it names stacks, is left out of the file-backed pages, and its own
//! heap is left out of the growth suspects.

mod forecast;

pub(crate) use forecast::TimeToLimit;
use forecast::{Limit, time_to_limit};

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::allocator::ProfilingState;
use super::cgroup::CgroupMemory;
use super::growth::{GrowthReport, Suspect};
use super::history;
use super::process::resident_set_size;
use super::rss::{self, RssPart};
use super::timeline::{self, TimelinePoint};
use super::trend::Trend;
use crate::units::{duration_text, human_bytes, human_bytes_f64, human_bytes_signed};

/// Snapshots of the heap history a verdict needs.
pub(crate) const MIN_SNAPSHOTS: usize = 3;
/// Timeline points a verdict needs where there is no heap history.
const MIN_TIMELINE_POINTS: usize = 3;
/// The least growth that counts, and the share of the RSS at the window's
/// start that counts where that is more.
const NOISE_FLOOR: u64 = 4 << 20;
const NOISE_SHARE: f64 = 0.02;

/// What the verdict says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum VerdictKind {
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

/// The answer, the sentence that says it, and the figures it rests on.
#[derive(Clone, Debug)]
pub(crate) struct Verdict {
    pub(crate) kind: VerdictKind,
    pub(crate) summary: String,
    pub(crate) evidence: Evidence,
}

/// The figures a verdict rests on, so that a user can check it.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct Evidence {
    /// The window looked at: the heap history's, or the timeline's where
    /// there is no history.
    pub(crate) window_seconds: f64,
    pub(crate) timeline_points: usize,
    pub(crate) heap_snapshots: usize,
    /// Growth below this is not growth.
    pub(crate) noise_bytes: u64,
    /// The RSS over the window; `null` without procfs.
    pub(crate) rss: Option<Trend>,
    /// The pages of debug info memscope maps to name stacks (given back a
    /// minute after its last use): counted in the RSS, left out of the
    /// parts and of the verdict.
    pub(crate) memscope_debug_info: Option<Trend>,
    /// The RSS less memscope's debug info: what the verdict judges.
    #[serde(skip)]
    pub(crate) app_rss: Option<Trend>,
    /// Each part of the RSS over the window, in the overview's order.
    pub(crate) parts: Vec<PartTrend>,
    /// The part whose growth decided a retention, fragmentation or
    /// outside-the-heap verdict.
    pub(crate) grown_part: Option<&'static str>,
    /// What a purge would give back now: the pages jemalloc keeps for
    /// reuse.
    pub(crate) purgeable_bytes: u64,
    /// For a verdict too early to give: when it will be known.
    pub(crate) knows_in_seconds: Option<u64>,
    /// The sites that grew significantly, for a leak.
    #[serde(skip)]
    pub(crate) suspects: Vec<Suspect>,
}

/// One part of the RSS over the window.
#[derive(Clone, Copy, Debug, Serialize)]
pub(crate) struct PartTrend {
    pub(crate) part: &'static str,
    #[serde(flatten)]
    pub(crate) trend: Trend,
}

/// What the verdict looks at.
pub(crate) struct Watch<'a> {
    /// Every point of the timeline, oldest first.
    pub(crate) timeline: &'a [TimelinePoint],
    pub(crate) timeline_interval: Duration,
    /// The heap history, where it runs.
    pub(crate) history: Option<HistoryWatch<'a>>,
}

/// The heap history, as the verdict reads it.
pub(crate) struct HistoryWatch<'a> {
    pub(crate) interval: Duration,
    /// Snapshots stored, and when the first and the last were taken.
    pub(crate) snapshots: usize,
    pub(crate) first_taken: Option<SystemTime>,
    pub(crate) last_taken: Option<SystemTime>,
    /// The growth over every stored snapshot.
    pub(crate) growth: &'a GrowthReport,
}

impl Watch<'_> {
    /// The timeline's points within the heap history's window (all of
    /// them where there is no history).
    pub(crate) fn window(&self) -> &[TimelinePoint] {
        let Some(first) = self
            .history
            .as_ref()
            .and_then(|history| history.first_taken)
        else {
            return self.timeline;
        };
        let first_ms = unix_ms(first).saturating_sub(self.timeline_interval.as_millis() as u64);
        let start = self
            .timeline
            .partition_point(|point| point.unix_ms < first_ms);
        &self.timeline[start..]
    }
}

fn unix_ms(when: SystemTime) -> u64 {
    when.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

/// The figures over the window, and the noise floor they are judged by.
pub(crate) fn evidence(window: &[TimelinePoint]) -> Evidence {
    let (Some(first), Some(last)) = (window.first(), window.last()) else {
        return Evidence::default();
    };
    let minutes: Vec<f64> = window
        .iter()
        .map(|point| point.unix_ms.saturating_sub(first.unix_ms) as f64 / 60_000.0)
        .collect();
    let with_kinds: Vec<(f64, Vec<RssPart>)> = window
        .iter()
        .zip(&minutes)
        .filter_map(|(point, minute)| Some((*minute, parts_at(point)?)))
        .collect();
    let kinds_minutes: Vec<f64> = with_kinds.iter().map(|(minute, _)| *minute).collect();
    let series = |value: &dyn Fn(&TimelinePoint) -> Option<u64>| -> Option<Trend> {
        let values: Vec<f64> = window.iter().filter_map(value).map(|v| v as f64).collect();
        (values.len() == kinds_minutes.len() && !values.is_empty())
            .then(|| Trend::of(&kinds_minutes, &values))
    };
    let rss = series(&|point| point.kinds.map(|kinds| kinds.total()));
    let memscope_debug_info = series(&|point| {
        point
            .kinds
            .map(|kinds| kinds.file.min(point.memscope_mapped))
    });
    let parts = match with_kinds.first() {
        Some((_, names)) => {
            let minutes: Vec<f64> = with_kinds.iter().map(|(minute, _)| *minute).collect();
            (0..names.len())
                .map(|index| {
                    let bytes: Vec<f64> = with_kinds
                        .iter()
                        .map(|(_, parts)| parts[index].bytes as f64)
                        .collect();
                    PartTrend {
                        part: names[index].part,
                        trend: Trend::of(&minutes, &bytes),
                    }
                })
                .collect()
        }
        None => {
            // Without procfs, jemalloc's live bytes alone.
            let allocated: Vec<f64> = window.iter().map(|p| p.stats.allocated as f64).collect();
            vec![PartTrend {
                part: "live_heap",
                trend: Trend::of(&minutes, &allocated),
            }]
        }
    };
    let start_rss = rss.map_or(first.stats.resident, |rss| rss.first);
    let app_rss = with_kinds
        .iter()
        .map(|(_, parts)| parts.iter().map(|part| part.bytes).sum::<u64>() as f64)
        .collect::<Vec<f64>>();
    Evidence {
        window_seconds: last.unix_ms.saturating_sub(first.unix_ms) as f64 / 1000.0,
        timeline_points: window.len(),
        noise_bytes: NOISE_FLOOR.max((start_rss as f64 * NOISE_SHARE) as u64),
        rss,
        memscope_debug_info,
        app_rss: (!app_rss.is_empty()).then(|| Trend::of(&kinds_minutes, &app_rss)),
        parts,
        purgeable_bytes: last
            .stats
            .resident
            .saturating_sub(last.stats.active)
            .saturating_sub(last.stats.metadata),
        ..Evidence::default()
    }
}

/// The parts of the RSS at `point`, memscope's mapped debug info taken out
/// of the file-backed pages.
fn parts_at(point: &TimelinePoint) -> Option<Vec<RssPart>> {
    let (_, mut parts) = rss::breakdown(&point.stats, point.kinds?);
    for part in &mut parts {
        if part.part == "file_backed" {
            part.bytes = part.bytes.saturating_sub(point.memscope_mapped);
        }
    }
    Some(parts)
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
    let limits = Limit::all(builder_limit, resident_set_size(), cgroup);
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
    if let Some(history) = &watch.history {
        evidence.heap_snapshots = history.snapshots;
    }
    if let Some(knows_in) = too_early(watch, window.len()) {
        evidence.knows_in_seconds = Some(knows_in.as_secs().max(1));
        let summary = match &watch.history {
            Some(history) => format!(
                "Too early to tell: the heap history has {} of the {MIN_SNAPSHOTS} snapshots a verdict needs (one every {}); it will know in about {}.",
                history.snapshots,
                duration_text(history.interval.as_secs().max(1)),
                duration_text(knows_in.as_secs().max(1))
            ),
            None => format!(
                "Too early to tell: the timeline has {} of the {MIN_TIMELINE_POINTS} points a verdict needs; it will know in about {}.",
                window.len(),
                duration_text(knows_in.as_secs().max(1))
            ),
        };
        return Verdict {
            kind: VerdictKind::TooEarly,
            summary,
            evidence,
        };
    }
    if let Some(history) = &watch.history {
        evidence.suspects = history
            .growth
            .suspects
            .iter()
            .filter(|suspect| suspect.significant)
            .cloned()
            .collect();
        if let Some(leading) = evidence.suspects.first() {
            let summary = leak_with_sites(leading, evidence.suspects.len(), history.growth.minutes);
            return Verdict {
                kind: VerdictKind::Leak,
                summary,
                evidence,
            };
        }
    }
    let noise = evidence.noise_bytes;
    let span = duration_text(evidence.window_seconds.round() as u64);
    let live = evidence.part("live_heap");
    if let Some(live) = live.filter(|live| live.grows_steadily(noise)) {
        let summary = format!(
            "A leak: the live heap grew {} over {span} ({}/min), all along the window; {}",
            human_bytes_signed(live.growth),
            human_bytes_f64(live.bytes_per_minute),
            if watch.history.is_some() {
                "no one site grows steadily enough to name: see the growth page."
            } else {
                "with heap profiling and its history on, the sites would be named."
            }
        );
        return Verdict {
            kind: VerdictKind::Leak,
            summary,
            evidence,
        };
    }
    let rss_grew = evidence.app_rss.is_some_and(|rss| rss.grew_beyond(noise));
    if rss_grew {
        let grown = evidence
            .parts
            .iter()
            .filter(|part| part.part != "live_heap" && part.trend.grew_beyond(noise))
            .max_by_key(|part| part.trend.growth)
            .copied();
        if let Some(grown) = grown {
            evidence.grown_part = Some(grown.part);
            let (kind, summary) = grown_part_verdict(&evidence, grown, live, &span);
            return Verdict {
                kind,
                summary,
                evidence,
            };
        }
    }
    let summary = match live.filter(|live| live.grew_beyond(noise)) {
        Some(live) => format!(
            "Steady: the live heap rose {} over {span} and stays there without growing all along (a cache that filled, work that keeps its memory), and nothing else grew beyond {}.",
            human_bytes_signed(live.growth),
            human_bytes(noise)
        ),
        None => format!(
            "Steady: nothing grew beyond {} over {span}{}{}.",
            human_bytes(noise),
            evidence.rss.map_or_else(String::new, |rss| format!(
                " (RSS {} to {})",
                human_bytes(rss.first),
                human_bytes(rss.last)
            )),
            evidence
                .memscope_debug_info
                .filter(|info| info.grew_beyond(noise))
                .map_or_else(String::new, |info| format!(
                    "; the RSS rose {} with the debug info memscope maps to name stacks, given back a minute after its last use",
                    human_bytes_signed(info.growth)
                ))
        ),
    };
    Verdict {
        kind: VerdictKind::Steady,
        summary,
        evidence,
    }
}

impl Evidence {
    /// The trend of the part named `part`.
    pub(crate) fn part(&self, part: &str) -> Option<Trend> {
        self.parts
            .iter()
            .find(|trend| trend.part == part)
            .map(|trend| trend.trend)
    }
}

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

/// `A leak: app::cache::store grows steadily, +58.0 KiB/min for 10 min,
/// about 966 B per /json request (and 2 other sites).`
fn leak_with_sites(leading: &Suspect, sites: usize, minutes: f64) -> String {
    let route = leading.route.as_ref().map_or_else(String::new, |route| {
        format!(
            ", about {} per {} request",
            human_bytes_f64(route.bytes_per_request),
            route.route
        )
    });
    let others = match sites - 1 {
        0 => String::new(),
        1 => " (and 1 other site)".to_owned(),
        more => format!(" (and {more} other sites)"),
    };
    format!(
        "A leak: {} grows steadily, +{}/min for {}{route}{others}.",
        leading.name,
        human_bytes_f64(leading.bytes_per_minute.max(0.0)),
        duration_text((minutes * 60.0).round() as u64)
    )
}

/// The verdict where `grown`, a part outside the live heap, grew most.
fn grown_part_verdict(
    evidence: &Evidence,
    grown: PartTrend,
    live: Option<Trend>,
    span: &str,
) -> (VerdictKind, String) {
    let rss_growth = evidence.app_rss.map_or(0, |rss| rss.growth);
    let live_text = live.map_or_else(String::new, |live| {
        format!(
            "the live heap went from {} to {}",
            human_bytes(live.first),
            human_bytes(live.last)
        )
    });
    let grown_text = human_bytes_signed(grown.trend.growth);
    match grown.part {
        "kept_for_reuse" | "allocator_metadata" => (
            VerdictKind::Retention,
            format!(
                "Retention, not a leak: the RSS grew {} over {span} while {live_text}; the allocator keeps freed pages ({grown_text} in {}), and a purge gives back {} now.",
                human_bytes_signed(rss_growth),
                grown.part.replace('_', " "),
                human_bytes(evidence.purgeable_bytes)
            ),
        ),
        "beyond_live_heap" => (
            VerdictKind::BeyondLiveHeap,
            format!(
                "Not the live heap: the RSS grew {} over {span} while {live_text}; what grew is anonymous memory beyond it ({grown_text}): the allocator's kept pages and fragmentation, or thread stacks and anonymous maps. Over this allocator memscope cannot tell them apart; over jemalloc (memscope::Jemalloc, or memscope::Sampled<Jemalloc>) it can.",
                human_bytes_signed(rss_growth),
            ),
        ),
        "allocator_overhead" => (
            VerdictKind::Fragmentation,
            format!(
                "Fragmentation: room in jemalloc's pages that live allocations do not use grew {grown_text} over {span}, to {}, while {live_text}.",
                human_bytes(grown.trend.last)
            ),
        ),
        part => (
            VerdictKind::OutsideHeap,
            format!(
                "Outside the heap: the RSS grew {} over {span} while {live_text}; what grew is {} ({grown_text}: {}).",
                human_bytes_signed(rss_growth),
                part.replace('_', " "),
                match part {
                    "outside_jemalloc" =>
                        "anonymous memory jemalloc does not hold: thread stacks, another allocator, anonymous maps",
                    "file_backed" => "pages of mapped files",
                    _ => "shared memory: tmpfs or memfd files mapped, shared anonymous maps",
                }
            ),
        ),
    }
}

#[cfg(test)]
mod tests;
