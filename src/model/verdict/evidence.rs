//! What the verdict reads: the timeline's points within the heap
//! history's window, and each part of the RSS followed over them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::rss::{Part, RssPart, breakdown};
use crate::model::over_time::growth::{GrowthReport, Suspect};
use crate::model::over_time::tasks::TaskGrowth;
use crate::model::over_time::timeline::TimelinePoint;
use crate::model::over_time::trend::Trend;

/// The least growth that counts, and the share of the RSS at the window's
/// start that counts where that is more.
const NOISE_FLOOR: u64 = 4 << 20;
const NOISE_SHARE: f64 = 0.02;

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
    /// The RSS at the window's last point less at its first: the sum of
    /// the parts' `growth`.
    pub(crate) rss_growth: Option<i64>,
    /// The pages of debug info memscope maps to name stacks (given back a
    /// minute after its last use): a part of the RSS, left out of what the
    /// verdict judges, as memscope's own heap is.
    pub(crate) memscope_debug_info: Option<Trend>,
    /// The RSS less memscope's own parts: what the verdict judges.
    #[serde(skip)]
    pub(crate) app_rss: Option<Trend>,
    /// Each part of the RSS over the window, in the overview's order.
    pub(crate) parts: Vec<PartTrend>,
    /// The process's threads at the window's first point and its last.
    pub(crate) threads: (u32, u32),
    /// The C library's malloc arenas at the window's last point.
    pub(crate) libc_arenas: u32,
    /// The async runtime's live tasks over the window, where a layer runs
    /// on tokio.
    pub(crate) tasks: Option<Trend>,
    /// For tasks that pile up: the spawn site whose tasks grow, where heap
    /// profiles show it.
    pub(crate) task_site: Option<TaskGrowth>,
    /// The part whose growth decided a retention, fragmentation or
    /// outside-the-heap verdict.
    pub(crate) grown_part: Option<Part>,
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
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub(crate) struct PartTrend {
    pub(crate) part: Part,
    /// Its bytes at the window's first point and at its last.
    pub(crate) first: u64,
    pub(crate) last: u64,
    /// `last - first`: one difference, so that the parts' growth adds up
    /// to the RSS's as their bytes do.
    pub(crate) growth: i64,
    /// The same difference over the window's minutes: a rate of the same
    /// sign.
    pub(crate) bytes_per_minute: f64,
    /// What the part's source reported at the last point, where the RSS
    /// left less: the part is cut to what is resident.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reported: Option<u64>,
    /// The fitted course the verdict judges by: the means at each end, the
    /// slope with its error, the steadiness.
    #[serde(skip)]
    pub(crate) fit: Trend,
}

impl Evidence {
    /// How `part` went over the window.
    pub(crate) fn part(&self, part: Part) -> Option<&PartTrend> {
        self.parts.iter().find(|trend| trend.part == part)
    }
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
    let minute_of =
        |point: &TimelinePoint| point.unix_ms.saturating_sub(first.unix_ms) as f64 / 60_000.0;
    let minutes: Vec<f64> = window.iter().map(minute_of).collect();
    // Every point's parts, where the kernel's figures were read.
    let with_parts: Vec<(f64, u64, Vec<RssPart>)> = window
        .iter()
        .filter_map(|point| {
            let (rss, parts) = breakdown(&point.memory)?;
            Some((minute_of(point), rss, parts))
        })
        .collect();
    let parts_minutes: Vec<f64> = with_parts.iter().map(|(minute, ..)| *minute).collect();
    let trend_of =
        |values: Vec<f64>| (!values.is_empty()).then(|| Trend::of(&parts_minutes, &values));
    let rss = trend_of(with_parts.iter().map(|(_, rss, _)| *rss as f64).collect());
    let span_minutes = minute_of(last).max(f64::EPSILON);
    let parts: Vec<PartTrend> = match (with_parts.first(), with_parts.last()) {
        (Some((start, _, first_parts)), Some((end, _, last_parts))) => {
            let minutes = (end - start).max(f64::EPSILON);
            (0..first_parts.len())
                .map(|index| {
                    let values: Vec<f64> = with_parts
                        .iter()
                        .map(|(_, _, parts)| parts[index].bytes as f64)
                        .collect();
                    part_trend(
                        &first_parts[index],
                        &last_parts[index],
                        minutes,
                        Trend::of(&parts_minutes, &values),
                    )
                })
                .collect()
        }
        _ => {
            // Without procfs, the live bytes alone.
            let allocated: Vec<f64> = window
                .iter()
                .map(|point| point.memory.stats.allocated as f64)
                .collect();
            let live = |point: &TimelinePoint| RssPart {
                part: Part::LiveHeap,
                bytes: point.memory.stats.allocated,
                reported: None,
            };
            vec![part_trend(
                &live(first),
                &live(last),
                span_minutes,
                Trend::of(&minutes, &allocated),
            )]
        }
    };
    let memscopes = |parts: &[RssPart]| -> u64 {
        parts
            .iter()
            .filter(|part| part.part.is_memscopes())
            .map(|part| part.bytes)
            .sum()
    };
    let app_rss = trend_of(
        with_parts
            .iter()
            .map(|(_, rss, parts)| rss.saturating_sub(memscopes(parts)) as f64)
            .collect(),
    );
    let memscope_debug_info = parts
        .iter()
        .find(|trend| trend.part == Part::MemscopeDebugInfo)
        .map(|trend| trend.fit);
    let rss_growth = match (with_parts.first(), with_parts.last()) {
        (Some((_, first, _)), Some((_, last, _))) => Some(*last as i64 - *first as i64),
        _ => None,
    };
    let tasks: Vec<f64> = window
        .iter()
        .filter_map(|point| point.memory.tasks)
        .map(|tasks| tasks as f64)
        .collect();
    let start_rss = rss.map_or(first.memory.stats.resident, |rss| rss.first);
    let last_stats = &last.memory.stats;
    Evidence {
        window_seconds: last.unix_ms.saturating_sub(first.unix_ms) as f64 / 1000.0,
        timeline_points: window.len(),
        noise_bytes: NOISE_FLOOR.max((start_rss as f64 * NOISE_SHARE) as u64),
        rss,
        rss_growth,
        memscope_debug_info,
        app_rss,
        parts,
        purgeable_bytes: last_stats
            .resident
            .saturating_sub(last_stats.active)
            .saturating_sub(last_stats.metadata),
        threads: (first.memory.threads, last.memory.threads),
        libc_arenas: last.memory.libc.map_or(0, |libc| libc.arenas),
        tasks: (tasks.len() == minutes.len() && !tasks.is_empty())
            .then(|| Trend::of(&minutes, &tasks)),
        ..Evidence::default()
    }
}

/// A part from its reading at the window's first point and its last, with
/// its fitted course.
fn part_trend(first: &RssPart, last: &RssPart, minutes: f64, fit: Trend) -> PartTrend {
    let growth = last.bytes as i64 - first.bytes as i64;
    PartTrend {
        part: last.part,
        first: first.bytes,
        last: last.bytes,
        growth,
        bytes_per_minute: growth as f64 / minutes,
        reported: last.reported,
        fit,
    }
}
