//! The tests on memscope's sampling allocator, shared by the binaries that
//! wrap the system allocator (`sampled_system`) and mimalloc
//! (`sampled_mimalloc`) at one sample per 16 KiB. Each test runs in a
//! process of its own (`common::own_process`).

use std::sync::Mutex;

use axum::routing::get;

use crate::common::own_process::in_own_process;

/// What the tests share with the other allocators' binaries.
#[path = "../scenarios"]
mod scenarios {
    #[cfg(feature = "axum")]
    #[path = "black_box_capture.rs"]
    pub(crate) mod black_box_capture;
    #[cfg(feature = "axum")]
    #[path = "demo_leak.rs"]
    pub(crate) mod demo_leak;
    #[cfg(feature = "axum")]
    #[path = "demo_leak_check.rs"]
    pub(crate) mod demo_leak_check;
    #[path = "heap_growth.rs"]
    pub(crate) mod heap_growth;
    #[path = "release_names.rs"]
    pub(crate) mod release_names;
    #[path = "sampled_estimates.rs"]
    pub(crate) mod sampled_estimates;
    #[path = "sampled_pages.rs"]
    pub(crate) mod sampled_pages;
}

/// The sampling allocator needs no configuration at start-up.
const NO_CONF: &str = "";

#[cfg(feature = "axum")]
#[tokio::test]
async fn the_leak_fails_the_check_and_the_fix_passes_it() {
    if in_own_process(NO_CONF) {
        return;
    }
    scenarios::demo_leak_check::the_leak_fails_the_check_and_the_fix_passes_it().await;
}

#[cfg(feature = "axum")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leak_is_found_and_the_fix_holds() {
    if in_own_process(NO_CONF) {
        return;
    }
    scenarios::demo_leak::leak_is_found_and_the_fix_holds().await;
}

#[cfg(feature = "axum")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capture_names_the_leak_and_its_route_when_read_back() {
    if in_own_process(NO_CONF) {
        return;
    }
    scenarios::black_box_capture::a_capture_names_the_leak_and_its_route_when_read_back().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn growth_names_the_leak_and_its_route_without_a_baseline() {
    if in_own_process(NO_CONF) {
        return;
    }
    scenarios::heap_growth::growth_names_the_leak_and_its_route_without_a_baseline().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_site_is_estimated_within_its_stated_error() {
    if in_own_process(NO_CONF) {
        return;
    }
    scenarios::sampled_estimates::each_site_is_estimated_within_its_stated_error().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_heap_page_reads_the_wrapper_s_samples() {
    if in_own_process(NO_CONF) {
        return;
    }
    scenarios::sampled_pages::every_heap_page_reads_the_wrapper_s_samples().await;
}

/// What the handlers below keep, for the length of the test.
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
    if in_own_process(NO_CONF) {
        return;
    }
    scenarios::release_names::async_handlers_and_generic_functions_are_named_in_full(
        get(handlers::upload),
        store::keep,
        (module_path!(), "mod.rs:"),
        &KEPT,
    )
    .await;
}
