//! Thread stacks, in a real process: a route starts threads that use
//! 512 KiB of their stack each and park for good; 200 of them hold
//! 100 MiB that jemalloc never sees. The overview names the part (thread
//! stacks, with the thread count) rather than calling the live heap's
//! small rise a leak. Its fixed twin's threads end: the same work, quiet.

use std::hint::black_box;

use axum::routing::get;

use super::{REQUESTS, overview_after};
use crate::common::own_process::{in_own_process, profiling};
use crate::common::verdict_part;

const MIB: i64 = 1 << 20;
const THREADS_A_REQUEST: usize = 10;
const STACK_USED: usize = 512 << 10;

/// Touches `STACK_USED` bytes of the thread's stack.
fn use_stack() {
    let mut frame = [0u8; STACK_USED];
    for page in (0..STACK_USED).step_by(4096) {
        frame[page] = 1;
    }
    black_box(&mut frame);
}

fn start_threads(park: bool) -> Vec<std::thread::JoinHandle<()>> {
    (0..THREADS_A_REQUEST)
        .map(|index| {
            std::thread::Builder::new()
                .name(format!("worker-{index}"))
                .stack_size(2 * STACK_USED)
                .spawn(move || {
                    use_stack();
                    if park {
                        loop {
                            std::thread::park();
                        }
                    }
                })
                .unwrap()
        })
        .collect()
}

/// Starts threads that never end.
async fn parked_workers() -> &'static str {
    start_threads(true);
    "started"
}

/// Starts the same threads and waits for them to end.
async fn finished_workers() -> &'static str {
    tokio::task::spawn_blocking(|| {
        for thread in start_threads(false) {
            thread.join().unwrap();
        }
    })
    .await
    .unwrap();
    "done"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threads_that_never_end_are_named_outside_the_heap() {
    if in_own_process(&profiling(19)) {
        return;
    }
    let overview = overview_after("/workers", get(parked_workers)).await;
    let verdict = &overview["verdict"];
    assert_eq!(verdict["kind"], "outside_heap", "{overview:#}");
    assert_eq!(
        verdict["evidence"]["grown_part"], "thread_stacks",
        "{verdict:#}"
    );
    let stacks = verdict_part(&overview, "thread_stacks");
    let expected = (THREADS_A_REQUEST * REQUESTS * STACK_USED) as i64;
    let growth = stacks["growth"].as_i64().unwrap();
    assert!(
        growth > expected * 3 / 4 && growth < expected * 2,
        "{growth} B grew for {expected} B of stacks: {stacks}"
    );
    for part in [
        "live_heap",
        "kept_for_reuse",
        "allocator_overhead",
        "libc_malloc",
    ] {
        let trend = verdict_part(&overview, part);
        assert!(
            trend["growth"].as_i64().unwrap() < 16 * MIB,
            "{part} grew: {trend}"
        );
    }
    let threads = overview["rss_breakdown"]["threads"].as_u64().unwrap();
    assert!(
        threads >= (THREADS_A_REQUEST * REQUESTS) as u64,
        "{threads}"
    );
    let summary = verdict["summary"].as_str().unwrap();
    println!("{summary}");
    assert!(summary.starts_with("Outside the heap"), "{summary}");
    // The verdict's count is its window's last point's: a thread or two
    // (the page's own) may have come since.
    let named: u64 = summary
        .split(" threads hold")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no thread count: {summary}"));
    assert!(
        named >= (THREADS_A_REQUEST * REQUESTS) as u64 && named.abs_diff(threads) <= 4,
        "{named} threads named, {threads} counted: {summary}"
    );
    // The breakdown shows the part's growth over the same window.
    let shown = overview["rss_breakdown"]["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|part| part["part"] == "thread_stacks")
        .unwrap();
    assert_eq!(shown["growth"], stacks["growth"], "{shown}");
    assert_eq!(shown["group"], "outside_jemalloc", "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threads_that_end_stay_quiet() {
    if in_own_process(&profiling(19)) {
        return;
    }
    let overview = overview_after("/workers", get(finished_workers)).await;
    let verdict = &overview["verdict"];
    assert_eq!(verdict["kind"], "steady", "{overview:#}");
    let stacks = verdict_part(&overview, "thread_stacks");
    assert!(stacks["growth"].as_i64().unwrap() < 4 * MIB, "{stacks}");
}
