//! What each route keeps on the heap, measured from tagged samples rather
//! than inferred: the heap history's snapshots, each stack's bytes added up
//! by the route tag its samples were taken under, at the window's first
//! snapshot and its newest, and the growth divided by the route's requests
//! in between.

use std::collections::HashMap;
use std::sync::Arc;

use super::history::HistoryWindow;
use crate::model::heap::route_of_tag;
use crate::model::heap::table::Z_INTERVAL;

/// One route's (or scope's) live heap and what its requests kept.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RouteHeap {
    pub(crate) route: Arc<str>,
    /// At the window's newest snapshot, and the variance sampling leaves.
    pub(crate) live_bytes: f64,
    pub(crate) live_variance: f64,
    /// From the window's first snapshot to its newest, with three standard
    /// errors; 0 with one snapshot.
    pub(crate) growth: f64,
    pub(crate) growth_error: f64,
    /// The route's requests between the two snapshots.
    pub(crate) requests: u64,
}

impl RouteHeap {
    /// What a request kept, with its error, where requests were served.
    pub(crate) fn kept_per_request(&self) -> Option<(f64, f64)> {
        (self.requests > 0).then(|| {
            let requests = self.requests as f64;
            (self.growth / requests, self.growth_error / requests)
        })
    }
}

/// Bytes and variance by tag at one snapshot.
type ByTag = HashMap<u32, (f64, f64)>;

/// Every route's live heap and growth over `window`, the largest growth
/// first; empty without a snapshot.
pub(crate) fn route_heaps(window: &HistoryWindow) -> Vec<RouteHeap> {
    let points = window.points();
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return Vec::new();
    };
    let newest = points.len() - 1;
    let (mut then, mut now) = (ByTag::new(), ByTag::new());
    window.replay(|index, view| {
        if index != 0 && index != newest {
            return;
        }
        let mut by_tag = ByTag::new();
        for (stack, counts) in view.live() {
            let entry = by_tag.entry(window.tag(stack)).or_default();
            entry.0 += counts.bytes;
            entry.1 += counts.bytes_variance;
        }
        if index == 0 {
            then = by_tag.clone();
        }
        if index == newest {
            now = by_tag;
        }
    });
    let requests_at = |point: &super::history::HistoryPoint, route: &str| {
        point
            .routes
            .iter()
            .find(|(name, _)| &**name == route)
            .map_or(0, |(_, totals)| totals.requests)
    };
    // By name: two layers' logs number the same route apart.
    let by_name = |by_tag: ByTag| {
        let mut by_name: HashMap<Arc<str>, (f64, f64)> = HashMap::new();
        for (tag, (bytes, variance)) in by_tag {
            let entry = by_name.entry(route_of_tag(tag)).or_default();
            entry.0 += bytes;
            entry.1 += variance;
        }
        by_name
    };
    let (then, now) = (by_name(then), by_name(now));
    // Routes that keep nothing have no tagged stack: they are named by
    // the requests recorded.
    let mut names: Vec<Arc<str>> = then
        .keys()
        .chain(now.keys())
        .cloned()
        .chain(last.routes.iter().map(|(route, _)| route.clone()))
        .collect();
    names.sort_unstable();
    names.dedup();
    let two = points.len() > 1;
    let mut routes: Vec<RouteHeap> = names
        .into_iter()
        .map(|route| {
            let (before, before_variance) = then.get(&route).copied().unwrap_or_default();
            let (live_bytes, live_variance) = now.get(&route).copied().unwrap_or_default();
            RouteHeap {
                requests: requests_at(last, &route).saturating_sub(requests_at(first, &route)),
                route,
                live_bytes,
                live_variance,
                growth: if two { live_bytes - before } else { 0.0 },
                growth_error: if two {
                    Z_INTERVAL * (before_variance + live_variance).sqrt()
                } else {
                    0.0
                },
            }
        })
        .collect();
    routes.sort_by(|a, b| {
        b.growth
            .total_cmp(&a.growth)
            .then(b.live_bytes.total_cmp(&a.live_bytes))
            .then_with(|| a.route.cmp(&b.route))
    });
    routes
}
