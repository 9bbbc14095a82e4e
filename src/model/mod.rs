//! The memory model: what memscope knows about the process's memory, with
//! nothing of HTTP or templates in it. It returns facts (kinds, figures,
//! enums); the pages write the sentences.
//!
//! Its folders are layers, and a folder imports only those below it
//! (`tests/system/module_graph.rs` checks it):
//!
//! ```text
//!  black_box    captures before the OOM kill, kept on disk, read after the restart
//!  verdict      is it a leak? the RSS in parts, the time to the limit
//!  cpu          CPU captures (memscope's sampler or pprof's)
//!  pprof        heap profiles as pprof protobuf, and the encoder CPU captures use
//!  over_time    the timeline, the heap history, trends, growth, what each route keeps
//!  heap         a heap snapshot, its stacks and sites, tables, diffs, baseline, flamegraphs
//!  symbols      names for return addresses: the symbolizer, DWARF, names, frame kinds
//!  allocator    the heap source (jemalloc or memscope's sampling allocator): figures,
//!               switches, raw profiles, memscope's own arena
//!  process      loaded objects, the stack walker, the route's tag frame, resident
//!               memory, the cgroup
//! ```
//!
//! Failures are [`ModelError`]s, which the pages turn into responses.
//!
//! # What is per process, and why
//!
//! Some state exists once in the process whatever the number of layers,
//! because what it describes or guards is the process's:
//!
//! - the heap source (`allocator::HeapSource`): one global allocator;
//! - the symbolizer's caches (`symbols`): debug info is the binary's, and
//!   backtrace's cache behind it is global;
//! - the last heap snapshot, behind the lock that lets one dump run at a
//!   time (`heap`): the allocator has one heap profile;
//! - the CPU captures (`cpu`): one profiling timer and one `SIGPROF`
//!   handler a process, and one capture at a time so that heap sampling's
//!   pause has one owner;
//! - the timeline and the heap history, each with its one background
//!   thread (`over_time`): allocator figures and RSS are the process's;
//! - memscope's stack walker, installed once (`process::unwind`);
//! - the black boxes' watch, one thread for all (`black_box`): the memory
//!   limit it watches is the process's.
//!
//! What belongs to a mount (the layers mounted at one prefix with the same
//! request history, see `layer::state`) is the request log and the
//! baseline, since a diff's bytes per request divide by that log's count.

pub(crate) mod allocator;
pub(crate) mod black_box;
pub(crate) mod cpu;
mod error;
pub(crate) mod heap;
pub(crate) mod over_time;
pub(crate) mod pprof;
pub(crate) mod process;
pub(crate) mod symbols;
pub(crate) mod verdict;

pub(crate) use error::{ModelError, ModelErrorKind};
