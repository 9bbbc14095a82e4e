//! The heap drawn as flamegraphs, shown on its pages, and unused pages
//! given back on request.

use crate::common::own_process::{in_own_process, profiling};
use crate::common::{get as http_get, get_with, post, serve_app_with_layer};
use http::StatusCode;

/// The heap is the process's: one test at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Held while the flamegraphs are drawn.
fn hold_in_a_named_function() -> Vec<Vec<u8>> {
    (0..256).map(|_| vec![1u8; 32 * 1024]).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flamegraphs_of_the_heap_and_of_its_growth() {
    if in_own_process(&profiling(16)) {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().await;
    let addr = serve_app_with_layer().await;
    let none = http_get(addr, "/_debug/memory/diff/flamegraph.svg").await;
    assert_eq!(none.status, StatusCode::CONFLICT, "{}", none.body);
    assert!(none.body.contains("baseline"), "{}", none.body);

    assert_eq!(
        post(addr, "/_debug/memory/diff/baseline").await.status,
        StatusCode::OK
    );
    let held = hold_in_a_named_function();
    let live = http_get(addr, "/_debug/heapdump/flamegraph.svg").await;
    assert_eq!(live.status, StatusCode::OK);
    assert_eq!(live.header("content-type"), "image/svg+xml");
    assert!(
        live.body.contains("hold_in_a_named_function"),
        "the holder is not drawn"
    );
    let filtered = http_get(addr, "/_debug/heapdump/flamegraph.svg?filter=no-such-frame").await;
    assert!(
        filtered.body.contains("no sampled stacks"),
        "{}",
        filtered.body
    );

    let growth = http_get(addr, "/_debug/memory/diff/flamegraph.svg").await;
    assert_eq!(growth.status, StatusCode::OK, "{}", growth.body);
    assert!(growth.body.contains("hold_in_a_named_function"));
    // inferno gives each frame's change; the holder grew.
    assert!(
        growth.body.contains("; +"),
        "no growth in the differential flamegraph"
    );

    for (page, image) in [
        ("/_debug/heapdump", "/_debug/heapdump/flamegraph.svg"),
        ("/_debug/memory/diff", "/_debug/memory/diff/flamegraph.svg"),
    ] {
        let html = get_with(addr, page, &[("accept", "text/html")]).await.body;
        assert!(
            html.contains(&format!("<img class=\"flamegraph\" src=\"{image}")),
            "{page}"
        );
    }
    for bad in [
        "/_debug/heapdump/flamegraph.svg?limit=3",
        "/_debug/memory/diff/flamegraph.svg?seconds=0",
    ] {
        assert_eq!(
            http_get(addr, bad).await.status,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
    drop(held);
}

#[tokio::test]
async fn purge_gives_pages_back_and_says_how_many() {
    if in_own_process(&profiling(16)) {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().await;
    let addr = serve_app_with_layer().await;
    // Freed memory whose pages jemalloc still holds.
    drop(hold_in_a_named_function());
    let answer = post(addr, "/_debug/memory/purge?format=json").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let purged = answer.json();
    for field in [
        "resident_before",
        "resident_after",
        "rss_before",
        "rss_after",
    ] {
        assert!(purged[field].as_u64().is_some(), "{field}: {purged}");
    }
    assert!(purged["resident_after"].as_u64() <= purged["resident_before"].as_u64());
    let text = post(addr, "/_debug/memory/purge").await.body;
    assert!(
        text.contains("jemalloc resident") && text.contains("process RSS"),
        "{text}"
    );
    assert_eq!(
        http_get(addr, "/_debug/memory/purge").await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    let overview = get_with(addr, "/_debug/", &[("accept", "text/html")])
        .await
        .body;
    assert!(overview.contains("action=\"/_debug/memory/purge\""));
}
