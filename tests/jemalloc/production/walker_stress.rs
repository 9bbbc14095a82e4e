//! memscope's stack walker under jemalloc's heap sampler
//! (tests/scenarios/walker_stress.rs says what it goes through).

use crate::common::own_process::{in_own_process, profiling};
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_walker_survives_what_threads_do() {
    if in_own_process(&profiling(8)) {
        return;
    }
    crate::scenarios::walker_stress::the_walker_survives_what_threads_do().await;
}
