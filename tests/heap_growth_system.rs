//! tests/scenarios/heap_growth.rs on memscope's sampling allocator over the system allocator.

#[global_allocator]
static ALLOC: memscope::Sampled<std::alloc::System> =
    memscope::Sampled::with_lg_sample(std::alloc::System, 14);

mod common;
#[path = "scenarios/heap_growth.rs"]
mod scenario;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn growth_names_the_leak_and_its_route_without_a_baseline() {
    scenario::growth_names_the_leak_and_its_route_without_a_baseline().await;
}
