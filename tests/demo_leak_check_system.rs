//! tests/scenarios/demo_leak_check.rs on the demo's system allocator under memscope::Sampled.
// The demo reads the peer from axum's ConnectInfo: memscope's `axum` feature.
#![cfg(feature = "axum")]

// The demo's allocator, as `cargo run --example leaky_cache_system` has it.
#[global_allocator]
static ALLOC: memscope::Sampled<std::alloc::System> =
    memscope::Sampled::with_lg_sample(std::alloc::System, 14);

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/leaky_cache/service.rs"]
mod leaky_cache;
#[path = "scenarios/demo_leak_check.rs"]
mod scenario;

#[tokio::test]
async fn the_leak_fails_the_check_and_the_fix_passes_it() {
    scenario::the_leak_fails_the_check_and_the_fix_passes_it().await;
}
