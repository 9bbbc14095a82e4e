//! How long `GET /_debug/heapdump` takes with ~2,000 sampled stacks, first
//! call and warm, and what the symbolizer costs in memory before, during
//! and after (it gives its caches back after a minute unused).
//!
//! `cargo bench --bench heapdump` (release, `debug = "line-tables-only"`).
//! Set `MEMSCOPE_BENCH_SKIP_IDLE=1` to skip the 65-second wait for the
//! release of the symbol caches.

#[global_allocator]
static ALLOC: memscope::Jemalloc = memscope::Jemalloc;
// One sample per 64 KiB: 98 % of the 256 KiB buffers below are sampled, so
// nearly every one of the 2,048 chains shows up as its own stack.
memscope::heap_profiling!(lg_sample = 16);

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

const BUFFER: usize = 256 * 1024;
const WARM_CALLS: usize = 30;

#[path = "../tests/common/stack_chain.rs"]
mod stack_chain;
mod support;

use stack_chain::{End, level11};
use support::{fetch, history_thread_cpu, median, mib, rss, timing};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut kept = Vec::new();
    level11::<End>(&mut kept, BUFFER);
    println!(
        "retained {} buffers of {} KiB through distinct call chains",
        kept.len(),
        BUFFER / 1024
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let app = Router::new().layer(memscope::DebugLayer::new());
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    let client = Client::builder(TokioExecutor::new()).build_http();
    let overview_url = format!("http://{addr}/_debug/?format=json");
    let dump_url = format!("http://{addr}/_debug/heapdump?format=json&limit=20");

    let (_, before) = fetch(&client, &overview_url).await;
    let rss_before = rss();
    let (first, dump) = fetch(&client, &dump_url).await;
    let (_, during) = fetch(&client, &overview_url).await;
    let rss_during = rss();

    let mut warm = Vec::with_capacity(WARM_CALLS);
    for _ in 0..WARM_CALLS {
        warm.push(fetch(&client, &dump_url).await.0);
    }
    warm.sort();
    let (_, own) = fetch(&client, &dump_url).await;

    println!("stacks in the profile:      {}", dump["stacks"]);
    println!("first call's own account:   {}", timing(&dump));
    println!("a warm call's own account:  {}", timing(&own));
    println!(
        "addresses symbolized:       {}",
        during["symbolizer_cached_addresses"]
    );
    println!(
        "first call:                 {:.1} ms",
        first.as_secs_f64() * 1e3
    );
    println!(
        "warm calls ({WARM_CALLS}):            median {:.1} ms, min {:.1} ms, max {:.1} ms",
        median(&warm).as_secs_f64() * 1e3,
        warm[0].as_secs_f64() * 1e3,
        warm[warm.len() - 1].as_secs_f64() * 1e3
    );
    let allocated = |page: &serde_json::Value| page["allocated"].as_u64().unwrap();
    println!(
        "jemalloc allocated:         before {:.1} MiB, during {:.1} MiB (+{:.1})",
        mib(allocated(&before)),
        mib(allocated(&during)),
        mib(allocated(&during) - allocated(&before))
    );
    println!(
        "process RSS:                before {:.1} MiB, during {:.1} MiB (+{:.1})",
        mib(rss_before),
        mib(rss_during),
        mib(rss_during.saturating_sub(rss_before))
    );
    println!(
        "memscope's own (sampled):   {:.1} MiB",
        mib(own["memscope_own"]["bytes"].as_u64().unwrap())
    );

    if std::env::var_os("MEMSCOPE_BENCH_SKIP_IDLE").is_none() {
        tokio::time::sleep(Duration::from_secs(66)).await;
        let (_, after) = fetch(&client, &overview_url).await;
        let rss_after = rss();
        println!(
            "after 66 s idle:            allocated {:.1} MiB ({:+.1} vs before), RSS {:.1} MiB, {} addresses cached",
            mib(allocated(&after)),
            mib(allocated(&after)) - mib(allocated(&before)),
            mib(rss_after),
            after["symbolizer_cached_addresses"]
        );
    }
    history_cost(&client, addr, dump["stacks"].as_u64().unwrap()).await;
    black_box(kept);
}

/// The heap history's cost with this profile: a second layer asks for a
/// snapshot every half second (the process keeps one history, at the
/// shortest interval asked), and the sampler thread's CPU time and the
/// ring's size are read after 40 snapshots.
async fn history_cost(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>,
    addr: SocketAddr,
    stacks: u64,
) {
    const INTERVAL: Duration = Duration::from_millis(500);
    const SNAPSHOTS: u64 = 40;
    let growth_url = format!("http://{addr}/_debug/memory/growth?format=json&limit=1");
    let stored = |page: &serde_json::Value| page["history"]["stored"].as_u64().unwrap();
    let (_, before) = fetch(client, &growth_url).await;
    let cpu_before = history_thread_cpu();
    let _second = Router::<()>::new().layer(
        memscope::DebugLayer::new()
            .prefix("/_debug_history")
            .heap_history(INTERVAL, 60),
    );
    tokio::time::sleep(INTERVAL * SNAPSHOTS as u32 + INTERVAL / 2).await;
    let (_, after) = fetch(client, &growth_url).await;
    let cpu = history_thread_cpu() - cpu_before;
    let taken = stored(&after) - stored(&before);
    let history = &after["history"];
    println!(
        "heap history:               {taken} snapshots of {} stacks: {:.1} ms CPU each, the last took {:.1} ms; ring of {} holds {:.2} MiB ({:.1} KiB a snapshot)",
        stacks,
        cpu.as_secs_f64() * 1e3 / taken as f64,
        history["last_took_ms"].as_f64().unwrap(),
        stored(&after),
        mib(history["bytes"].as_u64().unwrap()),
        history["bytes"].as_u64().unwrap() as f64 / 1024.0 / stored(&after) as f64,
    );
}
