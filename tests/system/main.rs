//! The tests on the system allocator alone, neither jemalloc nor
//! memscope's sampling allocator: every page still answers and says what
//! to change; and the crate's architecture, read from its source.

#[path = "../common/mod.rs"]
mod common;

mod cpu_idle;
mod module_graph;
mod without_jemalloc;
