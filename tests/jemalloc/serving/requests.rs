//! Per-request accounting: every request measured around every poll of its
//! future and body, on whichever worker thread the poll ran.

use crate::common::own_process::{NO_PROFILING, in_own_process};
use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Mutex;
use std::time::Duration;

use crate::common::{get as http_get, serve};
use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::routing::get;
use bytes::Bytes;
use http::StatusCode;
use memscope::DebugLayer;

const CHUNK: usize = 64 * 1024;
const CHUNKS: usize = 16;
/// Kept forever, so that what the handler allocated is also what it kept.
static KEPT: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// Allocates 16 × 64 KiB (a size class: no rounding) across 16 awaits, and
/// says how many threads it ran on.
async fn allocate_across_awaits() -> String {
    let mut threads = HashSet::new();
    for _ in 0..CHUNKS {
        threads.insert(std::thread::current().id());
        let chunk = vec![7u8; CHUNK];
        tokio::time::sleep(Duration::from_millis(1)).await;
        KEPT.lock().unwrap().push(chunk);
    }
    threads.insert(std::thread::current().id());
    threads.len().to_string()
}

async fn streamed() -> Body {
    let chunks = futures_util::stream::iter(0..4).then(|_| async {
        tokio::task::yield_now().await;
        Ok::<_, Infallible>(Bytes::from(vec![1u8; CHUNK]))
    });
    Body::from_stream(chunks)
}

use futures_util::StreamExt;

fn app(layer: DebugLayer) -> Router {
    Router::new()
        .route("/allocate", get(allocate_across_awaits))
        .route("/stream", get(streamed))
        .route(
            "/users/{id}",
            get(|Path(id): Path<u32>| async move { format!("user {id}") }),
        )
        .route("/", get(|| async { "hello" }))
        .layer(layer)
}

async fn records(addr: std::net::SocketAddr, query: &str) -> Vec<serde_json::Value> {
    let page = http_get(
        addr,
        &format!("/_debug/profiles?format=json&limit=10000&{query}"),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    page.json()["records"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totals_are_exact_across_awaits_on_two_workers() {
    if in_own_process(NO_PROFILING) {
        return;
    }
    // The pre-allocation of KEPT happens here, not in a measured request.
    KEPT.lock().unwrap().reserve(64 * CHUNKS);
    let addr = serve(app(DebugLayer::new())).await;
    // Four clients at once keep both workers busy, so that tasks are stolen
    // from one worker by the other between awaits.
    let clients: Vec<_> = (0..4)
        .map(|_| {
            tokio::spawn(async move {
                let mut moved = 0;
                for _ in 0..10 {
                    let threads: usize = http_get(addr, "/allocate").await.body.parse().unwrap();
                    moved += usize::from(threads > 1);
                }
                moved
            })
        })
        .collect();
    let mut moved = 0;
    for client in clients {
        moved += client.await.unwrap();
    }
    assert!(
        moved > 0,
        "no request moved between the worker threads: nothing was tested"
    );
    let records = records(addr, "filter=/allocate").await;
    assert_eq!(records.len(), 40);
    let expected = (CHUNK * CHUNKS) as i64;
    for record in &records {
        let allocated = record["allocated"].as_i64().unwrap();
        let net = record["net"].as_i64().unwrap();
        // The chunks, plus what axum and the timer allocate around them.
        assert!(
            (expected..expected + 16 * 1024).contains(&allocated),
            "{record}"
        );
        assert!(
            (expected - 4 * 1024..expected + 16 * 1024).contains(&net),
            "{record}"
        );
        assert_eq!(
            record["net"].as_i64().unwrap(),
            allocated - record["freed"].as_i64().unwrap()
        );
        assert_eq!(record["status"], 200);
        assert!(
            record["wall_us"].as_u64().unwrap() >= 16_000,
            "16 sleeps of 1 ms: {record}"
        );
        assert!(record["busy_us"].as_u64().unwrap() < record["wall_us"].as_u64().unwrap());
        assert_eq!(record["busy_us"], record["cpu_us"]);
    }
    println!("{moved} of 40 requests were polled on both worker threads");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_body_is_counted_until_its_end() {
    if in_own_process(NO_PROFILING) {
        return;
    }
    let addr = serve(app(DebugLayer::new())).await;
    let answer = http_get(addr, "/stream").await;
    assert_eq!(answer.body.len(), 4 * CHUNK);
    let records = records(addr, "filter=/stream").await;
    let record = &records[0];
    assert!(
        record["allocated"].as_u64().unwrap() >= 4 * CHUNK as u64,
        "{record}"
    );
    assert_eq!(record["completed"], true);
}

#[tokio::test]
async fn ring_stays_at_its_bound() {
    if in_own_process(NO_PROFILING) {
        return;
    }
    let addr = serve(app(DebugLayer::new().request_history(20))).await;
    for _ in 0..200 {
        assert_eq!(http_get(addr, "/").await.body, "hello");
    }
    let page = http_get(addr, "/_debug/profiles?format=json&limit=10000")
        .await
        .json();
    assert_eq!(page["capacity"], 20);
    assert_eq!(page["recorded"], 200);
    let ids: Vec<u64> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    assert_eq!(
        ids,
        (181..=200).rev().collect::<Vec<u64>>(),
        "newest first, the last 20"
    );
    assert_eq!(
        page["routes"][0]["requests"], 200,
        "route totals count every request"
    );
    assert_eq!(
        http_get(addr, "/_debug/profiles/1").await.status,
        StatusCode::NOT_FOUND
    );
    let one = http_get(addr, "/_debug/profiles/200?format=json").await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.json()["path"], "/");
}

#[tokio::test]
async fn routes_use_the_matched_path_or_collapse_ids() {
    if in_own_process(NO_PROFILING) {
        return;
    }
    let addr = serve(app(DebugLayer::new())).await;
    for id in [1, 22, 333] {
        http_get(addr, &format!("/users/{id}")).await;
    }
    http_get(addr, "/missing/12345").await;
    let page = http_get(addr, "/_debug/profiles?format=json").await.json();
    let routes = page["routes"].as_array().unwrap();
    // axum's matched route, read with memscope's `axum` feature; without
    // it, the path with its identifier collapsed.
    let users_route = if cfg!(feature = "axum") {
        "/users/{id}"
    } else {
        "/users/{n}"
    };
    let users = routes
        .iter()
        .find(|r| r["route"] == users_route)
        .expect("the users route");
    assert_eq!(users["requests"], 3);
    for field in [
        "mean_allocated",
        "mean_net",
        "total_net",
        "mean_wall_us",
        "mean_busy_us",
        "mean_cpu_us",
    ] {
        assert!(users[field].is_number(), "{field}");
    }
    assert_eq!(
        users["mean_busy_us"], users["mean_cpu_us"],
        "cpu_us is busy_us under its first name"
    );
    let missing = routes
        .iter()
        .find(|r| r["route"] == "/missing/{n}")
        .expect("collapsed path");
    assert_eq!(missing["requests"], 1);
    // Other tests' layers share this one's state (same settings): their
    // requests may be newer.
    let record = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|record| record["path"] == "/missing/{n}")
        .expect("the unmatched request's record");
    assert_eq!(record["status"], 404);
    for field in [
        "id",
        "method",
        "path",
        "status",
        "wall_us",
        "busy_us",
        "cpu_us",
        "allocated",
        "freed",
        "net",
    ] {
        assert!(!record[field].is_null(), "{field}: {record}");
    }
    // memscope's own pages are not requests to the app.
    assert!(
        routes
            .iter()
            .all(|r| !r["route"].as_str().unwrap().starts_with("/_debug"))
    );
}

#[tokio::test]
async fn sort_filter_limit_and_ids_are_validated() {
    if in_own_process(NO_PROFILING) {
        return;
    }
    let addr = serve(app(DebugLayer::new())).await;
    http_get(addr, "/").await;
    http_get(addr, "/stream").await;
    let by_allocated = records(addr, "sort=allocated").await;
    let allocated: Vec<u64> = by_allocated
        .iter()
        .map(|r| r["allocated"].as_u64().unwrap())
        .collect();
    assert!(allocated.windows(2).all(|w| w[0] >= w[1]), "{allocated:?}");
    assert_eq!(records(addr, "limit=1").await.len(), 1);
    assert!(
        records(addr, "filter=STREAM")
            .await
            .iter()
            .all(|r| r["path"] == "/stream")
    );
    for (path, status) in [
        ("/_debug/profiles?sort=size", StatusCode::BAD_REQUEST),
        ("/_debug/profiles?limit=0", StatusCode::BAD_REQUEST),
        ("/_debug/profiles/abc", StatusCode::BAD_REQUEST),
        ("/_debug/profiles/-1", StatusCode::BAD_REQUEST),
        ("/_debug/profiles/1e3", StatusCode::BAD_REQUEST),
        ("/_debug/profiles/99999", StatusCode::NOT_FOUND),
        ("/_debug/profiles/cpu/x", StatusCode::BAD_REQUEST),
        ("/_debug/profiles/cpu/77", StatusCode::NOT_FOUND),
        ("/_debug/timeline?limit=0", StatusCode::BAD_REQUEST),
    ] {
        let answer = http_get(addr, path).await;
        assert_eq!(answer.status, status, "{path}: {}", answer.body);
    }
    let text = http_get(addr, "/_debug/profiles").await.body;
    assert!(
        text.contains("By route") && text.contains("Recent requests"),
        "{text}"
    );
}

#[tokio::test]
async fn the_timeline_fills_and_the_overview_draws_it() {
    if in_own_process(NO_PROFILING) {
        return;
    }
    let addr = serve(app(DebugLayer::new()
        .timeline_interval(Duration::from_millis(20))
        .timeline_points(5)))
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let timeline = http_get(addr, "/_debug/timeline?format=json").await.json();
    assert_eq!(timeline["interval_ms"], 20);
    // The timeline is the process's: at the shortest interval any layer
    // asks for, keeping the most points any asks for (the other tests'
    // layers ask for the default 3,600); its bound is a unit test's.
    let points = timeline["points"].as_array().unwrap();
    assert!(
        points.len() >= 5,
        "{} points in 300 ms at 20 ms",
        points.len()
    );
    assert!(points.len() as u64 <= timeline["capacity"].as_u64().unwrap());
    assert!(points[0]["allocated"].as_u64().unwrap() > 0);
    let limited = http_get(addr, "/_debug/timeline?format=json&limit=2")
        .await
        .json();
    assert_eq!(limited["points"].as_array().unwrap().len(), 2);
    let html = crate::common::get_with(addr, "/_debug/", &[("accept", "text/html")])
        .await
        .body;
    assert!(
        html.contains("<svg") && html.contains("<polyline"),
        "no chart on the overview"
    );
    assert!(
        http_get(addr, "/_debug/timeline")
            .await
            .body
            .contains("allocated")
    );
}
