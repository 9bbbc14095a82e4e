//! One stack of a heap profile, symbolized: what the site rules, the tables
//! and the diffs read.
//!
//! A snapshot's distinct return addresses are resolved once each into an
//! [`AddressTable`] that its stacks share; a stack keeps the numbers of its
//! addresses in it (4 bytes a frame), so that neither resolving nor
//! keeping tens of thousands of stacks costs a lookup or a frame list a
//! return address.

use std::sync::Arc;

use crate::model::allocator::Counts;
use crate::model::symbols::{AddressFrames, Frame};

/// A snapshot's distinct return addresses and the frames of each, by
/// number.
#[derive(Debug, Default)]
pub(crate) struct AddressTable {
    pub(crate) addresses: Vec<u64>,
    /// Frames per address, in the same order; inlined frames innermost
    /// first.
    pub(crate) frames: Vec<AddressFrames>,
}

/// One stack of a heap profile, symbolized.
#[derive(Debug, Default)]
pub(crate) struct Stack {
    /// Its return addresses, leaf first, as numbers in `table`.
    pub(crate) numbers: Box<[u32]>,
    pub(crate) table: Arc<AddressTable>,
    /// Estimated live objects and bytes.
    pub(crate) objects: f64,
    pub(crate) bytes: f64,
    /// Sampled live objects behind the estimate.
    pub(crate) samples: u64,
    /// The variance of `bytes` that sampling leaves.
    pub(crate) bytes_variance: f64,
    /// What the stack allocated since profiling began; zero unless
    /// jemalloc accumulates (`prof_accum`).
    pub(crate) allocated: Counts,
    /// The route tag its samples were taken under; 0 for none.
    pub(crate) tag: u32,
}

impl Stack {
    /// Every frame, innermost first.
    pub(crate) fn frames(&self) -> impl Iterator<Item = &Frame> {
        self.address_frames().flat_map(|frames| frames.iter())
    }

    /// The frames of each return address, leaf first.
    pub(crate) fn address_frames(&self) -> impl Iterator<Item = &AddressFrames> {
        self.numbers
            .iter()
            .map(|&number| &self.table.frames[number as usize])
    }

    /// The return addresses, leaf first.
    pub(crate) fn addresses(&self) -> impl Iterator<Item = u64> + '_ {
        self.numbers
            .iter()
            .map(|&number| self.table.addresses[number as usize])
    }

    /// A stack of `addresses` with their `frames`, in a table of its own,
    /// for the model's tests.
    #[cfg(test)]
    pub(crate) fn of(addresses: Vec<u64>, frames: Vec<AddressFrames>) -> Self {
        Self {
            numbers: (0..frames.len() as u32).collect(),
            table: Arc::new(AddressTable { addresses, frames }),
            ..Self::default()
        }
    }
}
