//! A CPU capture of a process that does nothing: it may have no samples,
//! and its flamegraph must still be an image.

use crate::common::own_process::in_own_process;
use crate::common::{get as http_get, post, serve_app_with_layer};
use http::StatusCode;

#[tokio::test]
async fn an_idle_capture_still_has_a_flamegraph() {
    if in_own_process("") {
        return;
    }
    let addr = serve_app_with_layer().await;
    let capture = post(addr, "/_debug/profiles/cpu?seconds=1&format=json").await;
    assert_eq!(capture.status, StatusCode::OK, "{}", capture.body);
    let capture = capture.json();
    let svg = http_get(addr, capture["flamegraph"].as_str().unwrap()).await;
    assert_eq!(svg.status, StatusCode::OK);
    assert_eq!(svg.header("content-type"), "image/svg+xml");
    assert!(
        svg.body.contains("<svg") && svg.body.contains("</svg>"),
        "{svg:?}"
    );
    if capture["samples"] == 0 {
        assert!(svg.body.contains("No samples"), "{}", svg.body);
    }
}
