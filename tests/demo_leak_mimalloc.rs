//! tests/scenarios/demo_leak.rs on the demo's mimalloc allocator under memscope::Sampled.
// The demo reads the peer from axum's ConnectInfo: memscope's `axum` feature.
#![cfg(feature = "axum")]

// The demo's allocator, as `cargo run --example leaky_cache_mimalloc` has it.
#[global_allocator]
static ALLOC: memscope::Sampled<mimalloc::MiMalloc> =
    memscope::Sampled::with_lg_sample(mimalloc::MiMalloc, 14);

mod common;
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/leaky_cache/service.rs"]
mod leaky_cache;
#[path = "scenarios/demo_leak.rs"]
mod scenario;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leak_is_found_and_the_fix_holds() {
    scenario::leak_is_found_and_the_fix_holds().await;
}
