//! A steady leak with a limit, in a real process: a route keeps 1 MiB a
//! request, driven at a steady pace over a kept-alive connection from the
//! start. The overview calls it a leak with its site and its route and
//! forecasts when the RSS reaches the limit set on the builder; the run
//! goes on leaking until it does, and reaches it within the forecast's
//! interval. `/metrics` exports the forecast as a gauge.

use crate::common::own_process::{in_own_process, profiling};
use std::hint::black_box;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::common::KeptAlive;
use axum::Router;
use axum::routing::get;
use http::StatusCode;

const KEPT_A_REQUEST: usize = 1 << 20;
/// 20 requests a second: 20 MiB/s.
const PACE: Duration = Duration::from_millis(50);
/// How far above the RSS at the start the limit is.
const HEADROOM: u64 = 240 << 20;
/// Leaking before the forecast is read: a few of the history's snapshots.
const BEFORE_FORECAST: Duration = Duration::from_secs(3);
/// What the run may miss the interval by: two of the timeline's points
/// (the forecast's rate is fitted on them) and two requests of the pace.
const SLACK: Duration = Duration::from_millis(300);

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
async fn a_steady_leak_is_named_and_reaches_the_limit_within_the_forecast() {
    if in_own_process(&profiling(16)) {
        return;
    }
    let limit = rss() + HEADROOM;
    let layer = crate::common::fast_verdict_layer().memory_limit(limit);
    let addr = crate::common::serve(Router::new().route("/upload", get(upload)).layer(layer)).await;

    // The leak, at a steady pace from the start until told to stop.
    static STOP: AtomicBool = AtomicBool::new(false);
    let leaking = tokio::spawn(async move {
        let client = KeptAlive::to(addr);
        let started = tokio::time::Instant::now();
        let mut sent = 0u32;
        while !STOP.load(Ordering::Relaxed) {
            assert_eq!(client.get("/upload").await.status, StatusCode::OK);
            sent += 1;
            tokio::time::sleep_until(started + PACE * sent).await;
        }
        sent
    });
    tokio::time::sleep(BEFORE_FORECAST).await;

    let overview = crate::common::get(addr, "/_debug/?format=json")
        .await
        .json();
    let read_at = Instant::now();
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
    assert!(summary.starts_with("A leak: "), "{summary}");

    let forecast = &overview["time_to_limit"];
    assert_eq!(forecast["limit"], limit, "{overview:#}");
    assert_eq!(forecast["limit_source"], "builder", "{forecast}");
    let driven_rate = KEPT_A_REQUEST as f64 / PACE.as_secs_f64() * 60.0;
    let rate = forecast["bytes_per_minute"].as_f64().unwrap();
    assert!(
        rate > driven_rate * 0.7 && rate < driven_rate * 1.3,
        "{rate} B/min fitted, {driven_rate} B/min driven: {forecast}"
    );
    let seconds = forecast["seconds"].as_u64().unwrap();
    assert!(
        forecast["seconds_low"].as_u64().unwrap() <= seconds
            && seconds <= forecast["seconds_high"].as_u64().unwrap(),
        "{forecast}"
    );
    // The interval from the figures it is made of, unrounded: the run is
    // seconds long and the page rounds to the second.
    let left = (limit - forecast["used"].as_u64().unwrap()) as f64;
    let error = forecast["bytes_per_minute_error"].as_f64().unwrap();
    let low = Duration::from_secs_f64(left / (rate + error) * 60.0);
    assert!(
        rate > error,
        "a steady leak has a bounded interval: {forecast}"
    );
    let high = Duration::from_secs_f64(left / (rate - error) * 60.0);
    println!("{}", forecast["summary"]);
    let text = crate::common::get(addr, "/_debug/").await.body;
    assert!(text.contains("limit is reached in about"), "{text}");
    let metrics = crate::common::get(addr, "/_debug/metrics").await.body;
    let gauge: f64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("memscope_time_to_limit_seconds "))
        .unwrap_or_else(|| panic!("no time-to-limit gauge: {metrics}"))
        .trim()
        .parse()
        .unwrap();
    assert!(
        gauge > 0.0 && gauge <= seconds as f64 + 1.0,
        "{gauge} vs {seconds}"
    );
    assert!(
        metrics.contains(&format!("memscope_memory_limit_bytes {limit}")),
        "{metrics}"
    );

    // The run goes on until the RSS reaches the limit.
    while rss() < limit {
        assert!(
            read_at.elapsed() < high + SLACK * 10,
            "not reached {:?} after the forecast: {forecast}",
            read_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let reached = read_at.elapsed();
    STOP.store(true, Ordering::Relaxed);
    leaking.await.unwrap();
    println!("reached the limit {reached:?} after the forecast");
    assert!(
        reached + SLACK >= low && reached <= high + SLACK,
        "reached in {reached:?}, forecast {low:?} to {high:?}: {forecast}"
    );
    KEPT.lock().unwrap().clear();
}
