//! tests/scenarios/release_names.rs on memscope's sampling allocator over mimalloc, with the handlers it
//! names written here, in this binary's crate and file.

#[global_allocator]
static ALLOC: memscope::Sampled<mimalloc::MiMalloc> =
    memscope::Sampled::with_lg_sample(mimalloc::MiMalloc, 14);

mod common;
#[path = "scenarios/release_names.rs"]
mod scenario;

use std::sync::Mutex;

use axum::routing::get;

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
    scenario::async_handlers_and_generic_functions_are_named_in_full(
        get(handlers::upload),
        store::keep,
        "release_names_mimalloc.rs:",
    )
    .await;
}
