//! A row's course across the heap history: the stacks of every stored
//! snapshot grouped into rows by a rule (a site, a spawn site), each row's
//! bytes and objects with their variances in every snapshot. What the
//! growth suspects and the tasks' growth are fitted on.

use std::collections::HashMap;
use std::sync::Arc;

use super::history::{HistoryPoint, HistoryWindow};
use crate::model::heap::tasks::count_variance;
use crate::model::heap::{SiteId, Stack};
use crate::model::symbols::AddressFrames;

/// The share of a series' intervals in which it grew, from 0 to 1: how
/// steady a growth is (a step grows in one interval).
pub(crate) fn steadiness(values: &[f64]) -> f64 {
    let grew = values.windows(2).filter(|pair| pair[1] > pair[0]).count();
    grew as f64 / (values.len() - 1) as f64
}

/// Each point's minutes since the first.
pub(crate) fn minutes_of(points: &[Arc<HistoryPoint>]) -> Vec<f64> {
    let Some(first) = points.first() else {
        return Vec::new();
    };
    points
        .iter()
        .map(|point| {
            point
                .moment
                .instant
                .duration_since(first.moment.instant)
                .as_secs_f64()
                / 60.0
        })
        .collect()
}

/// One row's bytes and objects, with their variances, in each snapshot.
pub(crate) struct SiteSeries {
    pub(crate) id: SiteId,
    pub(crate) name: String,
    pub(crate) location: String,
    pub(crate) largest: f64,
    pub(crate) bytes: Vec<f64>,
    pub(crate) variance: Vec<f64>,
    pub(crate) objects: Vec<f64>,
    pub(crate) objects_variance: Vec<f64>,
    /// Its bytes by route tag, in the window's first and last snapshots.
    pub(crate) first_by_tag: HashMap<u32, f64>,
    pub(crate) last_by_tag: HashMap<u32, f64>,
}

/// The series of every row the stacks of `window` make under `row_of`
/// (its id, name and location; `None` leaves a stack out), each stack
/// named once.
pub(crate) fn series_by(
    window: &HistoryWindow,
    resolve: impl FnOnce(&[u64]) -> Vec<AddressFrames>,
    row_of: impl Fn(&Stack) -> Option<(SiteId, String, String)>,
) -> HashMap<SiteId, SiteSeries> {
    // The stacks live in any point of the window, each named once.
    let mut live_anywhere = vec![false; window.stacks.len()];
    window.replay(|_, view| {
        for (stack, _) in view.live() {
            live_anywhere[stack] = true;
        }
    });
    let table = window.address_table(resolve);
    let mut named: Vec<Option<(SiteId, String, String)>> = vec![None; window.stacks.len()];
    for number in (0..live_anywhere.len()).filter(|&stack| live_anywhere[stack]) {
        let stack = Stack {
            numbers: window.numbers(number),
            table: table.clone(),
            tag: window.tag(number),
            ..Stack::default()
        };
        named[number] = row_of(&stack);
    }
    let points = window.points().len();
    let mut sites: HashMap<SiteId, SiteSeries> = HashMap::new();
    window.replay(|index, view| {
        for (number, counts) in view.live() {
            let Some((id, name, location)) = &named[number] else {
                continue;
            };
            let series = sites.entry(*id).or_insert_with(|| SiteSeries {
                id: *id,
                name: name.clone(),
                location: location.clone(),
                largest: 0.0,
                bytes: vec![0.0; points],
                variance: vec![0.0; points],
                objects: vec![0.0; points],
                objects_variance: vec![0.0; points],
                first_by_tag: HashMap::new(),
                last_by_tag: HashMap::new(),
            });
            let tag = window.tag(number);
            if index == 0 {
                *series.first_by_tag.entry(tag).or_default() += counts.bytes;
            }
            if index + 1 == points {
                *series.last_by_tag.entry(tag).or_default() += counts.bytes;
            }
            series.bytes[index] += counts.bytes;
            series.variance[index] += counts.bytes_variance;
            series.objects[index] += counts.objects;
            series.objects_variance[index] +=
                count_variance(counts.objects, counts.sampled_objects);
            if counts.bytes > series.largest {
                series.largest = counts.bytes;
                series.location = location.clone();
            }
        }
    });
    sites
}
