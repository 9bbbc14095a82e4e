//! The heap over time: one background thread for the process takes a heap
//! profile at a fixed interval (a minute by default) and keeps a bounded
//! ring of them (an hour), each with what every route's requests had
//! allocated and kept by then. Stacks are kept as jemalloc gives them,
//! return addresses unresolved until a page needs names: each distinct
//! stack once, each snapshot as the counts that changed since the one
//! before (`store`), replayed whole by the pages that read them
//! (`window`).
//!
//! Like the timeline, the history is the process's: each layer's state
//! holds a [`Subscription`], the recorder (`recorder::Recorder`) runs at the
//! shortest interval and keeps the most snapshots asked for, and ends with
//! the last subscription.
//! Where heap profiling is off it takes nothing.

mod store;
mod window;

pub(crate) use store::{Change, HistoryPoint, StackTable};
pub(crate) use window::HistoryWindow;

use std::collections::HashMap;
use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use super::recorder::{self, Recorded, Recorder, Wish};
use crate::model::heap::{self, route_of_tag};
use crate::model::process::tag_frame;
use crate::record::{RouteTotals, routes_in_process};
pub(crate) use store::Sample;
use store::Store;
#[cfg(test)]
pub(crate) use store::Taken;
#[cfg(not(test))]
use store::Taken;

type State = Recorded<Store>;

static HISTORY: Recorder<Store> = Recorder::new("memscope-history", run_recorder, Store::new());

/// A layer's hold on the history: while any is alive, the recorder runs.
pub(crate) type Subscription = recorder::Subscription;

/// A shorter interval than this would make the history's dumps a load.
pub(crate) const MIN_INTERVAL: Duration = Duration::from_millis(50);
/// Fewer snapshots than this show no growth.
pub(crate) const MIN_SNAPSHOTS: usize = 2;

/// Asks for a snapshot every `interval` (at least 50 ms), `snapshots` kept
/// (at least 2), and starts the recorder if it is not running. The first
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

fn run_recorder() {
    // memscope's own thread: its snapshots' work in memscope's arena,
    // given back after each (`allocator::own_arena`).
    crate::model::allocator::bind_to_own_arena();
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
        crate::model::allocator::purge_own_arena();
        state = lock();
        if let Some(point) = point {
            record(&mut state, point);
        }
    }
}

/// A snapshot of the heap now, if heap profiling runs.
fn take() -> Option<Taken> {
    let started = Instant::now();
    let raw = heap::raw_snapshot_blocking().ok()?;
    let routes = routes_now();
    let profile = &raw.profile;
    let stacks = profile
        .stacks
        .iter()
        .map(|stack| {
            let sample = Sample {
                objects: u32::try_from(stack.live.sampled_objects).unwrap_or(u32::MAX),
                bytes: stack.live.sampled_bytes,
            };
            // The tag rides as a last frame, so that a route's stack is
            // kept apart from the same code's under another route.
            let mut addresses: Vec<u64> = profile.addresses_of(stack).collect();
            if stack.tag != 0 {
                addresses.push(tag_frame(stack.tag));
            }
            (addresses, sample)
        })
        .collect();
    Some(Taken {
        moment: raw.moment,
        routes,
        took: started.elapsed(),
        stacks,
    })
}

/// Every route's totals in the process now, as a snapshot keeps them.
pub(crate) fn routes_now() -> Vec<(Arc<str>, RouteTotals)> {
    routes_in_process()
        .into_iter()
        .map(|(route, totals)| (Arc::from(route), totals))
        .collect()
}

/// Keeps `taken`, and lets the oldest go past the most snapshots asked.
fn record(state: &mut State, taken: Taken) {
    let capacity = state.wishes.points(MIN_SNAPSHOTS);
    state.kept.record(taken, capacity);
}

/// The stored snapshots, oldest first: when each was taken and what it
/// cost, without its stacks.
pub(crate) fn points() -> Vec<Arc<HistoryPoint>> {
    lock().kept.points().iter().cloned().collect()
}

/// The stored snapshots with their stacks, for a reader to replay outside
/// the history's lock.
pub(crate) fn window() -> HistoryWindow {
    let state = lock();
    let (stacks, frames) = state.kept.tables();
    HistoryWindow {
        stored: state.kept.points().iter().cloned().collect(),
        start: 0,
        stacks,
        frames,
    }
}

/// The newest snapshot's live bytes by route (or scope) name: `None`
/// before the first.
pub(crate) fn newest_by_route() -> Option<Vec<(Arc<str>, f64)>> {
    let by_tag = {
        let state = lock();
        state.kept.points().back()?;
        state.kept.newest_by_tag()
    };
    let mut by_route: HashMap<Arc<str>, f64> = HashMap::new();
    for (tag, bytes) in by_tag {
        *by_route.entry(route_of_tag(tag)).or_default() += bytes;
    }
    Some(by_route.into_iter().collect())
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
    let points = state.kept.points();
    (
        points.len(),
        points.front().map(|point| point.moment.taken_at),
        points.back().map(|point| point.moment.taken_at),
    )
}

/// How long ago the newest snapshot was taken: what the pages that read
/// the history say of their figures' age.
pub(crate) fn newest_age() -> Option<Duration> {
    let taken_at = lock().kept.points().back()?.moment.taken_at;
    Some(taken_at.elapsed().unwrap_or_default())
}

/// A window of hand-built snapshots, for the model's tests: each stored
/// as the recorder stores them.
#[cfg(test)]
pub(crate) fn window_of(taken: Vec<Taken>) -> HistoryWindow {
    let mut store = Store::new();
    let capacity = taken.len();
    for point in taken {
        store.record(point, capacity);
    }
    let (stacks, frames) = store.tables();
    HistoryWindow {
        stored: store.points().iter().cloned().collect(),
        start: 0,
        stacks,
        frames,
    }
}

/// What the stored snapshots take, in bytes: the stack table and each
/// snapshot's changes (an estimate from the types' sizes).
pub(crate) fn footprint() -> u64 {
    lock().kept.footprint()
}
