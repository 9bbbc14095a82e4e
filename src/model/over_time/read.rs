//! What the pages ask of the history, answered off the async executor
//! where it replays snapshots: the growth report (with each route's live
//! heap), the routes' kept bytes, and a stored snapshot to diff against.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::growth::{GrowthReport, GrowthSpec, over_history};
use super::history;
use super::route_heap::{RouteHeap, route_heaps};
use super::series::minutes_of;
use super::tasks::{TaskGrowth, task_growth};
use crate::model::allocator::off_executor;
use crate::model::heap::HeapSnapshot;
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

/// Every route's live heap and growth over the whole history, and the
/// window's length in seconds: empty without two snapshots or where
/// samples carry no route tags (`tagged`).
pub(crate) fn tagged_route_heaps(tagged: bool) -> (Vec<RouteHeap>, Option<f64>) {
    if !tagged {
        return (Vec::new(), None);
    }
    let window = history::window();
    let points = window.points();
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return (Vec::new(), None);
    };
    if points.len() < 2 {
        return (Vec::new(), None);
    }
    let seconds = last
        .moment
        .instant
        .duration_since(first.moment.instant)
        .as_secs_f64();
    (route_heaps(&window), Some(seconds))
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
