//! The tests on memscope's sampling allocator over the system allocator (`tests/sampled/`).

#[global_allocator]
static ALLOC: memscope::Sampled<std::alloc::System> =
    memscope::Sampled::with_lg_sample(std::alloc::System, 14);

#[path = "common/mod.rs"]
mod common;
// The demo's service, as `cargo run --example leaky_cache_system` runs it.
#[cfg(feature = "axum")]
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/leaky_cache/service.rs"]
mod leaky_cache;
mod sampled;
