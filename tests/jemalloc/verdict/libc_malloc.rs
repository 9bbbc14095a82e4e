//! The C library's malloc, in a real process: a route allocates 5 MiB
//! through `libc::malloc`, as a `-sys` crate's C code would, and keeps it;
//! 20 requests hold 100 MiB that jemalloc's figures and heap profile never
//! see. The overview names glibc's malloc with its arenas. Its fixed twin
//! frees what it allocated before it answers: quiet.

#![allow(unsafe_code)]

use std::sync::Mutex;

use axum::routing::get;

use super::{REQUESTS, overview_after};
use crate::common::own_process::{in_own_process, profiling};
use crate::common::verdict_part;

const MIB: usize = 1 << 20;
const BLOCKS_A_REQUEST: usize = 5;

/// The C blocks kept, by address.
static KEPT: Mutex<Vec<usize>> = Mutex::new(Vec::new());

/// `BLOCKS_A_REQUEST` blocks of 1 MiB from the C library's malloc, each
/// written whole (resident).
fn c_blocks() -> Vec<usize> {
    (0..BLOCKS_A_REQUEST)
        .map(|index| {
            // SAFETY: a C allocation, written within its size, freed by
            // `free_blocks` or kept for the life of the process.
            unsafe {
                let block = libc::malloc(MIB);
                assert!(!block.is_null());
                libc::memset(block, index as i32 + 1, MIB);
                block as usize
            }
        })
        .collect()
}

async fn kept_c_memory() -> &'static str {
    let blocks = c_blocks();
    KEPT.lock().unwrap().extend(blocks);
    "kept"
}

async fn freed_c_memory() -> &'static str {
    for block in c_blocks() {
        // SAFETY: allocated just above by `libc::malloc`, freed once.
        unsafe { libc::free(block as *mut libc::c_void) };
    }
    "freed"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_c_code_keeps_is_named_as_the_c_library_s_malloc() {
    if in_own_process(&profiling(19)) {
        return;
    }
    let overview = overview_after("/native", get(kept_c_memory)).await;
    let verdict = &overview["verdict"];
    assert_eq!(verdict["kind"], "outside_heap", "{overview:#}");
    assert_eq!(
        verdict["evidence"]["grown_part"], "libc_malloc",
        "{verdict:#}"
    );
    let libc = verdict_part(&overview, "libc_malloc");
    let expected = (BLOCKS_A_REQUEST * REQUESTS * MIB) as i64;
    let growth = libc["growth"].as_i64().unwrap();
    assert!(
        growth > expected * 9 / 10 && growth < expected * 11 / 10,
        "{growth} B grew for {expected} B malloc'd: {libc}"
    );
    let live = verdict_part(&overview, "live_heap");
    assert!(live["growth"].as_i64().unwrap() < 4 * MIB as i64, "{live}");
    let in_use = overview["rss_breakdown"]["libc_malloc"]["in_use"]
        .as_u64()
        .unwrap();
    assert!(in_use >= expected as u64, "{in_use}");
    // Arenas only come: the verdict's count (its window's last point's)
    // is at most the breakdown's, read after it.
    let arenas = overview["rss_breakdown"]["libc_malloc"]["arenas"]
        .as_u64()
        .unwrap();
    let summary = verdict["summary"].as_str().unwrap();
    println!("{summary}");
    assert!(
        summary.starts_with("Outside the heap: the C library's malloc (glibc)"),
        "{summary}"
    );
    let named: u64 = summary
        .split(" arena")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no arena count: {summary}"));
    assert!(
        (1..=arenas).contains(&named),
        "{named} of {arenas}: {summary}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_memory_freed_stays_quiet() {
    if in_own_process(&profiling(19)) {
        return;
    }
    let overview = overview_after("/native", get(freed_c_memory)).await;
    assert_eq!(overview["verdict"]["kind"], "steady", "{overview:#}");
    let libc = verdict_part(&overview, "libc_malloc");
    assert!(libc["growth"].as_i64().unwrap() < 4 * MIB as i64, "{libc}");
}
