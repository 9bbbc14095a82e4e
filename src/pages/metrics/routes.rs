//! The per-route series: requests and their bytes since start, and the
//! live heap by route from the heap history's newest snapshot, with at
//! most [`MAX_ROUTE_LABELS`] routes as labels (the busiest), the rest
//! added up under `(other routes)`.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use crate::model::over_time::history;
use crate::record::RouteTotals;

/// Routes given a label of their own at most: a label value is a time
/// series in Prometheus, and an app whose paths never repeat would
/// otherwise make thousands.
pub(crate) const MAX_ROUTE_LABELS: usize = 100;

/// Where the routes past the busiest are added up.
pub(super) const OTHER_ROUTES: &str = "(other routes)";

type RouteLabels = Vec<(&'static str, String)>;

/// The live heap by route (and scope) from the heap history's newest
/// snapshot's route tags, the routes bounded as the request counters'
/// are; absent before the first snapshot.
pub(super) fn register_route_heaps(registry: &mut Registry) {
    let Some(by_route) = history::newest_by_route() else {
        return;
    };
    let mut by_route: Vec<(String, f64)> = by_route
        .into_iter()
        .map(|(route, bytes)| (route.to_string(), bytes))
        .collect();
    by_route.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let rest: f64 = by_route
        .iter()
        .skip(MAX_ROUTE_LABELS - 1)
        .map(|(_, bytes)| bytes)
        .sum();
    if by_route.len() > MAX_ROUTE_LABELS {
        by_route.truncate(MAX_ROUTE_LABELS - 1);
        by_route.push((OTHER_ROUTES.to_owned(), rest));
    }
    let family = Family::<RouteLabels, Gauge>::default();
    for (route, bytes) in by_route {
        family
            .get_or_create(&vec![("route", route)])
            .set(bytes.round() as i64);
    }
    registry.register_with_unit(
        "route_live_heap",
        "Live heap by the route (or memscope::scope) whose requests allocated it, from the route tags of the heap history's newest snapshot (an estimate from sampled allocations); \"(no request)\" is what was allocated outside any.",
        Unit::Bytes,
        family,
    );
}

/// Requests and their bytes by route, the routes bounded.
pub(super) fn register_routes(registry: &mut Registry, routes: Vec<(String, RouteTotals)>) {
    let requests = Family::<RouteLabels, Counter>::default();
    let allocated = Family::<RouteLabels, Counter>::default();
    let freed = Family::<RouteLabels, Counter>::default();
    for (route, totals) in bounded_routes(routes) {
        let labels = vec![("route", route)];
        requests.get_or_create(&labels).inc_by(totals.requests);
        allocated.get_or_create(&labels).inc_by(totals.allocated);
        let freed_bytes = (totals.allocated as i64 - totals.net).max(0) as u64;
        freed.get_or_create(&labels).inc_by(freed_bytes);
    }
    registry.register(
        "requests",
        "Requests the layer passed to the app and saw end, by route, since start.",
        requests,
    );
    registry.register_with_unit(
        "request_allocated",
        "Bytes allocated while serving requests, by route, since start.",
        Unit::Bytes,
        allocated,
    );
    registry.register_with_unit(
        "request_freed",
        "Bytes freed while serving requests, by route, since start.",
        Unit::Bytes,
        freed,
    );
}

/// The busiest [`MAX_ROUTE_LABELS`] routes, and the rest added up under
/// [`OTHER_ROUTES`].
pub(super) fn bounded_routes(mut routes: Vec<(String, RouteTotals)>) -> Vec<(String, RouteTotals)> {
    routes.sort_by(|a, b| b.1.requests.cmp(&a.1.requests).then_with(|| a.0.cmp(&b.0)));
    if routes.len() <= MAX_ROUTE_LABELS {
        return routes;
    }
    let rest = routes.split_off(MAX_ROUTE_LABELS - 1);
    let mut other = RouteTotals::default();
    for (_, totals) in rest {
        other.add(&totals);
    }
    // The log's own overflow row is one of the rest, or one of the busiest.
    match routes.iter_mut().find(|(route, _)| route == OTHER_ROUTES) {
        Some((_, totals)) => totals.add(&other),
        None => routes.push((OTHER_ROUTES.to_owned(), other)),
    }
    routes
}
