//! Heap estimates from memscope's sampling allocator on the system allocator
//! (tests/scenarios/sampled_estimates.rs says what is checked).

#[global_allocator]
static ALLOC: memscope::Sampled<std::alloc::System> =
    memscope::Sampled::with_lg_sample(std::alloc::System, 14);

mod common;
#[path = "scenarios/sampled_estimates.rs"]
mod scenario;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_site_is_estimated_within_its_stated_error() {
    scenario::each_site_is_estimated_within_its_stated_error().await;
}
