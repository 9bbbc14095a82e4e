//! Heap estimates with their sampling error: churn is within noise, a
//! steady leak of the same size a request is significant; and the
//! symbolizer stays small while it names many functions.

use crate::common::own_process::{in_own_process, profiling};
use crate::common::stack_chain::{End, level9};

use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::Mutex;

use crate::common::{get as http_get, post, serve};
use axum::Router;
use axum::routing::get;
use http::StatusCode;

const REQUEST_BYTES: usize = 1024;
const REQUESTS: usize = 3_000;

static LEAKED: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
static RING: Mutex<VecDeque<Vec<u8>>> = Mutex::new(VecDeque::new());

pub mod routes {
    use super::*;

    /// Keeps what every request brings: a leak.
    pub async fn leak() -> &'static str {
        LEAKED
            .lock()
            .unwrap()
            .push(black_box(vec![1u8; REQUEST_BYTES]));
        "leaked"
    }

    /// Keeps the last 64 requests' worth, freeing the oldest: churn.
    pub async fn churn() -> &'static str {
        let mut ring = RING.lock().unwrap();
        ring.push_back(black_box(vec![2u8; REQUEST_BYTES]));
        if ring.len() > 64 {
            ring.pop_front();
        }
        "churned"
    }
}

/// The heap is the process's: one test at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_is_within_noise_and_a_leak_is_significant() {
    if in_own_process(&profiling(14)) {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().await;
    let app = Router::new()
        .route("/leak", get(routes::leak))
        .route("/churn", get(routes::churn))
        .layer(memscope::DebugLayer::new().prefix("/_debug_estimates"));
    let addr = serve(app).await;
    // The ring full before the baseline: from then on it holds still.
    for _ in 0..200 {
        http_get(addr, "/churn").await;
    }
    assert_eq!(
        post(addr, "/_debug_estimates/memory/diff/baseline")
            .await
            .status,
        StatusCode::OK
    );
    for _ in 0..REQUESTS {
        http_get(addr, "/leak").await;
        http_get(addr, "/churn").await;
    }
    let diff = http_get(addr, "/_debug_estimates/memory/diff?format=json&limit=100")
        .await
        .json();
    let rows = diff["rows"].as_array().unwrap();
    let leak = &rows[0];
    assert!(
        leak["name"].as_str().unwrap().contains("routes::leak"),
        "the leak is not first: {diff:#}"
    );
    assert_eq!(leak["significant"], true, "{leak}");
    let delta = leak["bytes_delta"].as_f64().unwrap();
    let error = leak["bytes_delta_error"].as_f64().unwrap();
    assert!(delta > error && error > 0.0, "{leak}");
    // About a kilobyte a request (its size class), within the error.
    let truth = (REQUESTS * REQUEST_BYTES) as f64;
    assert!(
        (delta - truth).abs() < error + truth * 0.1,
        "{delta} ± {error} for {truth}"
    );
    for row in rows {
        let name = row["name"].as_str().unwrap();
        if name.contains("churn") {
            assert_eq!(row["significant"], false, "churn called growth: {row}");
        }
        for field in ["samples", "bytes_low", "bytes_high", "bytes_delta_error"] {
            assert!(row[field].is_number(), "{field}: {row}");
        }
        assert!(row["bytes_low"].as_u64() <= row["bytes"].as_u64());
        assert!(row["bytes"].as_u64() <= row["bytes_high"].as_u64());
    }
    let text = http_get(addr, "/_debug_estimates/memory/diff?limit=100")
        .await
        .body;
    let line = text
        .lines()
        .find(|line| line.contains("routes::leak"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains(" ± ") && line.contains("significant"),
        "{line}"
    );
    assert!(text.contains("within noise"), "{text}");
    LEAKED.lock().unwrap().clear();
}

/// The bound the symbolizer keeps to, in its own allocations.
const SYMBOLIZER_BOUND: u64 = 8 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_symbolizer_stays_under_its_bound() {
    if in_own_process(&profiling(14)) {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().await;
    let mut kept = Vec::new();
    level9::<End>(&mut kept, 64 * 1024);
    let addr = serve(Router::new().layer(memscope::DebugLayer::new())).await;
    let dump = http_get(addr, "/_debug/heapdump?format=json&limit=5")
        .await
        .json();
    let own = dump["memscope_own"]["bytes"].as_u64().unwrap();
    let overview = http_get(addr, "/_debug/?format=json").await.json();
    let cached = overview["symbolizer_cached_addresses"].as_u64().unwrap();
    println!(
        "{} stacks, {cached} addresses resolved: memscope's own {:.2} MiB",
        dump["stacks"],
        own as f64 / 1048576.0
    );
    assert!(cached > 1_000, "{cached} addresses: nothing was tested");
    assert!(own < SYMBOLIZER_BOUND, "memscope's own {own} bytes");
    black_box(kept);
}
