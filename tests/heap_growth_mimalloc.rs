//! tests/scenarios/heap_growth.rs on memscope's sampling allocator over mimalloc.

#[global_allocator]
static ALLOC: memscope::Sampled<mimalloc::MiMalloc> =
    memscope::Sampled::with_lg_sample(mimalloc::MiMalloc, 14);

mod common;
#[path = "scenarios/heap_growth.rs"]
mod scenario;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn growth_names_the_leak_and_its_route_without_a_baseline() {
    scenario::growth_names_the_leak_and_its_route_without_a_baseline().await;
}
