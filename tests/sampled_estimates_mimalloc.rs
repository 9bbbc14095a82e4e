//! Heap estimates from memscope's sampling allocator on mimalloc
//! (tests/scenarios/sampled_estimates.rs says what is checked).

#[global_allocator]
static ALLOC: memscope::Sampled<mimalloc::MiMalloc> =
    memscope::Sampled::with_lg_sample(mimalloc::MiMalloc, 14);

mod common;
#[path = "scenarios/sampled_estimates.rs"]
mod scenario;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_site_is_estimated_within_its_stated_error() {
    scenario::each_site_is_estimated_within_its_stated_error().await;
}
