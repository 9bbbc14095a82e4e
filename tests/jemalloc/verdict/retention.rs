//! Retention, in a real process: a route allocates 200 MB and frees it
//! before it answers. The RSS stays up while the live heap does not grow,
//! the overview calls it retention (not a leak) and offers the purge, and
//! after a purge the RSS falls.

use crate::common::own_process::{in_own_process, profiling};
use std::hint::black_box;
use std::time::Duration;

use crate::common::{post, serve, verdict_after_history, verdict_part};
use axum::Router;
use axum::routing::get;
use http::StatusCode;

const MIB: u64 = 1 << 20;
/// 200 MB in buffers of 4 KiB, as a request that builds a large answer
/// piece by piece would.
const BULK: usize = 200_000_000;
const PIECE: usize = 4096;

async fn bulk() -> String {
    let mut pieces: Vec<Vec<u8>> = Vec::with_capacity(BULK / PIECE);
    for index in 0..BULK / PIECE {
        pieces.push(black_box(vec![index as u8; PIECE]));
    }
    let total: usize = pieces.iter().map(Vec::len).sum();
    drop(black_box(pieces));
    format!("built and dropped {total} bytes")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_freed_but_kept_by_the_allocator_is_retention_and_a_purge_returns_it() {
    if in_own_process(&profiling(19)) {
        return;
    }
    let layer = crate::common::fast_verdict_layer();
    let addr = serve(Router::new().route("/bulk", get(bulk)).layer(layer)).await;

    let before = verdict_after_history(addr, Duration::from_secs(10)).await;
    let rss_before = before["rss"].as_u64().unwrap();
    let answer = crate::common::get(addr, "/bulk").await;
    assert_eq!(answer.status, StatusCode::OK);
    // A few of the timeline's points and the history's snapshots after it.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let overview = crate::common::get(addr, "/_debug/?format=json")
        .await
        .json();
    let verdict = &overview["verdict"];
    assert_eq!(verdict["kind"], "retention", "{overview:#}");
    assert_eq!(
        verdict["evidence"]["grown_part"], "kept_for_reuse",
        "{verdict:#}"
    );
    let kept = verdict_part(&overview, "kept_for_reuse");
    assert!(
        kept["growth"].as_i64().unwrap() > 100 * MIB as i64,
        "{kept}"
    );
    let live = verdict_part(&overview, "live_heap");
    assert!(
        live["growth"].as_i64().unwrap().unsigned_abs() < 16 * MIB,
        "the live heap moved: {live}"
    );
    let purgeable = verdict["evidence"]["purgeable_bytes"].as_u64().unwrap();
    assert!(purgeable > 100 * MIB, "{verdict:#}");
    let summary = verdict["summary"].as_str().unwrap();
    println!("{summary}");
    assert!(summary.starts_with("Retention"), "{summary}");
    assert!(summary.contains("purge"), "{summary}");
    let rss_kept = overview["rss"].as_u64().unwrap();
    assert!(
        rss_kept > rss_before + 100 * MIB,
        "the RSS did not stay up: {rss_before} then {rss_kept}"
    );

    // The text leads with it; the HTML offers the purge in the verdict.
    let text = crate::common::get(addr, "/_debug/").await.body;
    assert!(text.starts_with("Verdict: Retention"), "{text}");
    let html = crate::common::get(addr, "/_debug/?format=html").await.body;
    assert!(html.contains("verdict-retention"), "{html}");
    assert!(html.contains("Purge: give the kept pages back"), "{html}");

    let purge = post(addr, "/_debug/memory/purge?format=json").await;
    assert_eq!(purge.status, StatusCode::OK, "{}", purge.body);
    let rss_after = crate::common::get(addr, "/_debug/?format=json")
        .await
        .json()["rss"]
        .as_u64()
        .unwrap();
    assert!(
        rss_after + 100 * MIB < rss_kept,
        "the purge gave back too little: {rss_kept} then {rss_after}"
    );
}
