//! Memory over time: one background thread for the process records what
//! memory looks like (`reading`: the allocator's figures, the RSS and what
//! the parts of it are reckoned from), the requests recorded so far and
//! the live tasks, at a fixed interval, into a bounded ring.
//!
//! The figures are the process's, so there is one timeline however many
//! layers are built: each layer's state holds a [`Subscription`] saying the
//! interval and the points it asked for, and the timeline runs at the
//! shortest interval and keeps the most points any subscription asks for.
//! The thread is a plain thread (no tokio runtime needed) and ends once the
//! last subscription is dropped.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::reading::MemoryReading;
use super::recorder::{self, Recorded, Recorder, Wish};

/// One sample of the timeline.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub(crate) struct TimelinePoint {
    pub(crate) unix_ms: u64,
    pub(crate) allocated: u64,
    pub(crate) resident: u64,
    pub(crate) rss: Option<u64>,
    /// Requests recorded in the process by then.
    pub(crate) requests: u64,
    /// What the parts of the RSS are reckoned from: the threads, their
    /// stacks, named maps, the binary's pages, memscope's own, the live
    /// tasks.
    #[serde(flatten)]
    pub(crate) memory: MemoryReading,
}

/// Fewer points than this draw no line.
pub(crate) const MIN_POINTS: usize = 2;
/// Shorter intervals than this sample more than anyone can read.
pub(crate) const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// The points, oldest first, and the wishes of the layers.
static TIMELINE: Recorder<VecDeque<TimelinePoint>> =
    Recorder::new("memscope-timeline", run_recorder, VecDeque::new());

/// A layer's hold on the timeline: while any is alive, the recorder runs.
pub(crate) type Subscription = recorder::Subscription;

/// Asks for a point every `interval` (at least 10 ms), `points` kept (at
/// least 2), and starts the recorder if it is not running. The first point
/// is taken now.
pub(crate) fn subscribe(interval: Duration, points: usize) -> Subscription {
    let subscription = TIMELINE.subscribe(Wish {
        interval: interval.max(MIN_INTERVAL),
        points: points.max(MIN_POINTS),
    });
    // Without a thread the timeline shows this one point.
    record(&mut TIMELINE.lock(), sample());
    subscription
}

fn run_recorder() {
    let mut state = TIMELINE.lock();
    loop {
        let Some(interval) = state.wishes.interval_or_stop() else {
            return;
        };
        let (woken, timed_out) = TIMELINE.wait(state, interval);
        state = woken;
        if timed_out && !state.wishes.is_empty() {
            // Read outside the lock (the mappings, a few reads of /proc):
            // no page waits for it.
            drop(state);
            let point = sample();
            state = TIMELINE.lock();
            record(&mut state, point);
        }
    }
}

/// Keeps `point`, dropping the oldest past the most points asked for.
fn record(state: &mut Recorded<VecDeque<TimelinePoint>>, point: TimelinePoint) {
    let capacity = state.wishes.points(MIN_POINTS);
    while state.kept.len() >= capacity {
        state.kept.pop_front();
    }
    state.kept.push_back(point);
}

/// A point now, not kept: what the timeline records, and what a black box
/// capture ends its timeline with.
pub(crate) fn sample() -> TimelinePoint {
    let memory = MemoryReading::now();
    TimelinePoint {
        unix_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as u64),
        allocated: memory.stats.allocated,
        resident: memory.stats.resident,
        rss: memory.kinds.map(|kinds| kinds.total()),
        requests: crate::record::recorded_in_process(),
        memory,
    }
}

/// The points, oldest first.
pub(crate) fn points() -> Vec<TimelinePoint> {
    TIMELINE.lock().kept.iter().copied().collect()
}

/// The interval the timeline runs at now, and the points it keeps.
pub(crate) fn settings() -> (Duration, usize) {
    let state = TIMELINE.lock();
    (
        state.wishes.interval().unwrap_or(MIN_INTERVAL),
        state.wishes.points(MIN_POINTS),
    )
}

/// Whether the recorder thread runs now.
#[cfg(test)]
fn recorder_running() -> bool {
    TIMELINE.lock().wishes.recorder_running()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_recorder_keeps_the_most_points_at_the_shortest_interval_and_stops_with_the_last_subscription()
     {
        let slow = subscribe(Duration::from_secs(3600), 3);
        let fast = subscribe(Duration::from_millis(5), 4);
        assert_eq!(settings(), (MIN_INTERVAL, 4));
        std::thread::sleep(Duration::from_millis(200));
        assert!(recorder_running());
        let points = points();
        assert_eq!(points.len(), 4, "the ring grew past its bound");
        assert!(points.windows(2).all(|w| w[0].unix_ms <= w[1].unix_ms));
        drop(fast);
        assert_eq!(settings(), (Duration::from_secs(3600), 3));
        drop(slow);
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            !recorder_running(),
            "the recorder outlived every subscription"
        );
    }
}
