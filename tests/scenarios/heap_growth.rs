//! The heap history finds a leak without a baseline: one route leaks
//! through a named function, another churns memory without keeping it; a
//! few short snapshot intervals later the growth page, the overview and
//! `memory/diff?since=` name the leak, with its route, and not the churn.
//!
//! The churn keeps a ring of buffers that is full before the history's
//! first snapshot and stays full, so that its true growth is none; its
//! buffers are sixteen times the mean sample interval, so that every one
//! is sampled and its estimate has no sampling error to be lucky with.

use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::Mutex;
use std::time::Duration;

use crate::common::{assert_bad_request, get as http_get, serve};
use axum::Router;
use axum::routing::get;
use http::StatusCode;

const REQUEST_BYTES: usize = 2048;
/// What the churning route replaces each time: large enough that the
/// sampler (one sample per 16 KiB on average) takes every one.
const CHURN_BYTES: usize = 256 * 1024;
const CHURN_RING: usize = 32;
const INTERVAL: Duration = Duration::from_millis(400);
const ROUNDS: usize = 8;
const REQUESTS_A_ROUND: usize = 150;

static KEPT: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
static RING: Mutex<VecDeque<Vec<u8>>> = Mutex::new(VecDeque::new());

pub mod store {
    use super::*;

    /// What the leaking route calls: it keeps every buffer it is given.
    #[inline(never)]
    pub fn remember_forever(bytes: usize) {
        KEPT.lock().unwrap().push(black_box(vec![7u8; bytes]));
    }

    /// What the churning route calls: the last [`CHURN_RING`] buffers,
    /// the oldest freed.
    #[inline(never)]
    pub fn remember_recent(bytes: usize) {
        let mut ring = RING.lock().unwrap();
        ring.push_back(black_box(vec![8u8; bytes]));
        if ring.len() > CHURN_RING {
            ring.pop_front();
        }
    }
}

async fn leak() -> &'static str {
    store::remember_forever(REQUEST_BYTES);
    "kept"
}

async fn churn() -> &'static str {
    store::remember_recent(CHURN_BYTES);
    "churned"
}

/// The scenario; the test binary sets the allocator.
pub async fn growth_names_the_leak_and_its_route_without_a_baseline() {
    // The churn's ring full before the history starts.
    for _ in 0..CHURN_RING {
        store::remember_recent(CHURN_BYTES);
    }
    let layer = memscope::DebugLayer::new().heap_history(INTERVAL, 64);
    let app = Router::new()
        .route("/upload", get(leak))
        .route("/search", get(churn))
        .layer(layer);
    let addr = serve(app).await;

    // Before two snapshots there is nothing to rank, and the page says so.
    let early = http_get(addr, "/_debug/memory/growth?format=json").await;
    assert_eq!(early.status, StatusCode::OK, "{}", early.body);
    assert!(early.json()["waiting"].is_string(), "{}", early.body);

    for _ in 0..ROUNDS {
        for _ in 0..REQUESTS_A_ROUND {
            http_get(addr, "/upload").await;
            http_get(addr, "/search").await;
        }
        tokio::time::sleep(INTERVAL + Duration::from_millis(100)).await;
    }

    let growth = http_get(addr, "/_debug/memory/growth?format=json").await;
    assert_eq!(growth.status, StatusCode::OK, "{}", growth.body);
    let growth = growth.json();
    assert!(growth["waiting"].is_null(), "{growth:#}");
    assert!(
        growth["snapshots"].as_u64().unwrap() >= 4,
        "too few snapshots: {growth:#}"
    );
    let history = &growth["history"];
    assert_eq!(history["interval_seconds"], INTERVAL.as_secs_f64());
    assert!(history["bytes"].as_u64().unwrap() > 0, "{history}");
    assert!(history["last_took_ms"].is_number(), "{history}");

    let suspects = growth["suspects"].as_array().unwrap();
    let first = &suspects[0];
    for field in [
        "id",
        "name",
        "bytes",
        "bytes_per_minute",
        "significant",
        "route",
    ] {
        assert!(!first[field].is_null(), "{field} missing: {first}");
    }
    assert!(
        first["name"]
            .as_str()
            .unwrap()
            .contains("store::remember_forever"),
        "the leak is not first: {growth:#}"
    );
    assert_eq!(first["significant"], true, "{first}");
    assert!(first["bytes_per_minute"].as_f64().unwrap() > 0.0, "{first}");
    assert_eq!(first["route"]["route"], "/upload", "{first}");
    // What each request keeps, within sampling error and its size class.
    let per_request = first["route"]["bytes_per_request"].as_f64().unwrap();
    assert!(
        (1_000.0..4_000.0).contains(&per_request),
        "{per_request} B a request for {REQUEST_BYTES}: {first}"
    );
    for suspect in suspects {
        if suspect["name"]
            .as_str()
            .unwrap()
            .contains("remember_recent")
        {
            println!("the churn: {suspect}");
            assert_eq!(
                suspect["significant"], false,
                "churn called a leak: {suspect}"
            );
        }
    }
    // Its link is its site page.
    let link = first["link"].as_str().unwrap();
    let site = http_get(addr, link).await;
    assert_eq!(site.status, StatusCode::OK, "{link}: {}", site.body);
    assert!(site.body.contains("remember_forever"), "{}", site.body);

    // The text names it in one sentence; the HTML links it.
    let text = http_get(addr, "/_debug/memory/growth").await.body;
    let line = text
        .lines()
        .find(|line| line.contains("remember_forever"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("/min"), "{line}");
    let html = http_get(addr, "/_debug/memory/growth?format=html")
        .await
        .body;
    assert!(html.contains(link), "{html}");

    // A filter that matches the churn only leaves nothing significant.
    let churn_only = http_get(
        addr,
        "/_debug/memory/growth?format=json&filter=remember_recent",
    )
    .await
    .json();
    for suspect in churn_only["suspects"].as_array().unwrap() {
        assert_eq!(suspect["significant"], false, "{suspect}");
    }

    // The overview leads with it.
    let overview = http_get(addr, "/_debug/?format=json").await.json();
    let leading = &overview["suspects"][0];
    assert!(
        leading["name"]
            .as_str()
            .unwrap()
            .contains("remember_forever"),
        "{overview:#}"
    );
    let overview_text = http_get(addr, "/_debug/").await.body;
    assert!(
        overview_text.starts_with("Growing: ") || overview_text.contains("\nGrowing: "),
        "{overview_text}"
    );
    assert!(overview_text.contains("/upload"), "{overview_text}");

    // A diff against the snapshot of a minute ago, without a baseline: the
    // history's oldest, taken before most of the leak.
    let diff = http_get(addr, "/_debug/memory/diff?format=json&since=1m").await;
    assert_eq!(diff.status, StatusCode::OK, "{}", diff.body);
    let diff = diff.json();
    assert_eq!(diff["compared_to"], "history", "{diff:#}");
    let top = &diff["rows"][0];
    assert!(
        top["name"].as_str().unwrap().contains("remember_forever"),
        "{diff:#}"
    );
    assert_eq!(top["significant"], true, "{top}");

    // Bad windows and spans are a 400 that names the parameter.
    assert_bad_request(addr, "/_debug/memory/growth?window=soon", "window").await;
    assert_bad_request(addr, "/_debug/memory/growth?limit=0", "limit").await;
    assert_bad_request(addr, "/_debug/memory/diff?since=2s&seconds=5", "since").await;
    assert_bad_request(addr, "/_debug/memory/diff?since=400d", "since").await;

    KEPT.lock().unwrap().clear();
    RING.lock().unwrap().clear();
}
