//! A binary replaced on disk while it runs, as a deploy that renames a new
//! file over the old one does: the heap pages still name the running
//! code's sites after the symbolizer has let its files go, reading the
//! running binary through `/proc/self/exe` rather than the path that now
//! names another file.
//!
//! The test runs a copy of its own binary as the service (the same test,
//! told so by an environment variable), renames another file over the copy,
//! and asks for the heap again.

use crate::common::own_process::{in_own_process, profiling};
use std::hint::black_box;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};

/// Set in the copy that plays the service.
const SUBJECT: &str = "MEMSCOPE_DEPLOY_SUBJECT";

/// This test's name as the harness knows it: the name of its thread.
fn this_test() -> String {
    std::thread::current().name().unwrap().to_owned()
}

#[inline(never)]
fn kept_by_the_running_binary(kept: &mut Vec<Vec<u8>>) {
    for _ in 0..256 {
        kept.push(black_box(vec![1u8; 16 * 1024]));
    }
}

#[test]
fn names_survive_a_binary_renamed_over_the_running_one() {
    if in_own_process(&profiling(10)) {
        return;
    }
    if std::env::var_os(SUBJECT).is_some() {
        return serve_until_stdin_closes();
    }
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("service");
    std::fs::copy(std::env::current_exe().unwrap(), &copy).unwrap();
    let mut service = Command::new(&copy)
        .args(["--exact", &this_test(), "--nocapture", "--test-threads=1"])
        .env(SUBJECT, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = BufReader::new(service.stdout.take().unwrap()).lines();
    // What the service says after `what` on a line (the harness may have
    // begun the line with the test's name).
    let mut heard = |what: &str| -> String {
        said.by_ref()
            .map_while(Result::ok)
            .find_map(|line| line.split_once(what).map(|(_, after)| after.to_owned()))
            .unwrap_or_else(|| panic!("the service never said {what:?}"))
    };
    let port: u16 = heard("PORT ").trim().parse().unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();

    let before = runtime.block_on(site_names(addr));
    assert!(
        before
            .iter()
            .any(|name| name.ends_with("kept_by_the_running_binary")),
        "{before:?}"
    );

    // The deploy: a new file renamed over the running binary's path.
    let new = dir.path().join("service.new");
    std::fs::write(&new, b"#!/bin/sh\necho the new build\n").unwrap();
    std::fs::rename(&new, &copy).unwrap();
    // The symbolizer lets its files go, as after a minute idle.
    let mut stdin = service.stdin.take().unwrap();
    writeln!(stdin, "release").unwrap();
    heard("released");

    let after = runtime.block_on(site_names(addr));
    drop(stdin);
    let _ = service.kill();
    let _ = service.wait();
    assert!(
        after
            .iter()
            .any(|name| name.ends_with("kept_by_the_running_binary")),
        "names lost after the binary was replaced: {after:?}"
    );
    assert!(
        !after.iter().any(|name| name.starts_with("0x")),
        "bare addresses after the binary was replaced: {after:?}"
    );
}

/// The names of the heap's sites that hold the kept buffers.
async fn site_names(addr: SocketAddr) -> Vec<String> {
    let heap = crate::common::get(addr, "/_debug/heapdump?format=json&filter=kept_by")
        .await
        .json();
    heap["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|row| row["name"].as_str().map(str::to_owned))
        .collect()
}

/// The service: keeps buffers at a named site, serves the pages, and gives
/// the symbolizer's caches back when told to, until its stdin closes.
fn serve_until_stdin_closes() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let addr = runtime.block_on(crate::common::serve_app_with_layer());
    let mut kept = Vec::new();
    kept_by_the_running_binary(&mut kept);
    println!("PORT {}", addr.port());
    for line in std::io::stdin().lock().lines().map_while(Result::ok) {
        if line == "release" {
            memscope::testing::release_symbol_caches();
            println!("released");
        }
    }
    drop(kept);
}
