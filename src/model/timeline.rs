//! Memory over time: one background thread for the process records
//! jemalloc's allocated and resident figures, the RSS and the requests
//! recorded so far, at a fixed interval, into a bounded ring.
//!
//! The figures are the process's, so there is one timeline however many
//! layers are built: each layer's state holds a [`Subscription`] saying the
//! interval and the points it asked for, and the timeline runs at the
//! shortest interval and keeps the most points any subscription asks for.
//! The thread is a plain thread (no tokio runtime needed) and ends once the
//! last subscription is dropped.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::allocator::AllocatorStats;
use super::process::resident_set_size;
use super::wishes::{Wish, Wishes};

/// One sample of the timeline.
#[derive(Clone, Copy, Debug, Serialize)]
pub(crate) struct TimelinePoint {
    pub(crate) unix_ms: u64,
    pub(crate) allocated: u64,
    pub(crate) resident: u64,
    pub(crate) rss: Option<u64>,
    /// Requests recorded in the process by then.
    pub(crate) requests: u64,
}

#[derive(Debug)]
struct State {
    points: VecDeque<TimelinePoint>,
    wishes: Wishes,
}

impl State {
    fn capacity(&self) -> usize {
        self.wishes.points(MIN_POINTS)
    }

    fn record(&mut self, point: TimelinePoint) {
        let capacity = self.capacity();
        while self.points.len() >= capacity {
            self.points.pop_front();
        }
        self.points.push_back(point);
    }
}

/// Fewer points than this draw no line.
const MIN_POINTS: usize = 2;
/// Shorter intervals than this sample more than anyone can read.
const MIN_INTERVAL: Duration = Duration::from_millis(10);

static TIMELINE: Mutex<State> = Mutex::new(State {
    points: VecDeque::new(),
    wishes: Wishes::new(),
});
/// Wakes the sampler when the subscriptions change.
static CHANGED: Condvar = Condvar::new();

fn lock() -> MutexGuard<'static, State> {
    crate::sync::lock(&TIMELINE)
}

/// A layer's hold on the timeline: while any is alive, the sampler runs.
#[derive(Debug)]
pub(crate) struct Subscription {
    id: u64,
}

/// Asks for a point every `interval` (at least 10 ms), `points` kept (at
/// least 2), and starts the sampler if it is not running. The first point
/// is taken now.
pub(crate) fn subscribe(interval: Duration, points: usize) -> Subscription {
    let wish = Wish {
        interval: interval.max(MIN_INTERVAL),
        points: points.max(MIN_POINTS),
    };
    let mut state = lock();
    // Without a thread the timeline shows this one point.
    let id = state
        .wishes
        .add_and_start(wish, "memscope-timeline", run_sampler);
    state.record(sample());
    CHANGED.notify_all();
    Subscription { id }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        lock().wishes.remove(self.id);
        CHANGED.notify_all();
    }
}

fn run_sampler() {
    let mut state = lock();
    loop {
        let Some(interval) = state.wishes.interval_or_stop() else {
            return;
        };
        let (woken, timeout) = CHANGED
            .wait_timeout(state, interval)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state = woken;
        if timeout.timed_out() && !state.wishes.is_empty() {
            // Sampled under the lock: a few reads of jemalloc's counters
            // and of /proc, and no page waits long for the ring.
            state.record(sample());
        }
    }
}

fn sample() -> TimelinePoint {
    let stats = AllocatorStats::read();
    TimelinePoint {
        unix_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as u64),
        allocated: stats.allocated,
        resident: stats.resident,
        rss: resident_set_size(),
        requests: crate::record::recorded_in_process(),
    }
}

/// The points, oldest first.
pub(crate) fn points() -> Vec<TimelinePoint> {
    lock().points.iter().copied().collect()
}

/// The interval the timeline runs at now, and the points it keeps.
pub(crate) fn settings() -> (Duration, usize) {
    let state = lock();
    (
        state.wishes.interval().unwrap_or(MIN_INTERVAL),
        state.capacity(),
    )
}

/// Whether the sampler thread runs now.
#[cfg(test)]
fn sampler_running() -> bool {
    lock().wishes.sampler_running()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sampler_keeps_the_most_points_at_the_shortest_interval_and_stops_with_the_last_subscription()
     {
        let slow = subscribe(Duration::from_secs(3600), 3);
        let fast = subscribe(Duration::from_millis(5), 4);
        assert_eq!(settings(), (MIN_INTERVAL, 4));
        std::thread::sleep(Duration::from_millis(200));
        assert!(sampler_running());
        let points = points();
        assert_eq!(points.len(), 4, "the ring grew past its bound");
        assert!(points.windows(2).all(|w| w[0].unix_ms <= w[1].unix_ms));
        drop(fast);
        assert_eq!(settings(), (Duration::from_secs(3600), 3));
        drop(slow);
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            !sampler_running(),
            "the sampler outlived every subscription"
        );
    }
}
