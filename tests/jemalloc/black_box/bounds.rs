//! What the black box keeps: the newest 8 captures and at most 64 MiB, the
//! newest always; and a capture killed in the middle of its write leaves
//! the earlier ones readable and nothing half written listed.

use std::path::Path;
use std::time::Duration;

use http::StatusCode;

use super::{captures_in, id_of, runtime, spawn_role, wait_until};
use crate::common::own_process::{in_own_process, profiling};
use crate::common::stack_chain::{End, level11};
use crate::common::{get, serve};

const MIB: u64 = 1 << 20;

#[test]
fn the_newest_eight_are_kept_within_64_mib() {
    if in_own_process(&profiling(14)) {
        return;
    }
    assert_eq!(memscope::BlackBox::DEFAULT_KEEP, 8);
    assert_eq!(memscope::BlackBox::DEFAULT_MAX_BYTES, 64 * MIB);
    let dir = tempfile::tempdir().unwrap();
    // Five older captures of 15 MiB each: 75 MiB, past the bound.
    for old in 1..=5u64 {
        let path = dir.path().join(format!("{old:013}-1.capture"));
        std::fs::File::create(&path)
            .unwrap()
            .set_len(15 * MIB)
            .unwrap();
    }
    let black_box = memscope::BlackBox::new(dir.path());
    let first = black_box.capture("bounds").unwrap();
    assert!(first.bytes > 0 && first.heap_stacks > 0, "{first:?}");
    let kept = captures_in(dir.path());
    let bytes: u64 = kept.iter().map(|path| path.metadata().unwrap().len()).sum();
    assert!(bytes <= 64 * MIB, "{bytes} bytes kept");
    assert_eq!(
        kept.len(),
        5,
        "the newest and the four older that fit: {kept:?}"
    );
    assert_eq!(id_of(kept.last().unwrap()), first.id);
    for _ in 0..9 {
        black_box.capture("bounds").unwrap();
    }
    let kept = captures_in(dir.path());
    assert_eq!(kept.len(), 8, "{kept:?}");
    assert!(
        kept.iter().all(|path| !id_of(path).ends_with("-1")),
        "the older ones go first: {kept:?}"
    );
    runtime().block_on(async {
        let layer = memscope::DebugLayer::new().black_box(black_box.clone());
        let addr = serve(axum::Router::new().layer(layer)).await;
        let metrics = get(addr, "/_debug/metrics").await.body;
        assert!(
            metrics.contains("memscope_black_box_captures_total{reason=\"hook\"} 10"),
            "{metrics}"
        );
        assert!(metrics.contains("memscope_black_box_last_capture_timestamp_seconds "));
        assert!(
            metrics.contains("memscope_black_box_write_failures_total 0"),
            "{metrics}"
        );
        let list = get(addr, "/_debug/memory/postmortem?format=json")
            .await
            .json();
        assert_eq!(list["captures"].as_array().unwrap().len(), 8, "{list}");
        assert!(
            list["captures"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["this_process"] == true)
        );
        assert_eq!(list["captures"][0]["reason"], "hook");
        assert_eq!(list["captures"][0]["detail"], "bounds");
        // A capture taken by hand, over HTTP: POST, as the other actions.
        let taken =
            crate::common::post(addr, "/_debug/memory/postmortem/capture?format=json").await;
        assert_eq!(taken.status, StatusCode::OK, "{}", taken.body);
        let taken = taken.json();
        assert!(taken["bytes"].as_u64().unwrap() > 0, "{taken}");
        let newest = id_of(captures_in(dir.path()).last().unwrap());
        assert_eq!(taken["id"], newest.as_str());
        let refused = get(addr, "/_debug/memory/postmortem/capture").await;
        assert_eq!(refused.status, StatusCode::METHOD_NOT_ALLOWED);
    });
}

/// Set in the process that takes captures until it is killed.
const CAPTURER: &str = "MEMSCOPE_TEST_BLACK_BOX_CAPTURER";

#[test]
fn a_capture_killed_mid_write_leaves_the_earlier_ones_whole() {
    if in_own_process(&profiling(12)) {
        return;
    }
    if let Ok(dir) = std::env::var(CAPTURER) {
        // A heap of a few thousand sampled stacks: each capture takes a
        // while to write.
        let mut kept = Vec::new();
        level11::<End>(&mut kept, 4096);
        let black_box = memscope::BlackBox::new(dir).keep(1000);
        loop {
            black_box.capture("again").unwrap();
            std::hint::black_box(&kept);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let mut capturer = spawn_role(CAPTURER, dir.path(), &profiling(12));
    wait_until(Duration::from_secs(60), "two whole captures", || {
        captures_in(dir.path()).len() >= 2
    });
    // Killed as soon as the next capture is being written.
    let started = std::time::Instant::now();
    while partials(dir.path()) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no capture being written"
        );
        std::thread::sleep(Duration::from_micros(200));
    }
    capturer.kill().unwrap();
    capturer.wait().unwrap();
    assert!(partials(dir.path()) > 0, "the kill came after the write");
    let whole = captures_in(dir.path()).len();
    runtime().block_on(async {
        let layer = memscope::DebugLayer::new().black_box(memscope::BlackBox::new(dir.path()));
        let addr = serve(axum::Router::new().layer(layer)).await;
        let list = get(addr, "/_debug/memory/postmortem?format=json")
            .await
            .json();
        let captures = list["captures"].as_array().unwrap();
        assert_eq!(captures.len(), whole, "{list}");
        assert!(list["unreadable"].as_array().unwrap().is_empty(), "{list}");
        for capture in captures {
            let id = capture["id"].as_str().unwrap();
            let page = get(addr, &format!("/_debug/memory/postmortem/{id}?format=json")).await;
            assert_eq!(page.status, StatusCode::OK, "{id}: {}", page.body);
        }
    });
}

/// Captures being written in `dir`: hidden `.…partial` files.
fn partials(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok())
                .filter(|entry| entry.file_name().to_string_lossy().ends_with(".partial"))
                .count()
        })
        .unwrap_or(0)
}
