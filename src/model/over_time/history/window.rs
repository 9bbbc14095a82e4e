//! The stored snapshots as a reader sees them: taken under the history's
//! lock in a moment (the points are shared, the stack table cloned), then
//! replayed outside it, one snapshot after another, each whole.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::store::{HistoryPoint, Sample, StackTable, tag_at, tag_of};
use crate::model::allocator::Counts;
use crate::model::heap::{AddressTable, HeapSnapshot, Stack};
use crate::model::symbols::{AddressFrames, SYMBOLIZER};

/// The stored snapshots, and the stacks they refer to.
#[derive(Debug, Default)]
pub(crate) struct HistoryWindow {
    /// Every stored point, oldest first: replays start at the first, the
    /// only one stored whole.
    pub(crate) stored: Vec<Arc<HistoryPoint>>,
    /// The first point of the window.
    pub(crate) start: usize,
    /// Frame numbers by stack number, and return addresses by frame
    /// number.
    pub(crate) stacks: StackTable,
    pub(crate) frames: Vec<u64>,
}

/// One snapshot of the window, whole.
pub(crate) struct PointView<'a> {
    pub(crate) point: &'a HistoryPoint,
    /// Samples by stack number; 0 objects where the stack holds nothing.
    samples: &'a [Sample],
}

impl PointView<'_> {
    /// The stacks that hold memory, by number, with their counts scaled up.
    pub(crate) fn live(&self) -> impl Iterator<Item = (usize, Counts)> + '_ {
        let interval = self.point.moment.sample_interval;
        self.samples
            .iter()
            .enumerate()
            .filter(|(_, sample)| sample.objects > 0)
            .map(move |(stack, sample)| {
                (
                    stack,
                    Counts::of(u64::from(sample.objects), sample.bytes, interval),
                )
            })
    }
}

impl HistoryWindow {
    /// The points of the window, oldest first.
    pub(crate) fn points(&self) -> &[Arc<HistoryPoint>] {
        &self.stored[self.start..]
    }

    /// Keeps only the points taken within `window` of the newest.
    pub(crate) fn within(mut self, window: Option<Duration>) -> Self {
        let (Some(window), Some(newest)) = (window, self.stored.last()) else {
            return self;
        };
        if let Some(start) = newest.moment.instant.checked_sub(window) {
            self.start = self
                .stored
                .partition_point(|point| point.moment.instant < start);
        }
        self
    }

    /// Stack `number`'s frames as numbers into the window's return
    /// addresses (`frames`), without its route tag frame.
    pub(crate) fn numbers(&self, number: usize) -> Box<[u32]> {
        let frames = self
            .stacks
            .get(number)
            .and_then(|frames| frames.as_deref())
            .unwrap_or(&[]);
        let untagged = match frames.split_last() {
            Some((&last, rest)) if self.tag_at(last) != 0 => rest,
            _ => frames,
        };
        untagged.into()
    }

    /// The tag frame number `frame` carries, 0 where it is an address.
    fn tag_at(&self, frame: u32) -> u32 {
        tag_at(&self.frames, frame)
    }

    /// The window's return addresses and their frames, from `resolve`
    /// (the symbolizer's, or a test's), for the stacks made from it.
    pub(crate) fn address_table(
        &self,
        resolve: impl FnOnce(&[u64]) -> Vec<AddressFrames>,
    ) -> Arc<AddressTable> {
        Arc::new(AddressTable {
            frames: resolve(&self.frames),
            addresses: self.frames.clone(),
        })
    }

    /// The route tag stack `number`'s samples were taken under (0 for
    /// none).
    pub(crate) fn tag(&self, number: usize) -> u32 {
        tag_of(&self.stacks, &self.frames, number)
    }

    /// Visits each point of the window, whole, oldest first, with its index
    /// in the window.
    pub(crate) fn replay(&self, mut visit: impl FnMut(usize, PointView<'_>)) {
        let mut samples = vec![Sample::default(); self.stacks.len()];
        for (index, point) in self.stored.iter().enumerate() {
            for change in point.changes.iter() {
                if let Some(sample) = samples.get_mut(change.stack as usize) {
                    *sample = change.sample;
                }
            }
            if index >= self.start {
                visit(
                    index - self.start,
                    PointView {
                        point,
                        samples: &samples,
                    },
                );
            }
        }
    }

    /// The index (in the window) of the point nearest to `when`.
    pub(crate) fn nearest(&self, when: SystemTime) -> Option<usize> {
        let distance = |point: &Arc<HistoryPoint>| match point.moment.taken_at.duration_since(when)
        {
            Ok(after) => after,
            Err(before) => before.duration(),
        };
        self.points()
            .iter()
            .enumerate()
            .min_by_key(|(_, point)| distance(point))
            .map(|(index, _)| index)
    }

    /// The point at `index` as a snapshot the tables and diffs read, its
    /// addresses resolved now. Blocking.
    pub(crate) fn snapshot_at(&self, index: usize) -> Option<HeapSnapshot> {
        let mut snapshot = None;
        self.replay(|at, view| {
            if at != index {
                return;
            }
            let table = self.address_table(|addresses| SYMBOLIZER.resolve_addresses(addresses));
            let mut whole = HeapSnapshot::empty(view.point.moment.clone());
            whole.stacks = view
                .live()
                .map(|(stack, counts)| Stack {
                    numbers: self.numbers(stack),
                    table: table.clone(),
                    objects: counts.objects,
                    bytes: counts.bytes,
                    samples: counts.sampled_objects,
                    bytes_variance: counts.bytes_variance,
                    allocated: Counts::default(),
                    tag: self.tag(stack),
                })
                .collect();
            snapshot = Some(whole);
        });
        snapshot
    }
}
