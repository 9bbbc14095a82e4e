//! The heap over time: one background thread for the process takes a heap
//! profile at a fixed interval (a minute by default) and keeps a bounded
//! ring of them (an hour), each with what every route's requests had
//! allocated and kept by then. Stacks are kept as jemalloc gives them,
//! return addresses unresolved until a page needs names, and a stack's
//! addresses are shared by every snapshot that holds it, so a snapshot
//! costs about 60 bytes a distinct stack.
//!
//! Like the timeline, the history is the process's: each layer's state
//! holds a [`Subscription`], the sampler (`wishes::Sampler`) runs at the
//! shortest interval and keeps the most snapshots asked for, and ends with
//! the last subscription.
//! Where heap profiling is off it takes nothing.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use super::heap::{self, AddressFrames, DumpMoment, HeapSnapshot, SYMBOLIZER, Stack};
use super::wishes::{self, Sampled, Sampler, Wish};
use crate::record::{RouteTotals, routes_in_process};

/// One stack of a stored snapshot.
#[derive(Clone, Debug)]
pub(crate) struct HistoryStack {
    /// Return addresses, leaf first; shared with the other snapshots.
    pub(crate) addresses: Arc<[u64]>,
    pub(crate) objects: f64,
    pub(crate) bytes: f64,
    pub(crate) samples: u64,
    pub(crate) bytes_variance: f64,
}

/// One stored snapshot.
#[derive(Debug)]
pub(crate) struct HistoryPoint {
    pub(crate) moment: DumpMoment,
    pub(crate) stacks: Vec<HistoryStack>,
    /// Every route's totals since start, when the snapshot was taken.
    pub(crate) routes: Vec<(Arc<str>, RouteTotals)>,
    /// What taking it cost: the dump, and the bookkeeping after it.
    pub(crate) took: Duration,
}

impl HistoryPoint {
    /// The point as a snapshot the tables and diffs read, its addresses
    /// resolved now.
    pub(crate) fn to_snapshot(&self) -> HeapSnapshot {
        let frames = SYMBOLIZER.resolve_all(self.stacks.iter().map(|stack| &stack.addresses[..]));
        let stacks = self
            .stacks
            .iter()
            .zip(frames)
            .map(|(stack, address_frames)| stack_of(stack, address_frames))
            .collect();
        let mut snapshot = HeapSnapshot::empty(self.moment.clone());
        snapshot.stacks = stacks;
        snapshot
    }
}

/// A stored stack as a snapshot's, with its frames.
pub(crate) fn stack_of(stack: &HistoryStack, address_frames: Vec<AddressFrames>) -> Stack {
    Stack {
        addresses: stack.addresses.to_vec(),
        address_frames,
        objects: stack.objects,
        bytes: stack.bytes,
        samples: stack.samples,
        bytes_variance: stack.bytes_variance,
        allocated: Default::default(),
    }
}

/// The stored snapshots, and every stack's addresses they hold, once.
#[derive(Debug)]
struct Stored {
    points: VecDeque<Arc<HistoryPoint>>,
    addresses: HashSet<Arc<[u64]>, rustc_hash::FxBuildHasher>,
}

type State = Sampled<Stored>;

static HISTORY: Sampler<Stored> = Sampler::new(
    "memscope-history",
    run_sampler,
    Stored {
        points: VecDeque::new(),
        addresses: HashSet::with_hasher(rustc_hash::FxBuildHasher),
    },
);

/// A layer's hold on the history: while any is alive, the sampler runs.
pub(crate) type Subscription = wishes::Subscription;

/// A shorter interval than this would make the history's dumps a load.
pub(crate) const MIN_INTERVAL: Duration = Duration::from_millis(50);
/// Fewer snapshots than this show no growth.
pub(crate) const MIN_SNAPSHOTS: usize = 2;

/// Asks for a snapshot every `interval` (at least 50 ms), `snapshots` kept
/// (at least 2), and starts the sampler if it is not running. The first
/// snapshot is taken one interval from now.
pub(crate) fn subscribe(interval: Duration, snapshots: usize) -> Subscription {
    HISTORY.subscribe(Wish {
        interval: interval.max(MIN_INTERVAL),
        points: snapshots.max(MIN_SNAPSHOTS),
    })
}

fn lock() -> MutexGuard<'static, State> {
    HISTORY.lock()
}

fn run_sampler() {
    let mut state = lock();
    let mut due: Option<Instant> = None;
    loop {
        let Some(interval) = state.wishes.interval_or_stop() else {
            return;
        };
        // Not later than a shorter interval asked meanwhile would make it.
        let next = due.map_or(Instant::now() + interval, |due| {
            due.min(Instant::now() + interval)
        });
        due = Some(next);
        let wait = next.saturating_duration_since(Instant::now());
        state = HISTORY.wait(state, wait).0;
        if Instant::now() < next || state.wishes.is_empty() {
            continue;
        }
        due = None;
        // The dump runs outside the history's lock: pages read the
        // history meanwhile.
        drop(state);
        let point = take();
        state = lock();
        if let Some(point) = point {
            record(&mut state, point);
        }
    }
}

/// A snapshot of the heap now, if heap profiling runs.
fn take() -> Option<HistoryPoint> {
    let started = Instant::now();
    let raw = heap::raw_snapshot_blocking().ok()?;
    let routes = routes_in_process()
        .into_iter()
        .map(|(route, totals)| (Arc::from(route), totals))
        .collect();
    let stacks = raw
        .profile
        .stacks
        .into_iter()
        .filter(|stack| stack.live.objects > 0.0)
        .map(|stack| HistoryStack {
            addresses: stack.addresses.into(),
            objects: stack.live.objects,
            bytes: stack.live.bytes,
            samples: stack.live.sampled_objects,
            bytes_variance: stack.live.bytes_variance,
        })
        .collect();
    Some(HistoryPoint {
        moment: raw.moment,
        stacks,
        routes,
        took: started.elapsed(),
    })
}

/// Keeps `point`, its stacks' addresses shared with the points before it,
/// and lets the oldest go past the bound.
fn record(state: &mut State, mut point: HistoryPoint) {
    for stack in &mut point.stacks {
        match state.kept.addresses.get(&stack.addresses) {
            Some(known) => stack.addresses = known.clone(),
            None => {
                state.kept.addresses.insert(stack.addresses.clone());
            }
        }
    }
    state.kept.points.push_back(Arc::new(point));
    let capacity = state.wishes.points(MIN_SNAPSHOTS);
    let mut dropped = false;
    while state.kept.points.len() > capacity {
        state.kept.points.pop_front();
        dropped = true;
    }
    if dropped {
        // Addresses only the dropped points held.
        state
            .kept
            .addresses
            .retain(|addresses| Arc::strong_count(addresses) > 1);
    }
}

/// The stored snapshots, oldest first.
pub(crate) fn points() -> Vec<Arc<HistoryPoint>> {
    lock().kept.points.iter().cloned().collect()
}

/// The interval and the snapshots kept, while the history runs.
pub(crate) fn settings() -> Option<(Duration, usize)> {
    let state = lock();
    state
        .wishes
        .interval()
        .map(|interval| (interval, state.wishes.points(MIN_SNAPSHOTS)))
}

/// The snapshots stored, and when the first and the last were taken.
pub(crate) fn span() -> (usize, Option<SystemTime>, Option<SystemTime>) {
    let state = lock();
    let points = &state.kept.points;
    (
        points.len(),
        points.front().map(|point| point.moment.taken_at),
        points.back().map(|point| point.moment.taken_at),
    )
}

/// The stored snapshot nearest to `when`, if any.
pub(crate) fn nearest(when: SystemTime) -> Option<Arc<HistoryPoint>> {
    let distance = |point: &Arc<HistoryPoint>| match point.moment.taken_at.duration_since(when) {
        Ok(after) => after,
        Err(before) => before.duration(),
    };
    lock()
        .kept
        .points
        .iter()
        .min_by_key(|point| distance(point))
        .cloned()
}

/// What the stored snapshots take: their stacks and the addresses shared
/// among them, in bytes (an estimate from the types' sizes).
pub(crate) fn footprint() -> u64 {
    let state = lock();
    let stacks: usize = state
        .kept
        .points
        .iter()
        .map(|point| point.stacks.len())
        .sum();
    let addresses: usize = state
        .kept
        .addresses
        .iter()
        .map(|addresses| addresses.len())
        .sum();
    (stacks * std::mem::size_of::<HistoryStack>()
        + addresses * std::mem::size_of::<u64>()
        + state.kept.addresses.len() * 32) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(stacks: &[(&[u64], f64)]) -> HistoryPoint {
        HistoryPoint {
            moment: DumpMoment::at(SystemTime::now(), Instant::now(), 1 << 19),
            stacks: stacks
                .iter()
                .map(|(addresses, bytes)| HistoryStack {
                    addresses: Arc::from(*addresses),
                    objects: 1.0,
                    bytes: *bytes,
                    samples: 1,
                    bytes_variance: 0.0,
                })
                .collect(),
            routes: Vec::new(),
            took: Duration::ZERO,
        }
    }

    #[test]
    fn points_share_their_stacks_and_stay_within_the_bound() {
        let mut state = State {
            kept: Stored {
                points: VecDeque::new(),
                addresses: HashSet::with_hasher(rustc_hash::FxBuildHasher),
            },
            wishes: wishes::Wishes::new(),
        };
        state.wishes.add(Wish {
            interval: Duration::from_secs(1),
            points: 3,
        });
        for round in 0..5u64 {
            record(
                &mut state,
                point(&[(&[1, 2, 3], 10.0), (&[round + 10], 5.0)]),
            );
        }
        assert_eq!(state.kept.points.len(), 3);
        // One stack in every point, one a round: 1 + 3 kept.
        assert_eq!(state.kept.addresses.len(), 4);
        let first = &state.kept.points[0].stacks[0].addresses;
        let last = &state.kept.points[2].stacks[0].addresses;
        assert!(
            Arc::ptr_eq(first, last),
            "the same stack's addresses are shared"
        );
    }
}
