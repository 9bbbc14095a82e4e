//! What a sampler hands over: stacks sampled, each with its thread and its
//! count. Both samplers (memscope's own and pprof's) write it; the capture
//! reads it.

use std::time::{Duration, SystemTime};

/// A sampled stack and how many samples had it.
#[derive(Debug)]
pub(crate) struct SampledStack {
    pub(crate) thread: String,
    /// Return addresses, innermost first (the interrupted instruction as
    /// its address plus one, so that it resolves as they do).
    pub(crate) addresses: Vec<u64>,
    pub(crate) count: u64,
}

/// What a capture sampled.
#[derive(Debug)]
pub(crate) struct CpuSamples {
    pub(crate) stacks: Vec<SampledStack>,
    pub(crate) started: SystemTime,
    pub(crate) duration: Duration,
    /// Samples that found the sampler's table full, or every walker busy.
    pub(crate) dropped: u64,
    /// Samples skipped because their thread had too little stack left for
    /// the walk.
    pub(crate) skipped_for_stack: u64,
}

/// Samples per second: at 999 Hz pprof's signal-driven sampler delivered
/// a fifth of its samples on a two-core machine, at 99 Hz nearly all.
pub(crate) const FREQUENCY_HZ: i32 = 99;
