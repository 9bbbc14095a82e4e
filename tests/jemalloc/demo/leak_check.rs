//! tests/scenarios/demo_leak_check.rs on the demo's jemalloc.

use crate::common::own_process::{in_own_process, profiling};
#[tokio::test]
async fn the_leak_fails_the_check_and_the_fix_passes_it() {
    if in_own_process(&profiling(14)) {
        return;
    }
    crate::scenarios::demo_leak_check::the_leak_fails_the_check_and_the_fix_passes_it().await;
}
