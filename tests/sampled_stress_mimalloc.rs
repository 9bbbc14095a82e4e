//! memscope's stack walker under stress (`tests/scenarios/walker_stress.rs`)
//! with memscope's sampling allocator over mimalloc, sampling every 256 bytes
//! so that nearly every allocation runs the walker.

#[global_allocator]
static ALLOC: memscope::Sampled<mimalloc::MiMalloc> =
    memscope::Sampled::with_lg_sample(mimalloc::MiMalloc, 8);

#[path = "common/mod.rs"]
mod common;
#[path = "scenarios/walker_stress.rs"]
mod walker_stress;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_walker_survives_what_threads_do() {
    walker_stress::the_walker_survives_what_threads_do().await;
}
