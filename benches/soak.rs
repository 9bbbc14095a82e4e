//! A million requests through the layer, and what the process holds
//! along the way: jemalloc's allocated bytes and the RSS every 100,000
//! requests. The app keeps nothing, so whatever grows is memscope's (or
//! the runtime's). All traffic is on loopback, over 8 kept-alive
//! connections; a request in 50 goes to a path of its own, so that the
//! route table meets new names too.
//!
//! `cargo bench --bench soak` (`SOAK_REQUESTS=N` for another count).

#[global_allocator]
static ALLOC: memscope::Jemalloc = memscope::Jemalloc;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

const CONNECTIONS: u64 = 8;
const CHECKPOINT: u64 = 100_000;

fn allocated() -> u64 {
    tikv_jemalloc_ctl::epoch::advance().unwrap();
    tikv_jemalloc_ctl::stats::allocated::read().unwrap() as u64
}

fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1048576.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let total: u64 = std::env::var("SOAK_REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/", get(|| async { "hello" }))
        .fallback(|| async { (http::StatusCode::NOT_FOUND, "no such page") })
        .layer(memscope::DebugLayer::new());
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(CONNECTIONS as usize)
        .build_http();

    let sent = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let (allocated_at_start, rss_at_start) = (allocated(), rss());
    println!("requests  | allocated          | RSS                | req/s");
    println!(
        "{:>9} | {:>7.2} MiB          | {:>7.2} MiB          |",
        0,
        mib(allocated_at_start),
        mib(rss_at_start)
    );
    let mut checkpoint = CHECKPOINT;
    let mut last = (Instant::now(), 0);
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (client, sent) = (client.clone(), sent.clone());
            tokio::spawn(async move {
                loop {
                    let n = sent.fetch_add(1, Ordering::Relaxed);
                    if n >= total {
                        return;
                    }
                    let path = if n.is_multiple_of(50) {
                        format!("/unmatched/page-{n}")
                    } else {
                        "/".to_owned()
                    };
                    let response = client
                        .get(format!("http://{addr}{path}").parse().unwrap())
                        .await
                        .unwrap();
                    response.into_body().collect().await.unwrap();
                }
            })
        })
        .collect();
    while checkpoint <= total {
        let done = sent.load(Ordering::Relaxed);
        if done >= checkpoint {
            let (now_allocated, now_rss) = (allocated(), rss());
            let rate = (done - last.1) as f64 / last.0.elapsed().as_secs_f64();
            println!(
                "{:>9} | {:>7.2} MiB ({:+.2}) | {:>7.2} MiB ({:+.2}) | {:.0}",
                checkpoint,
                mib(now_allocated),
                mib(now_allocated) - mib(allocated_at_start),
                mib(now_rss),
                mib(now_rss) - mib(rss_at_start),
                rate
            );
            last = (Instant::now(), done);
            checkpoint += CHECKPOINT;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for worker in workers {
        worker.await.unwrap();
    }
    println!("{total} requests in {:.1} s", start.elapsed().as_secs_f64());
}
