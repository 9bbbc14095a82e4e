//! The heap by route, from tagged samples: every sampled allocation
//! carries the route of the request being polled, work handed to a task
//! with `memscope::tagged` counts with its route, and background work under
//! `memscope::scope` has a row of its own. Driven over kept-alive
//! connections by hyper's client.

use crate::common::own_process::{in_own_process, profiling};
// One sample per 4 KiB: the buffers below are nearly all sampled.

use std::hint::black_box;
use std::sync::Mutex;
use std::time::Duration;

use crate::common::{KeptAlive, assert_bad_request, serve};
use axum::Router;
use axum::routing::get;
use http::StatusCode;

const KEEP: usize = 2048;
const HANDED_OFF: usize = 4096;
const JOB: usize = 64 << 10;
const REQUESTS: usize = 400;
const SPAWNS: usize = 100;
const JOB_BUFFERS: usize = 16;

static KEPT: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

pub mod store {
    use super::*;

    #[inline(never)]
    pub fn keep(bytes: usize) {
        KEPT.lock().unwrap().push(black_box(vec![5u8; bytes]));
    }
}

async fn keep() -> &'static str {
    store::keep(KEEP);
    "kept"
}

async fn healthy() -> String {
    // Allocates and frees: keeps nothing.
    let scratch = black_box(vec![1u8; 8192]);
    format!("ok {}", scratch.len())
}

async fn hand_off() -> &'static str {
    let task = tokio::spawn(memscope::tagged(async {
        tokio::task::yield_now().await;
        store::keep(HANDED_OFF);
    }));
    task.await.unwrap();
    "handed off"
}

/// A row of the route table by its name.
fn row<'a>(page: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    page["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["name"] == name)
}

/// Whether `expected` bytes lie within the row's interval, widened by a
/// tenth for what sampling's size classes round.
fn holds(row: &serde_json::Value, expected: usize) -> bool {
    let low = row["bytes_low"].as_f64().unwrap() * 0.9;
    let high = row["bytes_high"].as_f64().unwrap() * 1.1;
    (low..=high).contains(&(expected as f64))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_heap_by_route_counts_what_each_route_keeps() {
    if in_own_process(&profiling(12)) {
        return;
    }
    let app = Router::new()
        .route("/keep", get(keep))
        .route("/healthy", get(healthy))
        .route("/hand-off", get(hand_off))
        .layer(memscope::DebugLayer::new());
    let addr = serve(app).await;
    tokio::spawn(memscope::scope("job:reindex", async {
        for _ in 0..JOB_BUFFERS {
            store::keep(JOB);
            tokio::task::yield_now().await;
        }
    }))
    .await
    .unwrap();

    let client = KeptAlive::to(addr);
    let baseline = crate::common::post(addr, "/_debug/memory/diff/baseline?format=json").await;
    assert_eq!(baseline.status, StatusCode::OK, "{}", baseline.body);
    for _ in 0..REQUESTS {
        assert_eq!(client.get("/keep").await.status, StatusCode::OK);
        assert_eq!(client.get("/healthy").await.status, StatusCode::OK);
    }
    for _ in 0..SPAWNS {
        assert_eq!(client.get("/hand-off").await.status, StatusCode::OK);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;

    let page = client.get("/_debug/heapdump?group=route&format=json").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let page = page.json();
    assert_eq!(page["group"], "route");
    let keep_row = row(&page, "/keep").unwrap_or_else(|| panic!("no /keep row: {page:#}"));
    assert!(holds(keep_row, REQUESTS * KEEP), "{keep_row}");
    let handed = row(&page, "/hand-off").unwrap_or_else(|| panic!("no /hand-off: {page:#}"));
    assert!(holds(handed, SPAWNS * HANDED_OFF), "{handed}");
    let job = row(&page, "job:reindex").unwrap_or_else(|| panic!("no job row: {page:#}"));
    assert!(holds(job, JOB_BUFFERS * JOB), "{job}");
    if let Some(healthy) = row(&page, "/healthy") {
        assert!(
            healthy["bytes"].as_u64().unwrap() < 64 << 10,
            "/healthy keeps nothing: {healthy}"
        );
    }
    assert!(row(&page, "(no request)").is_some(), "{page:#}");
    let notes = page["notes"].to_string();
    assert!(notes.contains("Routes: each sampled allocation"), "{notes}");

    // A route's row leads to its sites.
    let link = keep_row["link"].as_str().unwrap();
    assert_eq!(link, "/_debug/heapdump?route=%2Fkeep");
    let sites = client.get(&format!("{link}&format=json")).await.json();
    assert_eq!(sites["route"], "/keep");
    let first = &sites["rows"][0];
    assert!(
        first["name"].as_str().unwrap().contains("store::keep"),
        "{sites:#}"
    );
    let text = client.get("/_debug/heapdump?group=route").await.body;
    assert!(text.contains("job:reindex"), "{text}");

    // What each route's live heap did since the baseline.
    let diff = client
        .get("/_debug/memory/diff?group=route&format=json")
        .await
        .json();
    assert_eq!(diff["rows"][0]["name"], "/keep", "{diff:#}");
    assert_eq!(diff["rows"][0]["significant"], true, "{diff:#}");

    assert_bad_request(addr, "/_debug/heapdump?group=size&route=%2Fkeep", "route").await;
    KEPT.lock().unwrap().clear();
}
