//! A black box capture on whichever allocator the binary runs: the heap
//! profile written out (jemalloc's dump, or memscope's sampling
//! allocator's table as the same text), read back and named, its route
//! tags with it.

use http::StatusCode;

use crate::common::{KeptAlive, get, post};
use crate::leaky_cache::{self, Mode};

pub(crate) async fn a_capture_names_the_leak_and_its_route_when_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let layer = memscope::DebugLayer::new().black_box(memscope::BlackBox::new(dir.path()));
    let addr = leaky_cache::start_with(Mode::Leaky, "127.0.0.1:0".parse().unwrap(), layer)
        .await
        .unwrap();
    let client = KeptAlive::to(addr);
    for _ in 0..3_000 {
        assert_eq!(client.get("/json").await.status, StatusCode::OK);
    }
    let taken = post(addr, "/_debug/memory/postmortem/capture?format=json").await;
    assert_eq!(taken.status, StatusCode::OK, "{}", taken.body);
    let id = taken.json()["id"].as_str().unwrap().to_owned();
    let page = get(addr, &format!("/_debug/memory/postmortem/{id}?format=json")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let page = page.json();
    let top = page["rows"][0]["name"].as_str().unwrap();
    assert!(top.contains("store_response"), "{top}: {}", page["rows"]);
    let by_route = get(
        addr,
        &format!("/_debug/memory/postmortem/{id}?format=json&group=route"),
    )
    .await
    .json();
    assert_eq!(by_route["rows"][0]["name"], "/json", "{}", by_route["rows"]);
}
