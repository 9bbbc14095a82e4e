//! The demo's story, end to end over loopback: the leak is found at the top
//! of the memory diff, in the demo's caching code, and the fix holds.
//! One test, so that the two modes never run at once in this process's heap.

mod common;
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/leaky_cache.rs"]
mod leaky_cache;

use std::net::SocketAddr;

use common::{get, post};
use http::StatusCode;
use leaky_cache::Mode;

const REQUESTS: usize = 2_000;

async fn run(mode: Mode) -> (SocketAddr, serde_json::Value) {
    let addr = leaky_cache::start(mode, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    // Warm up connections and the symbolizer before the baseline.
    for _ in 0..20 {
        get(addr, "/json").await;
    }
    get(addr, "/_debug/heapdump?limit=1").await;
    assert_eq!(
        post(addr, "/_debug/memory/diff/baseline?format=json")
            .await
            .status,
        StatusCode::OK
    );
    for _ in 0..REQUESTS {
        assert_eq!(get(addr, "/json").await.status, StatusCode::OK);
    }
    let diff = get(addr, "/_debug/memory/diff?format=json&limit=50").await;
    assert_eq!(diff.status, StatusCode::OK, "{}", diff.body);
    (addr, diff.json())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leak_is_found_and_the_fix_holds() {
    let (addr, diff) = run(Mode::Leaky).await;
    assert_eq!(diff["requests"].as_u64().unwrap(), REQUESTS as u64);
    let top = &diff["rows"][0];
    let name = top["name"].as_str().unwrap();
    assert!(
        name.contains("leaky_cache::cache::"),
        "top growing site is {name}: {diff:#}"
    );
    let per_request = top["bytes_per_request"].as_f64().unwrap();
    // Each request leaves its ~440-byte document, headers and URL behind.
    assert!(per_request > 400.0, "{per_request} bytes per request");

    let function = name
        .split(" via ")
        .next()
        .unwrap()
        .rsplit("::")
        .next()
        .unwrap();
    let dump = get(
        addr,
        &format!("/_debug/heapdump?format=json&filter={function}"),
    )
    .await
    .json();
    let found = dump["rows"].as_array().unwrap();
    assert!(
        !found.is_empty() && found[0]["name"].as_str().unwrap().contains(function),
        "{dump:#}"
    );
    let text = get(addr, &format!("/_debug/heapdump?filter={function}"))
        .await
        .body;
    assert!(text.contains(function), "{text}");

    let (_, fixed) = run(Mode::Fixed).await;
    for row in fixed["rows"].as_array().unwrap() {
        let name = row["name"].as_str().unwrap();
        let growth = row["bytes_delta"].as_i64().unwrap();
        assert!(
            !name.contains("::cache::") || growth < 100 * 1024,
            "with --fixed, {name} grew {growth} bytes over {REQUESTS} requests"
        );
    }
}
