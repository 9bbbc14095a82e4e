//! Memory outside the heap, in a real process: a route starts threads that
//! each use 4 MiB of their stack and park. The RSS grows while jemalloc's
//! figures do not, and the overview says so, naming the part that grew.

use crate::common::own_process::{in_own_process, profiling};
use std::hint::black_box;
use std::time::Duration;

use crate::common::{serve, verdict_after_history, verdict_part};
use axum::Router;
use axum::routing::get;
use http::StatusCode;

const MIB: u64 = 1 << 20;
const THREADS: usize = 24;
const STACK_USED: usize = 4 << 20;

/// Touches `STACK_USED` bytes of the thread's stack, then parks for good.
fn use_stack_and_park() {
    let mut frame = [0u8; STACK_USED];
    for page in (0..STACK_USED).step_by(4096) {
        frame[page] = 1;
    }
    black_box(&mut frame);
    loop {
        std::thread::park();
    }
}

async fn workers() -> &'static str {
    for index in 0..THREADS {
        std::thread::Builder::new()
            .name(format!("parked-{index}"))
            .stack_size(2 * STACK_USED)
            .spawn(use_stack_and_park)
            .unwrap();
    }
    "started"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_jemalloc_does_not_hold_is_called_outside_the_heap() {
    if in_own_process(&profiling(19)) {
        return;
    }
    let layer = crate::common::fast_verdict_layer();
    let addr = serve(Router::new().route("/workers", get(workers)).layer(layer)).await;

    verdict_after_history(addr, Duration::from_secs(10)).await;
    assert_eq!(
        crate::common::get(addr, "/workers").await.status,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let overview = crate::common::get(addr, "/_debug/?format=json")
        .await
        .json();
    let verdict = &overview["verdict"];
    assert_eq!(verdict["kind"], "outside_heap", "{overview:#}");
    assert_eq!(
        verdict["evidence"]["grown_part"], "outside_jemalloc",
        "{verdict:#}"
    );
    let outside = verdict_part(&overview, "outside_jemalloc");
    let expected = (THREADS * STACK_USED) as i64;
    let growth = outside["growth"].as_i64().unwrap();
    assert!(
        growth > expected / 2 && growth < expected * 2,
        "{growth} B grew for {expected} B of stacks: {outside}"
    );
    for part in ["live_heap", "kept_for_reuse", "allocator_overhead"] {
        let trend = verdict_part(&overview, part);
        assert!(
            trend["growth"].as_i64().unwrap() < 16 * MIB as i64,
            "{part} grew: {trend}"
        );
    }
    let summary = verdict["summary"].as_str().unwrap();
    println!("{summary}");
    assert!(summary.starts_with("Outside the heap"), "{summary}");
    assert!(summary.contains("thread stacks"), "{summary}");
    // The breakdown shows each part's growth over the same window.
    let parts = overview["rss_breakdown"]["parts"].as_array().unwrap();
    let shown = parts
        .iter()
        .find(|part| part["part"] == "outside_jemalloc")
        .unwrap();
    assert_eq!(shown["growth"], outside["growth"], "{shown}");
}
