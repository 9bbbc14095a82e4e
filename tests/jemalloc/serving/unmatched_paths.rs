//! Requests for paths no route matches, each unique and long, cost the
//! route table a bounded number of bounded names, and no thread keeps a
//! copy of those past the bound.

use crate::common::own_process::{NO_PROFILING, in_own_process};
use std::io::{Read, Write};
use std::net::SocketAddr;

use crate::common::{get as http_get, serve_app_with_layer};

const REQUESTS: usize = 5_000;
const PATH_BYTES: usize = 60 * 1024;

/// `count` GETs of unique long paths over one kept-alive connection; each
/// answer is the app's 404.
fn send_unique_long_paths(addr: SocketAddr, count: usize) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    let filler = "a".repeat(PATH_BYTES);
    let mut buffer = vec![0u8; 64 * 1024];
    for index in 0..count {
        write!(
            stream,
            "GET /unique/{index}-{filler} HTTP/1.1\r\nHost: {addr}\r\n\r\n"
        )
        .unwrap();
        let mut received = Vec::new();
        // An empty 404: the head ends the answer.
        while !received.ends_with(b"\r\n\r\n") {
            let read = stream.read(&mut buffer).unwrap();
            assert!(read > 0, "the server closed the connection");
            received.extend_from_slice(&buffer[..read]);
        }
        assert!(
            received.starts_with(b"HTTP/1.1 404"),
            "{}",
            String::from_utf8_lossy(&received)
        );
    }
}

async fn allocated(addr: SocketAddr) -> f64 {
    http_get(addr, "/_debug/?format=json").await.json()["allocated"]
        .as_f64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_long_paths_add_under_a_mebibyte() {
    if in_own_process(NO_PROFILING) {
        return;
    }
    let addr = serve_app_with_layer().await;
    // Warms the connection handling and the pages' own allocations.
    tokio::task::spawn_blocking(move || send_unique_long_paths(addr, 20))
        .await
        .unwrap();
    let before = allocated(addr).await;
    tokio::task::spawn_blocking(move || send_unique_long_paths(addr, REQUESTS))
        .await
        .unwrap();
    let after = allocated(addr).await;
    let grew = after - before;
    println!(
        "{REQUESTS} unique {PATH_BYTES}-byte paths: allocated {:+.0} KiB",
        grew / 1024.0
    );
    assert!(
        grew < 1024.0 * 1024.0,
        "allocated grew {:.1} MiB",
        grew / 1024.0 / 1024.0
    );

    let profiles = http_get(addr, "/_debug/profiles?format=json&limit=10000").await;
    assert!(
        profiles.body.len() < 2 * 1024 * 1024,
        "{} bytes of JSON",
        profiles.body.len()
    );
    let json = profiles.json();
    let routes = json["routes"].as_array().unwrap();
    assert!(routes.len() <= 1_001, "{} routes", routes.len());
    assert!(
        routes
            .iter()
            .all(|route| route["route"].as_str().unwrap().len() <= 256)
    );
    assert!(
        routes
            .iter()
            .any(|route| route["route"] == "(other routes)"),
        "the routes past the bound share one row"
    );
}
