//! The live samples and the stacks they were taken at: what jemalloc's
//! profiler keeps for its dump, kept by memscope for the wrapper.

use std::hash::{Hash, Hasher};

use rustc_hash::{FxBuildHasher, FxHashMap, FxHasher};

use super::filter::{self, BITS, bit_of};

/// At most this many live samples: at the default mean interval of 512
/// KiB, 2 TiB of heap. Past it, samples are counted as dropped.
const MAX_LIVE: usize = 1 << 22;
/// At most this many distinct stacks; past it, new stacks share one
/// entry with no frames.
const MAX_STACKS: usize = 1 << 20;
const NO_STACK: u32 = u32::MAX;

/// One sampled object still live.
#[derive(Clone, Copy, Debug)]
struct LiveSample {
    bytes: u64,
    stack: u32,
}

/// A distinct stack and what its samples hold.
#[derive(Debug)]
pub(super) struct StackEntry {
    /// Return addresses, leaf first, then the route's tag frame if any.
    pub(super) frames: Box<[u64]>,
    /// The next stack whose frames hash the same.
    next_same_hash: u32,
    pub(super) live_objects: u64,
    pub(super) live_bytes: u64,
    /// Every sample taken at this stack, freed or not.
    pub(super) allocated_objects: u64,
    pub(super) allocated_bytes: u64,
}

/// The table; one, behind `super::TABLE`'s lock.
#[derive(Debug)]
pub(super) struct Table {
    live: FxHashMap<usize, LiveSample>,
    pub(super) stacks: Vec<StackEntry>,
    /// The first stack with frames of each hash.
    by_hash: FxHashMap<u64, u32>,
    /// Live samples per filter bit, made at the first sample.
    bit_counts: Vec<u32>,
    /// The entry that stacks past `MAX_STACKS` share.
    overflow: u32,
    /// Samples not kept: the table was full.
    pub(super) dropped: u64,
}

impl Table {
    pub(super) const fn new() -> Self {
        Self {
            live: FxHashMap::with_hasher(FxBuildHasher),
            stacks: Vec::new(),
            by_hash: FxHashMap::with_hasher(FxBuildHasher),
            bit_counts: Vec::new(),
            overflow: NO_STACK,
            dropped: 0,
        }
    }

    /// Keeps a sample of `bytes` at `address`, allocated at `frames`.
    pub(super) fn insert(&mut self, address: usize, bytes: u64, frames: &[u64]) {
        if self.live.len() >= MAX_LIVE {
            self.dropped += 1;
            return;
        }
        let stack = self.stack_of(frames);
        let entry = &mut self.stacks[stack as usize];
        entry.live_objects += 1;
        entry.live_bytes += bytes;
        entry.allocated_objects += 1;
        entry.allocated_bytes += bytes;
        match self.live.insert(address, LiveSample { bytes, stack }) {
            // A free the wrapper did not see (memory given back by other
            // means): the old sample is gone; the address's bit stays.
            Some(stale) => self.forget_counts(stale),
            None => {
                if self.bit_counts.is_empty() {
                    self.bit_counts = vec![0; BITS];
                }
                let bit = bit_of(address);
                self.bit_counts[bit] += 1;
                if self.bit_counts[bit] == 1 {
                    filter::set(bit, true);
                }
            }
        }
    }

    /// Forgets the sample at `address`, if there is one.
    pub(super) fn remove(&mut self, address: usize) {
        let Some(sample) = self.live.remove(&address) else {
            return;
        };
        self.forget_counts(sample);
        let bit = bit_of(address);
        self.bit_counts[bit] -= 1;
        if self.bit_counts[bit] == 0 {
            filter::set(bit, false);
        }
    }

    #[cfg(test)]
    fn live_samples(&self) -> usize {
        self.live.len()
    }

    fn forget_counts(&mut self, sample: LiveSample) {
        let entry = &mut self.stacks[sample.stack as usize];
        entry.live_objects -= 1;
        entry.live_bytes -= sample.bytes;
    }

    /// The entry of `frames`, made if new.
    fn stack_of(&mut self, frames: &[u64]) -> u32 {
        let mut hasher = FxHasher::default();
        frames.hash(&mut hasher);
        let hash = hasher.finish();
        let first = self.by_hash.get(&hash).copied().unwrap_or(NO_STACK);
        let mut at = first;
        while at != NO_STACK {
            let entry = &self.stacks[at as usize];
            if *entry.frames == *frames {
                return at;
            }
            at = entry.next_same_hash;
        }
        if self.stacks.len() >= MAX_STACKS {
            if self.overflow == NO_STACK {
                self.overflow = self.push(Box::new([]), NO_STACK);
            }
            return self.overflow;
        }
        let made = self.push(frames.into(), first);
        self.by_hash.insert(hash, made);
        made
    }

    fn push(&mut self, frames: Box<[u64]>, next_same_hash: u32) -> u32 {
        self.stacks.push(StackEntry {
            frames,
            next_same_hash,
            live_objects: 0,
            live_bytes: 0,
            allocated_objects: 0,
            allocated_bytes: 0,
        });
        (self.stacks.len() - 1) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_come_and_go_and_stacks_stay_apart() {
        let mut table = Table::new();
        // Addresses far from those the real allocator hands out, so that
        // the process's filter bits they set are unlikely to matter.
        let base = 0x7fff_0000_0000usize;
        table.insert(base, 100, &[1, 2, 3]);
        table.insert(base + 64, 50, &[1, 2, 3]);
        table.insert(base + 128, 7, &[1, 2, 4]);
        assert_eq!(table.stacks.len(), 2);
        assert_eq!(table.stacks[0].live_objects, 2);
        assert_eq!(table.stacks[0].live_bytes, 150);
        assert!(filter::may_be_sampled(base + 64));
        table.remove(base + 64);
        table.remove(base + 64);
        assert_eq!(table.stacks[0].live_bytes, 100);
        assert_eq!(table.stacks[0].allocated_bytes, 150);
        assert_eq!(table.live_samples(), 2);
        table.remove(base);
        table.remove(base + 128);
        assert_eq!(table.live_samples(), 0);
    }

    #[test]
    fn an_address_sampled_again_replaces_its_stale_sample() {
        let mut table = Table::new();
        let address = 0x7ffe_0000_0000usize;
        table.insert(address, 10, &[9]);
        table.insert(address, 20, &[8]);
        assert_eq!(table.live_samples(), 1);
        assert_eq!(table.stacks[0].live_bytes, 0);
        assert_eq!(table.stacks[1].live_bytes, 20);
        table.remove(address);
        assert!(!filter::may_be_sampled(address));
    }
}
