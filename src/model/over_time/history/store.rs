//! How the heap history keeps its snapshots small: every distinct return
//! address once, numbered; every distinct stack once, as the numbers of
//! its addresses (4 bytes a frame rather than 8), in a table that numbers
//! the stacks; the oldest stored
//! snapshot as each of its live stacks' sampled counts; every later one as
//! the stacks whose counts changed since the snapshot before it. A heap
//! that holds still costs one table and one full snapshot, however many
//! snapshots are kept; one that churns, 16 bytes a stack that changed.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustc_hash::FxBuildHasher;

use crate::model::allocator::Counts;
use crate::model::heap::DumpMoment;
use crate::model::process::split_tag;
use crate::record::RouteTotals;

/// A stack's sampled counts in one snapshot: what jemalloc's dump says,
/// scaled up only when a page reads it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Sample {
    pub(crate) objects: u32,
    pub(crate) bytes: u64,
}

/// A stack whose sample changed; an `objects` count of 0 means it is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Change {
    pub(crate) stack: u32,
    pub(crate) sample: Sample,
}

/// One stored snapshot.
#[derive(Debug)]
pub(crate) struct HistoryPoint {
    pub(crate) moment: DumpMoment,
    /// Every route's totals since start, when the snapshot was taken.
    pub(crate) routes: Vec<(Arc<str>, RouteTotals)>,
    /// What taking it cost: the dump, and the bookkeeping after it.
    pub(crate) took: Duration,
    /// By stack number. For the oldest point stored, its live stacks; for
    /// every other, what changed since the point before it.
    pub(crate) changes: Box<[Change]>,
}

/// A snapshot to store: its stacks' addresses and samples, as dumped.
pub(crate) struct Taken {
    pub(crate) moment: DumpMoment,
    pub(crate) routes: Vec<(Arc<str>, RouteTotals)>,
    pub(crate) took: Duration,
    pub(crate) stacks: Vec<(Vec<u64>, Sample)>,
}

/// Frame numbers by stack number (`None` for a free number).
pub(crate) type StackTable = Vec<Option<Arc<[u32]>>>;

/// The route tag stack `number` of `stacks` was sampled under (0 for
/// none): its last frame, where that is a tag rather than an address of
/// `frames`.
pub(crate) fn tag_of(stacks: &StackTable, frames: &[u64], number: usize) -> u32 {
    stacks
        .get(number)
        .and_then(|numbers| numbers.as_deref())
        .and_then(|numbers| numbers.last())
        .map_or(0, |&frame| tag_at(frames, frame))
}

/// The tag frame number `frame` of `frames` carries, 0 where it is an
/// address.
pub(crate) fn tag_at(frames: &[u64], frame: u32) -> u32 {
    frames
        .get(frame as usize)
        .map_or(0, |&address| split_tag(&[address]).1)
}

/// The stack table and the stored points.
#[derive(Debug)]
pub(crate) struct Store {
    /// Every return address seen, by its number; never dropped (there are
    /// only as many as the program has call sites).
    frames: Vec<u64>,
    frame_numbers: HashMap<u64, u32, FxBuildHasher>,
    /// The frame numbers of each stack (leaf first), by stack number;
    /// `None` for a number no stored point refers to, free for the next
    /// new stack.
    stacks: StackTable,
    numbers: HashMap<Arc<[u32]>, u32, FxBuildHasher>,
    free: Vec<u32>,
    points: VecDeque<Arc<HistoryPoint>>,
    /// The newest point's samples by stack number, whole.
    newest: Vec<Sample>,
}

impl Store {
    pub(crate) const fn new() -> Self {
        Self {
            frames: Vec::new(),
            frame_numbers: HashMap::with_hasher(FxBuildHasher),
            stacks: Vec::new(),
            numbers: HashMap::with_hasher(FxBuildHasher),
            free: Vec::new(),
            points: VecDeque::new(),
            newest: Vec::new(),
        }
    }

    pub(crate) fn points(&self) -> &VecDeque<Arc<HistoryPoint>> {
        &self.points
    }

    /// The newest point's live bytes by route tag, scaled up as the pages
    /// scale them: what `/metrics` reports by route between snapshots.
    pub(crate) fn newest_by_tag(&self) -> HashMap<u32, f64> {
        let mut by_tag = HashMap::new();
        let Some(newest) = self.points.back() else {
            return by_tag;
        };
        let interval = newest.moment.sample_interval;
        for (stack, sample) in self.newest.iter().enumerate() {
            if sample.objects == 0 {
                continue;
            }
            let counts = Counts::of(u64::from(sample.objects), sample.bytes, interval);
            *by_tag
                .entry(tag_of(&self.stacks, &self.frames, stack))
                .or_default() += counts.bytes;
        }
        by_tag
    }

    /// The stack and frame tables as they are now, for a reader that
    /// replays the points outside the lock.
    pub(crate) fn tables(&self) -> (StackTable, Vec<u64>) {
        (self.stacks.clone(), self.frames.clone())
    }

    /// Keeps `taken` as the newest point, and lets the oldest go past
    /// `capacity`.
    pub(crate) fn record(&mut self, taken: Taken, capacity: usize) {
        let started = Instant::now();
        let mut now: Vec<(u32, Sample)> = taken
            .stacks
            .into_iter()
            .filter(|(_, sample)| sample.objects > 0)
            .map(|(addresses, sample)| (self.number(addresses), sample))
            .collect();
        now.sort_unstable_by_key(|(stack, _)| *stack);
        let mut changes = Vec::new();
        let mut next = vec![Sample::default(); self.stacks.len()];
        for &(stack, sample) in &now {
            next[stack as usize] = sample;
        }
        let first = self.points.is_empty();
        for (stack, (&before, &after)) in self
            .newest
            .iter()
            .chain(std::iter::repeat(&Sample::default()))
            .zip(&next)
            .enumerate()
        {
            if first && after.objects > 0 || !first && before != after {
                changes.push(Change {
                    stack: stack as u32,
                    sample: after,
                });
            }
        }
        self.newest = next;
        self.points.push_back(Arc::new(HistoryPoint {
            moment: taken.moment,
            routes: taken.routes,
            took: taken.took + started.elapsed(),
            changes: changes.into_boxed_slice(),
        }));
        let mut dropped = false;
        while self.points.len() > capacity.max(1) {
            self.drop_oldest();
            dropped = true;
        }
        if dropped {
            self.free_unreferenced();
        }
    }

    /// The number of the stack at `addresses`, given it one if it is new.
    fn number(&mut self, addresses: Vec<u64>) -> u32 {
        let frames: Vec<u32> = addresses
            .iter()
            .map(|&address| {
                *self.frame_numbers.entry(address).or_insert_with(|| {
                    self.frames.push(address);
                    (self.frames.len() - 1) as u32
                })
            })
            .collect();
        if let Some(&number) = self.numbers.get(&frames[..]) {
            return number;
        }
        let addresses: Arc<[u32]> = frames.into();
        let number = match self.free.pop() {
            Some(number) => {
                self.stacks[number as usize] = Some(addresses.clone());
                number
            }
            None => {
                self.stacks.push(Some(addresses.clone()));
                (self.stacks.len() - 1) as u32
            }
        };
        self.numbers.insert(addresses, number);
        number
    }

    /// Drops the oldest point; the one after it, now the oldest, is
    /// stored whole.
    fn drop_oldest(&mut self) {
        let Some(oldest) = self.points.pop_front() else {
            return;
        };
        let Some(next) = self.points.front_mut() else {
            return;
        };
        let mut whole: Vec<Change> = Vec::with_capacity(oldest.changes.len());
        let (mut a, mut b) = (
            oldest.changes.iter().peekable(),
            next.changes.iter().peekable(),
        );
        loop {
            let change = match (a.peek(), b.peek()) {
                (None, None) => break,
                (Some(_), None) => a.next(),
                (None, Some(_)) => b.next(),
                (Some(x), Some(y)) if x.stack < y.stack => a.next(),
                (Some(x), Some(y)) if x.stack > y.stack => b.next(),
                (Some(_), Some(_)) => {
                    a.next();
                    b.next()
                }
            };
            if let Some(change) = change.filter(|change| change.sample.objects > 0) {
                whole.push(*change);
            }
        }
        *next = Arc::new(HistoryPoint {
            moment: next.moment.clone(),
            routes: next.routes.clone(),
            took: next.took,
            changes: whole.into_boxed_slice(),
        });
    }

    /// Frees the numbers of stacks no stored point refers to.
    fn free_unreferenced(&mut self) {
        let mut referenced = vec![false; self.stacks.len()];
        for point in &self.points {
            for change in point.changes.iter() {
                referenced[change.stack as usize] = true;
            }
        }
        for (number, referenced) in referenced.into_iter().enumerate() {
            if referenced {
                continue;
            }
            if let Some(addresses) = self.stacks[number].take() {
                self.numbers.remove(&addresses);
                self.free.push(number as u32);
            }
        }
    }

    /// What the store takes, in bytes: the table (addresses, their map and
    /// slots) and every point's changes, from the types' sizes.
    pub(crate) fn footprint(&self) -> u64 {
        use std::mem::size_of;
        let addresses: usize = self
            .stacks
            .iter()
            .flatten()
            .map(|frames| 16 + frames.len() * size_of::<u32>())
            .sum::<usize>()
            + self.frames.capacity() * size_of::<u64>()
            + self.frame_numbers.capacity() * (size_of::<(u64, u32)>() + 1);
        let slots = self.stacks.capacity() * size_of::<Option<Arc<[u32]>>>()
            + self.newest.capacity() * size_of::<Sample>()
            + self.free.capacity() * size_of::<u32>();
        // A hash map bucket holds its key and value, and a control byte.
        let map = self.numbers.capacity() * (size_of::<(Arc<[u32]>, u32)>() + 1);
        let changes: usize = self
            .points
            .iter()
            .map(|point| point.changes.len() * size_of::<Change>() + size_of::<HistoryPoint>())
            .sum();
        (addresses + slots + map + changes) as u64
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    fn taken(stacks: &[(&[u64], u32)]) -> Taken {
        Taken {
            moment: DumpMoment::at(SystemTime::now(), Instant::now(), 1 << 19),
            routes: Vec::new(),
            took: Duration::ZERO,
            stacks: stacks
                .iter()
                .map(|(addresses, objects)| {
                    (
                        addresses.to_vec(),
                        Sample {
                            objects: *objects,
                            bytes: u64::from(*objects) * 100,
                        },
                    )
                })
                .collect(),
        }
    }

    /// Every stored point, whole, by replaying the changes.
    fn replayed(store: &Store) -> Vec<Vec<(Vec<u64>, u32)>> {
        let mut samples = vec![Sample::default(); store.stacks.len()];
        store
            .points
            .iter()
            .map(|point| {
                for change in point.changes.iter() {
                    samples[change.stack as usize] = change.sample;
                }
                let mut live: Vec<(Vec<u64>, u32)> = samples
                    .iter()
                    .enumerate()
                    .filter(|(_, sample)| sample.objects > 0)
                    .map(|(number, sample)| {
                        let frames = store.stacks[number].as_ref().unwrap();
                        let addresses = frames.iter().map(|&f| store.frames[f as usize]).collect();
                        (addresses, sample.objects)
                    })
                    .collect();
                live.sort();
                live
            })
            .collect()
    }

    #[test]
    fn keeps_each_point_as_its_changes_and_replays_them_whole() {
        let mut store = Store::new();
        let rounds: Vec<Vec<(&[u64], u32)>> = vec![
            vec![(&[1, 2], 5), (&[3], 1)],
            vec![(&[1, 2], 5), (&[3], 2), (&[4], 7)],
            vec![(&[1, 2], 6), (&[4], 7)],
            vec![(&[1, 2], 6), (&[4], 7), (&[5], 1)],
            vec![(&[1, 2], 6), (&[3], 9)],
        ];
        for round in &rounds {
            store.record(taken(round), 3);
        }
        assert_eq!(store.points.len(), 3);
        let expected: Vec<Vec<(Vec<u64>, u32)>> = rounds[2..]
            .iter()
            .map(|round| {
                let mut whole: Vec<(Vec<u64>, u32)> =
                    round.iter().map(|(a, n)| (a.to_vec(), *n)).collect();
                whole.sort();
                whole
            })
            .collect();
        assert_eq!(replayed(&store), expected);
        // The oldest whole (2 stacks), then only what changed: [5] came;
        // [4] and [5] went, [3] came back.
        let sizes: Vec<usize> = store.points.iter().map(|p| p.changes.len()).collect();
        assert_eq!(sizes, [2, 1, 3]);
        // A stack no point refers to any more is freed, and its number
        // reused: [3] went in round 2 and came back in round 4 under a new
        // number, the one [3] had or another freed one.
        assert!(store.numbers.len() <= 4, "{:?}", store.numbers);
    }

    #[test]
    fn a_heap_that_holds_still_costs_one_snapshot() {
        let stacks: Vec<Vec<u64>> = (0..1000u64).map(|i| vec![i, i + 1, i + 2]).collect();
        let round: Vec<(&[u64], u32)> = stacks.iter().map(|s| (&s[..], 3)).collect();
        let mut store = Store::new();
        store.record(taken(&round), 60);
        let one = store.footprint();
        for _ in 0..59 {
            store.record(taken(&round), 60);
        }
        assert_eq!(store.points.len(), 60);
        let sixty = store.footprint();
        assert!(
            sixty < one + 60 * std::mem::size_of::<HistoryPoint>() as u64,
            "{one} then {sixty}"
        );
    }
}
