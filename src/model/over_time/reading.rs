//! What memory looks like at one moment, as the timeline keeps it and the
//! parts of the RSS are reckoned from: the allocator's figures, the RSS by
//! kind, the thread stacks, named maps and binary pages the mappings hold,
//! what the C library's malloc holds, memscope's own heap and mapped debug
//! info, the threads and the async runtime's live tasks.

use std::sync::Mutex;

use serde::Serialize;

use crate::model::allocator::{AllocatorStats, HeapSource, inner_is_system};
use crate::model::heap;
use crate::model::process::{LibcMalloc, ResidentByKind};
use crate::model::symbols::SYMBOLIZER;

/// One reading.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub(crate) struct MemoryReading {
    /// The allocator's figures (the live bytes alone over another
    /// allocator than jemalloc).
    #[serde(skip)]
    pub(crate) stats: AllocatorStats,
    /// The RSS by kind; `None` without procfs.
    #[serde(skip)]
    pub(crate) kinds: Option<ResidentByKind>,
    /// Resident bytes of the thread stacks, of named anonymous maps, of
    /// the binary's file pages, and of the debug info memscope maps to
    /// name stacks.
    pub(crate) thread_stacks: u64,
    pub(crate) named_maps: u64,
    pub(crate) binary: u64,
    pub(crate) memscope_debug_info: u64,
    /// Threads of the process.
    pub(crate) threads: u32,
    /// The C library's malloc; `None` where it is not glibc.
    #[serde(skip)]
    pub(crate) libc: Option<LibcMalloc>,
    /// memscope's own live heap, as its last heap snapshot estimated it.
    pub(crate) memscope_heap: u64,
    /// The async runtime's live tasks, where a layer runs on tokio.
    pub(crate) tasks: Option<u64>,
    /// Whether the allocator gives its figures beyond the live bytes
    /// (jemalloc does; memscope's sampling allocator over another does
    /// not).
    #[serde(skip)]
    pub(crate) allocator_figures: bool,
    /// Whether the live heap is in the C library's malloc too (memscope's
    /// sampling allocator over the system's): what that malloc holds is
    /// then counted less the live heap.
    #[serde(skip)]
    pub(crate) live_heap_in_libc: bool,
}

impl MemoryReading {
    /// Reads it now. A few reads of `/proc`, one `mincore` a thread stack
    /// or named map, and `mallinfo2` (BENCHMARKS.md has what it costs).
    pub(crate) fn now() -> Self {
        let source = HeapSource::get();
        let stats = source.figures();
        let (kinds, threads) = ResidentByKind::read_with_threads();
        let mapped = crate::model::process::read_mappings(&SYMBOLIZER.mapped_ranges(), 0)
            .unwrap_or_default();
        Self {
            stats,
            kinds,
            thread_stacks: mapped.thread_stacks,
            named_maps: mapped.named_total(),
            binary: mapped.binary,
            memscope_debug_info: mapped.asked,
            threads: threads.unwrap_or(0) as u32,
            libc: LibcMalloc::read(),
            memscope_heap: heap::last_own_bytes().map_or(0, |bytes| bytes as u64),
            tasks: alive_tasks(),
            allocator_figures: source.knows_allocator_figures(),
            live_heap_in_libc: !source.knows_allocator_figures() && inner_is_system(),
        }
    }
}

/// The tokio runtime a layer was built on, for its live task count.
static RUNTIME: Mutex<Option<tokio::runtime::Handle>> = Mutex::new(None);

/// Watches the live tasks of the runtime the caller runs on, where it runs
/// on one: the newest such runtime a layer was built or a page served on
/// (a process that starts runtimes one after another watches the one in
/// use).
pub(crate) fn watch_current_runtime() {
    if let Ok(current) = tokio::runtime::Handle::try_current() {
        *crate::sync::lock(&RUNTIME) = Some(current);
    }
}

/// The watched runtime's live tasks.
pub(crate) fn alive_tasks() -> Option<u64> {
    let runtime = crate::sync::lock(&RUNTIME);
    Some(runtime.as_ref()?.metrics().num_alive_tasks() as u64)
}
