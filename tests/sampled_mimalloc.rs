//! The tests on memscope's sampling allocator over mimalloc (`tests/sampled/`).

#[global_allocator]
static ALLOC: memscope::Sampled<mimalloc::MiMalloc> =
    memscope::Sampled::with_lg_sample(mimalloc::MiMalloc, 14);

#[path = "common/mod.rs"]
mod common;
// The demo's service, as `cargo run --example leaky_cache_mimalloc` runs it.
#[cfg(feature = "axum")]
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/leaky_cache/service.rs"]
mod leaky_cache;
mod sampled;
