//! memscope's stack walker under stress (`tests/scenarios/walker_stress.rs`)
//! and on threads near the end of their stacks (`low_stack.rs` there),
//! with memscope's sampling allocator over the system allocator, sampling every 256 bytes
//! so that nearly every allocation runs the walker.

#[global_allocator]
static ALLOC: memscope::Sampled<std::alloc::System> =
    memscope::Sampled::with_lg_sample(std::alloc::System, 8);

#[path = "common/mod.rs"]
mod common;
#[path = "scenarios/low_stack.rs"]
mod low_stack;
#[path = "scenarios/walker_stress.rs"]
mod walker_stress;

use common::own_process::in_own_process;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_walker_survives_what_threads_do() {
    if in_own_process("") {
        return;
    }
    walker_stress::the_walker_survives_what_threads_do().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threads_near_the_end_of_their_stacks_live_through_sampling() {
    if in_own_process("") {
        return;
    }
    low_stack::threads_near_the_end_of_their_stacks_live_through_sampling().await;
}
