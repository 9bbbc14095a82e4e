//! A capture read back, named and judged: its addresses named by the same
//! build of each object (`names`), its route tags given this process's
//! tags, its heap history made a window of this process's, and its
//! figures judged as the overview judges the live process's: the verdict,
//! the time to the limit, the growth suspects and the routes' kept bytes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::names::{CaptureNames, NameSource};
use super::schema::{OverTimeIn, Summary, WindowIn};
use crate::model::allocator::RawProfile;
use crate::model::heap::{self, DumpMoment, HeapSnapshot};
use crate::model::over_time::growth::{GrowthReport, GrowthSpec};
use crate::model::over_time::history::{HistoryPoint, HistoryWindow};
use crate::model::over_time::route_heap::{RouteHeap, route_heaps};
use crate::model::over_time::timeline::TimelinePoint;
use crate::model::process::{frame_tag, tag_frame};
use crate::model::verdict::{HistoryWatch, TimeToLimit, Verdict, Watch, forecast_at, judge};
use crate::record::{captured_route_tag, scope_tag};

/// Growing sites the verdict names at most, as the overview's.
const SUSPECTS: usize = 10;

/// A capture's figures over time, judged as the overview judges the live
/// process's.
#[derive(Debug)]
pub(crate) struct Judgement {
    pub(crate) timeline: Vec<TimelinePoint>,
    pub(crate) growth: Option<GrowthReport>,
    pub(crate) verdict: Verdict,
    pub(crate) time_to_limit: Option<TimeToLimit>,
    pub(crate) routes: Vec<RouteHeap>,
    /// The heap history's newest snapshot, that long before the capture.
    pub(crate) newest_snapshot_age: Option<Duration>,
}

/// A capture opened whole, named and judged.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) summary: Summary,
    /// The capture file's size.
    pub(crate) file_bytes: u64,
    pub(crate) judgement: Judgement,
    /// The heap as the capture's profile had it, named; `None` where the
    /// process had no heap profiling.
    pub(crate) snapshot: Option<Arc<HeapSnapshot>>,
    /// How the objects the stacks lie in were named: the object, and a
    /// line on how.
    pub(crate) names: Vec<(String, String)>,
}

/// The capture's figures named and judged.
pub(super) fn judged(
    summary: Summary,
    over_time: OverTimeIn,
    profile: Option<RawProfile>,
) -> Opened {
    let tags = TagMap::of(&summary);
    let names = CaptureNames::of(&summary.objects);
    let judgement = judge_over_time(&summary, over_time, &tags, &names);
    let taken_at = UNIX_EPOCH + Duration::from_millis(summary.taken_at_unix_ms);
    let snapshot = profile.map(|mut profile| {
        for stack in &mut profile.stacks {
            stack.tag = tags.tag(stack.tag);
        }
        let naming = Instant::now();
        let frames = names.resolve(&profile.addresses);
        let symbolize_time = naming.elapsed();
        let named_by: Vec<(String, String)> = names
            .sources_for(&profile.addresses)
            .into_iter()
            .map(|(path, source)| (path.to_owned(), source_words(source)))
            .collect();
        let moment = DumpMoment {
            taken_at,
            instant: Instant::now(),
            sample_interval: profile.sample_interval,
            stats: summary.figures,
            rss: summary.rss,
            size_classes: Vec::new(),
            skipped_for_stack: 0,
        };
        let mut snapshot = heap::snapshot_of(moment, profile, frames, summary.accumulates);
        snapshot.symbolize_time = symbolize_time;
        snapshot.mapping_build_ids = Some(
            snapshot
                .mappings
                .iter()
                .map(|mapped| build_id_of(&summary, mapped.start..mapped.end))
                .collect(),
        );
        (Arc::new(snapshot), named_by)
    });
    let (snapshot, names) = snapshot.unzip();
    Opened {
        file_bytes: 0,
        judgement,
        snapshot,
        names: names.unwrap_or_default(),
        summary,
    }
}

/// The build id of the capture's object mapped over `area`.
fn build_id_of(summary: &Summary, area: std::ops::Range<u64>) -> Option<String> {
    summary
        .objects
        .iter()
        .find(|object| {
            object
                .segments
                .iter()
                .any(|&(start, end, _)| start < area.end && area.start < end)
        })
        .and_then(|object| object.build_id.clone())
}

/// The verdict, the forecast, the growth suspects and the routes' kept
/// bytes, from the capture's timeline and heap history.
pub(super) fn judge_over_time(
    summary: &Summary,
    over_time: OverTimeIn,
    tags: &TagMap,
    names: &CaptureNames,
) -> Judgement {
    let timeline: Vec<TimelinePoint> = over_time.timeline.iter().map(TimelinePoint::from).collect();
    let window = over_time.heap_history.map(|stored| tags.window(stored));
    let growth = window.as_ref().map(|window| {
        let spec = GrowthSpec {
            filter: None,
            limit: SUSPECTS,
        };
        crate::model::over_time::growth::growth(window, &spec, |addresses| names.resolve(addresses))
    });
    let history = match (&window, &growth, summary.history_interval_ms) {
        (Some(window), Some(report), Some(interval)) if summary.profiling_enabled => {
            let points = window.points();
            Some(HistoryWatch {
                interval: Duration::from_millis(interval),
                snapshots: points.len(),
                first_taken: points.first().map(|point| point.moment.taken_at),
                last_taken: points.last().map(|point| point.moment.taken_at),
                growth: report,
            })
        }
        _ => None,
    };
    let mut verdict = judge(&Watch {
        timeline: &timeline,
        timeline_interval: Duration::from_millis(summary.timeline_interval_ms),
        history,
    });
    // The process is gone: it will never know more.
    verdict.evidence.knows_in_seconds = None;
    let time_to_limit = forecast_at(
        &verdict.evidence,
        summary.builder_limit,
        summary.rss,
        summary.cgroup.as_ref(),
    );
    let taken_at = UNIX_EPOCH + Duration::from_millis(summary.taken_at_unix_ms);
    let newest_snapshot_age = window
        .as_ref()
        .and_then(|window| window.points().last().map(|point| point.moment.taken_at))
        .and_then(|newest| taken_at.duration_since(newest).ok());
    let routes = match &window {
        Some(window) if summary.routes_tagged => route_heaps(window),
        _ => Vec::new(),
    };
    Judgement {
        timeline,
        growth,
        verdict,
        time_to_limit,
        routes,
        newest_snapshot_age,
    }
}

/// How an object's addresses were named, in words.
fn source_words(source: &NameSource) -> String {
    match source {
        NameSource::Running { .. } => {
            "named by the running binary, the same build (build ids match)".to_owned()
        }
        NameSource::OldFile(_) => {
            "named from the file at its path, the same build (build ids match)".to_owned()
        }
        NameSource::Offsets { why } => format!("named by offset in the file: {why}"),
    }
}

/// The capture's route tags as this process names them: each route under
/// a tag of this process's table of captured routes, each scope under its
/// scope's tag.
pub(super) struct TagMap {
    tags: HashMap<u32, u32>,
}

impl TagMap {
    pub(super) fn of(summary: &Summary) -> Self {
        let tags = summary
            .route_tags
            .iter()
            .map(|stored| {
                let now = if stored.scope {
                    scope_tag(&stored.name)
                } else {
                    captured_route_tag(&stored.name)
                };
                (stored.tag, now)
            })
            .collect();
        Self { tags }
    }

    /// This process's tag for the capture's `tag`; 0 stays no tag.
    fn tag(&self, tag: u32) -> u32 {
        if tag == 0 {
            return 0;
        }
        self.tags
            .get(&tag)
            .copied()
            .unwrap_or_else(|| captured_route_tag(&format!("(a route of tag {tag:#x})")))
    }

    /// The capture's heap history as a window of this process's: tags
    /// made this process's, times made instants.
    fn window(&self, stored: WindowIn) -> HistoryWindow {
        let frames = stored
            .frames
            .into_iter()
            .map(|frame| match frame_tag(frame) {
                Some(tag) => tag_frame(self.tag(tag)),
                None => frame,
            })
            .collect();
        // Instants from the oldest point on: the capture's times as an
        // instant now and later, which any machine's clock can hold.
        let oldest = stored
            .points
            .iter()
            .map(|point| point.taken_at_unix_ms)
            .min()
            .unwrap_or(0);
        let anchor = Instant::now();
        let points = stored
            .points
            .into_iter()
            .map(|point| {
                Arc::new(HistoryPoint {
                    moment: DumpMoment {
                        taken_at: SystemTime::UNIX_EPOCH
                            + Duration::from_millis(point.taken_at_unix_ms),
                        instant: anchor
                            + Duration::from_millis(point.taken_at_unix_ms.saturating_sub(oldest)),
                        sample_interval: point.sample_interval,
                        stats: point.stats,
                        rss: point.rss,
                        size_classes: Vec::new(),
                        skipped_for_stack: point.skipped_for_stack,
                    },
                    routes: point
                        .routes
                        .into_iter()
                        .map(|(route, totals)| (route.into(), totals))
                        .collect(),
                    took: Duration::from_micros(point.took_us),
                    changes: point.changes,
                })
            })
            .collect();
        HistoryWindow {
            stored: points,
            start: 0,
            stacks: stored.stacks,
            frames,
        }
    }
}
