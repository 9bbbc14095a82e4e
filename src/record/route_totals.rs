//! One thread's totals per route, readable by any thread while it adds to
//! them.
//!
//! As with the ring (`ring.rs`), only the shard's owner writes, so adding
//! is a load and a store per counter, no locked instruction; a page adds
//! up every shard's totals when it reads them. A reader may see one
//! request's counters half added; the next read has them all.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use super::route::MAX_ROUTES;

/// Rows are allocated in chunks, as routes appear: most apps have a few.
const ROWS_PER_CHUNK: usize = 64;
/// Room for [`MAX_ROUTES`] and the row the rest share.
const CHUNKS: usize = (MAX_ROUTES + 1).div_ceil(ROWS_PER_CHUNK);

/// A route's totals, times in clock ticks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct RouteTicks {
    pub(super) requests: u64,
    pub(super) wall_ticks: u64,
    pub(super) busy_ticks: u64,
    pub(super) allocated: u64,
    pub(super) net: i64,
}

impl RouteTicks {
    /// Adds `other` to these totals (a page summing shards).
    pub(super) fn add(&mut self, other: RouteTicks) {
        self.requests += other.requests;
        self.wall_ticks += other.wall_ticks;
        self.busy_ticks += other.busy_ticks;
        self.allocated += other.allocated;
        self.net += other.net;
    }
}

#[derive(Default)]
struct Row {
    requests: AtomicU64,
    wall_ticks: AtomicU64,
    busy_ticks: AtomicU64,
    allocated: AtomicU64,
    /// An `i64`, stored as its bits.
    net: AtomicU64,
}

type Chunk = [Row; ROWS_PER_CHUNK];

/// One shard's totals for every route row of its log.
#[derive(Default)]
pub(super) struct RouteColumns {
    chunks: [OnceLock<Box<Chunk>>; CHUNKS],
}

impl RouteColumns {
    /// Adds one request to `row`. Only the shard's owner calls this.
    #[inline]
    pub(super) fn add(&self, row: u32, request: RouteTicks) {
        let row = row as usize;
        let Some(chunk) = self.chunks.get(row / ROWS_PER_CHUNK) else {
            // The log hands out no row past MAX_ROUTES.
            return;
        };
        let chunk = chunk.get_or_init(|| Box::new(std::array::from_fn(|_| Row::default())));
        let row = &chunk[row % ROWS_PER_CHUNK];
        add_to(&row.requests, request.requests);
        add_to(&row.wall_ticks, request.wall_ticks);
        add_to(&row.busy_ticks, request.busy_ticks);
        add_to(&row.allocated, request.allocated);
        add_to(&row.net, request.net as u64);
    }

    /// The totals of `row` so far.
    pub(super) fn read(&self, row: u32) -> RouteTicks {
        let row = row as usize;
        let Some(chunk) = self
            .chunks
            .get(row / ROWS_PER_CHUNK)
            .and_then(OnceLock::get)
        else {
            return RouteTicks::default();
        };
        let row = &chunk[row % ROWS_PER_CHUNK];
        RouteTicks {
            requests: row.requests.load(Ordering::Relaxed),
            wall_ticks: row.wall_ticks.load(Ordering::Relaxed),
            busy_ticks: row.busy_ticks.load(Ordering::Relaxed),
            allocated: row.allocated.load(Ordering::Relaxed),
            net: row.net.load(Ordering::Relaxed) as i64,
        }
    }
}

/// `counter += amount` for a counter with one writer: a load and a store,
/// where `fetch_add` would be a locked instruction. Wrapping, as `net`'s
/// bits must.
#[inline]
fn add_to(counter: &AtomicU64, amount: u64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(amount),
        Ordering::Relaxed,
    );
}

/// Totals for one route since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct RouteTotals {
    pub(crate) requests: u64,
    pub(crate) wall_us: u64,
    /// Busy time, as `RequestRecord::busy_us`.
    pub(crate) busy_us: u64,
    pub(crate) allocated: u64,
    pub(crate) net: i64,
}

impl RouteTotals {
    /// Adds `other`'s counts to these.
    pub(crate) fn add(&mut self, other: &RouteTotals) {
        self.requests += other.requests;
        self.wall_us += other.wall_us;
        self.busy_us += other.busy_us;
        self.allocated += other.allocated;
        self.net += other.net;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_up_to_the_bound_adds_up() {
        let columns = RouteColumns::default();
        let request = RouteTicks {
            requests: 1,
            wall_ticks: 10,
            busy_ticks: 4,
            allocated: 100,
            net: -30,
        };
        for row in [0, 63, 64, MAX_ROUTES as u32] {
            columns.add(row, request);
            columns.add(row, request);
            let mut twice = request;
            twice.add(request);
            assert_eq!(columns.read(row), twice);
        }
        assert_eq!(columns.read(1), RouteTicks::default());
        assert_eq!(columns.read(u32::MAX), RouteTicks::default());
    }
}
