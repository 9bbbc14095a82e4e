//! memscope's stack walker under jemalloc's heap sampler
//! (tests/scenarios/walker_stress.rs says what it goes through).

#[global_allocator]
static ALLOC: memscope::Jemalloc = memscope::Jemalloc;
memscope::heap_profiling!(lg_sample = 8);

mod common;
#[path = "scenarios/walker_stress.rs"]
mod scenario;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_walker_survives_what_threads_do() {
    scenario::the_walker_survives_what_threads_do().await;
}
