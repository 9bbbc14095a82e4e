//! The snapshot a memory diff compares against, with the request count of
//! its mount's log when it was taken, so that growth can be divided by the
//! requests in between.

use std::sync::{Arc, Mutex};

use super::HeapSnapshot;

/// A stored snapshot.
#[derive(Clone, Debug)]
pub(crate) struct Baseline {
    pub(crate) snapshot: Arc<HeapSnapshot>,
    /// Requests recorded when the baseline was taken.
    pub(crate) requests: u64,
}

/// One baseline at most: a new one replaces the old.
#[derive(Debug, Default)]
pub(crate) struct BaselineSlot(Mutex<Option<Baseline>>);

impl BaselineSlot {
    pub(crate) fn get(&self) -> Option<Baseline> {
        crate::sync::lock(&self.0).clone()
    }

    pub(crate) fn set(&self, baseline: Baseline) {
        *crate::sync::lock(&self.0) = Some(baseline);
    }
}
