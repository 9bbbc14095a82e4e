//! The demo's leak, as the overview's verdict calls it: in leaky mode,
//! driven at a steady pace over a kept-alive connection, it is a leak, with
//! the caching code as its site and `/json` as its route. (The fix is
//! `demo_verdict_fixed`, in a process of its own: the verdict reads the
//! process's memory.)
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
async fn the_leaky_demo_is_called_a_leak_with_its_site_and_route() {
    let layer = common::fast_verdict_layer();
    let addr = leaky_cache::start_with(Mode::Leaky, "127.0.0.1:0".parse().unwrap(), layer)
        .await
        .unwrap();
    let overview =
        common::overview_after_steady_traffic(addr, "/json", 3_000, Duration::from_secs(4)).await;
    let verdict = &overview["verdict"];
    assert_eq!(verdict["kind"], "leak", "{overview:#}");
    let site = verdict["evidence"]["suspects"][0]["name"].as_str().unwrap();
    assert!(site.contains("leaky_cache::cache::"), "{verdict:#}");
    assert_eq!(verdict["evidence"]["routes"][0], "/json", "{verdict:#}");
    println!("{}", verdict["summary"]);
}
