//! The process-wide background recorders (the timeline's and the heap
//! history's) and what the layers ask of them: each a wish of an interval
//! and a number of points kept. A recorder runs at the shortest interval
//! and keeps the most points asked, while any wish stands, on a thread of
//! its own that the first wish starts and the last one's going stops.

use std::fmt;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// A background recorder: what it keeps and the wishes that stand, behind
/// one lock, and a condition its thread waits on, woken when the wishes
/// change.
pub(crate) struct Recorder<T: 'static> {
    /// Its thread's name.
    name: &'static str,
    /// Its thread's body: loops until `Wishes::interval_or_stop` says stop.
    run: fn(),
    state: Mutex<Recorded<T>>,
    changed: Condvar,
}

/// What a recorder keeps, and the wishes it runs for.
#[derive(Debug)]
pub(crate) struct Recorded<T> {
    pub(crate) kept: T,
    pub(crate) wishes: Wishes,
}

impl<T: Send> Recorder<T> {
    pub(crate) const fn new(name: &'static str, run: fn(), kept: T) -> Self {
        Self {
            name,
            run,
            state: Mutex::new(Recorded {
                kept,
                wishes: Wishes::new(),
            }),
            changed: Condvar::new(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Recorded<T>> {
        crate::sync::lock(&self.state)
    }

    /// Adds `wish`, starts the thread if it is not running, and wakes it to
    /// take the wish into account. The wish stands while the subscription
    /// lives.
    pub(crate) fn subscribe(&'static self, wish: Wish) -> Subscription {
        let id = self.lock().wishes.add_and_start(wish, self.name, self.run);
        self.changed.notify_all();
        Subscription { recorder: self, id }
    }

    /// For the thread: waits `timeout` or until the wishes change, and
    /// says whether the time ran out.
    pub(crate) fn wait<'a>(
        &'a self,
        state: MutexGuard<'a, Recorded<T>>,
        timeout: Duration,
    ) -> (MutexGuard<'a, Recorded<T>>, bool) {
        let (state, result) = self
            .changed
            .wait_timeout(state, timeout)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (state, result.timed_out())
    }
}

/// A layer's hold on a recorder: while any is alive, the recorder runs.
pub(crate) struct Subscription {
    recorder: &'static dyn Withdraw,
    id: u64,
}

impl fmt::Debug for Subscription {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Subscription")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.recorder.withdraw(self.id);
    }
}

/// Takes a wish back: what a subscription needs of its recorder, whatever
/// the recorder keeps.
trait Withdraw: Sync {
    fn withdraw(&self, id: u64);
}

impl<T: Send> Withdraw for Recorder<T> {
    fn withdraw(&self, id: u64) {
        self.lock().wishes.remove(id);
        self.changed.notify_all();
    }
}

/// One layer's wish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Wish {
    pub(crate) interval: Duration,
    pub(crate) points: usize,
}

/// The wishes that stand, by id, and whether the recorder's thread runs.
#[derive(Debug)]
pub(crate) struct Wishes {
    standing: Vec<(u64, Wish)>,
    next_id: u64,
    recorder_running: bool,
}

impl Wishes {
    pub(crate) const fn new() -> Self {
        Self {
            standing: Vec::new(),
            next_id: 0,
            recorder_running: false,
        }
    }

    /// Adds `wish`; its id takes it back.
    pub(crate) fn add(&mut self, wish: Wish) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.standing.push((id, wish));
        id
    }

    /// Adds `wish`, and starts the recorder, the thread `name` running
    /// `recorder`, if it is not running. Without a thread the recorder
    /// samples nothing, and the pages say so; the app is unaffected.
    pub(crate) fn add_and_start(&mut self, wish: Wish, name: &str, recorder: fn()) -> u64 {
        let id = self.add(wish);
        if !self.recorder_running {
            self.recorder_running = std::thread::Builder::new()
                .name(name.to_owned())
                .spawn(recorder)
                .is_ok();
        }
        id
    }

    /// For the recorder, under the lock: the interval to wait, or `None`
    /// when no wish is left, and the recorder is then taken as stopped.
    pub(crate) fn interval_or_stop(&mut self) -> Option<Duration> {
        let interval = self.interval();
        self.recorder_running = interval.is_some();
        interval
    }

    #[cfg(test)]
    pub(crate) fn recorder_running(&self) -> bool {
        self.recorder_running
    }

    pub(crate) fn remove(&mut self, id: u64) {
        self.standing.retain(|(standing, _)| *standing != id);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.standing.is_empty()
    }

    /// The shortest interval asked for, while any wish stands.
    pub(crate) fn interval(&self) -> Option<Duration> {
        self.standing.iter().map(|(_, wish)| wish.interval).min()
    }

    /// The most points asked for, at least `floor`.
    pub(crate) fn points(&self, floor: usize) -> usize {
        self.standing
            .iter()
            .map(|(_, wish)| wish.points)
            .max()
            .unwrap_or(floor)
            .max(floor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shortest_interval_and_the_most_points() {
        let mut wishes = Wishes::new();
        assert_eq!(wishes.interval(), None);
        let slow = wishes.add(Wish {
            interval: Duration::from_secs(60),
            points: 10,
        });
        let fast = wishes.add(Wish {
            interval: Duration::from_secs(1),
            points: 3,
        });
        assert_eq!(wishes.interval(), Some(Duration::from_secs(1)));
        assert_eq!(wishes.points(2), 10);
        wishes.remove(fast);
        assert_eq!(wishes.interval(), Some(Duration::from_secs(60)));
        wishes.remove(slow);
        assert!(wishes.is_empty());
        assert_eq!(wishes.points(2), 2);
    }
}
