//! Real HTTP over loopback for the integration tests.
#![allow(dead_code)]

pub mod mounted;
pub mod own_process;
pub mod stack_chain;
pub mod webdriver;

use std::net::SocketAddr;

use axum::Router;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;

/// An answer, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// Serves `app` on an ephemeral loopback port with the peer address known:
/// from axum's `ConnectInfo` with memscope's `axum` feature, and as a
/// `memscope::PeerAddr` too, as a server without that feature would give it.
pub async fn serve(app: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = app.layer(tower::util::MapRequestLayer::new(
        |mut request: axum::extract::Request| {
            let peer = request
                .extensions()
                .get::<axum::extract::ConnectInfo<SocketAddr>>()
                .map(|info| info.0);
            if let Some(peer) = peer {
                request.extensions_mut().insert(memscope::PeerAddr(peer));
            }
            request
        },
    ));
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await });
    addr
}

/// Serves a one-route app (`GET /` → `app`) behind a default
/// [`memscope::DebugLayer`]: what most tests need.
pub async fn serve_app_with_layer() -> SocketAddr {
    serve(
        Router::new()
            .route("/", axum::routing::get(|| async { "app" }))
            .layer(memscope::DebugLayer::new()),
    )
    .await
}

/// Asserts that `path` is refused with a 400 whose body names `named`.
pub async fn assert_bad_request(addr: SocketAddr, path: &str, named: &str) {
    let answer = get(addr, path).await;
    assert_eq!(
        answer.status,
        StatusCode::BAD_REQUEST,
        "{path}: {}",
        answer.body
    );
    assert!(answer.body.contains(named), "{path}: {}", answer.body);
}

pub async fn get(addr: SocketAddr, path: &str) -> Answer {
    send(addr, Method::GET, path, &[]).await
}

pub async fn get_with(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Answer {
    send(addr, Method::GET, path, headers).await
}

pub async fn post(addr: SocketAddr, path: &str) -> Answer {
    send(addr, Method::POST, path, &[]).await
}

/// The raw bytes of an answer, for downloads.
pub async fn get_bytes(addr: SocketAddr, path: &str) -> Bytes {
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let uri = format!("http://{addr}{path}").parse().unwrap();
    let response = client.get(uri).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.into_body().collect().await.unwrap().to_bytes()
}

pub async fn send(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> Answer {
    let (status, headers, body) = exchange(addr, method, path, headers, Empty::new()).await;
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// Sends one request with `body` and reads the answer whole, its body as
/// bytes.
pub async fn exchange<B>(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: B,
) -> (StatusCode, HeaderMap, Bytes)
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let client: Client<_, B> = Client::builder(TokioExecutor::new()).build_http();
    let mut request = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = client
        .request(request.body(body).unwrap())
        .await
        .unwrap_or_else(|e| panic!("request to {path} failed: {e}"));
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (parts.status, parts.headers, body)
}

/// Serves `service` with hyper's own connection loop, as a server with no
/// router would, each request given its peer as a `memscope::PeerAddr`.
pub async fn serve_with_hyper<S, B>(service: S) -> SocketAddr
where
    S: tower::Service<Request<hyper::body::Incoming>, Response = http::Response<B>>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                return;
            };
            let service = tower::ServiceBuilder::new()
                .map_request(move |mut request: Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(memscope::PeerAddr(peer));
                    request
                })
                .service(service.clone());
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(
                        hyper_util::rt::TokioIo::new(stream),
                        hyper_util::service::TowerToHyperService::new(service),
                    )
                    .await;
            });
        }
    });
    addr
}

/// Says that a test skipped what it could not run here, on the process's
/// stderr itself: the test harness captures `eprintln!`, and a skip must
/// show in a plain `cargo test`.
pub fn skipped(test: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED {test}: {why}");
}

/// One hyper client whose connections are kept alive between requests, as
/// a load balancer's or a service client's are.
pub struct KeptAlive {
    client: Client<hyper_util::client::legacy::connect::HttpConnector, http_body_util::Full<Bytes>>,
    addr: SocketAddr,
}

impl KeptAlive {
    pub fn to(addr: SocketAddr) -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
            addr,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, Bytes::new()).await
    }

    pub async fn post(&self, path: &str, body: Bytes) -> Answer {
        self.send(Method::POST, path, body).await
    }

    async fn send(&self, method: Method, path: &str, body: Bytes) -> Answer {
        let request = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr))
            .body(http_body_util::Full::new(body))
            .unwrap();
        let response = self
            .client
            .request(request)
            .await
            .unwrap_or_else(|e| panic!("request to {path} failed: {e}"));
        let (parts, body) = response.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }
}

/// The overview's JSON once its verdict is no longer "too early", asked
/// every 100 ms for at most `within`.
pub async fn verdict_after_history(
    addr: SocketAddr,
    within: std::time::Duration,
) -> serde_json::Value {
    let started = std::time::Instant::now();
    loop {
        let overview = get(addr, "/_debug/?format=json").await;
        assert_eq!(overview.status, StatusCode::OK, "{}", overview.body);
        let overview = overview.json();
        if overview["verdict"]["kind"] != "too_early" {
            return overview;
        }
        assert!(
            started.elapsed() < within,
            "still too early after {within:?}: {overview:#}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The part named `part` of the verdict's evidence.
pub fn verdict_part<'a>(overview: &'a serde_json::Value, part: &str) -> &'a serde_json::Value {
    overview["verdict"]["evidence"]["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|trend| trend["part"] == part)
        .unwrap_or_else(|| panic!("no {part}: {overview:#}"))
}

/// Drives `GET path` over one kept-alive connection, `requests` of them
/// evenly over `during`, after the verdict's first history; returns the
/// overview's JSON half a second after the last.
pub async fn overview_after_steady_traffic(
    addr: SocketAddr,
    path: &str,
    requests: usize,
    during: std::time::Duration,
) -> serde_json::Value {
    verdict_after_history(addr, std::time::Duration::from_secs(10)).await;
    let client = KeptAlive::to(addr);
    let started = tokio::time::Instant::now();
    for sent in 0..requests {
        let answer = client.get(path).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        tokio::time::sleep_until(started + during * (sent as u32 + 1) / requests as u32).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    get(addr, "/_debug/?format=json").await.json()
}

/// A layer whose timeline and heap history run fast enough for a verdict
/// within a second: a point every 100 ms, a snapshot every 300 ms.
pub fn fast_verdict_layer() -> memscope::DebugLayer {
    memscope::DebugLayer::new()
        .timeline_interval(std::time::Duration::from_millis(100))
        .heap_history(std::time::Duration::from_millis(300), 100)
}
