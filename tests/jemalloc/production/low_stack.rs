//! Threads near the end of their stacks under jemalloc's sampler and the
//! CPU sampler (tests/scenarios/low_stack.rs says what they go through),
//! sampling every 256 bytes.

use crate::common::own_process::{in_own_process, profiling};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threads_near_the_end_of_their_stacks_live_through_sampling() {
    if in_own_process(&profiling(8)) {
        return;
    }
    crate::scenarios::low_stack::threads_near_the_end_of_their_stacks_live_through_sampling().await;
}
