//! The allocator: who takes the heap's samples and whose figures the pages
//! read, decided once in [`HeapSource`] (`source`), and what each source
//! gives:
//!
//! - `jemalloc`: jemalloc's statistics and switches (heap profiling's
//!   state, sampling on or off, the purge), through `mallctl`;
//!   `size_classes`, its live heap by size class; `jemalloc_dump`, its
//!   heap profile (`prof.dump`) read back; `setup`, the start-up
//!   configuration `heap_profiling!` writes; `own_arena`, the arena
//!   memscope's own work runs in, and the thread that runs it;
//! - `sampled`: memscope's sampling allocator, `memscope::Sampled`, over
//!   any other;
//! - `raw_profile`: the heap profile both give, before any name is looked
//!   up.
//!
//! It sits on `process` (the mapped files a profile is resolved against,
//! the walker that takes a sample's stack, the resident memory).
//!
//! `unsafe` is allowed module by module where memscope talks to the
//! system below Rust: here (`jemalloc`, `jemalloc_dump`, `own_arena`,
//! `setup`, `sampled`, `size_classes`), in `process` (`objects::{loaded,
//! elf}`, `unwind`, `mappings` (mincore), `libc_malloc` (mallinfo2),
//! `age` (sysconf)), `symbols::dwarf` (files mapped), `cpu::sampler`
//! (signals) and a cache prefetch in `record/ring.rs`; every block says
//! why it is sound.

mod jemalloc;
mod jemalloc_dump;
mod own_arena;
mod profile_text;
mod raw_profile;
pub(crate) mod sampled;

pub(crate) use sampled::inner_is_system;
mod setup;
mod size_classes;
mod source;

pub(crate) use jemalloc::{AllocatorStats, Unwinder, use_memscope_unwinder};
pub(crate) use jemalloc_dump::parse_from as parse_heap_profile;
pub(crate) use own_arena::{bind_to_own_arena, off_executor, purge_own_arena};
pub(crate) use profile_text::write_heap_profile;
pub(crate) use raw_profile::{Counts, RawProfile};
#[doc(hidden)]
pub use setup::nul_terminated_conf;
pub(crate) use size_classes::SizeClass;
pub(crate) use source::{
    HeapSource, ProfilingHint, ProfilingState, Purged, Sampler, SamplingRefused,
};
