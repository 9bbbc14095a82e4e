//! The demo, end to end: its server on an ephemeral loopback port, real HTTP.

use crate::common::own_process::{in_own_process, profiling};
use std::net::SocketAddr;

use crate::common::get;
use crate::leaky_cache::Mode;
use http::StatusCode;

async fn start(mode: Mode) -> SocketAddr {
    crate::leaky_cache::start(mode, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn leaky_demo_serves_app_info_and_memscope() {
    if in_own_process(&profiling(14)) {
        return;
    }
    let addr = start(Mode::Leaky).await;
    for _ in 0..50 {
        let answer = get(addr, "/json").await;
        assert_eq!(answer.status, StatusCode::OK);
        assert!(answer.body.contains("Sample Slide Show"));
        assert!(
            (400..=460).contains(&answer.body.len()),
            "{}",
            answer.body.len()
        );
    }
    let info = get(addr, "/info").await.json();
    assert_eq!(info["mode"], "leaky");
    // 50 documents plus the metadata document, all kept.
    assert_eq!(info["cache_items"], 51);
    assert!(info["cache_bytes"].as_u64().unwrap() > 50 * 400, "{info}");

    let overview = get(addr, "/_debug/?format=json").await;
    assert_eq!(overview.status, StatusCode::OK);
    assert_eq!(overview.json()["profiling"]["enabled"], true);
    let sizes = get(addr, "/_debug/heapdump?group=size").await;
    assert_eq!(sizes.status, StatusCode::OK);
    assert!(sizes.body.contains("total"), "{}", sizes.body);
}

#[tokio::test]
async fn fixed_demo_keeps_its_cache_bounded() {
    if in_own_process(&profiling(14)) {
        return;
    }
    let addr = start(Mode::Fixed).await;
    for _ in 0..50 {
        assert_eq!(get(addr, "/json").await.status, StatusCode::OK);
    }
    let info = get(addr, "/info").await.json();
    assert_eq!(info["mode"], "fixed");
    assert_eq!(info["cache_items"], 1, "{info}");
}

/// Right after traffic, before the heap history's first snapshot (the
/// demo takes one every 10 s), `/profiles` measures what each route kept
/// from a heap profile of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_show_what_routes_kept_right_after_traffic() {
    if in_own_process(&profiling(14)) {
        return;
    }
    let addr = start(Mode::Leaky).await;
    for _ in 0..1_000 {
        assert_eq!(get(addr, "/json").await.status, StatusCode::OK);
    }
    let profiles = get(addr, "/_debug/profiles?format=json").await.json();
    let seconds = profiles["kept_window_seconds"].as_f64();
    assert!(
        seconds.is_some_and(|seconds| seconds < 10.0),
        "{profiles:#}"
    );
    let json = profiles["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["route"] == "/json")
        .unwrap_or_else(|| panic!("no /json: {profiles:#}"));
    let kept = json["kept_per_request"]
        .as_f64()
        .unwrap_or_else(|| panic!("no kept figure right after traffic: {json:#}"));
    // Each response kept in the cache: about 450 B of body and its entry.
    assert!(kept > 200.0 && kept < 4_000.0, "{json:#}");
    assert_eq!(json["window_requests"], 1_000, "{json:#}");
}
