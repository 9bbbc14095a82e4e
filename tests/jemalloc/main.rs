//! The tests on jemalloc with heap profiling, memscope's first setup, by
//! topic. Each test runs in a process of its own (`common::own_process`),
//! with jemalloc configured as its topic needs: what they measure (the
//! RSS, the heap profile, the arenas, the timeline) is the process's.

#[global_allocator]
static ALLOC: memscope::Jemalloc = memscope::Jemalloc;
memscope::heap_profiling!();

#[path = "../common/mod.rs"]
mod common;
// The demo's service, as `cargo run --example leaky_cache` runs it; it
// reads the peer from axum's ConnectInfo: memscope's `axum` feature.
#[cfg(feature = "axum")]
#[allow(dead_code, unreachable_pub)]
#[path = "../../examples/leaky_cache/service.rs"]
mod leaky_cache;

/// What the tests share with the other allocators' binaries.
#[path = "../scenarios"]
mod scenarios {
    #[cfg(feature = "axum")]
    #[path = "demo_leak.rs"]
    pub(crate) mod demo_leak;
    #[cfg(feature = "axum")]
    #[path = "demo_leak_check.rs"]
    pub(crate) mod demo_leak_check;
    #[path = "heap_growth.rs"]
    pub(crate) mod heap_growth;
    #[path = "low_stack.rs"]
    pub(crate) mod low_stack;
    #[path = "release_names.rs"]
    pub(crate) mod release_names;
    #[path = "walker_stress.rs"]
    pub(crate) mod walker_stress;
}

#[cfg(feature = "axum")]
mod black_box;
#[cfg(feature = "axum")]
mod browser;
mod cpu;
mod demo;
mod fleet;
mod heap;
mod production;
mod serving;
mod verdict;
