//! The memory model: what memscope knows about the process's memory, with
//! nothing of HTTP or templates in it.
//!
//! - [`allocator`]: jemalloc's figures, its size classes, the heap
//!   profiling switch and the purge;
//! - `unwind`: memscope's stack walker, for jemalloc's sampled stacks
//!   and the CPU sampler's signals (x86-64 Linux);
//! - [`heap`]: a heap snapshot (jemalloc's dump, parsed, scaled and
//!   symbolized), and how a stack's frames are told apart and named;
//! - [`table`] and [`diff`]: a snapshot grouped into rows, and the change
//!   between two snapshots, as plain functions over snapshots;
//! - [`pprof`] and [`flamegraph`]: a snapshot as a pprof profile, as Go
//!   writes one (with the encoder CPU captures use too), and as
//!   flamegraphs;
//! - [`baseline`]: the snapshot a diff compares against;
//! - [`timeline`]: memory over time, filled by a background thread;
//! - [`history`] and [`growth`]: heap snapshots over time, and the sites
//!   that grow steadily across them, with the route that goes with each;
//! - [`cpu`]: CPU profiles, sampled by memscope's own sampler (x86-64
//!   Linux) or pprof's;
//! - [`objects`]: what the process has loaded and mapped (the loader's
//!   list, the maps, object files and their build ids), for the walker,
//!   the symbolizer and the pprof encoder;
//! - [`process`]: figures the allocator does not know (RSS, by kind);
//! - [`rss`]: where the RSS is, in parts that add up to it;
//! - [`cgroup`]: the container's memory limit, usage and OOM kills;
//! - [`trend`]: a figure's course over a window (its rate and error);
//! - [`verdict`]: "is it a leak?" answered from all of the above, and the
//!   time left before the memory limit.
//!
//! Failures are [`ModelError`]s, which the pages turn into responses.
//!
//! # What is per process, and why
//!
//! Some state exists once in the process whatever the number of layers,
//! because what it describes or guards is the process's:
//!
//! - the symbolizer's caches (`heap::symbolize`): debug info is the
//!   binary's, and backtrace's cache behind it is global;
//! - the last heap snapshot, behind the lock that lets one `prof.dump`
//!   run at a time (`heap`): jemalloc has one heap profile;
//! - the CPU captures (`cpu`): one profiling timer and one `SIGPROF`
//!   handler a process, and one capture at a time so that heap sampling's
//!   pause has one owner;
//! - the timeline and its one sampler thread (`timeline`): allocator
//!   figures and RSS are the process's;
//! - the heap history and its one sampler thread (`history`), for the same
//!   reason;
//! - memscope's stack walker, installed once (`unwind`).
//!
//! What belongs to a mount (the layers mounted at one prefix with the same
//! request history, see `layer::state`) is the request log and the
//! baseline, since a diff's bytes per request divide by that log's count.

pub(crate) mod allocator;
pub(crate) mod baseline;
pub(crate) mod cgroup;
pub(crate) mod cpu;
pub(crate) mod diff;
mod error;
pub(crate) mod flamegraph;
pub(crate) mod growth;
pub(crate) mod heap;
pub(crate) mod history;
pub(crate) mod objects;
pub(crate) mod pprof;
pub(crate) mod process;
pub(crate) mod route_heap;
pub(crate) mod rss;
pub(crate) mod sampled;
pub(crate) mod table;
pub(crate) mod tag_frame;
pub(crate) mod timeline;
pub(crate) mod trend;
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
pub(crate) mod unwind;
pub(crate) mod verdict;
mod wishes;

pub(crate) use error::{ModelError, ModelErrorKind};

/// Runs `work`, which blocks (a heap dump, symbolizing, a CPU capture), off
/// the async executor, so that its threads go on serving the app: on a
/// thread of memscope's own where jemalloc is the global allocator, bound
/// to memscope's arena and its arena purged when the work is done
/// (`allocator::own_arena` says why), else on the runtime's blocking
/// threads; in place without a runtime.
pub(crate) async fn off_executor<T: Send + 'static>(
    what: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ModelError> {
    let failed = |error: &dyn std::fmt::Display| {
        ModelError::failed(format!("the {what} task failed: {error}"))
    };
    if allocator::has_own_arena() {
        let (done, result) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("memscope-work".to_owned())
            .spawn(move || {
                allocator::bind_to_own_arena();
                let result = work();
                // Given back before the answer goes, so that the page's
                // caller never sees memory memscope no longer uses.
                allocator::purge_own_arena();
                let _ = done.send(result);
            })
            .map_err(|error| failed(&error))?;
        return result.await.map_err(|error| failed(&error));
    }
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => runtime
            .spawn_blocking(work)
            .await
            .map_err(|error| failed(&error)),
        Err(_) => Ok(work()),
    }
}
