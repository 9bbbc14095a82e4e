//! What the layer remembers of the requests it passed to the app: the last
//! N requests in a ring, and totals per route since start. Both bounded.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::Serialize;

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
    pub(crate) method: String,
    /// axum's matched route, or the path with identifiers collapsed.
    pub(crate) path: String,
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
    routes: HashMap<String, RouteTotals>,
}

/// The ring and the route totals of one layer.
#[derive(Debug)]
pub(crate) struct RequestLog {
    capacity: usize,
    next_id: AtomicU64,
    inner: Mutex<Inner>,
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
                routes: HashMap::new(),
            }),
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

    pub(crate) fn push(&self, record: RequestRecord) {
        let mut inner = self.lock();
        let routes = inner.routes.len();
        let totals = match inner.routes.get_mut(&record.path) {
            Some(totals) => totals,
            None => {
                let key = if routes < MAX_ROUTES {
                    record.path.clone()
                } else {
                    OTHER_ROUTES.to_owned()
                };
                inner.routes.entry(key).or_default()
            }
        };
        totals.requests += 1;
        totals.wall_us += record.wall_us;
        totals.cpu_us += record.cpu_us;
        totals.allocated += record.allocated;
        totals.net += record.net;
        if inner.ring.len() == self.capacity {
            inner.ring.pop_front();
        }
        inner.ring.push_back(record);
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
            .map(|(route, totals)| (route.clone(), totals.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: u64, path: &str) -> RequestRecord {
        RequestRecord {
            id,
            started_unix_ms: 0,
            method: "GET".into(),
            path: path.into(),
            status: Some(200),
            wall_us: 10,
            cpu_us: 5,
            allocated: 100,
            freed: 40,
            net: 60,
            completed: true,
        }
    }

    #[test]
    fn ring_stays_at_capacity_and_totals_keep_counting() {
        let log = RequestLog::new(3);
        for id in 1..=10 {
            log.push(record(id, "/a"));
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
        for id in 0..(MAX_ROUTES as u64 + 50) {
            log.push(record(id, &format!("/r{id}")));
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
