//! Heap sampling switched off and on at run time; the state shows on every page.

use crate::common::own_process::in_own_process;
use crate::common::{get as http_get, get_with, post, send, serve_app_with_layer};
use http::{Method, StatusCode};

#[tokio::test]
async fn sampling_starts_paused_and_switches() {
    if in_own_process("prof:true,prof_active:false,lg_prof_sample:19,prof_accum:false") {
        return;
    }
    let addr = serve_app_with_layer().await;
    let overview = http_get(addr, "/_debug/?format=json").await.json();
    assert_eq!(overview["profiling"]["enabled"], true);
    assert_eq!(overview["profiling"]["active"], false);
    let html = get_with(
        addr,
        "/_debug/heapdump?group=size",
        &[("accept", "text/html")],
    )
    .await
    .body;
    assert!(
        html.contains("heap profiling paused"),
        "state missing from the page"
    );

    let on = post(addr, "/_debug/profiling?active=true&format=json").await;
    assert_eq!(on.status, StatusCode::OK, "{}", on.body);
    assert_eq!(on.json()["active"], true);
    assert_eq!(
        http_get(addr, "/_debug/?format=json").await.json()["profiling"]["active"],
        true
    );

    // A browser's form POST is sent back to the overview.
    let form = send(
        addr,
        Method::POST,
        "/_debug/profiling?active=false",
        &[("accept", "text/html")],
    )
    .await;
    assert_eq!(form.status, StatusCode::SEE_OTHER);
    assert_eq!(form.header("location"), "/_debug/");
    assert_eq!(
        http_get(addr, "/_debug/?format=json").await.json()["profiling"]["active"],
        false
    );
    let paused = http_get(addr, "/_debug/heapdump?format=json").await.json();
    assert!(paused["notes"].to_string().contains("paused"), "{paused}");
}
