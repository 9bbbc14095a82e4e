//! What the verdict reads: the timeline's points within the heap
//! history's window, and each part of the RSS followed over them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::rss::{Part, RssPart, breakdown};
use crate::model::over_time::growth::{GrowthReport, Suspect};
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
    #[serde(flatten)]
    pub(crate) trend: Trend,
}

impl Evidence {
    /// The trend of `part`.
    pub(crate) fn part(&self, part: Part) -> Option<Trend> {
        self.parts
            .iter()
            .find(|trend| trend.part == part)
            .map(|trend| trend.trend)
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
                part: Part::LiveHeap,
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
    let (_, mut parts) = breakdown(&point.stats, point.kinds?);
    for part in &mut parts {
        if part.part == Part::FileBacked {
            part.bytes = part.bytes.saturating_sub(point.memscope_mapped);
        }
    }
    Some(parts)
}
