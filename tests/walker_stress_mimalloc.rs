//! memscope's stack walker under its own sampling allocator over mimalloc,
//! through what tests/scenarios/walker_stress.rs puts it through: mimalloc
//! sets up and abandons a heap for each thread that comes and goes, beside
//! the wrapper's own state for each thread.

#[global_allocator]
static ALLOC: memscope::Sampled<mimalloc::MiMalloc> =
    memscope::Sampled::with_lg_sample(mimalloc::MiMalloc, 8);

mod common;
#[path = "scenarios/walker_stress.rs"]
mod scenario;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_walker_survives_what_threads_do() {
    scenario::the_walker_survives_what_threads_do().await;
}
