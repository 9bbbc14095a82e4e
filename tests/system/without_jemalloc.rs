//! With the system allocator, every page still answers and says exactly
//! what to change.

use crate::common::own_process::in_own_process;
use crate::common::{get as http_get, post, serve_app_with_layer};
use http::StatusCode;

#[tokio::test]
async fn pages_answer_and_say_what_to_change() {
    if in_own_process("") {
        return;
    }
    let addr = serve_app_with_layer().await;
    let overview = http_get(addr, "/_debug/?format=json").await;
    assert_eq!(overview.status, StatusCode::OK);
    let json = overview.json();
    assert_eq!(json["profiling"]["jemalloc_is_global"], false);
    assert!(
        json["hint"]
            .as_str()
            .unwrap()
            .contains("#[global_allocator]"),
        "{json}"
    );
    let text = http_get(addr, "/_debug/").await.body;
    assert!(text.contains("memscope::Jemalloc"), "{text}");
    let sizes = http_get(addr, "/_debug/heapdump?group=size").await;
    assert_eq!(sizes.status, StatusCode::OK);
    let switch = post(addr, "/_debug/profiling?active=true").await;
    assert_eq!(switch.status, StatusCode::CONFLICT);
    assert!(switch.body.contains("global_allocator"), "{}", switch.body);
    assert_eq!(http_get(addr, "/").await.body, "app");
}
