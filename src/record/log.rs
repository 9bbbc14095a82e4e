//! What the layer remembers of the requests it passed to the app: the last
//! N requests, and totals per route since start. Both bounded.
//!
//! Requests are written where they end, into the ending thread's shard
//! (`shard.rs`), as plain records whose names are rows of the route and
//! method tables here; the tables are locked only when a route is new to
//! a thread or a method is not a standard one. Pages read the shards and
//! the tables and put them together.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use rustc_hash::FxHashMap;
use serde::Serialize;

use super::clock;
use super::ring::StoredRecord;
use super::route::{MAX_ROUTES, OTHER_ROUTES, RouteName};
use super::route_cache::cached_row;
use super::route_totals::{RouteTicks, RouteTotals};
use super::shard::ShardSet;
#[cfg(test)]
use super::shard::{FinishedRequest, record};
use super::tag::{TagTable, scope_name, tag_table};

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
    /// and body (see `meter.rs` for the spans it adds up): busy time, which
    /// includes time the thread was descheduled or blocked inside a poll.
    pub(crate) busy_us: u64,
    /// The same figure as `busy_us`, under the name it first had: scripts
    /// read it. It is not CPU time.
    pub(crate) cpu_us: u64,
    pub(crate) allocated: u64,
    pub(crate) freed: u64,
    /// `allocated - freed`: what the request left behind, as far as the
    /// threads that polled it can tell.
    pub(crate) net: i64,
    /// Whether the body was read to its end, rather than dropped.
    pub(crate) completed: bool,
}

/// The logs the layers hold, for what the process's history records.
static LIVE_LOGS: Mutex<Vec<std::sync::Weak<RequestLog>>> = Mutex::new(Vec::new());

/// Every live log's route totals, added up by route name: what the
/// process's requests have allocated and kept, route by route.
pub(crate) fn routes_in_process() -> Vec<(String, RouteTotals)> {
    // Upgraded under the registry's lock, read after it.
    let logs: Vec<Arc<RequestLog>> = crate::sync::lock(&LIVE_LOGS)
        .iter()
        .filter_map(std::sync::Weak::upgrade)
        .collect();
    let mut totals: FxHashMap<String, RouteTotals> = FxHashMap::default();
    for log in logs {
        for (route, route_totals) in log.routes() {
            totals.entry(route).or_default().add(&route_totals);
        }
    }
    totals.into_iter().collect()
}

/// The name a route tag stands for: a live log's route, or a scope's name;
/// `None` for no tag, or a log that is gone.
pub(crate) fn tag_name(tag: u32) -> Option<Arc<str>> {
    // A tag names the same route for as long as its log lives: rows are
    // never removed. Kept here, so that a table of tens of thousands of
    // stacks looks each tag up once.
    static KNOWN: Mutex<Option<FxHashMap<u32, Arc<str>>>> = Mutex::new(None);
    if let Some(name) = crate::sync::lock(&KNOWN)
        .as_ref()
        .and_then(|known| known.get(&tag))
    {
        return Some(name.clone());
    }
    let name = tag_name_uncached(tag)?;
    crate::sync::lock(&KNOWN)
        .get_or_insert_with(FxHashMap::default)
        .insert(tag, name.clone());
    Some(name)
}

fn tag_name_uncached(tag: u32) -> Option<Arc<str>> {
    let (table, row) = tag_table(tag)?;
    match table {
        TagTable::Scopes => scope_name(row),
        TagTable::Captured => super::tag::captured_name(row),
        TagTable::Log(id) => {
            let log = crate::sync::lock(&LIVE_LOGS)
                .iter()
                .filter_map(std::sync::Weak::upgrade)
                .find(|log| log.id == id)?;
            let tables = log.lock();
            tables.routes.get(row as usize).cloned()
        }
    }
}

/// Every tag this process has given a name now, with the name and whether
/// it is a scope's: what a black box capture keeps, so that the process
/// that reads it after a restart can name its stacks' routes.
pub(crate) fn known_tags() -> Vec<(u32, Arc<str>, bool)> {
    let logs: Vec<Arc<RequestLog>> = crate::sync::lock(&LIVE_LOGS)
        .iter()
        .filter_map(std::sync::Weak::upgrade)
        .collect();
    let mut known = Vec::new();
    for log in logs {
        let tables = log.lock();
        for (row, route) in tables.routes.iter().enumerate() {
            known.push((
                super::tag::route_tag(log.id, row as u32),
                route.clone(),
                false,
            ));
        }
    }
    known.extend(
        super::tag::scope_names()
            .into_iter()
            .map(|(tag, name)| (tag, name, true)),
    );
    known
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

/// The names records refer to by row.
#[derive(Debug)]
struct Tables {
    /// Each route's row in `routes`.
    route_index: FxHashMap<Arc<str>, u32>,
    routes: Vec<Arc<str>>,
    methods: Vec<(http::Method, Arc<str>)>,
    other_methods: Arc<str>,
}

impl Tables {
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
        self.routes.push(name);
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

/// The requests and route totals of one layer.
pub(crate) struct RequestLog {
    /// Tells this log apart in the threads' shards and route caches.
    id: u64,
    shards: Arc<ShardSet>,
    tables: Mutex<Tables>,
    /// One reading of both clocks, so that a request's start needs only the
    /// fast one.
    created_unix_ms: u64,
    created_ticks: u64,
}

impl std::fmt::Debug for RequestLog {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("RequestLog")
            .field("id", &self.id)
            .field("recorded", &self.count())
            .finish_non_exhaustive()
    }
}

impl RequestLog {
    /// A log that shows the last `capacity` requests. Each thread that ends
    /// requests keeps up to `capacity` of its own (64 bytes each), so that
    /// the last `capacity` are there wherever they ended.
    pub(crate) fn new(capacity: usize) -> Self {
        static LOGS: AtomicU64 = AtomicU64::new(0);
        let id = LOGS.fetch_add(1, Ordering::Relaxed);
        Self {
            id,
            shards: ShardSet::new(id, capacity),
            tables: Mutex::new(Tables {
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
            created_ticks: clock::ticks(),
        }
    }

    /// A log as the layers hold it, known to [`routes_in_process`].
    pub(crate) fn shared(capacity: usize) -> Arc<Self> {
        let log = Arc::new(Self::new(capacity));
        let mut live = crate::sync::lock(&LIVE_LOGS);
        live.retain(|log| log.strong_count() > 0);
        live.push(Arc::downgrade(&log));
        log
    }

    /// What a meter knows its log by.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    fn lock(&self) -> MutexGuard<'_, Tables> {
        crate::sync::lock(&self.tables)
    }

    /// Requests recorded so far (ended, or dropped before their end).
    pub(crate) fn count(&self) -> u64 {
        self.shards.count()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.shards.capacity()
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
            let mut tables = self.lock();
            let row = tables.route_row(name);
            (tables.routes[row as usize].clone(), row)
        })
    }

    /// The row `method` is counted in: a standard method's is fixed; any
    /// other is added to the table (under the lock) if it is new.
    pub(crate) fn method_code(&self, method: &http::Method) -> u16 {
        standard_method_code(method).unwrap_or_else(|| self.lock().method_index(method))
    }

    /// Records a request as a meter does, on the calling thread.
    #[cfg(test)]
    fn push(&self, finished: FinishedRequest) {
        record(self.id, &finished);
    }

    fn view(&self, tables: &Tables, stored: &StoredRecord) -> RequestRecord {
        let method = tables
            .methods
            .get(usize::from(stored.method))
            .map_or(&tables.other_methods, |(_, name)| name);
        let since_created = stored.started.saturating_sub(self.created_ticks);
        RequestRecord {
            id: stored.id,
            started_unix_ms: self.created_unix_ms + clock::micros(since_created) / 1_000,
            method: method.clone(),
            path: tables.routes[stored.route as usize].clone(),
            status: (stored.status != 0).then_some(stored.status),
            wall_us: clock::micros(stored.wall_ticks),
            busy_us: clock::micros(stored.busy_ticks),
            cpu_us: clock::micros(stored.busy_ticks),
            allocated: stored.allocated,
            freed: stored.freed,
            net: stored.allocated as i64 - stored.freed as i64,
            completed: stored.completed,
        }
    }

    /// The last `capacity` records of every shard, oldest first.
    fn stored(&self) -> Vec<StoredRecord> {
        let mut stored: Vec<StoredRecord> = self
            .shards
            .shards()
            .iter()
            .flat_map(|shard| shard.ring.snapshot())
            .collect();
        stored.sort_unstable_by_key(|record| record.id);
        stored
    }

    /// The last `capacity` requests recorded, oldest first.
    pub(crate) fn records(&self) -> Vec<RequestRecord> {
        let stored = self.stored();
        let newest = &stored[stored.len().saturating_sub(self.capacity())..];
        let tables = self.lock();
        newest
            .iter()
            .map(|stored| self.view(&tables, stored))
            .collect()
    }

    /// Request `id`, if it is among the last `capacity`.
    pub(crate) fn record(&self, id: u64) -> Option<RequestRecord> {
        // Older than the last `capacity`: not worth reading every ring.
        if id.saturating_add(self.capacity() as u64) <= self.count() {
            return None;
        }
        let stored = self.shards.shards().iter().find_map(|shard| {
            shard
                .ring
                .snapshot()
                .into_iter()
                .find(|stored| stored.id == id)
        })?;
        Some(self.view(&self.lock(), &stored))
    }

    pub(crate) fn routes(&self) -> Vec<(String, RouteTotals)> {
        let shards = self.shards.shards();
        let names = self.lock().routes.clone();
        names
            .iter()
            .enumerate()
            .map(|(row, route)| {
                let mut ticks = RouteTicks::default();
                for shard in &shards {
                    ticks.add(shard.routes.read(row as u32));
                }
                let totals = RouteTotals {
                    requests: ticks.requests,
                    wall_us: clock::micros(ticks.wall_ticks),
                    busy_us: clock::micros(ticks.busy_ticks),
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
        let now = clock::ticks();
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
        assert!(log.record(u64::MAX).is_none());
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

    /// Requests end on threads that come and go, two at a time: the pages
    /// see one list (the newest `capacity` of all) and one set of totals,
    /// and the log never keeps more shards than threads at once.
    #[test]
    fn threads_record_apart_and_pages_see_them_together() {
        let log = Arc::new(RequestLog::new(50));
        for _ in 0..8 {
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let log = log.clone();
                    std::thread::spawn(move || {
                        for _ in 0..40 {
                            log.push(finished(&log, "/a"));
                        }
                    })
                })
                .collect();
            for thread in threads {
                thread.join().unwrap();
            }
        }
        assert_eq!(log.count(), 640);
        let ids: Vec<u64> = log.records().iter().map(|r| r.id).collect();
        assert_eq!(ids, (591..=640).collect::<Vec<_>>());
        assert!(log.record(590).is_none());
        assert_eq!(log.record(600).unwrap().id, 600);
        assert_eq!(log.routes()[0].1.requests, 640);
        assert_eq!(log.routes()[0].1.net, 640 * 60);
        assert!(log.shards.shards().len() <= 2);
    }
}
