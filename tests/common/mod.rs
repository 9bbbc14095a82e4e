//! Real HTTP over loopback for the integration tests.
#![allow(dead_code)]

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
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut request = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = client
        .request(request.body(Empty::new()).unwrap())
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
