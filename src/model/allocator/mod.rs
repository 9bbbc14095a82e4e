//! jemalloc's figures and switches: its statistics, its size classes, the
//! heap profiling switch and the purge, all through `mallctl`, whose reads
//! are typed only by convention, hence `unsafe` here. Two other modules
//! talk to jemalloc for their own purpose: the heap dump (`heap/dump.rs`
//! writes `prof.dump`) and the stack walker (`unwind`, jemalloc's backtrace
//! hook); the per-thread counters read on every request are the request
//! path's (`record/thread_counters.rs`).
//!
//! `unsafe` is allowed module by module where memscope talks to the system
//! below Rust: here (and `setup`, the start-up configuration), `unwind`
//! and `cpu::sampler` (stacks and signals), `objects::{loaded, elf}` and
//! `heap::{dump, dwarf}` (loaded objects listed, files mapped, the dump's
//! in-memory file), and a cache prefetch in `record/ring.rs`; every block
//! says why it is sound.

#![allow(unsafe_code)]

mod own_arena;
mod setup;
mod size_classes;

pub(crate) use own_arena::{bind_to_own_arena, has_own_arena, purge_own_arena};
#[doc(hidden)]
pub use setup::nul_terminated_conf;
pub(crate) use size_classes::{SizeClass, size_classes};

use std::sync::OnceLock;

use serde::Serialize;
use tikv_jemalloc_ctl::{epoch, raw, stats};

/// jemalloc's own figures, in bytes, read after advancing the epoch.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub(crate) struct AllocatorStats {
    pub(crate) allocated: u64,
    pub(crate) active: u64,
    pub(crate) resident: u64,
    pub(crate) mapped: u64,
    pub(crate) retained: u64,
    pub(crate) metadata: u64,
}

impl AllocatorStats {
    /// Reads the current figures. jemalloc caches its statistics and refreshes
    /// them only when the epoch advances, so the epoch is advanced first.
    pub(crate) fn read() -> Self {
        if !figures_are_jemalloc() {
            return Self::of_wrapper();
        }
        advance_epoch();
        let read = |value: tikv_jemalloc_ctl::Result<usize>| value.unwrap_or(0) as u64;
        Self {
            allocated: read(stats::allocated::read()),
            active: read(stats::active::read()),
            resident: read(stats::resident::read()),
            mapped: read(stats::mapped::read()),
            retained: read(stats::retained::read()),
            metadata: read(stats::metadata::read()),
        }
    }
}

/// What takes the heap samples, as the pages name it.
pub(crate) fn heap_sampler_name() -> &'static str {
    if super::sampled::in_use() {
        "memscope's sampling allocator"
    } else {
        "jemalloc"
    }
}

/// Whether the allocator figures are jemalloc's: it is the global
/// allocator (alone or under memscope's sampling allocator). Over another
/// allocator, memscope's sampling allocator knows only the live bytes.
pub(crate) fn figures_are_jemalloc() -> bool {
    !super::sampled::in_use() || jemalloc_is_global_allocator()
}

impl AllocatorStats {
    /// What memscope's sampling allocator counts over another allocator:
    /// the bytes allocated and not freed, exactly; the rest is the inner
    /// allocator's, which it cannot read, and stays zero.
    fn of_wrapper() -> Self {
        let (allocated, freed) = crate::record::wrapper_totals();
        Self {
            allocated: allocated.saturating_sub(freed),
            ..Self::default()
        }
    }
}

pub(crate) fn advance_epoch() {
    // Fails only if jemalloc was built without statistics, and then every
    // figure reads as zero, which the pages report.
    let _ = epoch::advance();
}

/// Whether heap profiling was built in, switched on at start-up, and sampling now.
#[derive(Clone, Copy, Debug, Serialize)]
pub(crate) struct ProfilingState {
    /// `opt.prof`: profiling was switched on at start-up (`prof:true`).
    pub(crate) enabled: bool,
    /// `prof.active`: samples are being taken now.
    pub(crate) active: bool,
    /// `prof.lg_sample`: one sample per 2^lg_sample bytes allocated, on average.
    pub(crate) lg_sample: Option<u32>,
    /// `opt.prof_accum`: jemalloc keeps what every sampled stack allocated,
    /// freed or not, for the `alloc_*` sample types.
    pub(crate) accumulates: bool,
    /// Whether jemalloc is the process's global allocator at all.
    pub(crate) jemalloc_is_global: bool,
    /// What unwinds each sampled allocation's stack, when profiling is on:
    /// `memscope` (its own walker), else jemalloc's `libgcc` or `libunwind`.
    pub(crate) unwinder: Option<&'static str>,
    /// What takes the heap samples: `jemalloc`, or `memscope` (its
    /// sampling allocator, `memscope::Sampled`, over any allocator).
    pub(crate) sampler: &'static str,
}

impl ProfilingState {
    pub(crate) fn read() -> Self {
        if super::sampled::in_use() {
            return Self::of_wrapper();
        }
        // SAFETY: `opt.prof` is a `bool` control.
        let enabled = unsafe { raw::read::<bool>(b"opt.prof\0") }.unwrap_or(false);
        // SAFETY: `prof.active` is a `bool` control.
        let active = enabled && unsafe { raw::read::<bool>(b"prof.active\0") }.unwrap_or(false);
        let lg_sample = if enabled {
            // SAFETY: `prof.lg_sample` is a `size_t` control.
            unsafe { raw::read::<usize>(b"prof.lg_sample\0") }
                .ok()
                .map(|lg| lg as u32)
        } else {
            None
        };
        // SAFETY: `opt.prof_accum` is a `bool` control.
        let accumulates =
            enabled && unsafe { raw::read::<bool>(b"opt.prof_accum\0") }.unwrap_or(false);
        Self {
            enabled,
            active,
            lg_sample,
            accumulates,
            jemalloc_is_global: jemalloc_is_global_allocator(),
            unwinder: enabled.then(sampled_stack_unwinder),
            sampler: "jemalloc",
        }
    }

    /// memscope's sampling allocator takes the samples: profiling is on
    /// from the first allocation, and the wrapper keeps what every stack
    /// allocated.
    fn of_wrapper() -> Self {
        Self {
            enabled: true,
            active: super::sampled::is_active(),
            lg_sample: Some(super::sampled::lg_sample()),
            accumulates: true,
            jemalloc_is_global: jemalloc_is_global_allocator(),
            unwinder: Some("memscope"),
            sampler: "memscope",
        }
    }

    /// Average bytes allocated between two samples.
    pub(crate) fn sample_interval(&self) -> Option<u64> {
        self.lg_sample.map(|lg| 1u64 << lg.min(63))
    }

    /// A sentence on the state of heap profiling.
    pub(crate) fn summary(&self) -> String {
        if self.sampler == "memscope" {
            return format!(
                "heap profiling by memscope's sampling allocator {}, one sample per {} allocated",
                if self.active { "active" } else { "paused" },
                crate::units::human_bytes(self.sample_interval().unwrap_or(0)),
            );
        }
        match (self.jemalloc_is_global, self.enabled, self.active) {
            (false, _, _) => "jemalloc is not the global allocator".to_owned(),
            (true, false, _) => "heap profiling off".to_owned(),
            (true, true, active) => format!(
                "heap profiling {}, one sample per {} allocated, stacks unwound by {}",
                if active { "active" } else { "paused" },
                crate::units::human_bytes(self.sample_interval().unwrap_or(0)),
                self.unwinder.unwrap_or("jemalloc")
            ),
        }
    }

    /// What to change, where jemalloc or heap profiling is off.
    pub(crate) fn hint(&self) -> Option<&'static str> {
        if self.sampler == "memscope" {
            None
        } else if !self.jemalloc_is_global {
            Some(NOT_GLOBAL_HINT)
        } else if !self.enabled {
            Some(PROFILING_OFF_HINT)
        } else {
            None
        }
    }
}

/// Makes jemalloc unwind sampled stacks with memscope's own walker
/// (`unwind/mod.rs` says why), once per process. Fails where profiling is
/// off, since jemalloc then takes no hook, and off x86-64 Linux.
pub(crate) fn use_memscope_unwinder() -> Result<(), String> {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    return super::unwind::install();
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    return Err("memscope's stack walker runs on x86-64 Linux only".to_owned());
}

/// What unwinds sampled stacks now.
fn sampled_stack_unwinder() -> &'static str {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    if super::unwind::is_installed() {
        return "memscope";
    }
    if cfg!(feature = "libunwind") {
        "libunwind"
    } else {
        "libgcc"
    }
}

/// Switches heap sampling on or off. Fails with a sentence a user can act on
/// when profiling was not enabled at start-up, since jemalloc then rejects
/// every `prof.*` write with a bare "invalid value".
pub(crate) fn set_profiling_active(active: bool) -> Result<(), String> {
    if super::sampled::in_use() {
        super::sampled::set_active(active);
        return Ok(());
    }
    let state = ProfilingState::read();
    if !state.jemalloc_is_global {
        return Err(NOT_GLOBAL_HINT.to_owned());
    }
    if !state.enabled {
        return Err(PROFILING_OFF_HINT.to_owned());
    }
    // SAFETY: `prof.active` is a writable `bool` control.
    unsafe { raw::write(b"prof.active\0", active) }
        .map_err(|error| format!("jemalloc refused to set prof.active: {error}"))
}

/// Returns the pages of freed memory to the system now, in every arena,
/// rather than when jemalloc's decay next runs, which without background
/// threads only happens on allocator activity.
pub(crate) fn purge_unused_pages() {
    // `MALLCTL_ARENAS_ALL`: the purge applies to all arenas.
    const PURGE_ALL: &[u8] = b"arena.4096.purge\0";
    // SAFETY: `arena.<i>.purge` takes no input and gives no output, so all
    // pointers are null and the length 0; the name is NUL-terminated.
    unsafe {
        tikv_jemalloc_sys::mallctl(
            PURGE_ALL.as_ptr().cast(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        );
    }
}

/// Resident memory before and after a purge.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Purged {
    pub(crate) resident_before: u64,
    pub(crate) resident_after: u64,
    pub(crate) rss_before: Option<u64>,
    pub(crate) rss_after: Option<u64>,
}

/// Gives unused pages back now, and says what that did.
pub(crate) fn purge_now() -> Purged {
    let resident_before = AllocatorStats::read().resident;
    let rss_before = super::process::resident_set_size();
    purge_unused_pages();
    Purged {
        resident_before,
        resident_after: AllocatorStats::read().resident,
        rss_before,
        rss_after: super::process::resident_set_size(),
    }
}

/// What to add when jemalloc is not the global allocator.
pub(crate) const NOT_GLOBAL_HINT: &str = "jemalloc is not this program's global allocator, so \
    its figures stay near zero. Add to the binary's main.rs: \
    `#[global_allocator] static ALLOC: memscope::Jemalloc = memscope::Jemalloc;`";

/// What to add when heap profiling is off.
pub(crate) const PROFILING_OFF_HINT: &str = "heap profiling is off. Add `memscope::heap_profiling!();` \
    to the binary's main.rs (next to the global allocator), or start the program with \
    `_RJEM_MALLOC_CONF=prof:true,prof_active:true,lg_prof_sample:19`.";

/// Detects whether allocations of this program reach jemalloc: if they do,
/// the calling thread's allocated-bytes counter moves across an allocation.
pub(crate) fn jemalloc_is_global_allocator() -> bool {
    static IS_GLOBAL: OnceLock<bool> = OnceLock::new();
    *IS_GLOBAL.get_or_init(|| {
        let Ok(counter) = tikv_jemalloc_ctl::thread::allocatedp::read() else {
            return false;
        };
        let before = counter.get();
        let probe: Vec<u8> = Vec::with_capacity(64 * 1024);
        std::hint::black_box(&probe);
        let after = counter.get();
        drop(probe);
        after >= before + 64 * 1024
    })
}
