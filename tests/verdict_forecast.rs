//! A steady leak with a limit, in a real process: a route keeps 1 MiB a
//! request, driven at a steady pace over a kept-alive connection. The
//! overview calls it a leak with its site and its route, forecasts the time
//! to the limit set on the builder from the RSS's rate, and `/metrics`
//! exports the forecast as a gauge.

#[global_allocator]
static ALLOC: memscope::Jemalloc = memscope::Jemalloc;
memscope::heap_profiling!(lg_sample = 16);

mod common;

use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use common::{KeptAlive, serve, verdict_after_history};
use http::StatusCode;

const KEPT_A_REQUEST: usize = 1 << 20;
const REQUESTS: usize = 60;
const PACE: Duration = Duration::from_millis(50);

static KEPT: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

pub mod archive {
    use super::*;

    /// What the leaking route calls: it keeps every buffer.
    #[inline(never)]
    pub fn keep_forever() {
        KEPT.lock()
            .unwrap()
            .push(black_box(vec![3u8; KEPT_A_REQUEST]));
    }
}

async fn upload() -> &'static str {
    archive::keep_forever();
    "kept"
}

/// The process's RSS now, from /proc.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steady_leak_is_named_and_the_time_to_the_limit_forecast() {
    let limit = rss() + (2 << 30);
    let layer = common::fast_verdict_layer().memory_limit(limit);
    let addr = serve(Router::new().route("/upload", get(upload)).layer(layer)).await;
    verdict_after_history(addr, Duration::from_secs(10)).await;

    let client = KeptAlive::to(addr);
    let started = Instant::now();
    for sent in 0..REQUESTS {
        assert_eq!(client.get("/upload").await.status, StatusCode::OK);
        let due = started + PACE * (sent as u32 + 1);
        tokio::time::sleep_until(due.into()).await;
    }
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    let driven_rate = (REQUESTS * KEPT_A_REQUEST) as f64 / minutes;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let overview = common::get(addr, "/_debug/?format=json").await.json();
    let verdict = &overview["verdict"];
    assert_eq!(verdict["kind"], "leak", "{overview:#}");
    let suspects = verdict["evidence"]["suspects"].as_array().unwrap();
    assert!(
        suspects[0]["name"]
            .as_str()
            .unwrap()
            .contains("archive::keep_forever"),
        "{verdict:#}"
    );
    assert_eq!(verdict["evidence"]["routes"][0], "/upload", "{verdict:#}");
    let summary = verdict["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("A leak: ") && summary.contains("keep_forever"),
        "{summary}"
    );

    let forecast = &overview["time_to_limit"];
    assert_eq!(forecast["limit"], limit, "{overview:#}");
    assert_eq!(forecast["limit_source"], "builder", "{forecast}");
    // The RSS's rate over the whole window (quiet before the traffic), so
    // below the driven rate, but of its order.
    let rate = forecast["bytes_per_minute"].as_f64().unwrap();
    assert!(
        rate > driven_rate / 4.0 && rate < driven_rate * 1.5,
        "{rate} B/min fitted, {driven_rate} B/min driven: {forecast}"
    );
    let used = forecast["used"].as_u64().unwrap();
    let seconds = forecast["seconds"].as_u64().unwrap();
    let expected = (limit - used) as f64 / rate * 60.0;
    assert!((seconds as f64 - expected).abs() <= 1.0, "{forecast}");
    let low = forecast["seconds_low"].as_u64().unwrap();
    assert!(low <= seconds, "{forecast}");
    if let Some(high) = forecast["seconds_high"].as_u64() {
        assert!(high >= seconds, "{forecast}");
    }
    assert!(
        forecast["summary"]
            .as_str()
            .unwrap()
            .contains("limit is reached in about"),
        "{forecast}"
    );
    println!("{}\n{}", summary, forecast["summary"]);
    let text = common::get(addr, "/_debug/").await.body;
    assert!(text.contains("limit is reached in about"), "{text}");

    let metrics = common::get(addr, "/_debug/metrics").await.body;
    let gauge = metrics
        .lines()
        .find_map(|line| line.strip_prefix("memscope_time_to_limit_seconds "))
        .unwrap_or_else(|| panic!("no time-to-limit gauge: {metrics}"));
    let gauge: f64 = gauge.trim().parse().unwrap();
    assert!(
        gauge > 0.0 && (gauge - seconds as f64).abs() < seconds as f64,
        "{gauge} vs {seconds}"
    );
    assert!(
        metrics.contains(&format!("memscope_memory_limit_bytes {limit}")),
        "{metrics}"
    );
    KEPT.lock().unwrap().clear();
}
