//! What memscope's heap pages allocate for a moment goes back to the
//! system when they end, rather than staying as jemalloc's dirty pages in
//! the app's arenas: the pages work in an arena of memscope's own that
//! keeps nothing.

#[global_allocator]
static ALLOC: memscope::Jemalloc = memscope::Jemalloc;
memscope::heap_profiling!(lg_sample = 12);

mod common;

use std::hint::black_box;

use axum::Router;
use common::stack_chain::{End, level9};
use common::{get, serve};

/// jemalloc's dirty pages in all arenas, in bytes: freed memory it keeps.
fn dirty_bytes() -> u64 {
    tikv_jemalloc_ctl::epoch::advance().unwrap();
    // SAFETY: `stats.arenas.<i>.pdirty` is a `size_t`; 4096 is every arena
    // merged (MALLCTL_ARENAS_ALL).
    let pages =
        unsafe { tikv_jemalloc_ctl::raw::read::<usize>(b"stats.arenas.4096.pdirty\0") }.unwrap();
    pages as u64 * 4096
}

fn purge_all() {
    let name = b"arena.4096.purge\0";
    // SAFETY: `arena.<i>.purge` takes and gives nothing: null pointers.
    let failed = unsafe {
        tikv_jemalloc_sys::mallctl(
            name.as_ptr().cast(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    };
    assert_eq!(failed, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heap_pages_leave_no_dirty_pages_behind() {
    // 512 chains of calls, so that a page's work is megabytes (in the
    // app's arenas, the three pages below left 10 MiB of dirty pages).
    let mut kept = Vec::new();
    for _ in 0..8 {
        level9::<End>(&mut kept, 4096);
    }
    let addr = serve(Router::new().layer(memscope::DebugLayer::new().without_heap_history())).await;
    // The first page loads the symbolizer, which stays.
    let first = get(addr, "/_debug/heapdump?format=json&limit=5")
        .await
        .json();
    let stacks = first["stacks"].as_u64().unwrap();
    purge_all();
    let before = dirty_bytes();
    let mut allocated = 0;
    for path in [
        "/_debug/heapdump?format=json&limit=5",
        "/_debug/heapdump?group=stack&format=json&limit=5",
        "/_debug/pprof/heap",
    ] {
        let thread = tikv_jemalloc_ctl::thread::allocatedp::read().unwrap();
        let started = thread.get();
        assert_eq!(get(addr, path).await.status, 200, "{path}");
        allocated += thread.get() - started;
        println!(
            "after {path}: {:.2} MiB dirty",
            dirty_bytes() as f64 / 1048576.0
        );
    }
    let after = dirty_bytes();
    println!(
        "{stacks} stacks; dirty pages {:.2} MiB before the pages, {:.2} MiB after",
        before as f64 / 1048576.0,
        after as f64 / 1048576.0
    );
    assert!(stacks > 500, "{stacks} stacks: too few to test");
    // The app's arenas get the requests' own few KiB back; what the pages'
    // work freed (MiBs) is gone.
    assert!(
        after < before + (1 << 20),
        "{:.2} MiB dirty after the pages, {:.2} MiB before ({allocated} allocated on the test's thread)",
        after as f64 / 1048576.0,
        before as f64 / 1048576.0
    );
    black_box(kept);
}
