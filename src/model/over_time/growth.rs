//! Sites that grow steadily across the heap's history, ranked, each with
//! the route whose requests go with its growth: a leak named before anyone
//! took a baseline.
//!
//! A site's bytes in each snapshot of the window make a series. Its rate is
//! the least-squares slope of the series (bytes a minute), with the slope's
//! standard error from the residuals; how steady it is, the share of
//! intervals in which it grew. Its growth is significant when the last
//! snapshot's bytes exceed the first's by more than three standard errors
//! of what sampling leaves unknown (the two estimates' variances added) and
//! it grew in at least half the intervals: churn comes and goes, a leak
//! only comes.
//!
//! The route: for every route with requests in the window, the site's
//! growth in each interval is fitted to the route's requests in it
//! (through the origin: bytes a request), and the fit is weighed by how
//! well that agrees with what the route's requests kept on the threads
//! that served them (their mean net bytes). The route that explains the
//! growth best, if one explains it at all, goes with the site.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::history::{self, HistoryPoint, HistoryWindow};
use super::series::{SiteSeries, minutes_of, series_by, steadiness};
use super::tasks::{TaskGrowth, task_growth};
use super::trend::fit_line;
use crate::model::heap::table::{Z_INTERVAL, keep_first};
use crate::model::heap::{Grouping, SiteId, key_of, named_frame, route_of_tag};
use crate::model::symbols::{AddressFrames, SYMBOLIZER};

/// What a growth report is asked for.
#[derive(Clone, Debug)]
pub(crate) struct GrowthSpec {
    /// Lower case; keeps the stacks with a frame whose function or file
    /// contains it.
    pub(crate) filter: Option<String>,
    pub(crate) limit: usize,
}

/// The route that goes with a site's growth.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RouteMatch {
    pub(crate) route: String,
    /// The route's requests in the window.
    pub(crate) requests: u64,
    /// The site's growth a request of the route, from the fit.
    pub(crate) bytes_per_request: f64,
    /// What each of the route's requests kept, on average, as the request
    /// log measured it.
    pub(crate) mean_net: f64,
    /// How well the route explains the growth, from 0 to 1: from the
    /// tags, the share of the growth sampled in the route's requests.
    pub(crate) fit: f64,
    /// Whether the route comes from the tags of the site's samples, rather
    /// than from fitting the growth to the routes' request counts.
    pub(crate) from_tags: bool,
}

/// A site that grew.
#[derive(Clone, Debug)]
pub(crate) struct Suspect {
    pub(crate) id: SiteId,
    pub(crate) name: String,
    /// `file:line` of the site, in its largest stack.
    pub(crate) location: String,
    /// In the last snapshot.
    pub(crate) bytes: f64,
    /// From the first snapshot of the window to the last.
    pub(crate) growth: f64,
    /// Three standard errors of `growth` that sampling leaves.
    pub(crate) growth_error: f64,
    pub(crate) bytes_per_minute: f64,
    /// Three standard errors of the slope, from the residuals; 0 with two
    /// snapshots.
    pub(crate) bytes_per_minute_error: f64,
    /// The share of intervals in which it grew.
    pub(crate) steadiness: f64,
    pub(crate) significant: bool,
    pub(crate) route: Option<RouteMatch>,
}

/// The sites that grew over a window of snapshots.
#[derive(Debug, Default)]
pub(crate) struct GrowthReport {
    pub(crate) snapshots: usize,
    /// From the first snapshot to the last.
    pub(crate) minutes: f64,
    /// Significant first, each group by rate.
    pub(crate) suspects: Vec<Suspect>,
    pub(crate) omitted: usize,
    /// The spawn sites whose live tasks grew, piling up first.
    pub(crate) tasks: Vec<TaskGrowth>,
}

/// The growth over the heap history's snapshots of the last `window`
/// (every stored one without it), named by the symbolizer. Blocking: the
/// first names take a while.
pub(crate) fn over_history(window: Option<Duration>, spec: &GrowthSpec) -> GrowthReport {
    growth(&history::window().within(window), spec, |addresses| {
        SYMBOLIZER.resolve_addresses(addresses)
    })
}

/// The growth over the points of `window` (oldest first), their stacks'
/// frames given by `resolve`.
pub(crate) fn growth(
    window: &HistoryWindow,
    spec: &GrowthSpec,
    resolve: impl FnOnce(&[u64]) -> Vec<AddressFrames>,
) -> GrowthReport {
    let points = window.points();
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return GrowthReport::default();
    };
    if points.len() < 2 {
        return GrowthReport {
            snapshots: points.len(),
            ..GrowthReport::default()
        };
    }
    let minutes = minutes_of(points);
    let table = window.address_table(resolve);
    let resolved = |_: &[u64]| table.frames.clone();
    let sites = site_series(window, spec, resolved);
    let tasks = task_growth(window, &minutes, resolved);
    let routes = route_series(points);
    let mut suspects: Vec<Suspect> = sites
        .into_values()
        .filter_map(|series| suspect(series, &minutes, &routes))
        .collect();
    suspects.sort_by(|a, b| {
        b.significant
            .cmp(&a.significant)
            .then(b.bytes_per_minute.total_cmp(&a.bytes_per_minute))
            .then_with(|| a.name.cmp(&b.name))
    });
    let omitted = keep_first(&mut suspects, spec.limit);
    GrowthReport {
        snapshots: points.len(),
        minutes: last
            .moment
            .instant
            .duration_since(first.moment.instant)
            .as_secs_f64()
            / 60.0,
        suspects,
        omitted,
        tasks,
    }
}

fn site_series(
    window: &HistoryWindow,
    spec: &GrowthSpec,
    resolve: impl FnOnce(&[u64]) -> Vec<AddressFrames>,
) -> HashMap<SiteId, SiteSeries> {
    series_by(window, resolve, |stack| {
        let kept = spec
            .filter
            .as_deref()
            .is_none_or(|needle| stack.frames().any(|frame| frame.matches(needle)));
        let name = kept.then(|| key_of(stack, Grouping::Site)).flatten()?;
        let location =
            named_frame(stack, Grouping::Site).map_or_else(String::new, |frame| frame.location());
        Some((SiteId::of(Grouping::Site, &name), name, location))
    })
}

/// Each route's requests and net bytes at each snapshot.
struct RouteSeries {
    requests: Vec<f64>,
    net: Vec<f64>,
}

fn route_series(points: &[Arc<HistoryPoint>]) -> HashMap<Arc<str>, RouteSeries> {
    let mut routes: HashMap<Arc<str>, RouteSeries> = HashMap::new();
    for (index, point) in points.iter().enumerate() {
        for (route, totals) in &point.routes {
            let series = routes.entry(route.clone()).or_insert_with(|| RouteSeries {
                requests: vec![0.0; points.len()],
                net: vec![0.0; points.len()],
            });
            series.requests[index] = totals.requests as f64;
            series.net[index] = totals.net as f64;
        }
    }
    routes
}

fn suspect(
    series: SiteSeries,
    minutes: &[f64],
    routes: &HashMap<Arc<str>, RouteSeries>,
) -> Option<Suspect> {
    let n = series.bytes.len();
    let growth = series.bytes[n - 1] - series.bytes[0];
    let (slope, slope_error) = fit_line(minutes, &series.bytes);
    if slope <= 0.0 && growth <= 0.0 {
        return None;
    }
    let steadiness = steadiness(&series.bytes);
    let growth_error = Z_INTERVAL * (series.variance[0] + series.variance[n - 1]).sqrt();
    let significant = growth > growth_error && slope > 0.0 && steadiness >= 0.5;
    let increments: Vec<f64> = series
        .bytes
        .windows(2)
        .map(|pair| pair[1] - pair[0])
        .collect();
    let route =
        route_from_tags(&series, growth, routes).or_else(|| best_route(&increments, routes));
    Some(Suspect {
        id: series.id,
        name: series.name,
        location: series.location,
        bytes: series.bytes[n - 1],
        growth,
        growth_error,
        bytes_per_minute: slope,
        bytes_per_minute_error: Z_INTERVAL * slope_error,
        steadiness,
        significant,
        route,
    })
}

/// The route whose requests' samples hold most of the site's growth, where
/// that is more than half of it: measured, not inferred.
fn route_from_tags(
    series: &SiteSeries,
    growth: f64,
    routes: &HashMap<Arc<str>, RouteSeries>,
) -> Option<RouteMatch> {
    if growth <= 0.0 {
        return None;
    }
    let (tag, grew) = series
        .last_by_tag
        .iter()
        .map(|(tag, last)| {
            (
                *tag,
                last - series.first_by_tag.get(tag).copied().unwrap_or(0.0),
            )
        })
        .filter(|(tag, _)| *tag != 0)
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    let share = grew / growth;
    if share <= 0.5 {
        return None;
    }
    let route = route_of_tag(tag);
    let (requests, mean_net) = routes.get(&route).map_or((0.0, 0.0), |series| {
        let n = series.requests.len();
        let requests = series.requests[n - 1] - series.requests[0];
        let net = series.net[n - 1] - series.net[0];
        (requests, if requests > 0.0 { net / requests } else { 0.0 })
    });
    Some(RouteMatch {
        route: route.to_string(),
        requests: requests.max(0.0) as u64,
        bytes_per_request: if requests > 0.0 { grew / requests } else { 0.0 },
        mean_net,
        fit: share.min(1.0),
        from_tags: true,
    })
}

/// The route whose requests best explain `increments` (the site's growth in
/// each interval), if one does.
fn best_route(increments: &[f64], routes: &HashMap<Arc<str>, RouteSeries>) -> Option<RouteMatch> {
    let total_growth: f64 = increments.iter().sum();
    if total_growth <= 0.0 {
        return None;
    }
    let squares: f64 = increments.iter().map(|g| g * g).sum();
    let mut best: Option<RouteMatch> = None;
    for (route, series) in routes {
        let requests: Vec<f64> = series
            .requests
            .windows(2)
            .map(|pair| pair[1] - pair[0])
            .collect();
        let all_requests: f64 = requests.iter().sum();
        if all_requests <= 0.0 {
            continue;
        }
        let sum_rr: f64 = requests.iter().map(|r| r * r).sum();
        let sum_gr: f64 = increments.iter().zip(&requests).map(|(g, r)| g * r).sum();
        let per_request = sum_gr / sum_rr;
        if per_request <= 0.0 {
            continue;
        }
        let residuals: f64 = increments
            .iter()
            .zip(&requests)
            .map(|(g, r)| (g - per_request * r).powi(2))
            .sum();
        let explained = (1.0 - residuals / squares).max(0.0);
        let n = series.net.len();
        let mean_net = (series.net[n - 1] - series.net[0]) / all_requests;
        let agreement = if mean_net > 0.0 {
            mean_net.min(per_request) / mean_net.max(per_request)
        } else {
            0.0
        };
        let fit = explained * (0.25 + 0.75 * agreement);
        if fit > best.as_ref().map_or(0.2, |best| best.fit) {
            best = Some(RouteMatch {
                route: route.to_string(),
                requests: all_requests as u64,
                bytes_per_request: per_request,
                mean_net,
                fit,
                from_tags: false,
            });
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use std::time::{Instant, SystemTime};

    use super::*;
    use crate::model::heap::DumpMoment;
    use crate::model::over_time::history::{Sample, Taken};
    use crate::model::symbols::{Frame, FrameKind};
    use crate::record::RouteTotals;

    /// One point: its stacks (address, bytes) and routes (name, requests, net).
    type Point<'a> = (&'a [(u64, f64)], &'a [(&'a str, u64, i64)]);

    /// A history of points a minute apart, each stack's bytes in objects
    /// of about a MiB: sampled every 16 KiB, their estimates are exact.
    fn history(points: &[Point<'_>]) -> HistoryWindow {
        let start = Instant::now();
        history::window_of(
            points
                .iter()
                .enumerate()
                .map(|(index, (stacks, routes))| Taken {
                    moment: DumpMoment::at(
                        SystemTime::now(),
                        start + Duration::from_secs(60 * index as u64),
                        1 << 14,
                    ),
                    stacks: stacks
                        .iter()
                        .map(|(address, bytes)| {
                            let sample = Sample {
                                objects: (bytes / (1 << 20) as f64).ceil() as u32,
                                bytes: bytes.round() as u64,
                            };
                            (vec![*address], sample)
                        })
                        .collect(),
                    routes: routes
                        .iter()
                        .map(|(route, requests, net)| {
                            (
                                Arc::from(*route),
                                RouteTotals {
                                    requests: *requests,
                                    net: *net,
                                    ..RouteTotals::default()
                                },
                            )
                        })
                        .collect(),
                    took: Duration::ZERO,
                })
                .collect(),
        )
    }

    /// Address 1 is `shop::cache::store`, 2 `shop::pool::refill`.
    fn resolve(addresses: &[u64]) -> Vec<AddressFrames> {
        addresses
            .iter()
            .map(|address| {
                let function = match address {
                    1 => "shop::cache::store",
                    2 => "shop::pool::refill",
                    _ => "shop::other",
                };
                Arc::from(vec![Frame {
                    function: function.into(),
                    file: Some("src/shop.rs".into()),
                    line: Some(*address as u32),
                    kind: FrameKind::App,
                }])
            })
            .collect()
    }

    const SPEC: GrowthSpec = GrowthSpec {
        filter: None,
        limit: 10,
    };

    #[test]
    fn a_steady_leak_is_named_with_its_route_and_churn_is_not() {
        let mib = 1024.0 * 1024.0;
        let points = history(&[
            (
                &[(1, 0.0 * mib), (2, 2.0 * mib)],
                &[("/json", 0, 0), ("/health", 0, 0)],
            ),
            (
                &[(1, 1.0 * mib), (2, 2.1 * mib)],
                &[("/json", 1000, 1_050_000), ("/health", 500, 0)],
            ),
            (
                &[(1, 2.0 * mib), (2, 1.9 * mib)],
                &[("/json", 2000, 2_100_000), ("/health", 1000, 0)],
            ),
            (
                &[(1, 3.0 * mib), (2, 2.0 * mib)],
                &[("/json", 3000, 3_150_000), ("/health", 1500, 0)],
            ),
        ]);
        let report = growth(&points, &SPEC, resolve);
        assert_eq!(report.snapshots, 4);
        assert!((report.minutes - 3.0).abs() < 1e-9);
        let leak = &report.suspects[0];
        assert_eq!(leak.name, "shop::cache::store");
        assert!(leak.significant, "{leak:?}");
        assert!((leak.bytes_per_minute - mib).abs() < 1.0, "{leak:?}");
        assert_eq!(leak.steadiness, 1.0);
        let route = leak.route.as_ref().expect("a route");
        assert_eq!(route.route, "/json");
        assert!(
            (route.bytes_per_request - mib / 1000.0).abs() < 1.0,
            "{route:?}"
        );
        assert_eq!(route.requests, 3000);
        for churn in report
            .suspects
            .iter()
            .filter(|s| s.name == "shop::pool::refill")
        {
            assert!(!churn.significant, "{churn:?}");
        }
    }

    #[test]
    fn growth_within_sampling_noise_is_not_significant() {
        // One sample's worth more, once: within the noise.
        let points = history(&[(&[(1, 16384.0)], &[]), (&[(1, 32768.0)], &[])]);
        let report = growth(&points, &SPEC, resolve);
        assert!(!report.suspects[0].significant, "{:?}", report.suspects[0]);
        assert!(report.suspects[0].route.is_none());
    }

    #[test]
    fn too_few_snapshots_and_a_filter() {
        let one = history(&[(&[(1, 100.0)], &[])]);
        assert!(growth(&one, &SPEC, resolve).suspects.is_empty());
        let points = history(&[(&[(1, 0.0), (2, 0.0)], &[]), (&[(1, 1e6), (2, 1e6)], &[])]);
        let only_pool = GrowthSpec {
            filter: Some("pool".to_owned()),
            limit: 10,
        };
        let report = growth(&points, &only_pool, resolve);
        assert_eq!(report.suspects.len(), 1);
        assert_eq!(report.suspects[0].name, "shop::pool::refill");
    }

    #[test]
    fn a_window_keeps_the_newest_points_each_replayed_whole() {
        let mib = 1024.0 * 1024.0;
        let points = || {
            history(&[
                (&[(1, 1.0 * mib)], &[]),
                (&[(1, 2.0 * mib)], &[]),
                (&[(1, 3.0 * mib), (2, mib)], &[]),
                (&[(1, 4.0 * mib), (2, mib)], &[]),
            ])
        };
        let kept = |window| points().within(window).points().len();
        assert_eq!(kept(None), 4);
        assert_eq!(kept(Some(Duration::from_secs(120))), 3);
        assert_eq!(kept(Some(Duration::from_secs(30))), 1);
        assert_eq!(kept(Some(Duration::from_secs(86_400))), 4);
        // The window's first point is read whole, though stored as what
        // changed since the one before it.
        let last_two = points().within(Some(Duration::from_secs(60)));
        let report = growth(&last_two, &SPEC, resolve);
        let store = &report.suspects[0];
        assert_eq!(store.name, "shop::cache::store");
        assert!((store.growth - mib).abs() < 1.0, "{store:?}");
        assert!((store.bytes - 4.0 * mib).abs() < 1.0, "{store:?}");
    }
}
