//! What CPU captures leave behind: on x86-64 Linux, once the symbolizer
//! has given back what it resolved (after a minute unused), nothing but
//! the captures' own flamegraphs and protobufs; elsewhere, where pprof's
//! sampler runs, its sample table, counted as memscope's own.

use crate::common::own_process::{in_own_process, profiling};
use crate::common::{get as http_get, get_bytes, post, serve_app_with_layer};
use http::StatusCode;

const MIB: f64 = 1024.0 * 1024.0;

async fn overview(addr: std::net::SocketAddr) -> serde_json::Value {
    http_get(addr, "/_debug/?format=json").await.json()
}

/// Takes a one-second capture and returns the bytes memscope keeps of it
/// by design (its flamegraph and its protobuf, among the last 8 kept).
async fn capture(addr: std::net::SocketAddr) -> f64 {
    // Work to sample: a capture of an idle process may take no sample,
    // and what pprof sets up at its first sample would then be counted
    // against a later capture.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy = std::thread::spawn({
        let done = done.clone();
        move || {
            let mut spins = 0u64;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                spins = std::hint::black_box(spins.wrapping_add(1));
            }
        }
    });
    let answer = post(addr, "/_debug/profiles/cpu?seconds=1&format=json").await;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    busy.join().unwrap();
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let capture = answer.json();
    assert!(
        capture["samples"].as_u64().unwrap() > 0,
        "no sample: {capture}"
    );
    let mut kept = 0;
    for file in ["flamegraph", "pprof"] {
        let link = capture[file].as_str().unwrap();
        kept += get_bytes(addr, link).await.len();
    }
    kept as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captures_leave_nothing_once_the_symbols_are_given_back() {
    if in_own_process(&profiling(19)) {
        return;
    }
    let addr = serve_app_with_layer().await;
    // Warm what the pages themselves allocate once.
    overview(addr).await;
    let before = overview(addr).await;
    let mut kept = 0.0;
    for n in 1..=3 {
        let kept_now = capture(addr).await;
        kept += kept_now;
        let now = overview(addr).await;
        println!(
            "capture {n}: allocated {:+.1} MiB besides the {:.2} MiB kept of the captures",
            (now["allocated"].as_f64().unwrap() - before["allocated"].as_f64().unwrap() - kept)
                / MIB,
            kept / MIB
        );
    }
    // The symbolizer gives the frames it resolved back after a minute
    // unused; what is left is what the captures keep by design.
    let started = std::time::Instant::now();
    let idle = loop {
        let now = overview(addr).await;
        if now["symbolizer_cached_addresses"] == 0 {
            break now;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "the symbolizer kept its caches: {now:#}"
        );
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    };
    let left = idle["allocated"].as_f64().unwrap() - before["allocated"].as_f64().unwrap() - kept;
    println!(
        "after {:.0} s idle: allocated {:+.2} MiB besides the {:.2} MiB kept; the CPU profiler holds {:.2} MiB",
        started.elapsed().as_secs_f64(),
        left / MIB,
        kept / MIB,
        idle["cpu_profiler_bytes"].as_f64().unwrap() / MIB
    );
    if cfg!(all(target_arch = "x86_64", target_os = "linux")) {
        // memscope's own sampler: its table is freed with each capture.
        assert!(
            left.abs() < 2.0 * MIB,
            "three captures left {:.1} MiB",
            left / MIB
        );
        assert_eq!(idle["cpu_profiler_bytes"], 0);
    } else {
        // pprof's sampler keeps its sample table, counted as memscope's own.
        let counted = idle["cpu_profiler_bytes"].as_f64().unwrap();
        assert!(counted > 0.0 && (left - counted).abs() < 6.0 * MIB);
        let text = http_get(addr, "/_debug/").await.body;
        assert!(text.contains("CPU profiler:"), "{text}");
    }
}
