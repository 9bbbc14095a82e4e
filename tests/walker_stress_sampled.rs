//! memscope's stack walker under its own sampling allocator over the
//! system allocator: every allocation counted, one in about 256 bytes
//! walked and kept, through what tests/scenarios/walker_stress.rs puts it
//! through.

#[global_allocator]
static ALLOC: memscope::Sampled<std::alloc::System> =
    memscope::Sampled::with_lg_sample(std::alloc::System, 8);

mod common;
#[path = "scenarios/walker_stress.rs"]
mod scenario;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_walker_survives_what_threads_do() {
    scenario::the_walker_survives_what_threads_do().await;
}
