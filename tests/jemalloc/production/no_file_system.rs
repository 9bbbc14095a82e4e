//! The heap pages where no file can be written: `TMPDIR` unset, naming a
//! directory that does not exist, on a read-only mount, on a full one. The
//! dump goes to memory, and nothing is written to the directory.

use crate::common::mounted::Mounted;
use crate::common::own_process::{in_own_process, profiling};
use std::path::{Path, PathBuf};

use http::StatusCode;

/// Files in `dir`, none where it does not exist.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

/// Every heap page answers with `TMPDIR` as it is now.
fn heap_pages_answer(case: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let addr = crate::common::serve_app_with_layer().await;
        let _kept: Vec<Vec<u8>> = (0..64).map(|_| vec![7u8; 64 * 1024]).collect();
        for path in [
            "/_debug/heapdump?format=json",
            "/_debug/heapdump?format=text&group=function",
            "/_debug/heapdump/flamegraph.svg",
            "/_debug/memory/diff?seconds=1&format=json",
            "/_debug/pprof/heap",
        ] {
            let answer = crate::common::get(addr, path).await;
            assert_eq!(
                answer.status,
                StatusCode::OK,
                "{case}: {path}: {}",
                answer.body
            );
        }
        let heap = crate::common::get(addr, "/_debug/heapdump?format=json")
            .await
            .json();
        assert!(
            !heap["rows"].as_array().unwrap().is_empty(),
            "{case}: no rows: {heap}"
        );
    });
}

fn set_tmpdir(value: Option<&Path>) {
    // SAFETY: set before each case's runtime starts, while this test (the
    // only one in its binary) has no other thread reading the environment.
    unsafe {
        match value {
            Some(dir) => std::env::set_var("TMPDIR", dir),
            None => std::env::remove_var("TMPDIR"),
        }
    }
}

#[test]
fn heap_pages_need_no_writable_file_system() {
    if in_own_process(&profiling(12)) {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();

    set_tmpdir(None);
    heap_pages_answer("TMPDIR unset");

    let missing = scratch.path().join("not-there");
    set_tmpdir(Some(&missing));
    heap_pages_answer("TMPDIR missing");
    assert!(!missing.exists(), "something made the missing TMPDIR");

    let read_only = scratch.path().join("read-only");
    match Mounted::tmpfs(&read_only, "ro,size=1m") {
        Ok(_mounted) => {
            set_tmpdir(Some(&read_only));
            heap_pages_answer("TMPDIR read-only");
        }
        Err(why) => crate::common::skipped("the read-only TMPDIR case", &why),
    }

    let full = scratch.path().join("full");
    match Mounted::tmpfs(&full, "size=64k") {
        Ok(_mounted) => {
            // Fill it: the write fails once the 64 KiB are taken.
            let filler = full.join("filler");
            let _ = std::fs::write(&filler, vec![0u8; 1024 * 1024]);
            let before = files_in(&full);
            set_tmpdir(Some(&full));
            heap_pages_answer("TMPDIR full");
            assert_eq!(files_in(&full), before, "the dump wrote to TMPDIR");
        }
        Err(why) => crate::common::skipped("the full TMPDIR case", &why),
    }
    set_tmpdir(None);
}
