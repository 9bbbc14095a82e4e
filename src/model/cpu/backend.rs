//! The sampler a capture runs: memscope's own on x86-64 Linux (`sampler`,
//! which keeps nothing between captures), pprof's elsewhere, with what
//! pprof keeps allocated for its profiler measured.

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
use super::samples::SampledStack;
use super::samples::{CpuSamples, FREQUENCY_HZ};
use crate::model::ModelError;

/// Libraries in which pprof's sampler skips a sample rather than unwinding
/// it (libgcc's unwinder is not safe inside them).
#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
const BLOCKLIST: &[&str] = &["libc", "libgcc", "pthread", "vdso"];

/// pprof's sample table, and what it resolved: bytes the process keeps for
/// the CPU profiler once it has run, measured on the capturing thread
/// (`cpu_profiler_bytes`). memscope's own sampler keeps nothing.
static PPROF_HELD: AtomicI64 = AtomicI64::new(0);

/// What pprof's sampler keeps for good (its sample table, allocated when
/// its profiler first starts and again each time it stops): what sampling
/// leaves allocated on this thread, less the report it hands over. Its
/// first start resolves a backtrace through backtrace's cache, which
/// nothing else would give back: given back here, inside the window.
#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
pub(super) struct SamplerKeeps {
    before: (u64, u64),
    sampled: (u64, u64),
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
impl SamplerKeeps {
    pub(super) fn start() -> Self {
        let before = crate::record::thread_allocation_totals();
        Self {
            before,
            sampled: before,
        }
    }

    pub(super) fn sampled(mut self) -> Self {
        backtrace::clear_symbol_cache();
        self.sampled = crate::record::thread_allocation_totals();
        self
    }

    pub(super) fn finish(self, report: Result<CpuSamples, ModelError>) {
        let before_drop = crate::record::thread_allocation_totals();
        drop(report);
        let report_bytes = crate::record::thread_allocation_totals()
            .1
            .wrapping_sub(before_drop.1) as i64;
        let left = self.sampled.0.wrapping_sub(self.before.0) as i64
            - self.sampled.1.wrapping_sub(self.before.1) as i64;
        PPROF_HELD.fetch_add(left - report_bytes, Ordering::Relaxed);
    }
}

/// memscope's own sampler keeps nothing between captures: nothing to
/// measure.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
pub(super) struct SamplerKeeps;

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
impl SamplerKeeps {
    pub(super) fn start() -> Self {
        Self
    }

    pub(super) fn sampled(self) -> Self {
        self
    }

    pub(super) fn finish(self, _report: Result<CpuSamples, ModelError>) {}
}

/// Bytes pprof keeps allocated for its profiler, after the captures so far.
pub(crate) fn cpu_profiler_bytes() -> u64 {
    PPROF_HELD.load(Ordering::Relaxed).max(0) as u64
}

/// Samples every thread for `seconds`.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
pub(super) fn sample(seconds: u64) -> Result<CpuSamples, ModelError> {
    super::sampler::sample(Duration::from_secs(seconds), FREQUENCY_HZ as u32).map_err(failed)
}

/// Samples every thread for `seconds`, with pprof's profiler.
#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
pub(super) fn sample(seconds: u64) -> Result<CpuSamples, ModelError> {
    let guard = pprof::ProfilerGuardBuilder::default()
        .frequency(FREQUENCY_HZ)
        .blocklist(BLOCKLIST)
        .build()
        .map_err(failed)?;
    std::thread::sleep(Duration::from_secs(seconds));
    let report = guard.report().build_unresolved().map_err(failed)?;
    // Stacks alike in thread and addresses added up (pprof keeps each
    // sample's time in its key).
    let mut stacks: HashMap<(String, Vec<u64>), u64> = HashMap::new();
    for (frames, count) in &report.data {
        let thread =
            String::from_utf8_lossy(&frames.thread_name[..frames.thread_name_length]).into_owned();
        let addresses = frames
            .frames
            .iter()
            .map(|frame| frame.ip() as u64)
            .collect();
        *stacks.entry((thread, addresses)).or_default() += (*count).max(0) as u64;
    }
    Ok(CpuSamples {
        stacks: stacks
            .into_iter()
            .map(|((thread, addresses), count)| SampledStack {
                thread,
                addresses,
                count,
            })
            .collect(),
        started: report.timing.start_time,
        duration: report.timing.duration,
        dropped: 0,
        skipped_for_stack: 0,
    })
}

pub(super) fn failed(error: impl std::fmt::Display) -> ModelError {
    ModelError::failed(format!("the CPU capture failed: {error}"))
}
