//! tests/scenarios/release_names.rs on jemalloc's heap profiling, with the
//! handlers it names written here, in this module and file.

use crate::common::own_process::{in_own_process, profiling};
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
    if in_own_process(&profiling(14)) {
        return;
    }
    crate::scenarios::release_names::async_handlers_and_generic_functions_are_named_in_full(
        get(handlers::upload),
        store::keep,
        (module_path!(), "release_names.rs:"),
        &KEPT,
    )
    .await;
}
