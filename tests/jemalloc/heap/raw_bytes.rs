//! The layer never changes what the app answers, byte for byte on the
//! wire: the same raw requests (HEAD, HTTP/1.0, pipelining, chunked
//! uploads, `Expect: 100-continue`, a 10 MiB body, a streamed body, a
//! stream that fails midway, a request the server refuses) get the same
//! raw answers from the bare app as from it under `Router::layer`, under
//! `wrap_router`, and as a plain hyper service under `DebugLayer`. Only
//! the `date` header may differ.

use crate::common::own_process::{in_own_process, profiling};
// Mounts with `wrap_router`: memscope's `axum` feature.

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use bytes::Bytes;
use futures_util::stream;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tower::Service;

const BIG: usize = 10 * 1024 * 1024;

fn app() -> Router {
    Router::new()
        .route("/", get(|| async { "hello" }))
        .route("/big", get(|| async { vec![b'x'; BIG] }))
        .route(
            "/stream",
            get(|| async {
                let chunks =
                    (0..20).map(|i| Ok::<_, Infallible>(Bytes::from(format!("chunk {i}\n"))));
                Body::from_stream(stream::iter(chunks))
            }),
        )
        .route(
            "/broken",
            get(|| async {
                let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                    Ok(Bytes::from_static(b"half of it")),
                    Err(std::io::Error::other("the upstream went away")),
                ];
                Body::from_stream(stream::iter(chunks))
            }),
        )
        .route("/echo", post(|body: Bytes| async move { body }))
}

/// Serves `service` on loopback, each connection as hyper-util's auto
/// builder serves it (HTTP/1.1 here).
async fn serve<S>(service: S) -> SocketAddr
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let service =
        tower::ServiceExt::map_request(service, |request: http::Request<hyper::body::Incoming>| {
            request.map(Body::new)
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// Sends `raw` and reads until the server closes the connection (every
/// exchange below ends with `Connection: close`, HTTP/1.0 or an error).
fn exchange(addr: SocketAddr, raw: &[u8]) -> Vec<u8> {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream.write_all(raw).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    without_dates(&answer)
}

/// The bytes with every `date:` header line's value blanked.
fn without_dates(answer: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(answer.len());
    let mut rest = answer;
    while let Some(at) = find(rest, b"\r\ndate: ") {
        out.extend_from_slice(&rest[..at + 8]);
        rest = &rest[at + 8..];
        let end = find(rest, b"\r\n").unwrap_or(rest.len());
        out.extend_from_slice(b"<date>");
        rest = &rest[end..];
    }
    out.extend_from_slice(rest);
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn requests() -> Vec<(&'static str, Vec<u8>)> {
    let mut big_upload = b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for i in 0..64 {
        let chunk = vec![b'a' + (i % 26) as u8; 1000 + i];
        big_upload.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        big_upload.extend_from_slice(&chunk);
        big_upload.extend_from_slice(b"\r\n");
    }
    big_upload.extend_from_slice(b"0\r\n\r\n");
    vec![
        ("GET", b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".to_vec()),
        ("HEAD", b"HEAD / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".to_vec()),
        ("HTTP/1.0 without Host", b"GET / HTTP/1.0\r\n\r\n".to_vec()),
        (
            "three pipelined",
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /stream HTTP/1.1\r\nHost: a\r\n\r\nGET /nothing HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".to_vec(),
        ),
        ("chunked upload", big_upload),
        (
            "100-continue",
            b"POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello".to_vec(),
        ),
        ("10 MiB body", b"GET /big HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".to_vec()),
        ("streamed body", b"GET /stream HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".to_vec()),
        ("stream that fails", b"GET /broken HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".to_vec()),
        ("wrong method", b"DELETE / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".to_vec()),
        ("not HTTP", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03garbage\r\n\r\n".to_vec()),
        (
            "websocket upgrade asked of a plain route",
            b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade, close\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".to_vec(),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mount_answers_the_apps_bytes() {
    if in_own_process(&profiling(19)) {
        return;
    }
    let bare = serve(app()).await;
    let layered = serve(app().layer(memscope::DebugLayer::new())).await;
    let wrapped = serve(memscope::DebugLayer::new().wrap_router(app())).await;
    let plain_bare = serve(tower::service_fn(plain_hyper)).await;
    let plain_layered = serve(
        tower::ServiceBuilder::new()
            .map_response(|response: http::Response<memscope::ResponseBody<Body>>| {
                response.map(Body::new)
            })
            .layer(memscope::DebugLayer::new())
            .service_fn(plain_hyper),
    )
    .await;
    tokio::task::spawn_blocking(move || {
        for (what, raw) in requests() {
            // A stream that fails ends in a reset, which may discard what
            // the kernel had received: of it, what arrived must agree.
            let same = |answer: &[u8], expected: &[u8]| {
                if what == "stream that fails" {
                    let both = answer.len().min(expected.len());
                    answer[..both] == expected[..both]
                } else {
                    answer == expected
                }
            };
            let expected = exchange(bare, &raw);
            assert!(
                !expected.is_empty() || what == "not HTTP" || what == "stream that fails",
                "{what}: no answer"
            );
            for (mount, addr) in [("Router::layer", layered), ("wrap_router", wrapped)] {
                let answer = exchange(addr, &raw);
                assert!(
                    same(&answer, &expected),
                    "{what} under {mount}:\n{}\n--- the bare app's ---\n{}",
                    preview(&answer),
                    preview(&expected)
                );
            }
            let expected = exchange(plain_bare, &raw);
            let answer = exchange(plain_layered, &raw);
            assert!(
                same(&answer, &expected),
                "{what} as a plain hyper service:\n{}\n--- bare ---\n{}",
                preview(&answer),
                preview(&expected)
            );
        }
    })
    .await
    .unwrap();
}

/// A plain hyper service: the same answers for every path, whatever it is.
async fn plain_hyper(request: http::Request<Body>) -> Result<http::Response<Body>, Infallible> {
    let mut app = app();
    Ok(app.call(request).await.unwrap())
}

fn preview(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(600)];
    format!("{} bytes: {}", bytes.len(), String::from_utf8_lossy(shown))
}
