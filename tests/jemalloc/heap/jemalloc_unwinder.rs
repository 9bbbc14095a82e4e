//! `keep_jemalloc_unwinder` leaves jemalloc's own unwinder in place, and
//! heap profiles still find their sites. A process of its own: the walker,
//! once installed, is the process's.

use crate::common::own_process::{in_own_process, profiling};
use crate::common::{get as http_get, serve};
use axum::Router;
use axum::routing::get;

#[inline(never)]
fn retain_thirty_two_mebibytes() -> Vec<Vec<u8>> {
    (0..4096).map(|i| vec![i as u8; 8 * 1024]).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jemalloc_keeps_its_unwinder_when_asked() {
    if in_own_process(&profiling(16)) {
        return;
    }
    let app = Router::new()
        .route("/", get(|| async { "app" }))
        .layer(memscope::DebugLayer::new().keep_jemalloc_unwinder());
    let addr = serve(app).await;
    let overview = http_get(addr, "/_debug/?format=json").await.json();
    let expected = if cfg!(feature = "libunwind") {
        "libunwind"
    } else {
        "libgcc"
    };
    assert_eq!(overview["profiling"]["unwinder"], expected, "{overview:#}");

    let held = retain_thirty_two_mebibytes();
    let dump = http_get(addr, "/_debug/heapdump?format=json&limit=1")
        .await
        .json();
    assert!(
        dump["rows"][0]["name"]
            .as_str()
            .unwrap()
            .contains("retain_thirty_two_mebibytes"),
        "{dump:#}"
    );
    drop(held);
}
