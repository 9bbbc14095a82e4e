//! CPU profiles captured on demand with pprof, at 99 Hz.
//!
//! pprof's SIGPROF handler unwinds stacks with libgcc, and so does
//! jemalloc's heap sampler where memscope's own walker is not installed
//! (`model/allocator/unwind`) or cannot run; an unwind started inside another one
//! can deadlock (pprof-rs#36). memscope avoids the overlap: heap sampling is
//! paused for the length of a CPU capture and resumed after it, and pprof
//! skips samples taken inside libc, libgcc, pthread and the vDSO. The price:
//! allocations made during a capture are never sampled, so the heap pages
//! under-count what was allocated in that window.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::allocator::{ProfilingState, set_profiling_active};
use super::{ModelError, ModelErrorKind};
use crate::sync::lock;

/// Samples per second: at 999 Hz pprof's signal-driven sampler delivered
/// a fifth of its samples on a two-core machine, at 99 Hz nearly all.
pub(crate) const FREQUENCY_HZ: i32 = 99;
/// Captures kept; older ones are dropped.
pub(crate) const KEPT_CAPTURES: usize = 8;
/// Libraries in which a sample is skipped rather than unwound.
const BLOCKLIST: &[&str] = &["libc", "libgcc", "pthread", "vdso"];

/// One finished capture.
#[derive(Debug)]
pub(crate) struct CpuCapture {
    pub(crate) id: u64,
    pub(crate) started_unix: u64,
    pub(crate) seconds: u64,
    pub(crate) samples: u64,
    /// Whether heap sampling was paused for it.
    pub(crate) paused_heap_sampling: bool,
    pub(crate) flamegraph_svg: Bytes,
    pub(crate) pprof_gzip: Bytes,
}

/// The process's captures: pprof allows one profiler per process.
pub(crate) struct CpuCaptures {
    /// When the running capture ends, if one runs.
    running: Mutex<Option<Instant>>,
    kept: Mutex<VecDeque<Arc<CpuCapture>>>,
    next_id: AtomicU64,
}

pub(crate) static CPU_CAPTURES: CpuCaptures = CpuCaptures {
    running: Mutex::new(None),
    kept: Mutex::new(VecDeque::new()),
    next_id: AtomicU64::new(1),
};

/// Releases the one-capture slot and resumes heap sampling, whatever
/// happens to the capture.
struct RunningCapture {
    resume_heap_sampling: bool,
}

impl Drop for RunningCapture {
    fn drop(&mut self) {
        if self.resume_heap_sampling {
            let _ = set_profiling_active(true);
        }
        *lock(&CPU_CAPTURES.running) = None;
    }
}

impl CpuCaptures {
    /// Samples the process for `seconds`. Blocking: run it off the executor.
    pub(crate) fn capture(&self, seconds: u64) -> Result<Arc<CpuCapture>, ModelError> {
        let running = {
            let mut running = lock(&self.running);
            if let Some(ends) = *running {
                let remaining = ends.saturating_duration_since(Instant::now());
                return Err(ModelError::new(
                    ModelErrorKind::Busy(remaining),
                    "a CPU capture is already running (one at a time per process)",
                ));
            }
            *running = Some(Instant::now() + Duration::from_secs(seconds));
            let heap_sampling = ProfilingState::read().active;
            RunningCapture {
                resume_heap_sampling: heap_sampling && set_profiling_active(false).is_ok(),
            }
        };
        let started_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let failed =
            |error: pprof::Error| ModelError::failed(format!("the CPU capture failed: {error}"));
        let failed_io =
            |error: std::io::Error| ModelError::failed(format!("the CPU capture failed: {error}"));
        let guard = pprof::ProfilerGuardBuilder::default()
            .frequency(FREQUENCY_HZ)
            .blocklist(BLOCKLIST)
            .build()
            .map_err(failed)?;
        std::thread::sleep(Duration::from_secs(seconds));
        let report = guard.report().build().map_err(failed)?;
        drop(guard);
        let paused_heap_sampling = running.resume_heap_sampling;
        drop(running);

        let samples = report
            .data
            .values()
            .map(|count| *count.max(&0) as u64)
            .sum();
        let svg = if samples == 0 {
            no_samples_svg(seconds)
        } else {
            let mut svg = Vec::new();
            report.flamegraph(&mut svg).map_err(failed)?;
            svg
        };
        let profile = report.pprof().map_err(failed)?;
        let mut encoded = Vec::new();
        pprof::protos::Message::encode(&profile, &mut encoded)
            .map_err(|error| ModelError::failed(format!("the CPU capture failed: {error}")))?;
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gzip.write_all(&encoded).map_err(failed_io)?;
        let pprof_gzip = gzip.finish().map_err(failed_io)?;

        let capture = Arc::new(CpuCapture {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            started_unix,
            seconds,
            samples,
            paused_heap_sampling,
            flamegraph_svg: Bytes::from(svg),
            pprof_gzip: Bytes::from(pprof_gzip),
        });
        let mut kept = lock(&self.kept);
        if kept.len() == KEPT_CAPTURES {
            kept.pop_front();
        }
        kept.push_back(capture.clone());
        Ok(capture)
    }

    pub(crate) fn get(&self, id: u64) -> Option<Arc<CpuCapture>> {
        lock(&self.kept)
            .iter()
            .find(|capture| capture.id == id)
            .cloned()
    }

    /// The kept captures, newest first.
    pub(crate) fn kept(&self) -> Vec<Arc<CpuCapture>> {
        lock(&self.kept).iter().rev().cloned().collect()
    }
}

/// The flamegraph of a capture with no samples: inferno writes nothing for
/// it, and an empty file shows as a broken image.
fn no_samples_svg(seconds: u64) -> Vec<u8> {
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="60" viewBox="0 0 1200 60"><text x="600" y="35" font-family="sans-serif" font-size="16" text-anchor="middle">No samples: the process used no CPU time in these {seconds} s.</text></svg>"#
    )
    .into_bytes()
}
