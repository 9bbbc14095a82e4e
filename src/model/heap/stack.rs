//! One stack of a heap profile, symbolized: what the site rules, the tables
//! and the diffs read.

use crate::model::allocator::Counts;
use crate::model::symbols::{AddressFrames, Frame};

/// One stack of a heap profile, symbolized.
#[derive(Debug, Default)]
pub(crate) struct Stack {
    /// Return addresses, leaf first, as jemalloc gave them.
    pub(crate) addresses: Vec<u64>,
    /// Frames per address, in the same order; inlined frames innermost
    /// first.
    pub(crate) address_frames: Vec<AddressFrames>,
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
        self.address_frames.iter().flat_map(|frames| frames.iter())
    }
}
