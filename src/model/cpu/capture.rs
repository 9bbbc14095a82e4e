//! CPU profiles captured on demand, at 99 Hz of the process's CPU time:
//! with memscope's own sampler on x86-64 Linux (`sampler`,
//! which keeps nothing between captures), with pprof's elsewhere.
//!
//! Heap sampling is paused for the length of a capture and resumed after
//! it: a stack unwound for a heap sample must not be interrupted by one
//! unwound for a CPU sample with the same unwinder (pprof's and libgcc's
//! can deadlock, pprof-rs#36), and the pause keeps the two samplers from
//! measuring each other. The price: allocations made during a capture are
//! never sampled, so the heap pages under-count what was allocated in that
//! window.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::backend::{SamplerKeeps, sample};
use super::encode::encode;
use crate::model::allocator::{HeapSource, SamplingRefused, off_executor};
use crate::model::symbols::Frameworks;
use crate::model::{ModelError, ModelErrorKind};
use crate::sync::lock;

/// Captures kept; older ones are dropped.
pub(crate) const KEPT_CAPTURES: usize = 8;

/// One finished capture.
#[derive(Debug)]
pub(crate) struct CpuCapture {
    pub(crate) id: u64,
    pub(crate) started_unix: u64,
    pub(crate) seconds: u64,
    pub(crate) samples: u64,
    /// Samples the sampler had no room for (its table is bounded).
    pub(crate) dropped_samples: u64,
    /// Samples skipped because their thread had too little stack left for
    /// the walk.
    pub(crate) skipped_for_stack: u64,
    /// Whether heap sampling was paused for it.
    pub(crate) paused_heap_sampling: bool,
    /// The flamegraph with the frameworks' runs of frames folded.
    pub(crate) flamegraph_svg: Bytes,
    /// The flamegraph with every frame (`frames=all`).
    pub(crate) all_frames_svg: Bytes,
    pub(crate) pprof_gzip: Bytes,
}

/// The process's captures, one at a time: the profiling timer and the
/// `SIGPROF` handler are the process's (and pprof's profiler, where it
/// samples, is one a process).
pub(crate) struct CpuCaptures {
    running: Mutex<CaptureSlot>,
    kept: Mutex<VecDeque<Arc<CpuCapture>>>,
    next_id: AtomicU64,
}

/// The one-capture slot, and heap sampling's state while it is taken: the
/// capture pauses sampling, and what the user asks of sampling meanwhile
/// is kept for the capture's end, so that the two never run at once and
/// the user's last word wins.
#[derive(Debug)]
struct CaptureSlot {
    /// When the running capture ends, if one runs.
    ends: Option<Instant>,
    /// Whether heap sampling is switched on when it ends.
    resume_heap_sampling: bool,
}

pub(crate) static CPU_CAPTURES: CpuCaptures = CpuCaptures::new();

/// Heap sampling held off by a running capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SamplingHold {
    /// The capture ends in this long.
    pub(crate) ends_in: Duration,
    /// Sampling is switched on when it ends.
    pub(crate) resumes: bool,
}

/// What switching heap sampling did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SamplingSwitch {
    /// Done now.
    Applied,
    /// A capture runs: sampling stays off until it ends, and is then as
    /// asked.
    Deferred(SamplingHold),
}

/// Switches heap sampling on or off, or, while a CPU capture runs, says
/// what it is to be when the capture ends.
pub(crate) fn switch_heap_sampling(active: bool) -> Result<SamplingSwitch, SamplingRefused> {
    CPU_CAPTURES.switch_heap_sampling(active)
}

/// Samples the process for `seconds` off the executor, and keeps the
/// capture, its flamegraph folding the runs of `frameworks`' frames.
pub(crate) async fn capture(
    seconds: u64,
    frameworks: &Frameworks,
) -> Result<Arc<CpuCapture>, ModelError> {
    let frameworks = frameworks.clone();
    off_executor("CPU capture", move || {
        CPU_CAPTURES.capture(seconds, &frameworks)
    })
    .await?
}

/// Whether a running capture holds heap sampling off, and till when.
pub(crate) fn sampling_hold() -> Option<SamplingHold> {
    CPU_CAPTURES.sampling_hold()
}

/// Releases the one-capture slot and switches heap sampling on if that is
/// what is wanted then, whatever happens to the capture.
struct RunningCapture<'a> {
    captures: &'a CpuCaptures,
}

impl Drop for RunningCapture<'_> {
    fn drop(&mut self) {
        let mut slot = lock(&self.captures.running);
        if slot.resume_heap_sampling {
            let _ = HeapSource::get().set_sampling(true);
        }
        slot.ends = None;
    }
}

impl CpuCaptures {
    const fn new() -> Self {
        Self {
            running: Mutex::new(CaptureSlot {
                ends: None,
                resume_heap_sampling: false,
            }),
            kept: Mutex::new(VecDeque::new()),
            next_id: AtomicU64::new(1),
        }
    }

    /// See [`switch_heap_sampling`].
    fn switch_heap_sampling(&self, active: bool) -> Result<SamplingSwitch, SamplingRefused> {
        let mut slot = lock(&self.running);
        if let Some(ends) = slot.ends {
            slot.resume_heap_sampling = active;
            return Ok(SamplingSwitch::Deferred(SamplingHold {
                ends_in: ends.saturating_duration_since(Instant::now()),
                resumes: active,
            }));
        }
        HeapSource::get().set_sampling(active)?;
        Ok(SamplingSwitch::Applied)
    }

    /// See [`sampling_hold`].
    fn sampling_hold(&self) -> Option<SamplingHold> {
        let slot = lock(&self.running);
        slot.ends.map(|ends| SamplingHold {
            ends_in: ends.saturating_duration_since(Instant::now()),
            resumes: slot.resume_heap_sampling,
        })
    }

    /// Takes the one-capture slot for `seconds`, pausing heap sampling if
    /// it runs; says whether it paused it.
    fn begin(&self, seconds: u64) -> Result<(RunningCapture<'_>, bool), ModelError> {
        let mut slot = lock(&self.running);
        if let Some(ends) = slot.ends {
            let remaining = ends.saturating_duration_since(Instant::now());
            return Err(ModelError::new(
                ModelErrorKind::Busy(remaining),
                "a CPU capture is already running (one at a time per process)",
            ));
        }
        slot.ends = Some(Instant::now() + Duration::from_secs(seconds));
        let source = HeapSource::get();
        let paused = source.profiling().active && source.set_sampling(false).is_ok();
        slot.resume_heap_sampling = paused;
        Ok((RunningCapture { captures: self }, paused))
    }

    /// Keeps `capture` with the next id, the oldest let go past
    /// [`KEPT_CAPTURES`].
    fn keep(&self, capture: impl FnOnce(u64) -> CpuCapture) -> Arc<CpuCapture> {
        let capture = Arc::new(capture(self.next_id.fetch_add(1, Ordering::Relaxed)));
        let mut kept = lock(&self.kept);
        if kept.len() == KEPT_CAPTURES {
            kept.pop_front();
        }
        kept.push_back(capture.clone());
        capture
    }

    /// Samples the process for `seconds`. Blocking: run it off the executor.
    pub(crate) fn capture(
        &self,
        seconds: u64,
        frameworks: &Frameworks,
    ) -> Result<Arc<CpuCapture>, ModelError> {
        let (running, paused_heap_sampling) = self.begin(seconds)?;
        let started_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let kept_by_sampler = SamplerKeeps::start();
        let sampled = sample(seconds);
        let kept_by_sampler = kept_by_sampler.sampled();
        drop(running);
        let encoded = match &sampled {
            Ok(report) => encode(report, seconds, frameworks),
            Err(error) => Err(error.clone()),
        };
        let (dropped_samples, skipped_for_stack) = sampled.as_ref().map_or((0, 0), |sampled| {
            (sampled.dropped, sampled.skipped_for_stack)
        });
        kept_by_sampler.finish(sampled);
        HeapSource::get().release_free_pages();
        let encoded = encoded?;

        Ok(self.keep(|id| CpuCapture {
            id,
            started_unix,
            seconds,
            samples: encoded.samples,
            dropped_samples,
            skipped_for_stack,
            paused_heap_sampling,
            flamegraph_svg: Bytes::from(encoded.flamegraph),
            all_frames_svg: Bytes::from(encoded.all_frames),
            pprof_gzip: Bytes::from(encoded.pprof_gzip),
        }))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn capture(id: u64) -> CpuCapture {
        CpuCapture {
            id,
            started_unix: 0,
            seconds: 1,
            samples: 0,
            dropped_samples: 0,
            skipped_for_stack: 0,
            paused_heap_sampling: false,
            flamegraph_svg: Bytes::new(),
            all_frames_svg: Bytes::new(),
            pprof_gzip: Bytes::new(),
        }
    }

    #[test]
    fn one_capture_at_a_time_and_the_slot_freed_whatever_happens() {
        let captures = CpuCaptures::new();
        let (running, _) = captures.begin(30).unwrap();
        let busy = captures
            .begin(1)
            .err()
            .expect("a second capture is refused");
        match busy.kind() {
            ModelErrorKind::Busy(remaining) => {
                assert!(
                    *remaining <= Duration::from_secs(30) && *remaining > Duration::from_secs(25)
                )
            }
            other => panic!("{other:?}"),
        }
        drop(running);
        assert!(captures.sampling_hold().is_none());
        let (again, _) = captures.begin(1).expect("the slot is free again");
        drop(again);
    }

    #[test]
    fn switching_sampling_during_a_capture_waits_for_its_end_and_the_last_word_wins() {
        let captures = CpuCaptures::new();
        let (running, _) = captures.begin(10).unwrap();
        let on = captures.switch_heap_sampling(true).unwrap();
        let SamplingSwitch::Deferred(hold) = on else {
            panic!("{on:?}")
        };
        assert!(hold.resumes && hold.ends_in <= Duration::from_secs(10));
        assert_eq!(
            captures.sampling_hold().map(|hold| hold.resumes),
            Some(true)
        );
        captures.switch_heap_sampling(false).unwrap();
        assert_eq!(
            captures.sampling_hold().map(|hold| hold.resumes),
            Some(false)
        );
        drop(running);
        assert_eq!(captures.sampling_hold(), None);
    }

    #[test]
    fn the_newest_captures_are_kept_with_ids_that_count() {
        let captures = CpuCaptures::new();
        let ids: Vec<u64> = (0..KEPT_CAPTURES + 3)
            .map(|_| captures.keep(capture).id)
            .collect();
        assert_eq!(ids, (1..=KEPT_CAPTURES as u64 + 3).collect::<Vec<_>>());
        let kept: Vec<u64> = captures.kept().iter().map(|capture| capture.id).collect();
        assert_eq!(kept.len(), KEPT_CAPTURES);
        assert_eq!(kept[0], KEPT_CAPTURES as u64 + 3, "newest first");
        assert!(captures.get(1).is_none(), "the oldest was let go");
        assert_eq!(captures.get(4).map(|capture| capture.id), Some(4));
    }
}
