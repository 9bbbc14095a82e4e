//! Every heap page over memscope's sampling allocator on mimalloc
//! (tests/scenarios/sampled_pages.rs says what is checked).

#[global_allocator]
static ALLOC: memscope::Sampled<mimalloc::MiMalloc> =
    memscope::Sampled::with_lg_sample(mimalloc::MiMalloc, 14);

mod common;
#[path = "scenarios/sampled_pages.rs"]
mod scenario;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_heap_page_reads_the_wrapper_s_samples() {
    scenario::every_heap_page_reads_the_wrapper_s_samples().await;
}
