//! What each route keeps on the heap, measured from tagged samples rather
//! than inferred: the heap history's snapshots, each stack's bytes added up
//! by the route tag its samples were taken under, at the window's first
//! snapshot and its newest, and the growth divided by the route's requests
//! in between.

use std::collections::HashMap;
use std::sync::Arc;

use super::history::HistoryWindow;
use crate::model::allocator::RawProfile;
use crate::model::heap::route_of_tag;
use crate::model::heap::table::Z_INTERVAL;
use crate::record::RouteTotals;

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

/// The heap as a page found it, newer than the history's newest snapshot:
/// each route tag's live bytes, and every route's requests by then.
pub(crate) struct HeapNow {
    by_tag: ByTag,
    routes: Vec<(Arc<str>, RouteTotals)>,
}

impl HeapNow {
    /// A heap profile taken now, with the routes' request counts read
    /// after it.
    pub(crate) fn of(profile: &RawProfile, routes: Vec<(Arc<str>, RouteTotals)>) -> Self {
        let mut by_tag = ByTag::new();
        for stack in &profile.stacks {
            let entry = by_tag.entry(stack.tag).or_default();
            entry.0 += stack.live.bytes;
            entry.1 += stack.live.bytes_variance;
        }
        Self { by_tag, routes }
    }
}

/// Every route's live heap and growth over `window`, the largest growth
/// first; empty without a snapshot.
pub(crate) fn route_heaps(window: &HistoryWindow) -> Vec<RouteHeap> {
    route_heaps_until(window, None)
}

/// Every route's live heap and growth from `window`'s first snapshot to
/// `now` where given (else to the window's newest), the largest growth
/// first. Without a snapshot, `now` is measured from the process's start,
/// when no route had kept anything or served a request.
pub(crate) fn route_heaps_until(window: &HistoryWindow, now: Option<&HeapNow>) -> Vec<RouteHeap> {
    let points = window.points();
    let (first, last) = match (points.first(), points.last(), now) {
        (Some(first), Some(last), _) => (Some(&first.routes[..]), &last.routes[..]),
        (None, _, Some(now)) => (None, &now.routes[..]),
        _ => return Vec::new(),
    };
    let last = now.map_or(last, |now| &now.routes[..]);
    let newest = points.len().saturating_sub(1);
    let (mut then, mut latest) = (ByTag::new(), ByTag::new());
    window.replay(|index, view| {
        if index != 0 && (index != newest || now.is_some()) {
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
            latest = by_tag;
        }
    });
    if let Some(now) = now {
        latest = now.by_tag.clone();
    }
    let (then, now_by_tag, two) = (then, latest, points.len() > 1 || now.is_some());
    let requests_at = |routes: Option<&[(Arc<str>, RouteTotals)]>, route: &str| {
        routes
            .into_iter()
            .flatten()
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
    let (then, now) = (by_name(then), by_name(now_by_tag));
    // Routes that keep nothing have no tagged stack: they are named by
    // the requests recorded.
    let mut names: Vec<Arc<str>> = then
        .keys()
        .chain(now.keys())
        .cloned()
        .chain(last.iter().map(|(route, _)| route.clone()))
        .collect();
    names.sort_unstable();
    names.dedup();
    let mut routes: Vec<RouteHeap> = names
        .into_iter()
        .map(|route| {
            let (before, before_variance) = then.get(&route).copied().unwrap_or_default();
            let (live_bytes, live_variance) = now.get(&route).copied().unwrap_or_default();
            RouteHeap {
                requests: requests_at(Some(last), &route)
                    .saturating_sub(requests_at(first, &route)),
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
