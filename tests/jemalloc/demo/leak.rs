//! tests/scenarios/demo_leak.rs on the demo's jemalloc.

use crate::common::own_process::{in_own_process, profiling};
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leak_is_found_and_the_fix_holds() {
    if in_own_process(&profiling(14)) {
        return;
    }
    crate::scenarios::demo_leak::leak_is_found_and_the_fix_holds().await;
}
