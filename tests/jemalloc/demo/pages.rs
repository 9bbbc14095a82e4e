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
