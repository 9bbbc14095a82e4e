//! Sites named in full as a release build with line tables names them:
//! this test's own code is built so (`[profile.test]`), inlining included.
//! A buffer kept by an async handler and one kept by a generic function
//! are named with their crate and module, in JSON and in text; the text
//! table gives their file:line.

#[global_allocator]
static ALLOC: memscope::Jemalloc = memscope::Jemalloc;
memscope::heap_profiling!(lg_sample = 14);

mod common;

use std::sync::Mutex;

use axum::Router;
use axum::routing::get;
use common::{get as http_get, serve};

/// What the handlers keep, for the length of the test.
static KEPT: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

pub mod handlers {
    /// An async handler that keeps a buffer for every request.
    pub async fn upload() -> &'static str {
        let buffer = vec![7u8; 4 * 1024];
        tokio::task::yield_now().await;
        super::KEPT.lock().unwrap().push(buffer);
        "kept"
    }
}

pub mod store {
    /// A generic function that keeps what it is given, as bytes.
    pub fn keep<T: AsRef<[u8]>>(value: T) {
        super::KEPT.lock().unwrap().push(value.as_ref().to_vec());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_handlers_and_generic_functions_are_named_in_full() {
    let app = Router::new()
        .route("/upload", get(handlers::upload))
        .layer(memscope::DebugLayer::new());
    let addr = serve(app).await;
    for _ in 0..300 {
        assert_eq!(http_get(addr, "/upload").await.body, "kept");
    }
    for index in 0..300u32 {
        store::keep(std::hint::black_box([index as u8; 4096]));
    }

    let json = http_get(addr, "/_debug/heapdump?format=json&limit=50")
        .await
        .json();
    let rows = json["rows"].as_array().unwrap();
    let names: Vec<&str> = rows
        .iter()
        .map(|row| row["name"].as_str().unwrap())
        .collect();
    let find = |wanted: &str| {
        rows.iter()
            .find(|row| row["name"].as_str().unwrap().starts_with(wanted))
            .unwrap_or_else(|| panic!("no row named {wanted}: {names:#?}"))
    };
    let upload = find("release_names::handlers::upload");
    let keep = find("release_names::store::keep");
    for row in [upload, keep] {
        assert!(
            row["location"]
                .as_str()
                .unwrap()
                .contains("release_names.rs:"),
            "{row}"
        );
        assert!(row["bytes"].as_u64().unwrap() > 600 * 1024, "{row}");
        // The frames keep the full names, generic arguments and all.
        assert!(
            row["frames"]
                .as_array()
                .unwrap()
                .iter()
                .all(|frame| !frame["function"].as_str().unwrap().is_empty()),
            "{row}"
        );
    }
    assert!(
        names
            .iter()
            .all(|name| !name.starts_with('{') && !name.contains(" via {")),
        "an anonymous site: {names:#?}"
    );

    let text = http_get(addr, "/_debug/heapdump?limit=50").await.body;
    for wanted in [
        "release_names::handlers::upload",
        "release_names::store::keep",
    ] {
        let line = text
            .lines()
            .find(|line| line.starts_with(wanted))
            .unwrap_or_else(|| panic!("no {wanted} line:\n{text}"));
        assert!(line.contains("release_names.rs:"), "{line}");
    }
    KEPT.lock().unwrap().clear();
}
