//! The heap history keeps each distinct stack once and each snapshot as
//! what changed: on a heap of a few thousand sampled stacks that holds
//! still, 20 snapshots take about what 2 do.

use crate::common::own_process::{in_own_process, profiling};
// One sample per 4 KiB: nearly every 16 KiB buffer below is sampled.

use std::time::{Duration, Instant};

use crate::common::stack_chain::{End, level11, with_leaf};
use crate::common::{get, serve};
use axum::Router;

const BUFFER: usize = 16 << 10;
const SNAPSHOTS: u64 = 20;
const INTERVAL: Duration = Duration::from_millis(500);

/// A second leaf under the same chains: twice the stacks.
#[inline(never)]
fn other_leaf(kept: &mut Vec<Vec<u8>>, size: usize) {
    kept.push(std::hint::black_box(vec![2u8; size]));
}

/// The growth page's account of the history: (snapshots stored, bytes).
async fn history(addr: std::net::SocketAddr) -> (u64, u64) {
    let page = get(addr, "/_debug/memory/growth?format=json&limit=1")
        .await
        .json();
    let history = &page["history"];
    (
        history["stored"].as_u64().unwrap(),
        history["bytes"].as_u64().unwrap(),
    )
}

async fn wait_for(addr: std::net::SocketAddr, stored: u64) -> u64 {
    let started = Instant::now();
    loop {
        let (now, bytes) = history(addr).await;
        if now >= stored {
            return bytes;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{now} stored");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_still_heap_costs_the_history_about_one_snapshot() {
    if in_own_process(&profiling(12)) {
        return;
    }
    let mut kept = Vec::new();
    level11::<End>(&mut kept, BUFFER);
    with_leaf(other_leaf, || {
        level11::<crate::common::stack_chain::Leaf>(&mut kept, BUFFER)
    });
    assert_eq!(kept.len(), 4096);

    let layer = memscope::DebugLayer::new().heap_history(INTERVAL, 100);
    let addr = serve(Router::new().layer(layer)).await;
    // Names resolved once before the first snapshot, so that the growth
    // page answers within an interval after.
    get(addr, "/_debug/heapdump?limit=1").await;
    assert_eq!(
        history(addr).await.0,
        0,
        "the symbolizer took longer than an interval"
    );
    let two = wait_for(addr, 2).await;
    let many = wait_for(addr, SNAPSHOTS).await;
    println!("history: {two} B for 2 snapshots, {many} B for {SNAPSHOTS}");
    // Each distinct stack once, its addresses and its counts: a few
    // hundred bytes a stack in all, not 48 bytes a stack a snapshot.
    assert!(two > 4096 * 16, "{two} B cannot hold 4,096 stacks");
    assert!(
        many < two + two / 10,
        "{many} B for {SNAPSHOTS} snapshots, {two} B for 2"
    );
    drop(kept);
}
