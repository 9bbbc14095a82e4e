//! What the timeline costs in a process with many mappings and threads:
//! each point reads what memory looks like (the allocator's figures, the
//! RSS by kind, `/proc/self/maps` sorted with one `mincore` a thread stack,
//! named map and the binary, glibc's `mallinfo2` and its arena count), on
//! the timeline's own thread. Measured as that thread's CPU time a point,
//! at the shortest interval, first in this process as it starts and then
//! with 2,000 more mappings and 200 more threads.
//!
//! `cargo bench --bench reading` (release, `debug = "line-tables-only"`).

#![allow(unsafe_code)]

#[global_allocator]
static ALLOC: memscope::Jemalloc = memscope::Jemalloc;
memscope::heap_profiling!();

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

mod support;

use support::{HttpClient, fetch, thread_cpu};

const MAPPINGS: usize = 2_000;
const THREADS: usize = 200;
const RUN: Duration = Duration::from_secs(5);

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let layer = memscope::DebugLayer::new()
        .timeline_interval(memscope::DebugLayer::MIN_TIMELINE_INTERVAL)
        .without_heap_history();
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();

    let plain = cost_a_point(&client, addr).await;
    report("as it starts", plain);

    let _maps = many_mappings();
    let _threads = parked_threads();
    let crowded = cost_a_point(&client, addr).await;
    report(
        &format!("with {MAPPINGS} more mappings and {THREADS} more threads"),
        crowded,
    );
    println!(
        "ratio: {:.1}x; at the default interval (1 s) the crowded process spends {:.3} % of one core on the timeline",
        crowded.0.as_secs_f64() / plain.0.as_secs_f64(),
        crowded.0.as_secs_f64() * 100.0
    );
}

/// The timeline thread's CPU time a point over `RUN`, and the mappings
/// `/proc/self/maps` lists at the end.
async fn cost_a_point(client: &HttpClient, addr: SocketAddr) -> (Duration, usize) {
    let newest = |timeline: &serde_json::Value| {
        timeline["points"]
            .as_array()
            .unwrap()
            .last()
            .map_or(0, |point| point["unix_ms"].as_u64().unwrap())
    };
    let url = format!("http://{addr}/_debug/timeline?format=json");
    let (_, before) = fetch(client, &url).await;
    let cpu_before = thread_cpu("memscope-timeli");
    tokio::time::sleep(RUN).await;
    let cpu = thread_cpu("memscope-timeli") - cpu_before;
    let (_, after) = fetch(client, &url).await;
    let from = newest(&before);
    let taken = after["points"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|point| point["unix_ms"].as_u64().unwrap() > from)
        .count()
        .max(1);
    let mappings = std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count();
    (cpu / taken as u32, mappings)
}

fn report(what: &str, (per_point, mappings): (Duration, usize)) {
    println!(
        "{what}: {mappings} mappings, {:.1} µs of the timeline thread a point",
        per_point.as_secs_f64() * 1e6
    );
}

/// `MAPPINGS` anonymous mappings of 64 KiB, their protections alternating
/// so that the kernel cannot merge neighbours, each with a page written.
fn many_mappings() -> Vec<usize> {
    (0..MAPPINGS)
        .map(|index| {
            let protection = if index % 2 == 0 {
                libc::PROT_READ | libc::PROT_WRITE
            } else {
                libc::PROT_READ
            };
            // SAFETY: a fresh private anonymous mapping, written within its
            // first page where it is writable; kept until the process ends.
            unsafe {
                let map = libc::mmap(
                    std::ptr::null_mut(),
                    64 << 10,
                    protection,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                );
                assert_ne!(map, libc::MAP_FAILED);
                if index % 2 == 0 {
                    map.cast::<u8>().write(1);
                }
                map as usize
            }
        })
        .collect()
}

/// `THREADS` threads parked for good.
fn parked_threads() -> Vec<std::thread::JoinHandle<()>> {
    (0..THREADS)
        .map(|_| {
            std::thread::Builder::new()
                .stack_size(256 << 10)
                .spawn(|| {
                    loop {
                        std::thread::park();
                    }
                })
                .unwrap()
        })
        .collect()
}
