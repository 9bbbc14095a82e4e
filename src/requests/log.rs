//! What the layer remembers of the requests it passed to the app: the last
//! N requests in a ring, and totals per route since start. Both bounded.
//!
//! Every request closes with one short critical section here, on whichever
//! worker thread ends it, so the ring stores plain records (see `ring.rs`)
//! and names live once, in the route and method tables.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use rustc_hash::FxHashMap;
use serde::Serialize;

use super::ring::{Ring, StoredRecord};
use super::route::RouteName;
use super::route_cache::cached_row;

/// Routes kept apart at most; later ones are added up in one row, so that
/// an app whose paths never repeat cannot grow the table without bound.
pub(crate) const MAX_ROUTES: usize = 1_000;
pub(crate) const OTHER_ROUTES: &str = "(other routes)";
/// Request methods kept apart at most: the standard nine, and the first 32
/// others (a client may send any token as a method).
const MAX_METHODS: usize = STANDARD_METHODS.len() + 32;
const OTHER_METHODS: &str = "(other methods)";

/// One request, as measured around every poll of its future and body.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct RequestRecord {
    /// Ids count the requests recorded, in the order they ended.
    pub(crate) id: u64,
    /// When the layer received it, in milliseconds since the Unix epoch.
    pub(crate) started_unix_ms: u64,
    pub(crate) method: Arc<str>,
    /// axum's matched route, or the path with identifiers collapsed.
    pub(crate) path: Arc<str>,
    /// `null` when the inner service failed or the request was dropped
    /// before it answered.
    pub(crate) status: Option<u16>,
    /// From the layer receiving it to the end of its body.
    pub(crate) wall_us: u64,
    /// Time inside the inner service's `call` and the polls of its future
    /// and body (busy time; see `meter.rs` for the spans it adds up).
    pub(crate) cpu_us: u64,
    pub(crate) allocated: u64,
    pub(crate) freed: u64,
    /// `allocated - freed`: what the request left behind, as far as the
    /// threads that polled it can tell.
    pub(crate) net: i64,
    /// Whether the body was read to its end, rather than dropped.
    pub(crate) completed: bool,
}

/// A request as the meter hands it over, its times in ticks of the log's
/// clock.
pub(crate) struct FinishedRequest {
    pub(crate) started: u64,
    pub(crate) ended: u64,
    /// Its index in the method table; see [`RequestLog::method_code`].
    pub(crate) method: u16,
    /// Its row in the route table; see [`RequestLog::route_row`].
    pub(crate) route: u32,
    /// 0 when there is none: HTTP status codes start at 100.
    pub(crate) status: u16,
    pub(crate) busy_ticks: u64,
    pub(crate) allocated: u64,
    pub(crate) freed: u64,
    pub(crate) completed: bool,
}

/// Totals for one route since start.
#[derive(Debug)]
pub(crate) struct RouteTotals {
    pub(crate) requests: u64,
    pub(crate) wall_us: u64,
    pub(crate) cpu_us: u64,
    pub(crate) allocated: u64,
    pub(crate) net: i64,
}

/// A route's totals as requests add to them: times in clock ticks.
#[derive(Debug, Default)]
struct RouteTicks {
    requests: u64,
    wall_ticks: u64,
    busy_ticks: u64,
    allocated: u64,
    net: i64,
}

/// The standard methods, in the method table's first rows, so that a
/// request's method needs no lookup (and no lock) to become an index.
const STANDARD_METHODS: [http::Method; 9] = [
    http::Method::GET,
    http::Method::POST,
    http::Method::PUT,
    http::Method::DELETE,
    http::Method::HEAD,
    http::Method::OPTIONS,
    http::Method::PATCH,
    http::Method::CONNECT,
    http::Method::TRACE,
];

/// `method`'s row in every method table, if it is a standard one.
fn standard_method_code(method: &http::Method) -> Option<u16> {
    STANDARD_METHODS
        .iter()
        .position(|standard| standard == method)
        .map(|index| index as u16)
}

#[derive(Debug)]
struct Inner {
    ring: Ring,
    /// Requests recorded so far: the last one's id.
    recorded: u64,
    /// Each route's row in `routes`.
    route_index: FxHashMap<Arc<str>, u32>,
    routes: Vec<(Arc<str>, RouteTicks)>,
    methods: Vec<(http::Method, Arc<str>)>,
    other_methods: Arc<str>,
}

impl Inner {
    /// The row for `name`, added if it is new; once [`MAX_ROUTES`] rows
    /// exist, new names share the [`OTHER_ROUTES`] row.
    fn route_row(&mut self, name: &str) -> u32 {
        if let Some(&row) = self.route_index.get(name) {
            return row;
        }
        let name = if self.routes.len() >= MAX_ROUTES {
            OTHER_ROUTES
        } else {
            name
        };
        if let Some(&row) = self.route_index.get(name) {
            return row;
        }
        let name: Arc<str> = name.into();
        let row = self.routes.len() as u32;
        self.route_index.insert(name.clone(), row);
        self.routes.push((name, RouteTicks::default()));
        row
    }

    /// `method`'s index in the method table; [`u16::MAX`] once the table
    /// is full and `method` is not in it.
    fn method_index(&mut self, method: &http::Method) -> u16 {
        if let Some(index) = self.methods.iter().position(|(known, _)| known == method) {
            return index as u16;
        }
        if self.methods.len() >= MAX_METHODS {
            return u16::MAX;
        }
        self.methods.push((method.clone(), method.as_str().into()));
        (self.methods.len() - 1) as u16
    }
}

/// The ring and the route totals of one layer.
#[derive(Debug)]
pub(crate) struct RequestLog {
    /// Tells this log apart in the threads' route caches.
    id: u64,
    inner: Mutex<Inner>,
    /// The clock meters read around every poll; see `meter.rs`.
    clock: quanta::Clock,
    /// One reading of both clocks, so that a request's start needs only the
    /// fast one.
    created_unix_ms: u64,
    created_ticks: u64,
}

impl RequestLog {
    pub(crate) fn new(capacity: usize) -> Self {
        // The first clock in a process calibrates the time-stamp counter
        // against the monotonic clock: 0.5 to 200 ms, once.
        let clock = quanta::Clock::new();
        static LOGS: AtomicU64 = AtomicU64::new(0);
        Self {
            id: LOGS.fetch_add(1, Ordering::Relaxed),
            inner: Mutex::new(Inner {
                ring: Ring::with_capacity(capacity),
                recorded: 0,
                route_index: FxHashMap::default(),
                routes: Vec::new(),
                methods: STANDARD_METHODS
                    .iter()
                    .map(|method| (method.clone(), method.as_str().into()))
                    .collect(),
                other_methods: OTHER_METHODS.into(),
            }),
            created_unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| since.as_millis() as u64),
            created_ticks: clock.raw(),
            clock,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn clock(&self) -> &quanta::Clock {
        &self.clock
    }

    /// Requests recorded so far (ended, or dropped before their end).
    pub(crate) fn count(&self) -> u64 {
        self.lock().recorded
    }

    pub(crate) fn capacity(&self) -> usize {
        self.lock().ring.capacity()
    }

    /// The row a request known as `name` is counted in, added if it is new.
    pub(crate) fn route_row(&self, name: &RouteName<'_>) -> u32 {
        match name {
            #[cfg(feature = "axum")]
            RouteName::Matched(matched) => {
                super::route_cache::matched_row(self.id, matched, || {
                    self.named_route_row(matched.as_str())
                })
            }
            RouteName::Path(path) => self.named_route_row(path),
        }
    }

    /// The row `name` is counted in, added if it is new.
    fn named_route_row(&self, name: &str) -> u32 {
        cached_row(self.id, name, || {
            let mut inner = self.lock();
            let row = inner.route_row(name);
            (inner.routes[row as usize].0.clone(), row)
        })
    }

    /// The row `method` is counted in: a standard method's is fixed; any
    /// other is added to the table (under the lock) if it is new.
    pub(crate) fn method_code(&self, method: &http::Method) -> u16 {
        standard_method_code(method).unwrap_or_else(|| self.lock().method_index(method))
    }

    pub(crate) fn push(&self, finished: FinishedRequest) {
        let wall_ticks = finished.ended.saturating_sub(finished.started);
        let mut inner = self.lock();
        let totals = &mut inner.routes[finished.route as usize].1;
        totals.requests += 1;
        totals.wall_ticks += wall_ticks;
        totals.busy_ticks += finished.busy_ticks;
        totals.allocated += finished.allocated;
        totals.net += finished.allocated as i64 - finished.freed as i64;
        inner.recorded += 1;
        let id = inner.recorded;
        inner.ring.push(StoredRecord {
            id,
            started: finished.started,
            wall_ticks,
            busy_ticks: finished.busy_ticks,
            allocated: finished.allocated,
            freed: finished.freed,
            route: finished.route,
            method: finished.method,
            status: finished.status,
            completed: finished.completed,
        });
    }

    fn micros(&self, ticks: u64) -> u64 {
        self.clock.delta_as_nanos(0, ticks) / 1_000
    }

    fn view(&self, inner: &Inner, stored: &StoredRecord) -> RequestRecord {
        let method = inner
            .methods
            .get(usize::from(stored.method))
            .map_or(&inner.other_methods, |(_, name)| name);
        let since_created = stored.started.saturating_sub(self.created_ticks);
        RequestRecord {
            id: stored.id,
            started_unix_ms: self.created_unix_ms + self.micros(since_created) / 1_000,
            method: method.clone(),
            path: inner.routes[stored.route as usize].0.clone(),
            status: (stored.status != 0).then_some(stored.status),
            wall_us: self.micros(stored.wall_ticks),
            cpu_us: self.micros(stored.busy_ticks),
            allocated: stored.allocated,
            freed: stored.freed,
            net: stored.allocated as i64 - stored.freed as i64,
            completed: stored.completed,
        }
    }

    /// The records in the ring, oldest first.
    pub(crate) fn records(&self) -> Vec<RequestRecord> {
        let inner = self.lock();
        inner
            .ring
            .iter()
            .map(|stored| self.view(&inner, stored))
            .collect()
    }

    pub(crate) fn record(&self, id: u64) -> Option<RequestRecord> {
        let inner = self.lock();
        let stored = inner.ring.iter().find(|stored| stored.id == id)?;
        Some(self.view(&inner, stored))
    }

    pub(crate) fn routes(&self) -> Vec<(String, RouteTotals)> {
        self.lock()
            .routes
            .iter()
            .map(|(route, ticks)| {
                let totals = RouteTotals {
                    requests: ticks.requests,
                    wall_us: self.micros(ticks.wall_ticks),
                    cpu_us: self.micros(ticks.busy_ticks),
                    allocated: ticks.allocated,
                    net: ticks.net,
                };
                (route.to_string(), totals)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(log: &RequestLog, path: &str) -> FinishedRequest {
        let now = log.clock().raw();
        FinishedRequest {
            started: now,
            ended: now,
            method: log.method_code(&http::Method::GET),
            route: log.named_route_row(path),
            status: 200,
            busy_ticks: 5,
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
        assert_eq!(log.count(), 10);
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

    #[test]
    fn method_table_is_bounded() {
        let log = RequestLog::new(100);
        let others = MAX_METHODS - STANDARD_METHODS.len();
        for index in 0..(others + 5) {
            let mut request = finished(&log, "/a");
            let method = http::Method::from_bytes(format!("M{index}").as_bytes()).unwrap();
            request.method = log.method_code(&method);
            log.push(request);
        }
        let records = log.records();
        assert_eq!(&*records[0].method, "M0");
        assert_eq!(&*records[others - 1].method, format!("M{}", others - 1));
        assert_eq!(&*records[others].method, OTHER_METHODS);
        assert_eq!(log.lock().methods.len(), MAX_METHODS);
    }
}
