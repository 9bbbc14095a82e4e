//! tests/scenarios/heap_growth.rs on jemalloc's heap profiling.

use crate::common::own_process::{in_own_process, profiling};
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn growth_names_the_leak_and_its_route_without_a_baseline() {
    if in_own_process(&profiling(14)) {
        return;
    }
    crate::scenarios::heap_growth::growth_names_the_leak_and_its_route_without_a_baseline().await;
}
