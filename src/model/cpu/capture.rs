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

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
use std::collections::HashMap;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use pprof::protos::{Label, Profile, Sample};

use super::samples::{CpuSamples, SampledStack};
use crate::model::allocator::{ProfilingState, purge_unused_pages, set_profiling_active};
use crate::model::heap::{AddressFrames, SYMBOLIZER};
use crate::model::objects::mapped_files;
use crate::model::pprof::{ProfileBuilder, gzipped};
use crate::model::{ModelError, ModelErrorKind};
use crate::sync::lock;

/// Samples per second: at 999 Hz pprof's signal-driven sampler delivered
/// a fifth of its samples on a two-core machine, at 99 Hz nearly all.
pub(crate) const FREQUENCY_HZ: i32 = 99;
/// Captures kept; older ones are dropped.
pub(crate) const KEPT_CAPTURES: usize = 8;
/// Libraries in which pprof's sampler skips a sample rather than unwinding
/// it (libgcc's unwinder is not safe inside them).
#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
const BLOCKLIST: &[&str] = &["libc", "libgcc", "pthread", "vdso"];

/// One finished capture.
#[derive(Debug)]
pub(crate) struct CpuCapture {
    pub(crate) id: u64,
    pub(crate) started_unix: u64,
    pub(crate) seconds: u64,
    pub(crate) samples: u64,
    /// Samples the sampler had no room for (its table is bounded).
    pub(crate) dropped_samples: u64,
    /// Whether heap sampling was paused for it.
    pub(crate) paused_heap_sampling: bool,
    pub(crate) flamegraph_svg: Bytes,
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
pub(crate) fn switch_heap_sampling(active: bool) -> Result<SamplingSwitch, ModelError> {
    CPU_CAPTURES.switch_heap_sampling(active)
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
            let _ = set_profiling_active(true);
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
    fn switch_heap_sampling(&self, active: bool) -> Result<SamplingSwitch, ModelError> {
        let mut slot = lock(&self.running);
        if let Some(ends) = slot.ends {
            slot.resume_heap_sampling = active;
            return Ok(SamplingSwitch::Deferred(SamplingHold {
                ends_in: ends.saturating_duration_since(Instant::now()),
                resumes: active,
            }));
        }
        set_profiling_active(active)
            .map_err(|message| ModelError::new(ModelErrorKind::ProfilingUnavailable, message))?;
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
        let sampling = ProfilingState::read().active;
        let paused = sampling && set_profiling_active(false).is_ok();
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
    pub(crate) fn capture(&self, seconds: u64) -> Result<Arc<CpuCapture>, ModelError> {
        let (running, paused_heap_sampling) = self.begin(seconds)?;
        let started_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let kept_by_sampler = SamplerKeeps::start();
        let sampled = sample(seconds);
        let kept_by_sampler = kept_by_sampler.sampled();
        drop(running);
        let encoded = match &sampled {
            Ok(report) => encode(report, seconds),
            Err(error) => Err(error.clone()),
        };
        let dropped_samples = sampled.as_ref().map_or(0, |sampled| sampled.dropped);
        kept_by_sampler.finish(sampled);
        purge_unused_pages();
        let (samples, svg, pprof_gzip) = encoded?;

        Ok(self.keep(|id| CpuCapture {
            id,
            started_unix,
            seconds,
            samples,
            dropped_samples,
            paused_heap_sampling,
            flamegraph_svg: Bytes::from(svg),
            pprof_gzip: Bytes::from(pprof_gzip),
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
struct SamplerKeeps {
    before: (u64, u64),
    sampled: (u64, u64),
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
impl SamplerKeeps {
    fn start() -> Self {
        let before = crate::record::thread_allocation_totals();
        Self {
            before,
            sampled: before,
        }
    }

    fn sampled(mut self) -> Self {
        backtrace::clear_symbol_cache();
        self.sampled = crate::record::thread_allocation_totals();
        self
    }

    fn finish(self, report: Result<CpuSamples, ModelError>) {
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
struct SamplerKeeps;

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
impl SamplerKeeps {
    fn start() -> Self {
        Self
    }

    fn sampled(self) -> Self {
        self
    }

    fn finish(self, _report: Result<CpuSamples, ModelError>) {}
}

/// Bytes pprof keeps allocated for its profiler, after the captures so far.
pub(crate) fn cpu_profiler_bytes() -> u64 {
    PPROF_HELD.load(Ordering::Relaxed).max(0) as u64
}

/// Samples every thread for `seconds`.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn sample(seconds: u64) -> Result<CpuSamples, ModelError> {
    super::sampler::sample(Duration::from_secs(seconds), FREQUENCY_HZ as u32).map_err(failed)
}

/// Samples every thread for `seconds`, with pprof's profiler.
#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn sample(seconds: u64) -> Result<CpuSamples, ModelError> {
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
    })
}

/// The samples counted, the flamegraph and the gzipped pprof protobuf,
/// symbolized as the heap pages are (full names in release builds).
fn encode(captured: &CpuSamples, seconds: u64) -> Result<(u64, Vec<u8>, Vec<u8>), ModelError> {
    let stacks = &captured.stacks;
    let resolved = SYMBOLIZER.resolve_all(stacks.iter().map(|stack| &stack.addresses[..]));
    let samples: u64 = stacks.iter().map(|stack| stack.count).sum();

    // The frames of each stack from the interrupted code on: pprof's
    // stacks begin with its signal handler's own and the trampoline after
    // it (memscope's sampler walks from the interrupted registers).
    let sampled: Vec<(&SampledStack, &[AddressFrames], &[u64])> = stacks
        .iter()
        .zip(&resolved)
        .map(|(stack, frames)| {
            let handler = frames.iter().position(|frames| {
                frames
                    .iter()
                    .any(|frame| frame.function.ends_with("perf_signal_handler"))
            });
            let first = handler.map_or(0, |handler| (handler + 2).min(frames.len()));
            (stack, &frames[first..], &stack.addresses[first..])
        })
        .collect();

    let svg = if samples == 0 {
        no_samples_svg(seconds)
    } else {
        flamegraph(&sampled)?
    };
    let profile = cpu_profile(captured, &sampled);
    Ok((samples, svg, gzipped(&profile)?))
}

/// Folded stacks, the thread at the root, drawn by inferno.
fn flamegraph(
    sampled: &[(&SampledStack, &[AddressFrames], &[u64])],
) -> Result<Vec<u8>, ModelError> {
    let lines: Vec<String> = sampled
        .iter()
        .map(|(stack, frames, _)| {
            let mut names: Vec<String> = frames
                .iter()
                .rev()
                .flat_map(|frames| frames.iter().rev())
                .map(|frame| frame.function.replace(';', ":"))
                .collect();
            names.insert(0, stack.thread.replace(';', ":"));
            format!("{} {}", names.join(";"), stack.count)
        })
        .collect();
    let mut options = inferno::flamegraph::Options::default();
    options.title = "CPU".to_owned();
    options.count_name = "samples".to_owned();
    let mut svg = Vec::new();
    inferno::flamegraph::from_lines(&mut options, lines.iter().map(String::as_str), &mut svg)
        .map_err(failed)?;
    Ok(svg)
}

/// The capture as pprof's CPU profile: `samples/count` and
/// `cpu/nanoseconds`, the period one sample's worth of time.
fn cpu_profile(
    captured: &CpuSamples,
    sampled: &[(&SampledStack, &[AddressFrames], &[u64])],
) -> Profile {
    let mappings = mapped_files();
    let mut builder = ProfileBuilder::new(&mappings);
    let period = 1_000_000_000 / i64::from(FREQUENCY_HZ);
    builder.profile.sample_type = vec![
        builder.value_type(("samples", "count")),
        builder.value_type(("cpu", "nanoseconds")),
    ];
    builder.profile.period_type = Some(builder.value_type(("cpu", "nanoseconds")));
    builder.profile.period = period;
    builder.profile.time_nanos = captured
        .started
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as i64);
    builder.profile.duration_nanos = captured.duration.as_nanos() as i64;
    let thread_key = builder.string("thread");
    for (stack, frames, addresses) in sampled {
        let location_id = addresses
            .iter()
            .zip(frames.iter())
            .map(|(&address, frames)| builder.location(address, frames))
            .collect();
        let thread = builder.string(&stack.thread);
        builder.profile.sample.push(Sample {
            location_id,
            value: vec![stack.count as i64, stack.count as i64 * period],
            label: vec![Label {
                key: thread_key,
                str: thread,
                ..Label::default()
            }],
        });
    }
    builder.finish()
}

fn failed(error: impl std::fmt::Display) -> ModelError {
    ModelError::failed(format!("the CPU capture failed: {error}"))
}

/// The flamegraph of a capture with no samples: inferno writes nothing for
/// it, and an empty file shows as a broken image.
fn no_samples_svg(seconds: u64) -> Vec<u8> {
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="60" viewBox="0 0 1200 60"><text x="600" y="35" font-family="sans-serif" font-size="16" text-anchor="middle">No samples: the process used no CPU time in these {seconds} s.</text></svg>"#
    )
    .into_bytes()
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
            paused_heap_sampling: false,
            flamegraph_svg: Bytes::new(),
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
