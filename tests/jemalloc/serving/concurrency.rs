//! Fifty requests to the heavy pages at once, while the app serves load:
//! every one answers, with the documented status, and the app's requests
//! keep succeeding. Two CPU profiles asked at once: one runs, the other
//! is told to come back (429 with `Retry-After`, as a scraper expects).

use crate::common::own_process::{in_own_process, profiling};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::common::{get as http_get, send};
use axum::Router;
use axum::routing::get;
use http::{Method, StatusCode};

const AT_ONCE: usize = 50;

/// The pages that dump, symbolize, diff or render, and the actions.
const HEAVY: &[(Method, &str)] = &[
    (Method::GET, "/_debug/heapdump?format=json"),
    (Method::GET, "/_debug/heapdump?group=function"),
    (Method::GET, "/_debug/heapdump/flamegraph.svg"),
    (Method::GET, "/_debug/memory/diff?format=json"),
    (Method::GET, "/_debug/memory/diff?seconds=1"),
    (Method::GET, "/_debug/memory/diff/flamegraph.svg"),
    (Method::GET, "/_debug/memory/growth?format=json"),
    (Method::GET, "/_debug/?format=html"),
    (Method::GET, "/_debug/profiles?format=json"),
    (Method::GET, "/_debug/timeline"),
    (Method::GET, "/_debug/metrics"),
    (Method::GET, "/_debug/pprof/heap"),
    (Method::GET, "/_debug/pprof/allocs"),
    (Method::GET, "/_debug/pprof/heap?seconds=1"),
    (Method::POST, "/_debug/memory/diff/baseline"),
    (Method::POST, "/_debug/memory/purge"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_heavy_requests_at_once_under_load() {
    if in_own_process(&profiling(16)) {
        return;
    }
    let app = Router::new()
        .route("/", get(|| async { vec![7u8; 4096] }))
        .layer(memscope::DebugLayer::new());
    let addr = crate::common::serve(app).await;

    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU64::new(0));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (stop, served) = (stop.clone(), served.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let answer = http_get(addr, "/").await;
                    assert_eq!(answer.status, StatusCode::OK);
                    served.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    // The diff's flamegraph compares with a baseline: one exists first.
    let baseline = send(addr, Method::POST, "/_debug/memory/diff/baseline", &[]).await;
    assert_eq!(baseline.status, StatusCode::OK, "{}", baseline.body);
    let heavy: Vec<_> = (0..AT_ONCE)
        .map(|i| {
            let (method, path) = HEAVY[i % HEAVY.len()].clone();
            tokio::spawn(async move {
                let answer = send(addr, method.clone(), path, &[]).await;
                (method, path, answer)
            })
        })
        .collect();
    let capture = |seconds| {
        tokio::spawn(async move {
            send(
                addr,
                Method::GET,
                &format!("/_debug/pprof/profile?seconds={seconds}"),
                &[],
            )
            .await
        })
    };
    let captures = [capture(2), capture(2)];

    let answered = tokio::time::timeout(Duration::from_secs(120), async {
        let mut answers = Vec::new();
        for task in heavy {
            answers.push(task.await.unwrap());
        }
        answers
    })
    .await
    .expect("the heavy pages did not all answer within two minutes");
    for (method, path, answer) in &answered {
        assert!(
            answer.status.is_success(),
            "{method} {path}: {} {}",
            answer.status,
            answer.body
        );
    }
    let mut statuses = Vec::new();
    for capture in captures {
        let answer = capture.await.unwrap();
        if answer.status == StatusCode::TOO_MANY_REQUESTS {
            assert!(!answer.header("retry-after").is_empty(), "{}", answer.body);
        }
        statuses.push(answer.status);
    }
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::TOO_MANY_REQUESTS],
        "two captures at once"
    );

    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    assert!(served.load(Ordering::Relaxed) > 0);
    println!(
        "{AT_ONCE} heavy requests answered while the app served {} requests",
        served.load(Ordering::Relaxed)
    );
}
