//! Instructions per request under callgrind: a count that repeats from
//! run to run whatever else the machine is doing, for user space only.

use std::io::{Read, Write};
use std::process::Command;

use crate::process::Server;
use crate::server::{VARIANTS, Variant};

/// Sends `count` GETs of `/` over one kept-alive connection.
fn send_requests(addr: &str, count: usize) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    // One write per request, sent at once: several small writes would wait
    // on Nagle's algorithm and the server's delayed ACKs, 40 ms each.
    stream.set_nodelay(true).unwrap();
    let request = format!("GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let mut buffer = vec![0u8; 4096];
    for _ in 0..count {
        stream.write_all(request.as_bytes()).unwrap();
        let mut received = Vec::new();
        // "Hello, World!" ends every answer that has a `content-length`;
        // a chunked one ends with an empty chunk.
        while !received.ends_with(b"Hello, World!") && !received.ends_with(b"\r\n0\r\n\r\n") {
            let read = stream.read(&mut buffer).unwrap();
            assert!(read > 0, "the server closed the connection");
            received.extend_from_slice(&buffer[..read]);
        }
    }
}

/// Instructions the server executes for `requests` requests, start-up and
/// shut-down included, less the clock's calibration (see
/// `instructions_in_calibration`).
fn instructions(variant: &Variant, requests: usize) -> u64 {
    let out_file = tempfile::NamedTempFile::new().unwrap();
    let out_arg = format!("--callgrind-out-file={}", out_file.path().display());
    let server = Server::start(variant, &["valgrind", "--tool=callgrind", &out_arg]);
    send_requests(&server.addr, requests);
    let stderr = server.exit();
    let collected: u64 = stderr
        .lines()
        .find_map(|line| line.split("Collected : ").nth(1))
        .and_then(|count| count.trim().parse().ok())
        .unwrap_or_else(|| panic!("no instruction count from callgrind:\n{stderr}"));
    collected - instructions_in_calibration(out_file.path())
}

/// Instructions spent in `quanta::Clock::new`, which the layer's first
/// request log calls once. It calibrates the time-stamp counter for a
/// stretch of *time*, so under valgrind its instruction count varies from
/// run to run and would not cancel out between a short and a long run.
fn instructions_in_calibration(callgrind_out: &std::path::Path) -> u64 {
    let output = Command::new("callgrind_annotate")
        .args(["--inclusive=yes", "--threshold=100"])
        .arg(callgrind_out)
        .output()
        .expect("callgrind_annotate comes with valgrind");
    // "  7,867,880 ( 3.89%)  …/quanta-0.12.6/src/lib.rs:quanta::Clock::new [/…/throughput-…]"
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find(|line| line.contains(":quanta::Clock::new ["))
        .and_then(|line| line.split_whitespace().next())
        .and_then(|count| count.replace(',', "").parse().ok())
        .unwrap_or(0)
}

/// Instructions per request: the difference between two runs of different
/// lengths, so that start-up and shut-down cancel out.
pub fn report() {
    const FEW: usize = 2_000;
    const MANY: usize = 12_000;
    println!("instructions per request under callgrind ({MANY} − {FEW} requests, one connection):");
    let mut bare = 0.0;
    for variant in &VARIANTS {
        let per_request =
            (instructions(variant, MANY) - instructions(variant, FEW)) as f64 / (MANY - FEW) as f64;
        if variant.wrapping == "bare" && variant.malloc_conf.is_none() {
            bare = per_request;
        }
        println!(
            "{:<48} {per_request:>10.0} instructions/request  ratio (bare/it) {:.3}",
            variant.name,
            bare / per_request
        );
    }
}
