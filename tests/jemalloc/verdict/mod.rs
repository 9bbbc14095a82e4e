//! "Is it a leak?" in real processes: retention and its purge, memory
//! outside the heap (thread stacks, the C library's malloc, named maps),
//! tasks that pile up, and the time to the memory limit. Each scenario
//! that grows has a fixed twin that must stay quiet.

mod forecast;
mod libc_malloc;
mod named_maps;
mod retention;
mod tasks;
mod threads;

use std::time::Duration;

use axum::Router;

use crate::common::{overview_after_steady_traffic, serve};

/// Requests made to each scenario that grows outside the heap.
const REQUESTS: usize = 20;

/// The overview after `REQUESTS` requests to `route` served at `path`, with
/// a verdict within seconds; its parts checked to add up.
async fn overview_after(path: &str, route: axum::routing::MethodRouter) -> serde_json::Value {
    let layer = crate::common::fast_verdict_layer();
    let addr = serve(Router::new().route(path, route).layer(layer)).await;
    let overview =
        overview_after_steady_traffic(addr, path, REQUESTS, Duration::from_secs(2)).await;
    assert_parts_add_up(&overview);
    overview
}

/// The overview's parts add up to its RSS, in bytes and in growth.
fn assert_parts_add_up(overview: &serde_json::Value) {
    let breakdown = &overview["rss_breakdown"];
    let parts = breakdown["parts"].as_array().unwrap();
    let bytes: u64 = parts
        .iter()
        .map(|part| part["bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(bytes, breakdown["rss"].as_u64().unwrap(), "{breakdown:#}");
    let growth: i64 = parts
        .iter()
        .map(|part| part["growth"].as_i64().unwrap())
        .sum();
    assert_eq!(
        growth,
        breakdown["growth"].as_i64().unwrap(),
        "{breakdown:#}"
    );
    for part in parts {
        let growth = part["growth"].as_i64().unwrap();
        let rate = part["bytes_per_minute"].as_f64().unwrap();
        assert!(
            growth.signum() == rate.signum() as i64 || growth == 0 && rate == 0.0,
            "{part}"
        );
    }
}
