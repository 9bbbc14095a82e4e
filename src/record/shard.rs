//! Where requests are recorded as they end: each thread writes into a
//! shard of its own, so that closing a request takes no lock, needs no
//! reference to its log, and writes no cache line another thread writes
//! but the log's request count.
//!
//! A log's shards are in its [`ShardSet`]. A thread takes a shard the first
//! time it ends one of the log's requests and keeps it in a thread-local
//! until it exits; the shard then goes back to the set for the next thread
//! that needs one, so a log has at most as many shards as threads that were
//! ending its requests at one time, whatever the churn of threads. Readers
//! (the pages) add the shards up.
//!
//! The request count is shared because it hands out ids in the order
//! requests end; with two threads serving at once, counting in each shard
//! instead made no difference the in-process bench could see
//! (BENCHMARKS.md).

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use super::ring::{Ring, StoredRecord};
use super::route_totals::{RouteColumns, RouteTicks};
use crate::sync::lock;

/// A request as the meter hands it over, its times in clock ticks.
pub(crate) struct FinishedRequest {
    pub(crate) started: u64,
    pub(crate) ended: u64,
    /// Its index in the method table; see `RequestLog::method_code`.
    pub(crate) method: u16,
    /// Its row in the route table; see `RequestLog::route_row`.
    pub(crate) route: u32,
    /// 0 when there is none: HTTP status codes start at 100.
    pub(crate) status: u16,
    pub(crate) busy_ticks: u64,
    pub(crate) allocated: u64,
    pub(crate) freed: u64,
    pub(crate) completed: bool,
}

/// The log's request count, on a cache line of its own: every thread that
/// ends a request adds to it.
#[derive(Default)]
#[repr(align(128))]
struct RequestCount(AtomicU64);

/// One thread's records and route totals.
pub(super) struct Shard {
    pub(super) ring: Ring,
    pub(super) routes: RouteColumns,
    /// Shared with the set and its other shards.
    count: Arc<RequestCount>,
    /// A thread writes here now; no other may.
    owned: AtomicBool,
    /// The log is gone: nothing will read this shard again.
    orphaned: AtomicBool,
}

impl Shard {
    /// Only the thread that owns the shard calls this.
    #[inline]
    fn record(&self, finished: &FinishedRequest) {
        let id = self.count.0.fetch_add(1, Ordering::Relaxed) + 1;
        let wall_ticks = finished.ended.saturating_sub(finished.started);
        self.routes.add(
            finished.route,
            RouteTicks {
                requests: 1,
                wall_ticks,
                busy_ticks: finished.busy_ticks,
                allocated: finished.allocated,
                net: finished.allocated as i64 - finished.freed as i64,
            },
        );
        self.ring.push(StoredRecord {
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
}

/// The shards of one log.
pub(super) struct ShardSet {
    /// Each shard's ring capacity.
    capacity: usize,
    count: Arc<RequestCount>,
    shards: Mutex<Vec<Arc<Shard>>>,
}

/// The sets of the logs alive, by log id: where a thread that has no shard
/// of a log yet finds the log's set.
static LIVE_SETS: Mutex<Vec<(u64, Weak<ShardSet>)>> = Mutex::new(Vec::new());

impl ShardSet {
    pub(super) fn new(log: u64, capacity: usize) -> Arc<Self> {
        let set = Arc::new(Self {
            capacity: capacity.max(1),
            count: Arc::default(),
            shards: Mutex::new(Vec::new()),
        });
        let mut live = lock(&LIVE_SETS);
        live.retain(|(_, set)| set.strong_count() > 0);
        live.push((log, Arc::downgrade(&set)));
        set
    }

    /// Requests recorded so far: the last id handed out.
    pub(super) fn count(&self) -> u64 {
        self.count.0.load(Ordering::Relaxed)
    }

    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Every shard, owned or not.
    pub(super) fn shards(&self) -> Vec<Arc<Shard>> {
        lock(&self.shards).clone()
    }

    /// A shard for the calling thread to write to: one no thread owns, or
    /// a new one.
    fn take(&self) -> Arc<Shard> {
        let mut shards = lock(&self.shards);
        let free = shards.iter().find(|shard| {
            shard
                .owned
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        });
        if let Some(shard) = free {
            return shard.clone();
        }
        let shard = Arc::new(Shard {
            ring: Ring::with_capacity(self.capacity),
            routes: RouteColumns::default(),
            count: self.count.clone(),
            owned: AtomicBool::new(true),
            orphaned: AtomicBool::new(false),
        });
        shards.push(shard.clone());
        shard
    }
}

impl Drop for ShardSet {
    fn drop(&mut self) {
        for shard in lock(&self.shards).iter() {
            shard.orphaned.store(true, Ordering::Relaxed);
        }
    }
}

/// Requests recorded so far by every log alive in the process.
pub(crate) fn recorded_in_process() -> u64 {
    // Upgraded under the registry's lock, dropped after it (see `live_set`).
    let sets: Vec<Arc<ShardSet>> = lock(&LIVE_SETS)
        .iter()
        .filter_map(|(_, set)| set.upgrade())
        .collect();
    sets.iter().map(|set| set.count()).sum()
}

/// The set of log `log`, if the log is alive.
fn live_set(log: u64) -> Option<Arc<ShardSet>> {
    let weak = lock(&LIVE_SETS)
        .iter()
        .find(|(id, _)| *id == log)
        .map(|(_, set)| set.clone())?;
    // Upgraded after the registry's lock is let go: should this be the
    // last reference when it is dropped, the set's drop takes the lock.
    weak.upgrade()
}

/// A shard this thread owns, given back when the thread exits.
struct OwnedShard {
    log: u64,
    shard: Arc<Shard>,
}

impl Drop for OwnedShard {
    fn drop(&mut self) {
        // Release: the next owner sees every record this thread wrote.
        self.shard.owned.store(false, Ordering::Release);
    }
}

thread_local! {
    static OWNED: RefCell<Vec<OwnedShard>> = const { RefCell::new(Vec::new()) };
}

/// Records `finished` in log `log`'s shard for this thread. A request that
/// ends after its log is gone is not recorded: no page can show it.
pub(super) fn record(log: u64, finished: &FinishedRequest) {
    let recorded = OWNED.try_with(|owned| {
        let Ok(mut owned) = owned.try_borrow_mut() else {
            return false;
        };
        if let Some(mine) = owned.iter().find(|mine| mine.log == log) {
            mine.shard.record(finished);
            return true;
        }
        let Some(set) = live_set(log) else {
            return true;
        };
        let shard = set.take();
        shard.record(finished);
        // Shards of logs that are gone, given back (and freed) now.
        owned.retain(|mine| !mine.shard.orphaned.load(Ordering::Relaxed));
        owned.push(OwnedShard { log, shard });
        true
    });
    if recorded != Ok(true) {
        record_without_thread_local(log, finished);
    }
}

/// For a thread whose thread-locals are gone (it is exiting): a shard
/// taken for this one record.
#[cold]
fn record_without_thread_local(log: u64, finished: &FinishedRequest) {
    if let Some(set) = live_set(log) {
        let taken = OwnedShard {
            log,
            shard: set.take(),
        };
        taken.shard.record(finished);
        // Dropped here: the shard goes back to the set.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished() -> FinishedRequest {
        FinishedRequest {
            started: 1,
            ended: 2,
            method: 0,
            route: 0,
            status: 200,
            busy_ticks: 1,
            allocated: 10,
            freed: 10,
            completed: true,
        }
    }

    #[test]
    fn a_thread_lets_go_of_the_shards_of_logs_that_are_gone() {
        let set = ShardSet::new(9_000_001, 4);
        record(9_000_001, &finished());
        let shard = set.shards()[0].clone();
        assert_eq!(shard.ring.written(), 1);
        drop(set);
        // Into the orphaned shard, which no page will read.
        record(9_000_001, &finished());
        let other = ShardSet::new(9_000_002, 4);
        record(9_000_002, &finished());
        assert_eq!(other.count(), 1);
        assert_eq!(Arc::strong_count(&shard), 1, "the thread let go of it");
        // No set left to take a shard from: nothing recorded, nothing kept.
        record(9_000_001, &finished());
        assert_eq!(OWNED.with_borrow(Vec::len), 1);
    }
}
