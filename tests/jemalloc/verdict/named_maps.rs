//! Named anonymous maps, in a real process: a route maps 4 MiB, names it
//! `app-arena` with `PR_SET_VMA_ANON_NAME` (as a runtime or a pool does
//! with its own memory) and writes it; 20 requests keep 80 MiB. The
//! overview lists the map by name and the verdict names the part. Its
//! fixed twin unmaps what it mapped. Linux names maps only where the
//! kernel was built with `CONFIG_ANON_VMA_NAME`: elsewhere the tests say
//! so and stop.

#![allow(unsafe_code)]

use axum::routing::get;

use super::{REQUESTS, overview_after};
use crate::common::own_process::{in_own_process, profiling};
use crate::common::{skipped, verdict_part};

const MIB: usize = 1 << 20;
const MAP: usize = 4 * MIB;
const PR_SET_VMA: libc::c_int = 0x5356_4d41;
const PR_SET_VMA_ANON_NAME: libc::c_ulong = 0;

/// A map of `MAP` bytes named `app-arena` and written whole; `None` where
/// the kernel does not name maps.
fn named_map() -> Option<usize> {
    // SAFETY: a fresh private anonymous mapping, named, written within its
    // length, and unmapped by `unmap` or kept for the life of the process.
    unsafe {
        let map = libc::mmap(
            std::ptr::null_mut(),
            MAP,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(map, libc::MAP_FAILED);
        let named = libc::prctl(
            PR_SET_VMA,
            PR_SET_VMA_ANON_NAME,
            map as libc::c_ulong,
            MAP as libc::c_ulong,
            c"app-arena".as_ptr(),
        );
        if named != 0 {
            libc::munmap(map, MAP);
            return None;
        }
        libc::memset(map, 1, MAP);
        Some(map as usize)
    }
}

fn unmap(map: usize) {
    // SAFETY: a mapping `named_map` made, unmapped once.
    unsafe { libc::munmap(map as *mut libc::c_void, MAP) };
}

async fn kept_map() -> &'static str {
    named_map().map_or("unnamed", |_| "kept")
}

async fn unmapped_map() -> &'static str {
    named_map().map_or("unnamed", |map| {
        unmap(map);
        "unmapped"
    })
}

/// Whether this kernel names anonymous maps; says so where it does not.
fn kernel_names_maps(test: &str) -> bool {
    match named_map() {
        Some(map) => {
            unmap(map);
            true
        }
        None => {
            skipped(
                test,
                "this kernel does not name anonymous maps (PR_SET_VMA_ANON_NAME needs CONFIG_ANON_VMA_NAME)",
            );
            false
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_map_that_grows_is_named() {
    if in_own_process(&profiling(19)) || !kernel_names_maps("a_named_map_that_grows_is_named") {
        return;
    }
    let overview = overview_after("/map", get(kept_map)).await;
    let verdict = &overview["verdict"];
    assert_eq!(verdict["kind"], "outside_heap", "{overview:#}");
    assert_eq!(
        verdict["evidence"]["grown_part"], "named_maps",
        "{verdict:#}"
    );
    let expected = (REQUESTS * MAP) as u64;
    let listed = overview["rss_breakdown"]["named_maps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|map| map["name"] == "app-arena")
        .unwrap_or_else(|| panic!("app-arena not listed: {overview:#}"));
    assert_eq!(listed["bytes"].as_u64().unwrap(), expected, "{listed}");
    let part = verdict_part(&overview, "named_maps");
    assert!(
        part["growth"].as_i64().unwrap() >= expected as i64 * 9 / 10,
        "{part}"
    );
    let summary = verdict["summary"].as_str().unwrap();
    println!("{summary}");
    assert!(summary.contains("named maps"), "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_map_unmapped_stays_quiet() {
    if in_own_process(&profiling(19)) || !kernel_names_maps("a_named_map_unmapped_stays_quiet") {
        return;
    }
    let overview = overview_after("/map", get(unmapped_map)).await;
    assert_eq!(overview["verdict"]["kind"], "steady", "{overview:#}");
    let part = verdict_part(&overview, "named_maps");
    assert!(
        part["growth"].as_i64().unwrap() < (4 * MIB) as i64,
        "{part}"
    );
}
