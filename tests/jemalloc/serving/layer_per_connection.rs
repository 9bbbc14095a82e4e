//! A plain hyper server that builds a new layer for every connection, by
//! mistake: one set of pages still sees every request, and the process
//! still has one timeline thread.

use crate::common::own_process::{NO_PROFILING, in_own_process};
use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tower::{ServiceBuilder, service_fn};

const CONNECTIONS: usize = 1_000;

/// Serves on loopback, building `DebugLayer::new()` for each connection.
async fn serve_with_a_layer_per_connection() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, remote) = listener.accept().await.unwrap();
            let service = ServiceBuilder::new()
                .map_request(move |mut request: Request<Incoming>| {
                    request.extensions_mut().insert(memscope::PeerAddr(remote));
                    request
                })
                .layer(memscope::DebugLayer::new())
                .service(service_fn(|_request: Request<Incoming>| async {
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("hello"))))
                }));
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service)),
            );
        }
    });
    addr
}

/// One request on a connection of its own, closed after it.
fn get_on_new_connection(addr: SocketAddr, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// Threads of this process named `name` (as the kernel keeps it: 15 bytes).
fn threads_named(name: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == &name[..name.len().min(15)])
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_layer_per_connection_shares_one_state_and_one_thread() {
    if in_own_process(NO_PROFILING) {
        return;
    }
    let addr = serve_with_a_layer_per_connection().await;
    let sent = tokio::task::spawn_blocking(move || {
        for _ in 0..CONNECTIONS {
            let answer = get_on_new_connection(addr, "/");
            assert!(answer.ends_with("hello"), "{answer}");
        }
    });
    sent.await.unwrap();
    assert_eq!(
        threads_named("memscope-timeline"),
        1,
        "one timeline thread for the process"
    );
    let page = tokio::task::spawn_blocking(move || {
        get_on_new_connection(addr, "/_debug/profiles?format=json&limit=1")
    })
    .await
    .unwrap();
    let body = page.split("\r\n\r\n").nth(1).unwrap();
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        json["recorded"], CONNECTIONS,
        "the pages of the last connection's layer see every connection's request"
    );
    assert_eq!(json["routes"][0]["route"], "/");
    assert_eq!(json["routes"][0]["requests"], CONNECTIONS);
}
