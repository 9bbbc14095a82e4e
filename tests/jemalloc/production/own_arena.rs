//! What memscope's heap pages allocate behind the page (the dump, its
//! parse, the resolved stacks) goes back to the system when they end: that
//! work runs on memscope's own threads in an arena of memscope's own,
//! purged then. The app's arenas are left alone: no app thread is moved,
//! so none of the app's freed pages is purged under it.

use crate::common::own_process::{in_own_process, profiling};
use std::hint::black_box;

use crate::common::stack_chain::{End, level9};
use crate::common::{get, serve};
use axum::Router;

/// jemalloc's dirty pages in arena `arena`, in bytes: freed memory it
/// keeps; 4096 is every arena merged (MALLCTL_ARENAS_ALL).
fn dirty_bytes(arena: u32) -> u64 {
    tikv_jemalloc_ctl::epoch::advance().unwrap();
    let name = format!("stats.arenas.{arena}.pdirty\0");
    // SAFETY: `stats.arenas.<i>.pdirty` is a `size_t`.
    let pages = unsafe { tikv_jemalloc_ctl::raw::read::<usize>(name.as_bytes()) }.unwrap();
    pages as u64 * 4096
}

/// memscope's arena: the last one made, after the automatic ones.
fn memscope_arena() -> u32 {
    tikv_jemalloc_ctl::arenas::narenas::read().unwrap() - 1
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
async fn heap_pages_give_their_work_back_and_leave_the_app_s_arenas_alone() {
    if in_own_process(&profiling(12)) {
        return;
    }
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
    let own = memscope_arena();
    let mut own_dirty = Vec::new();
    for path in [
        "/_debug/heapdump?format=json&limit=5",
        "/_debug/heapdump?group=stack&format=json&limit=5",
        "/_debug/pprof/heap",
    ] {
        assert_eq!(get(addr, path).await.status, 200, "{path}");
        own_dirty.push(dirty_bytes(own));
    }
    // A request of the app's own, after memscope's work: its arena keeps
    // what it frees, as jemalloc's decay says.
    let app_before = dirty_bytes(4096);
    let kept_by_app: Vec<Vec<u8>> = (0..2_000).map(|index| vec![index as u8; 4096]).collect();
    drop(black_box(kept_by_app));
    let app_after = dirty_bytes(4096);
    println!(
        "{stacks} stacks; memscope's arena {own}: dirty after each page {own_dirty:?} B; \
         all arenas {app_before} B before the app freed 8 MB, {app_after} B after"
    );
    assert!(stacks > 500, "{stacks} stacks: too few to test");
    assert!(
        own_dirty.iter().all(|&dirty| dirty < 256 * 1024),
        "memscope's arena kept {own_dirty:?} bytes of dirty pages"
    );
    assert!(
        app_after > app_before + 4_000_000,
        "the app's freed pages were purged under it: {app_before} then {app_after}"
    );
    black_box(kept);
}
