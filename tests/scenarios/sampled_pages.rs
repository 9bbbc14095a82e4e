//! Every heap page over memscope's sampling allocator, whatever it wraps:
//! a route that leaks is found by site, by route, in the diff against a
//! baseline and in the growth across the heap history; the flamegraph and
//! the pprof profiles are drawn from the wrapper's samples; the figures
//! only jemalloc knows say so rather than read zero.

use std::hint::black_box;
use std::sync::Mutex;
use std::time::Duration;

use crate::common::{KeptAlive, fast_verdict_layer, serve};
use axum::Router;
use axum::routing::get;

static LEAKED: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

pub mod routes {
    use super::*;

    /// Keeps 64 KiB a request: the leak.
    pub async fn leak() -> &'static str {
        LEAKED.lock().unwrap().push(black_box(vec![7u8; 64 * 1024]));
        "kept"
    }

    pub async fn healthy() -> &'static str {
        black_box(vec![0u8; 64 * 1024]);
        "ok"
    }
}

/// The scenario; the test binary sets memscope's sampling allocator over
/// the allocator it tests, with `lg_sample` 14.
pub async fn every_heap_page_reads_the_wrapper_s_samples() {
    let app = Router::new()
        .route("/leak", get(routes::leak))
        .route("/healthy", get(routes::healthy))
        .layer(fast_verdict_layer());
    let addr = serve(app).await;
    let client = KeptAlive::to(addr);
    for _ in 0..100 {
        client.get("/leak").await;
        client.get("/healthy").await;
    }
    let baseline = client
        .post("/_debug/memory/diff/baseline", Default::default())
        .await;
    assert_eq!(baseline.status, 200, "{}", baseline.body);
    // Leaking on while the heap history takes a snapshot every 300 ms.
    for _ in 0..10 {
        for _ in 0..30 {
            client.get("/leak").await;
            client.get("/healthy").await;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }

    let overview = client.get("/_debug/?format=json").await.json();
    assert_eq!(overview["profiling"]["sampler"], "memscope");
    assert!(overview["active"].is_null(), "{}", overview["active"]);
    let parts: Vec<&str> = overview["rss_breakdown"]["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|part| part["part"].as_str().unwrap())
        .collect();
    assert_eq!(
        parts,
        [
            "live_heap",
            "memscope_heap",
            "beyond_live_heap",
            "thread_stacks",
            "libc_malloc",
            "named_maps",
            "binary",
            "memscope_debug_info",
            "other_files",
            "shared_memory"
        ]
    );

    let sites = client
        .get("/_debug/heapdump?format=json&limit=5")
        .await
        .json();
    let top = &sites["rows"][0];
    assert!(
        top["name"].as_str().unwrap().contains("routes::leak"),
        "{sites:#}"
    );
    let site_page = client
        .get(&format!("/_debug/heapdump/{}", top["id"].as_str().unwrap()))
        .await;
    assert_eq!(site_page.status, 200, "{}", site_page.body);

    let by_route = client
        .get("/_debug/heapdump?group=route&format=json&limit=5")
        .await
        .json();
    assert_eq!(by_route["rows"][0]["name"], "/leak", "{by_route:#}");

    let sizes = client.get("/_debug/heapdump?group=size").await;
    assert_eq!(sizes.status, 409, "{}", sizes.body);
    assert!(sizes.body.contains("group=site"), "{}", sizes.body);
    let purge = client
        .post("/_debug/memory/purge", Default::default())
        .await;
    assert_eq!(purge.status, 409, "{}", purge.body);

    let diff = client
        .get("/_debug/memory/diff?format=json&limit=5")
        .await
        .json();
    let grown = &diff["rows"][0];
    assert!(
        grown["name"].as_str().unwrap().contains("routes::leak"),
        "{diff:#}"
    );
    assert_eq!(grown["significant"], true, "{grown}");

    let growth = client.get("/_debug/memory/growth?format=json").await.json();
    let suspect = growth["suspects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|site| site["significant"] == true)
        .unwrap_or_else(|| panic!("{growth:#}"));
    assert!(
        suspect["name"].as_str().unwrap().contains("routes::leak"),
        "{suspect}"
    );

    let flamegraph = client.get("/_debug/heapdump/flamegraph.svg").await;
    assert_eq!(flamegraph.status, 200);
    assert!(
        flamegraph.body.contains("routes::leak"),
        "no leak in the flamegraph"
    );
    for path in ["/_debug/pprof/heap", "/_debug/pprof/allocs"] {
        let profile = client.get(path).await;
        assert_eq!(profile.status, 200, "{path}: {}", profile.body);
    }

    let metrics = client.get("/_debug/metrics").await.body;
    assert!(metrics.contains("memscope_allocated_bytes "), "{metrics}");
    assert!(!metrics.contains("jemalloc_active"), "{metrics}");

    let paused = client
        .post("/_debug/profiling?active=false", Default::default())
        .await;
    assert_eq!(paused.status, 200, "{}", paused.body);
    let overview = client.get("/_debug/?format=json").await.json();
    assert_eq!(overview["profiling"]["active"], false);
    client
        .post("/_debug/profiling?active=true", Default::default())
        .await;
    LEAKED.lock().unwrap().clear();
}
