//! Memory over time: a background thread records jemalloc's allocated and
//! resident figures, the RSS and the request count at a fixed interval into
//! a bounded ring. It is a plain thread, so it needs no tokio runtime, and
//! it holds only a weak reference to the layer's state: once the state is
//! dropped, the thread ends at its next tick.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::allocator::AllocatorStats;
use crate::process::resident_set_size;
use crate::state::Shared;

/// One sample of the timeline.
#[derive(Clone, Copy, Debug, Serialize)]
pub(crate) struct TimelinePoint {
    pub(crate) unix_ms: u64,
    pub(crate) allocated: u64,
    pub(crate) resident: u64,
    pub(crate) rss: Option<u64>,
    /// Requests the layer had passed on by then.
    pub(crate) requests: u64,
}

/// The ring of points.
#[derive(Debug)]
pub(crate) struct Timeline {
    capacity: usize,
    pub(crate) interval: Duration,
    points: Mutex<VecDeque<TimelinePoint>>,
}

/// Sampler threads running now, in this process.
static RUNNING_SAMPLERS: AtomicUsize = AtomicUsize::new(0);

impl Timeline {
    pub(crate) fn new(capacity: usize, interval: Duration) -> Self {
        let capacity = capacity.max(2);
        Self {
            capacity,
            interval,
            points: Mutex::new(VecDeque::with_capacity(capacity)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<TimelinePoint>> {
        crate::sync::lock(&self.points)
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    fn record(&self, point: TimelinePoint) {
        let mut points = self.lock();
        if points.len() == self.capacity {
            points.pop_front();
        }
        points.push_back(point);
    }

    /// The points, oldest first.
    pub(crate) fn points(&self) -> Vec<TimelinePoint> {
        self.lock().iter().copied().collect()
    }
}

fn sample(requests: u64) -> TimelinePoint {
    let stats = AllocatorStats::read();
    TimelinePoint {
        unix_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as u64),
        allocated: stats.allocated,
        resident: stats.resident,
        rss: resident_set_size(),
        requests,
    }
}

/// Starts the sampler of `shared`'s timeline; it ends once `shared` is gone.
pub(crate) fn start_sampler(shared: &Arc<Shared>) {
    shared.timeline.record(sample(shared.requests()));
    let weak: Weak<Shared> = Arc::downgrade(shared);
    let interval = shared.timeline.interval;
    let spawned = std::thread::Builder::new()
        .name("memscope-timeline".to_owned())
        .spawn(move || {
            RUNNING_SAMPLERS.fetch_add(1, Ordering::SeqCst);
            loop {
                std::thread::sleep(interval);
                let Some(shared) = weak.upgrade() else { break };
                shared.timeline.record(sample(shared.requests()));
            }
            RUNNING_SAMPLERS.fetch_sub(1, Ordering::SeqCst);
        });
    // Without a thread there is no timeline, and the pages say so by
    // showing a single point; the app itself is unaffected.
    drop(spawned);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Config;

    #[test]
    fn sampler_records_within_its_bound_and_stops_with_the_state() {
        let before = RUNNING_SAMPLERS.load(Ordering::SeqCst);
        let config = Config {
            sampler_interval: Duration::from_millis(5),
            timeline_points: 4,
            ..Config::default()
        };
        let shared = Arc::new(Shared::new(config));
        start_sampler(&shared);
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(RUNNING_SAMPLERS.load(Ordering::SeqCst), before + 1);
        let points = shared.timeline.points();
        assert_eq!(points.len(), 4, "the ring grew past its bound");
        assert!(points.windows(2).all(|w| w[0].unix_ms <= w[1].unix_ms));
        drop(shared);
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(RUNNING_SAMPLERS.load(Ordering::SeqCst), before);
    }
}
