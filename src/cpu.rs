//! CPU profiles captured on demand with pprof, at 99 Hz.
//!
//! pprof's SIGPROF handler unwinds stacks with libgcc, and so does
//! jemalloc's heap sampler where memscope's own walker is not installed
//! (`allocator/unwind`) or cannot run; an unwind started inside another one
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
use serde::Serialize;

use crate::allocator::{ProfilingState, set_profiling_active};
use crate::sync::lock;

/// Samples per second: at 999 Hz only ~20 % of samples arrived here, at
/// 99 Hz ~97 % (FACTS.md).
const FREQUENCY: i32 = 99;
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

/// What the profiles page lists of a capture.
#[derive(Debug, Serialize)]
pub(crate) struct CaptureSummary {
    pub(crate) id: u64,
    pub(crate) started_unix: u64,
    pub(crate) seconds: u64,
    pub(crate) samples: u64,
    pub(crate) link: String,
    pub(crate) flamegraph: String,
    pub(crate) pprof: String,
}

impl CaptureSummary {
    pub(crate) fn of(capture: &CpuCapture, prefix: &str) -> Self {
        let link = format!("{prefix}/profiles/cpu/{}", capture.id);
        Self {
            id: capture.id,
            started_unix: capture.started_unix,
            seconds: capture.seconds,
            samples: capture.samples,
            flamegraph: format!("{link}/flamegraph.svg"),
            pprof: format!("{link}/profile.pb.gz"),
            link,
        }
    }

    pub(crate) fn summary(&self) -> String {
        format!(
            "{} s at {FREQUENCY} Hz, {} samples",
            self.seconds, self.samples
        )
    }
}

/// Why a capture could not be taken.
#[derive(Debug)]
pub(crate) enum CaptureError {
    /// Another capture runs; it ends in this long.
    Busy(Duration),
    Failed(String),
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
    pub(crate) fn capture(&self, seconds: u64) -> Result<Arc<CpuCapture>, CaptureError> {
        let running = {
            let mut running = lock(&self.running);
            if let Some(ends) = *running {
                return Err(CaptureError::Busy(
                    ends.saturating_duration_since(Instant::now()),
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
        let failed = |error: pprof::Error| CaptureError::Failed(error.to_string());
        let guard = pprof::ProfilerGuardBuilder::default()
            .frequency(FREQUENCY)
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
            .map_err(|error| CaptureError::Failed(error.to_string()))?;
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gzip.write_all(&encoded)
            .map_err(|error| CaptureError::Failed(error.to_string()))?;
        let pprof_gzip = gzip
            .finish()
            .map_err(|error| CaptureError::Failed(error.to_string()))?;

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
    pub(crate) fn summaries(&self, prefix: &str) -> Vec<CaptureSummary> {
        lock(&self.kept)
            .iter()
            .rev()
            .map(|capture| CaptureSummary::of(capture, prefix))
            .collect()
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
