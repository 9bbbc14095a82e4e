//! What a CPU capture leaves behind: the symbols pprof resolved are given
//! back when it ends, and what pprof keeps for good (its sample table,
//! once its profiler has run) is counted as memscope's own; a capture
//! after the first leaves nothing more.

#[global_allocator]
static ALLOC: memscope::Jemalloc = memscope::Jemalloc;
memscope::heap_profiling!();

mod common;

use common::{get as http_get, post, serve_app_with_layer};
use http::StatusCode;

const MIB: f64 = 1024.0 * 1024.0;

async fn overview(addr: std::net::SocketAddr) -> serde_json::Value {
    http_get(addr, "/_debug/?format=json").await.json()
}

async fn capture(addr: std::net::SocketAddr) {
    let answer = post(addr, "/_debug/profiles/cpu?seconds=1&format=json").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capture_gives_back_what_it_resolved_and_counts_what_pprof_keeps() {
    let addr = serve_app_with_layer().await;
    // Warm what the pages themselves allocate once.
    overview(addr).await;
    let before = overview(addr).await;
    capture(addr).await;
    let after_first = overview(addr).await;
    let grew = after_first["allocated"].as_f64().unwrap() - before["allocated"].as_f64().unwrap();
    let counted = after_first["cpu_profiler_bytes"].as_f64().unwrap();
    println!(
        "first capture: allocated +{:.1} MiB, counted as pprof's {:.1} MiB",
        grew / MIB,
        counted / MIB
    );
    // Besides the table, a first capture initialises pprof's and
    // backtrace's own state once (2.6 MiB here).
    assert!(
        counted > 0.0 && (grew - counted).abs() < 4.0 * MIB,
        "allocated grew {:.1} MiB, of which pprof's sample table is {:.1} MiB: the rest was not given back",
        grew / MIB,
        counted / MIB
    );

    capture(addr).await;
    let after_second = overview(addr).await;
    let grew_again =
        after_second["allocated"].as_f64().unwrap() - after_first["allocated"].as_f64().unwrap();
    println!("second capture: allocated {:+.1} MiB", grew_again / MIB);
    assert!(
        grew_again.abs() < 2.0 * MIB,
        "a second capture left {:.1} MiB more allocated",
        grew_again / MIB
    );
    let text = http_get(addr, "/_debug/").await.body;
    assert!(text.contains("CPU profiler:"), "{text}");
}
