//! What the pages ask of the history, answered off the async executor
//! where it replays snapshots: the growth report (with each route's live
//! heap), the routes' kept bytes, and a stored snapshot to diff against.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::growth::{GrowthReport, GrowthSpec, over_history};
use super::history;
use super::route_heap::{HeapNow, RouteHeap, route_heaps, route_heaps_until};
use super::series::minutes_of;
use super::tasks::{TaskGrowth, task_growth};
use crate::model::allocator::off_executor;
use crate::model::heap::{self, HeapSnapshot};
use crate::model::process::process_age;
use crate::model::symbols::SYMBOLIZER;
use crate::model::{ModelError, ModelErrorKind};
use crate::record::routes_in_process;

/// The growth over the history's last `window` (all of it for `None`),
/// and, where samples carry route tags (`tagged`), each route's live heap
/// over the same window.
pub(crate) async fn growth_with_routes(
    window: Option<Duration>,
    spec: GrowthSpec,
    tagged: bool,
) -> Result<(GrowthReport, Vec<RouteHeap>), ModelError> {
    off_executor("growth", move || {
        let routes = if tagged {
            route_heaps(&history::window().within(window))
        } else {
            Vec::new()
        };
        (over_history(window, &spec), routes)
    })
    .await
}

/// The growth over every stored snapshot, ranked, at most `limit` sites:
/// `None` where there is no history.
pub(crate) async fn whole_history_growth(limit: usize) -> Option<GrowthReport> {
    history::settings()?;
    let spec = GrowthSpec {
        filter: None,
        limit,
    };
    off_executor("growth", move || over_history(None, &spec))
        .await
        .ok()
}

/// The spawn sites whose live tasks grew over the whole history, and the
/// history's minutes: `None` without a history of two snapshots.
pub(crate) async fn tasks_over_history() -> Option<(Vec<TaskGrowth>, f64)> {
    history::settings()?;
    off_executor("tasks", || {
        let window = history::window();
        let minutes = minutes_of(window.points());
        let span = *minutes.last()?;
        (minutes.len() >= 2).then(|| {
            let resolve = |addresses: &[u64]| SYMBOLIZER.resolve_addresses(addresses);
            (task_growth(&window, &minutes, resolve), span)
        })
    })
    .await
    .ok()
    .flatten()
}

/// How old the history's newest snapshot may be for a page that shows
/// what routes keep: older, the page takes a heap profile of its own.
pub(crate) const FRESH_FOR: Duration = Duration::from_secs(5);

/// The last heap profile a page took, while it is fresh: pages asked for
/// at once share one, and one is taken at a time.
static TAKEN_FOR_PAGES: Mutex<Option<(Instant, Arc<HeapNow>)>> = Mutex::new(None);

/// Every route's live heap and growth from the history's first snapshot
/// to now, and the window's length in seconds: the newest snapshot where
/// it is fresh ([`FRESH_FOR`]) and not the first, else a heap profile
/// taken for the page (from the process's start where the history has no
/// snapshot yet).
/// Empty where samples carry no route tags (`tagged`) or the heap cannot
/// be read.
pub(crate) async fn route_heaps_now(tagged: bool) -> (Vec<RouteHeap>, Option<f64>) {
    if !tagged {
        return (Vec::new(), None);
    }
    off_executor("routes' kept bytes", || {
        let window = history::window();
        let points = window.points();
        let fresh = points
            .last()
            .is_some_and(|newest| newest.moment.instant.elapsed() < FRESH_FOR);
        let started = match points.first() {
            Some(first) => first.moment.instant,
            None => Instant::now().checked_sub(process_age()?)?,
        };
        if fresh && points.len() >= 2 {
            let seconds = points.last()?.moment.instant.duration_since(started);
            return Some((route_heaps(&window), Some(seconds.as_secs_f64())));
        }
        let (taken_at, now) = heap_now()?;
        let seconds = taken_at.duration_since(started).as_secs_f64();
        Some((route_heaps_until(&window, Some(&now)), Some(seconds)))
    })
    .await
    .ok()
    .flatten()
    .unwrap_or((Vec::new(), None))
}

/// A heap profile taken for the pages, or the one taken less than
/// [`FRESH_FOR`] ago.
fn heap_now() -> Option<(Instant, Arc<HeapNow>)> {
    let mut taken = crate::sync::lock(&TAKEN_FOR_PAGES);
    if let Some((at, now)) = taken.as_ref()
        && at.elapsed() < FRESH_FOR
    {
        return Some((*at, now.clone()));
    }
    let raw = heap::raw_snapshot_blocking().ok()?;
    let now = Arc::new(HeapNow::of(&raw.profile, history::routes_now()));
    *taken = Some((raw.moment.instant, now.clone()));
    Some((raw.moment.instant, now))
}

/// A stored snapshot of the history, resolved, and the requests served
/// since it was taken.
#[derive(Debug)]
pub(crate) struct PastSnapshot {
    pub(crate) snapshot: Arc<HeapSnapshot>,
    /// When it was asked for: `since` ago.
    pub(crate) asked: SystemTime,
    /// The history's interval: how near to that the nearest can be.
    pub(crate) interval: Duration,
    /// Requests recorded in the process when it was taken.
    requests_then: u64,
}

impl PastSnapshot {
    /// Requests recorded in the process since the snapshot was taken.
    pub(crate) fn requests_since(&self) -> u64 {
        requests_in_process().saturating_sub(self.requests_then)
    }
}

/// The history's snapshot nearest to `since` ago, resolved off the
/// executor.
pub(crate) async fn snapshot_since(since: Duration) -> Result<PastSnapshot, ModelError> {
    let Some((interval, _)) = history::settings() else {
        return Err(ModelError::new(
            ModelErrorKind::Absent,
            "`since` compares with the heap history, and no layer keeps one: build the layer without `without_heap_history()`",
        ));
    };
    let asked = SystemTime::now().checked_sub(since).unwrap_or(UNIX_EPOCH);
    let window = history::window();
    let Some(nearest) = window.nearest(asked) else {
        return Err(ModelError::new(
            ModelErrorKind::NotYet(interval),
            format!(
                "the heap history has no snapshot yet: it takes one every {} s once heap profiling runs",
                interval.as_secs().max(1)
            ),
        ));
    };
    let requests_then: u64 = window.points()[nearest]
        .routes
        .iter()
        .map(|(_, totals)| totals.requests)
        .sum();
    let snapshot = off_executor("symbolize", move || window.snapshot_at(nearest))
        .await?
        .ok_or_else(|| ModelError::failed("the heap history's snapshot could not be read"))?;
    Ok(PastSnapshot {
        snapshot: Arc::new(snapshot),
        asked,
        interval,
        requests_then,
    })
}

/// Requests recorded in the process so far, every route's.
fn requests_in_process() -> u64 {
    routes_in_process()
        .iter()
        .map(|(_, totals)| totals.requests)
        .sum()
}
