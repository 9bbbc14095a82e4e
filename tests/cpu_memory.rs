//! What a CPU capture leaves behind: the symbols pprof resolved are given
//! back when it ends, and what pprof keeps for good (its sample table,
//! once its profiler has run) is counted as memscope's own; a capture
//! after the first ones leaves nothing more.

#[global_allocator]
static ALLOC: memscope::Jemalloc = memscope::Jemalloc;
memscope::heap_profiling!();

mod common;

use common::{get as http_get, get_bytes, post, serve_app_with_layer};
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
async fn a_capture_gives_back_what_it_resolved_and_counts_what_pprof_keeps() {
    let addr = serve_app_with_layer().await;
    // Warm what the pages themselves allocate once.
    overview(addr).await;
    let before = overview(addr).await;
    let kept_first = capture(addr).await;
    let after_first = overview(addr).await;
    let grew = after_first["allocated"].as_f64().unwrap()
        - before["allocated"].as_f64().unwrap()
        - kept_first;
    let counted = after_first["cpu_profiler_bytes"].as_f64().unwrap();
    println!(
        "first capture: allocated +{:.1} MiB, counted as pprof's {:.1} MiB",
        grew / MIB,
        counted / MIB
    );
    // Besides the table, a first capture initialises pprof's and
    // backtrace's own state once (2.6 MiB here), and the symbolizer keeps
    // the frames of the sampled addresses until a minute unused (1 to
    // 1.5 MiB here).
    assert!(
        counted > 0.0 && (grew - counted).abs() < 6.0 * MIB,
        "allocated grew {:.1} MiB, of which pprof's sample table is {:.1} MiB: the rest was not given back",
        grew / MIB,
        counted / MIB
    );

    // What pprof and the unwinder set up once sometimes lands in the
    // second capture rather than the first (on a loaded machine, where the
    // first took few samples): the third is the one that must leave
    // nothing more.
    let mut last = after_first["allocated"].as_f64().unwrap();
    for n in 2..=3 {
        let kept = capture(addr).await;
        let now = overview(addr).await["allocated"].as_f64().unwrap();
        let grew_again = now - last - kept;
        println!(
            "capture {n}: allocated {:+.1} MiB besides the {:.2} MiB it keeps (flamegraph and protobuf)",
            grew_again / MIB,
            kept / MIB
        );
        if n == 3 {
            assert!(
                grew_again.abs() < 2.0 * MIB,
                "a third capture left {:.1} MiB more allocated",
                grew_again / MIB
            );
        }
        last = now;
    }
    let text = http_get(addr, "/_debug/").await.body;
    assert!(text.contains("CPU profiler:"), "{text}");
}
