//! The heap pages at production scale: a service that holds about 1 GiB
//! in 65,536 distinct allocation stacks sampled one in 16 KiB on average,
//! so that jemalloc keeps about 41,000 sampled stacks, in two shapes
//! (`shapes.rs`: `large`, chains of ten levels; `deep`, deeper and more
//! varied), and a `mid` size of 8,192. For each: jemalloc's dump and
//! memscope's parse (the floor), the first and the warm `/heapdump`,
//! `/pprof/heap`, the heap flamegraph, the heap history (bytes and CPU a
//! snapshot), `/memory/diff?since=`, memscope's own heap, the process's
//! RSS and its peak; and, on the same heap in the same run,
//! `jemalloc_pprof` with `symbolize` (the crate a user would pick
//! instead).
//!
//! `cargo bench --bench scale` (every heap; `-- mid`, `-- large` or
//! `-- deep` for one). Each runs in a process of its own: about 2 minutes
//! for mid, 3 for each large one (its heap history fills 60 snapshots at
//! one a second), and 2.5 GiB of memory for the large ones.

#[global_allocator]
static ALLOC: memscope::Jemalloc = memscope::Jemalloc;
memscope::heap_profiling!(lg_sample = 14);

mod shapes;
#[path = "../../tests/common/stack_chain.rs"]
mod stack_chain;
#[path = "../support/mod.rs"]
mod support;

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use shapes::Shape;
use support::{HttpClient, fetch, history_thread_cpu, median, mib, status_bytes};

/// The heap history's pace for the bench.
const HISTORY_INTERVAL: Duration = Duration::from_secs(1);
const HISTORY_SNAPSHOTS: u64 = 60;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let which = std::env::args().skip(1).find(|arg| !arg.starts_with('-'));
    let Some(which) = which else {
        // Each size in a process of its own: the heap history a size's
        // measure starts stays for the process (one per process), and
        // would run under the next size's pages.
        for size in ["mid", "large", "deep"] {
            let status = std::process::Command::new(std::env::current_exe().unwrap())
                .arg(size)
                .status()
                .unwrap();
            assert!(status.success(), "{size}: {status}");
        }
        return;
    };
    let shape = Shape::named(&which);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    // The pages first, with no heap history running under them.
    let app = Router::new().layer(memscope::DebugLayer::new().without_heap_history());
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let mut kept = Vec::new();
    shape.build(&mut kept);
    measure(&client, addr, &shape.describe(kept.len())).await;
    black_box(kept);
}

async fn measure(client: &HttpClient, addr: SocketAddr, heap: &str) {
    let url = |path: &str| format!("http://{addr}/_debug{path}");
    let app_rss = status_bytes("VmRSS:");
    println!("\n== {heap}; RSS {:.0} MiB", mib(app_rss));
    // The peak RSS each page group reaches, over the app's and over the
    // RSS just before the page (what memscope holds between pages, such as
    // the symbolizer's caches, is then not counted again).
    let mut peaks: Vec<(&str, u64, u64)> = Vec::new();
    let reset_peak = || {
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        status_bytes("VmRSS:")
    };
    let peak = |before: u64| {
        let high = status_bytes("VmHWM:");
        (high.saturating_sub(app_rss), high.saturating_sub(before))
    };
    let mut note = |page, (over_app, over_before)| peaks.push((page, over_app, over_before));
    let before = reset_peak();
    let kinds_before = (status_bytes("RssAnon:"), status_bytes("RssFile:"));
    let (first, page) = fetch(client, &url("/heapdump?format=json&limit=20")).await;
    note("first /heapdump", peak(before));
    let kept_after_first = (
        status_bytes("RssAnon:").saturating_sub(kinds_before.0),
        status_bytes("RssFile:").saturating_sub(kinds_before.1),
    );
    let (dump_ms, resolve_ms) = accounts(&page);
    println!(
        "sampled stacks:               {}",
        page["stacks"].as_u64().unwrap_or(0)
    );
    println!(
        "first /heapdump:              {:.0} ms (dump and parse {dump_ms:.0} ms, resolving {resolve_ms:.0} ms)",
        ms(first)
    );
    let own_first = own_heap(client, addr).await;
    let before = reset_peak();
    let mut warm = Vec::new();
    let mut floor = Vec::new();
    for _ in 0..5 {
        let (took, page) = fetch(client, &url("/heapdump?format=json&limit=20")).await;
        warm.push(took);
        floor.push(Duration::from_secs_f64(accounts(&page).0 / 1e3));
    }
    warm.sort();
    floor.sort();
    println!(
        "warm /heapdump (5):           median {:.0} ms; its dump and parse {:.0} ms: {:.2}x",
        ms(median(&warm)),
        ms(median(&floor)),
        median(&warm).as_secs_f64() / median(&floor).as_secs_f64()
    );
    note("warm /heapdump", peak(before));
    let before = reset_peak();
    let pprof = timed(client, &url("/pprof/heap")).await;
    note("/pprof/heap", peak(before));
    let before = reset_peak();
    let flamegraph = timed(client, &url("/heapdump/flamegraph.svg")).await;
    note("flamegraph", peak(before));
    println!("/pprof/heap (3):              median {:.0} ms", ms(pprof));
    let svg_bytes = client
        .get(url("/heapdump/flamegraph.svg").parse().unwrap())
        .await
        .map(|response| response.into_body())
        .map_err(|error| error.to_string());
    let svg_bytes = match svg_bytes {
        Ok(body) => http_body_util::BodyExt::collect(body)
            .await
            .map_or(0, |body| body.to_bytes().len()),
        Err(_) => 0,
    };
    println!(
        "heap flamegraph (3):          median {:.0} ms, {:.1} MiB of SVG",
        ms(flamegraph),
        mib(svg_bytes as u64)
    );
    println!(
        "memscope's own heap:          {:.1} MiB after the first /heapdump",
        mib(own_first)
    );
    println!(
        "kept after the first page:    anonymous +{:.1} MiB, file-backed +{:.1} MiB (the symbolizer's index and mapped debug info, until its idle release)",
        mib(kept_after_first.0),
        mib(kept_after_first.1)
    );

    println!(
        "peak RSS over the app's (over the RSS before the page): {}",
        peaks
            .iter()
            .map(|(page, over_app, over_before)| {
                format!(
                    "{page} +{:.0} MiB (+{:.0})",
                    mib(*over_app),
                    mib(*over_before)
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    );
    black_box_capture(&page);
    peer().await;
    // The heap history, from now: a snapshot a second, 60 kept; the peak
    // RSS from now on.
    let _history = Router::<()>::new().layer(
        memscope::DebugLayer::new().heap_history(HISTORY_INTERVAL, HISTORY_SNAPSHOTS as usize),
    );
    reset_peak();
    let history_started = Instant::now();
    let growth = url("/memory/growth?format=json&limit=1");
    let stored = |page: &serde_json::Value| page["history"]["stored"].as_u64().unwrap_or(0);
    let cpu_before = history_thread_cpu();
    tokio::time::sleep(HISTORY_INTERVAL * HISTORY_SNAPSHOTS as u32).await;
    let after = loop {
        let (_, page) = fetch(client, &growth).await;
        if stored(&page) >= HISTORY_SNAPSHOTS
            || history_started.elapsed() > Duration::from_secs(300)
        {
            break page;
        }
        tokio::time::sleep(HISTORY_INTERVAL * 5).await;
    };
    let taken = stored(&after).max(1) as f64;
    let cpu = history_thread_cpu() - cpu_before;
    let bytes = after["history"]["bytes"].as_u64().unwrap_or(0);
    println!(
        "heap history:                 {} stored, {:.2} MiB; {:.0} ms CPU a snapshot, the last took {:.0} ms",
        stored(&after),
        mib(bytes),
        ms(cpu) / taken,
        after["history"]["last_took_ms"].as_f64().unwrap_or(0.0)
    );
    let since = timed(client, &url("/memory/diff?since=10s&format=json&limit=20")).await;
    println!("/memory/diff?since=10s (3):   median {:.0} ms", ms(since));
    // What memscope keeps between pages: a heap page alone, its own
    // stacks estimated in the snapshot it takes.
    let _ = fetch(client, &url("/heapdump?format=json&limit=1")).await;
    println!(
        "memscope's own heap:          {:.1} MiB with {} snapshots stored, between pages",
        mib(own_heap(client, addr).await),
        stored(&after)
    );
    let rss = status_bytes("VmRSS:");
    println!(
        "process RSS over the app's:   +{:.0} MiB now, peak +{:.0} MiB during the history (jemalloc_pprof's caches included)",
        mib(rss.saturating_sub(app_rss)),
        mib(status_bytes("VmHWM:").saturating_sub(app_rss))
    );
}

/// A black box capture on this heap: its time against the dump and parse
/// a heap page accounts for, its file, and the peak RSS it reaches over
/// the RSS before it (three captures; the first warms what a capture keeps
/// once, such as its thread's buffers, and is not counted).
fn black_box_capture(page: &serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let recorder = memscope::BlackBox::new(dir.path());
    recorder.capture("warm").unwrap();
    let mut took = Vec::new();
    let mut peaks = Vec::new();
    let mut captured = None;
    for _ in 0..3 {
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let before = status_bytes("VmRSS:");
        let capture = recorder.capture("bench").unwrap();
        peaks.push(status_bytes("VmHWM:").saturating_sub(before));
        took.push(capture.took);
        captured = Some(capture);
    }
    took.sort();
    let captured = captured.unwrap();
    let (dump_ms, _) = accounts(page);
    println!(
        "black box capture (3):        median {:.0} ms for {} stacks ({:.2}x the heap page's dump and parse), {:.1} MiB file, peak RSS +{:.1} MiB at most",
        ms(median(&took)),
        captured.heap_stacks,
        ms(median(&took)) / dump_ms,
        mib(captured.bytes),
        mib(peaks.iter().copied().max().unwrap_or(0))
    );
}

/// The median of three GETs of `url`.
async fn timed(client: &HttpClient, url: &str) -> Duration {
    let mut took = Vec::new();
    for _ in 0..3 {
        let start = Instant::now();
        let response = client.get(url.parse().unwrap()).await.unwrap();
        assert!(
            response.status().is_success(),
            "{url}: {}",
            response.status()
        );
        let _ = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap();
        took.push(start.elapsed());
    }
    took.sort();
    median(&took)
}

/// The dump-and-parse and resolving times a heap page accounts for, in ms.
fn accounts(page: &serde_json::Value) -> (f64, f64) {
    let note = support::timing(page);
    let number_before = |unit_at: &str| -> f64 {
        note.split(unit_at)
            .next()
            .and_then(|before| before.rsplit(' ').next())
            .and_then(|number| number.parse().ok())
            .unwrap_or(f64::NAN)
    };
    let dump = number_before(" ms, resolving");
    let resolve = note
        .split("resolving addresses ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|number| number.parse().ok())
        .unwrap_or(f64::NAN);
    (dump, resolve)
}

/// memscope's own live heap, as `/metrics` says.
async fn own_heap(client: &HttpClient, addr: SocketAddr) -> u64 {
    let url = format!("http://{addr}/_debug/metrics");
    let response = client.get(url.parse().unwrap()).await.unwrap();
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    String::from_utf8_lossy(&body)
        .lines()
        .find_map(|line| line.strip_prefix("memscope_own_heap_bytes "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

/// `jemalloc_pprof` with `symbolize` on the same heap: its first and warm
/// dumps, and what it keeps allocated.
async fn peer() {
    let Some(control) = jemalloc_pprof::PROF_CTL.as_ref() else {
        println!("jemalloc_pprof:               not available (profiling off)");
        return;
    };
    let allocated = || {
        let _ = tikv_jemalloc_ctl::epoch::advance();
        tikv_jemalloc_ctl::stats::allocated::read().unwrap_or(0) as u64
    };
    let before = allocated();
    let start = Instant::now();
    let first = control.lock().await.dump_pprof().map(|bytes| bytes.len());
    let first_took = start.elapsed();
    let after = allocated();
    let mut warm = Vec::new();
    for _ in 0..3 {
        let start = Instant::now();
        let _ = control.lock().await.dump_pprof();
        warm.push(start.elapsed());
    }
    warm.sort();
    println!(
        "jemalloc_pprof (symbolize):   first {:.0} ms ({:?} bytes), warm median {:.0} ms; +{:.1} MiB allocated after its first dump",
        ms(first_took),
        first.ok(),
        ms(median(&warm)),
        mib(after.saturating_sub(before))
    );
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}
