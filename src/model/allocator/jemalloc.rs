//! jemalloc's figures and switches, through `mallctl`, whose reads are
//! typed only by convention, hence `unsafe` here. `HeapSource` decides
//! when they apply.

#![allow(unsafe_code)]

use std::sync::OnceLock;

use serde::Serialize;
use tikv_jemalloc_ctl::{epoch, raw, stats};

/// The allocator's own figures, in bytes. jemalloc gives them all; over
/// another allocator memscope's sampling allocator knows only
/// `allocated`, and the rest stay zero (`HeapSource::figures`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub(crate) struct AllocatorStats {
    pub(crate) allocated: u64,
    pub(crate) active: u64,
    pub(crate) resident: u64,
    pub(crate) mapped: u64,
    pub(crate) retained: u64,
    pub(crate) metadata: u64,
}

impl AllocatorStats {
    /// jemalloc's figures now. jemalloc caches its statistics and
    /// refreshes them only when the epoch advances, so the epoch is
    /// advanced first.
    pub(crate) fn of_jemalloc() -> Self {
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

fn advance_epoch() {
    // Fails only if jemalloc was built without statistics, and then every
    // figure reads as zero, which the pages report.
    let _ = epoch::advance();
}

/// jemalloc's profiling switches as they stand.
pub(super) struct JemallocProfiling {
    /// `opt.prof`: switched on at start-up.
    pub(super) enabled: bool,
    /// `prof.active`: sampling now.
    pub(super) active: bool,
    /// `prof.lg_sample`.
    pub(super) lg_sample: Option<u32>,
    /// `opt.prof_accum`.
    pub(super) accumulates: bool,
}

impl JemallocProfiling {
    pub(super) fn read() -> Self {
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
        }
    }
}

/// Sets `prof.active`; jemalloc's own error where it refuses.
pub(super) fn set_prof_active(active: bool) -> Result<(), String> {
    // SAFETY: `prof.active` is a writable `bool` control.
    unsafe { raw::write(b"prof.active\0", active) }.map_err(|error| error.to_string())
}

/// What unwinds a sampled allocation's stack (`unwinder` in JSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Unwinder {
    /// memscope's walker, which also records the route tag.
    Memscope,
    /// jemalloc's own, through libgcc.
    Libgcc,
    /// jemalloc's own, through libunwind (the `libunwind` feature).
    Libunwind,
}

/// Makes jemalloc unwind sampled stacks with memscope's own walker
/// (`process::unwind` says why), once per process. Fails where profiling
/// is off, since jemalloc then takes no hook, and off x86-64 Linux.
pub(crate) fn use_memscope_unwinder() -> Result<(), String> {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    return crate::model::process::unwind::install();
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    return Err("memscope's stack walker runs on x86-64 Linux only".to_owned());
}

/// What unwinds jemalloc's sampled stacks now.
pub(super) fn sampled_stack_unwinder() -> Unwinder {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    if crate::model::process::unwind::is_installed() {
        return Unwinder::Memscope;
    }
    if cfg!(feature = "libunwind") {
        Unwinder::Libunwind
    } else {
        Unwinder::Libgcc
    }
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
