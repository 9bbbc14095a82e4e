//! Bad input gets a clear 4xx that names what was wrong; nothing panics.

use crate::common::own_process::{in_own_process, profiling};
use crate::common::{get as http_get, post, serve_app_with_layer};
use http::StatusCode;

#[tokio::test]
async fn bad_query_values_are_400s_that_name_the_parameter() {
    if in_own_process(&profiling(19)) {
        return;
    }
    let addr = serve_app_with_layer().await;
    let cases = [
        ("/_debug/heapdump?group=size&limit=abc", "`limit`"),
        ("/_debug/heapdump?group=size&limit=0", "`limit`"),
        (
            "/_debug/heapdump?group=size&limit=99999999999999999999999",
            "`limit`",
        ),
        ("/_debug/heapdump?group=types", "`group`"),
        ("/_debug/heapdump?group=size&format=xml", "`format`"),
        ("/_debug/?format=", "`format`"),
        ("/_debug/heapdump?group=size&limt=3", "`limt`"),
        ("/_debug/?filter=x", "`filter`"),
        ("/_debug/heapdump?group=size&limit=%FF", "`limit`"),
    ];
    for (path, named) in cases {
        crate::common::assert_bad_request(addr, path, named).await;
    }
    // JSON errors are objects too.
    let answer = http_get(addr, "/_debug/heapdump?group=size&limit=-1&format=json").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let json = answer.json();
    assert_eq!(json["status"], 400);
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .contains("whole number from 1 to")
    );
}

#[tokio::test]
async fn unknown_pages_and_wrong_methods() {
    if in_own_process(&profiling(19)) {
        return;
    }
    let addr = serve_app_with_layer().await;
    let answer = http_get(addr, "/_debug/nothing-here").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert!(
        answer.body.contains("/_debug/nothing-here"),
        "{}",
        answer.body
    );
    let answer = post(addr, "/_debug/heapdump").await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer.header("allow"), "GET, HEAD");
    let answer = http_get(addr, "/_debug/profiling?active=true").await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer.header("allow"), "POST");
    let answer = post(addr, "/_debug/profiling?active=maybe").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.body.contains("`active`"));
    let answer = post(addr, "/_debug/profiling").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_app_keeps_answering_after_bad_requests() {
    if in_own_process(&profiling(19)) {
        return;
    }
    let addr = serve_app_with_layer().await;
    for path in [
        "/_debug/heapdump?limit=%%%",
        "/_debug/%00",
        "/_debug/heapdump?group=size&limit=1e9",
    ] {
        let answer = http_get(addr, path).await;
        assert!(answer.status.is_client_error(), "{path}: {}", answer.status);
    }
    assert_eq!(http_get(addr, "/").await.body, "app");
}
