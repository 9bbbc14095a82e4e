//! The demo's story, end to end over loopback: the leak is found at the top
//! of the memory diff, in the demo's caching code, and the fix holds.
//! One test, so that the two modes never run at once in this process's heap.
//! Both modes' layers have the same settings, so they share one request
//! log: each mode's figures are read as the change over its own run.

use std::net::SocketAddr;

use crate::common::{get, post};
use crate::leaky_cache::{self, Mode};
use http::StatusCode;

const REQUESTS: usize = 2_000;

/// A mode's run: its address, its diff, and the `/json` route's totals
/// (requests, total net bytes) before its traffic.
async fn run(mode: Mode) -> (SocketAddr, serde_json::Value, (u64, i64)) {
    let addr = leaky_cache::start(mode, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let before = json_route_totals(addr).await;
    // Warm up connections and the symbolizer before the baseline.
    for _ in 0..20 {
        get(addr, "/json").await;
    }
    get(addr, "/_debug/heapdump?limit=1").await;
    assert_eq!(
        post(addr, "/_debug/memory/diff/baseline?format=json")
            .await
            .status,
        StatusCode::OK
    );
    for _ in 0..REQUESTS {
        assert_eq!(get(addr, "/json").await.status, StatusCode::OK);
    }
    let diff = get(addr, "/_debug/memory/diff?format=json&limit=50").await;
    assert_eq!(diff.status, StatusCode::OK, "{}", diff.body);
    (addr, diff.json(), before)
}

/// The `/json` route's requests and total net bytes so far.
async fn json_route_totals(addr: SocketAddr) -> (u64, i64) {
    let profiles = get(addr, "/_debug/profiles?format=json").await.json();
    let routes = profiles["routes"].as_array().unwrap();
    routes
        .iter()
        .find(|r| r["route"] == "/json")
        .map_or((0, 0), |json| {
            (
                json["requests"].as_u64().unwrap(),
                json["total_net"].as_i64().unwrap(),
            )
        })
}

/// What each `/json` request of a run kept, on average.
async fn json_route_mean_net(addr: SocketAddr, (requests, net): (u64, i64)) -> f64 {
    let (requests_now, net_now) = json_route_totals(addr).await;
    assert_eq!(requests_now - requests, REQUESTS as u64 + 20);
    (net_now - net) as f64 / (requests_now - requests) as f64
}

/// The scenario; the test binary sets the demo's allocator.
pub async fn leak_is_found_and_the_fix_holds() {
    let (addr, diff, before) = run(Mode::Leaky).await;
    assert_eq!(diff["requests"].as_u64().unwrap(), REQUESTS as u64);
    let top = &diff["rows"][0];
    let name = top["name"].as_str().unwrap();
    assert!(
        name.contains("leaky_cache::cache::"),
        "top growing site is {name}: {diff:#}"
    );
    let per_request = top["bytes_per_request"].as_f64().unwrap();
    // Each request leaves its ~440-byte document, headers and URL behind.
    assert!(per_request > 400.0, "{per_request} bytes per request");

    let function = name
        .split(" via ")
        .next()
        .unwrap()
        .rsplit("::")
        .next()
        .unwrap();
    let dump = get(
        addr,
        &format!("/_debug/heapdump?format=json&filter={function}"),
    )
    .await
    .json();
    let found = dump["rows"].as_array().unwrap();
    assert!(
        !found.is_empty() && found[0]["name"].as_str().unwrap().contains(function),
        "{dump:#}"
    );
    let text = get(addr, &format!("/_debug/heapdump?filter={function}"))
        .await
        .body;
    assert!(text.contains(function), "{text}");

    // The README's filter picks out what the cache stores, and only it.
    let cached = get(addr, "/_debug/heapdump?format=json&filter=cache::store")
        .await
        .json();
    let rows = cached["rows"].as_array().unwrap();
    assert!(!rows.is_empty(), "{cached:#}");
    for row in rows {
        let name = row["name"].as_str().unwrap();
        assert!(
            name.contains("leaky_cache::cache::"),
            "`cache::store` matched {name}"
        );
    }

    // The per-route profile points at the same leak: each /json request
    // keeps about what the cache holds per item.
    let info = get(addr, "/info").await.json();
    let per_item = info["cache_bytes"].as_f64().unwrap() / info["cache_items"].as_f64().unwrap();
    let leaky_net = json_route_mean_net(addr, before).await;
    println!("leaky: /json mean net {leaky_net} B; the cache holds {per_item:.0} B per item");
    assert!(
        (0.7 * per_item..=2.0 * per_item).contains(&leaky_net),
        "mean net {leaky_net} B against {per_item:.0} B per cached item"
    );

    let (fixed_addr, fixed, fixed_before) = run(Mode::Fixed).await;
    let fixed_net = json_route_mean_net(fixed_addr, fixed_before).await;
    println!("fixed: /json mean net {fixed_net} B");
    // Not exactly zero: the handler frees buffers that hyper's connection
    // task allocated, and a free counts on the task that makes it.
    assert!(
        fixed_net.abs() < 0.25 * leaky_net,
        "with --fixed, /json keeps {fixed_net} B a request against {leaky_net} B leaky"
    );
    for row in fixed["rows"].as_array().unwrap() {
        let name = row["name"].as_str().unwrap();
        let growth = row["bytes_delta"].as_i64().unwrap();
        assert!(
            !name.contains("::cache::") || growth < 100 * 1024,
            "with --fixed, {name} grew {growth} bytes over {REQUESTS} requests"
        );
    }
}
