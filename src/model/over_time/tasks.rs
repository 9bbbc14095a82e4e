//! Live tasks by where they were spawned, across the heap history: each
//! spawn site's estimated tasks in every snapshot, how fast that count
//! grows and how steadily. Tasks that never end pile up at their spawn
//! site as a leak's bytes do at its allocation site.

use serde::Serialize;

use super::history::HistoryWindow;
use super::series::{series_by, steadiness};
use super::trend::fit_line;
use crate::model::heap::table::Z_INTERVAL;
use crate::model::heap::tasks::spawn_key;
use crate::model::heap::{Grouping, SiteId};
use crate::model::symbols::AddressFrames;

/// The least growth in tasks that counts as piling up: a service's tasks
/// come and go by the dozen with its connections.
const MIN_TASKS: f64 = 100.0;

/// One spawn site's live tasks over the window.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct TaskGrowth {
    pub(crate) name: String,
    pub(crate) location: String,
    /// Estimated live tasks in the window's first snapshot and its last.
    pub(crate) first: f64,
    pub(crate) last: f64,
    /// `last - first`, and three standard errors of it.
    pub(crate) growth: f64,
    pub(crate) growth_error: f64,
    /// The least-squares slope of the count.
    pub(crate) tasks_per_minute: f64,
    /// Estimated bytes of the tasks' cells in the last snapshot.
    pub(crate) bytes: f64,
    /// The share of intervals in which the count grew.
    pub(crate) steadiness: f64,
    /// Grew beyond its error and beyond [`MIN_TASKS`], in most intervals:
    /// tasks that are spawned and do not end.
    pub(crate) piles_up: bool,
}

impl TaskGrowth {
    /// Bytes of one task's cell.
    pub(crate) fn bytes_per_task(&self) -> f64 {
        self.bytes / self.last.max(1.0)
    }
}

/// The spawn sites of the window whose tasks grew, piling up first, then
/// fastest first; `minutes` is each point's time since the first.
pub(crate) fn task_growth(
    window: &HistoryWindow,
    minutes: &[f64],
    resolve: impl FnOnce(&[u64]) -> Vec<AddressFrames>,
) -> Vec<TaskGrowth> {
    let series = series_by(window, resolve, |stack| {
        let (key, name, location) = spawn_key(stack)?;
        Some((
            SiteId::of(Grouping::Site, &format!("spawn:{key}")),
            name,
            location,
        ))
    });
    let mut grown: Vec<TaskGrowth> = series
        .into_values()
        .filter_map(|series| {
            let n = series.objects.len();
            if n < 2 {
                return None;
            }
            let (first, last) = (series.objects[0], series.objects[n - 1]);
            let growth = last - first;
            let (slope, _) = fit_line(minutes, &series.objects);
            if growth <= 0.0 && slope <= 0.0 {
                return None;
            }
            let steadiness = steadiness(&series.objects);
            let growth_error =
                Z_INTERVAL * (series.objects_variance[0] + series.objects_variance[n - 1]).sqrt();
            Some(TaskGrowth {
                name: series.name,
                location: series.location,
                first,
                last,
                growth,
                growth_error,
                tasks_per_minute: slope,
                bytes: series.bytes[n - 1],
                steadiness,
                piles_up: growth > growth_error.max(MIN_TASKS) && slope > 0.0 && steadiness >= 0.5,
            })
        })
        .collect();
    grown.sort_by(|a, b| {
        b.piles_up
            .cmp(&a.piles_up)
            .then(b.tasks_per_minute.total_cmp(&a.tasks_per_minute))
            .then_with(|| a.name.cmp(&b.name))
    });
    grown
}
