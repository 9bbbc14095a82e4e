//! What the layer remembers of the requests it passed to the app: the last
//! N requests in a ring, and totals per route since start. Both bounded.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rustc_hash::FxHashMap;
use serde::{Serialize, Serializer};

use super::route::RouteSource;

/// Routes kept apart at most; later ones are added up in one row, so that
/// an app whose paths never repeat cannot grow the table without bound.
pub(crate) const MAX_ROUTES: usize = 1_000;
pub(crate) const OTHER_ROUTES: &str = "(other routes)";

/// One request, as measured around every poll of its future and body.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct RequestRecord {
    pub(crate) id: u64,
    /// When the layer received it, in milliseconds since the Unix epoch.
    pub(crate) started_unix_ms: u64,
    #[serde(serialize_with = "method_name")]
    pub(crate) method: http::Method,
    /// axum's matched route, or the path with identifiers collapsed.
    pub(crate) path: Arc<str>,
    /// `null` when the inner service failed or the request was dropped
    /// before it answered.
    pub(crate) status: Option<u16>,
    /// From the layer receiving it to the end of its body.
    pub(crate) wall_us: u64,
    /// Time inside the polls of its future and body (busy time).
    pub(crate) cpu_us: u64,
    pub(crate) allocated: u64,
    pub(crate) freed: u64,
    /// `allocated - freed`: what the request left behind, as far as the
    /// threads that polled it can tell.
    pub(crate) net: i64,
    /// Whether the body was read to its end, rather than dropped.
    pub(crate) completed: bool,
}

fn method_name<S: Serializer>(method: &http::Method, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(method.as_str())
}

/// A request as the meter hands it over, its route not yet named.
pub(crate) struct FinishedRequest {
    pub(crate) id: u64,
    pub(crate) started: Instant,
    pub(crate) ended: Instant,
    pub(crate) method: http::Method,
    pub(crate) route: RouteSource,
    pub(crate) status: Option<u16>,
    pub(crate) cpu_us: u64,
    pub(crate) allocated: u64,
    pub(crate) freed: u64,
    pub(crate) completed: bool,
}

/// Totals for one route since start.
#[derive(Clone, Debug, Default)]
pub(crate) struct RouteTotals {
    pub(crate) requests: u64,
    pub(crate) wall_us: u64,
    pub(crate) cpu_us: u64,
    pub(crate) allocated: u64,
    pub(crate) net: i64,
}

#[derive(Debug)]
struct Inner {
    ring: VecDeque<RequestRecord>,
    /// Also the interned route names that records share.
    routes: FxHashMap<Arc<str>, RouteTotals>,
}

/// The ring and the route totals of one layer.
#[derive(Debug)]
pub(crate) struct RequestLog {
    capacity: usize,
    next_id: AtomicU64,
    inner: Mutex<Inner>,
    /// One reading of both clocks, so that a request's start needs only the
    /// monotonic one.
    created_unix_ms: u64,
    created: Instant,
}

impl RequestLog {
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            next_id: AtomicU64::new(1),
            inner: Mutex::new(Inner {
                // Allocated once, up front: the ring never grows past it.
                ring: VecDeque::with_capacity(capacity),
                routes: FxHashMap::default(),
            }),
            created_unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| since.as_millis() as u64),
            created: Instant::now(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new request's id. Ids count the requests the layer passed on.
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Requests passed on so far.
    pub(crate) fn count(&self) -> u64 {
        self.next_id.load(Ordering::Relaxed) - 1
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn push(&self, finished: FinishedRequest) {
        let wall_us = finished
            .ended
            .saturating_duration_since(finished.started)
            .as_micros() as u64;
        let net = finished.allocated as i64 - finished.freed as i64;
        let started_unix_ms = self.created_unix_ms
            + finished
                .started
                .saturating_duration_since(self.created)
                .as_millis() as u64;
        let name = finished.route.name();
        let mut inner = self.lock();
        let full = inner.routes.len() >= MAX_ROUTES;
        let (route, totals) = match inner.routes.get_key_value(name.as_ref()) {
            Some((route, _)) => {
                let route = route.clone();
                let totals = inner.routes.get_mut(&route).expect("just found");
                (route, totals)
            }
            None => {
                let route: Arc<str> = if full {
                    OTHER_ROUTES.into()
                } else {
                    name.as_ref().into()
                };
                let totals = inner.routes.entry(route.clone()).or_default();
                (route, totals)
            }
        };
        totals.requests += 1;
        totals.wall_us += wall_us;
        totals.cpu_us += finished.cpu_us;
        totals.allocated += finished.allocated;
        totals.net += net;
        if inner.ring.len() == self.capacity {
            inner.ring.pop_front();
        }
        inner.ring.push_back(RequestRecord {
            id: finished.id,
            started_unix_ms,
            method: finished.method,
            path: route,
            status: finished.status,
            wall_us,
            cpu_us: finished.cpu_us,
            allocated: finished.allocated,
            freed: finished.freed,
            net,
            completed: finished.completed,
        });
    }

    /// The records in the ring, oldest first.
    pub(crate) fn records(&self) -> Vec<RequestRecord> {
        self.lock().ring.iter().cloned().collect()
    }

    pub(crate) fn record(&self, id: u64) -> Option<RequestRecord> {
        self.lock()
            .ring
            .iter()
            .find(|record| record.id == id)
            .cloned()
    }

    pub(crate) fn routes(&self) -> Vec<(String, RouteTotals)> {
        self.lock()
            .routes
            .iter()
            .map(|(route, totals)| (route.to_string(), totals.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(log: &RequestLog, path: &str) -> FinishedRequest {
        let now = Instant::now();
        FinishedRequest {
            id: log.next_id(),
            started: now,
            ended: now,
            method: http::Method::GET,
            route: RouteSource::Path(path.parse().unwrap()),
            status: Some(200),
            cpu_us: 5,
            allocated: 100,
            freed: 40,
            completed: true,
        }
    }

    #[test]
    fn ring_stays_at_capacity_and_totals_keep_counting() {
        let log = RequestLog::new(3);
        for _ in 1..=10 {
            log.push(finished(&log, "/a"));
        }
        let ids: Vec<u64> = log.records().iter().map(|r| r.id).collect();
        assert_eq!(ids, vec![8, 9, 10]);
        assert!(log.record(7).is_none());
        let routes = log.routes();
        assert_eq!(routes[0].1.requests, 10);
        assert_eq!(routes[0].1.net, 600);
    }

    #[test]
    fn route_table_is_bounded() {
        let log = RequestLog::new(1);
        for id in 0..(MAX_ROUTES + 50) {
            log.push(finished(&log, &format!("/r{id}")));
        }
        let routes = log.routes();
        assert_eq!(routes.len(), MAX_ROUTES + 1);
        let other = routes
            .iter()
            .find(|(route, _)| route == OTHER_ROUTES)
            .unwrap();
        assert_eq!(other.1.requests, 50);
    }
}
