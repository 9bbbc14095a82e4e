//! The demo's fix holds, as the overview's verdict says: in fixed mode,
//! driven as `demo_verdict_leaky` drives the leak, nothing grows and the
//! verdict is steady.
#![cfg(feature = "axum")]

mod common;
// The demo's allocator, as `cargo run --example leaky_cache` has it.
#[global_allocator]
static ALLOC: memscope::Jemalloc = memscope::Jemalloc;
memscope::heap_profiling!(lg_sample = 14);

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/leaky_cache/service.rs"]
mod leaky_cache;

use std::time::Duration;

use leaky_cache::Mode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fixed_demo_is_called_steady() {
    let layer = common::fast_verdict_layer();
    let addr = leaky_cache::start_with(Mode::Fixed, "127.0.0.1:0".parse().unwrap(), layer)
        .await
        .unwrap();
    let overview =
        common::overview_after_steady_traffic(addr, "/json", 3_000, Duration::from_secs(4)).await;
    let verdict = &overview["verdict"];
    assert_eq!(verdict["kind"], "steady", "{overview:#}");
    assert!(
        verdict["evidence"]["suspects"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{verdict:#}"
    );
    assert!(overview["time_to_limit"].is_null(), "{overview:#}");
    println!("{}", verdict["summary"]);
}
