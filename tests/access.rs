//! Secure by default: loopback peers only, until a policy says otherwise.
//! The app's own routes are never touched by the policy.

#[global_allocator]
static ALLOC: memscope::Jemalloc = memscope::Jemalloc;

mod common;

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::get;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use memscope::{AccessPolicy, DebugLayer, peer_addr};
use tower::ServiceExt;

fn app(layer: DebugLayer) -> Router {
    Router::new()
        .route("/", get(|| async { "app" }))
        .layer(layer)
}

/// Sends one request straight into the router, as if from `peer`.
async fn from_peer(
    app: &Router,
    peer: Option<&str>,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, String) {
    let mut request = Request::get(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut request = request.body(Body::empty()).unwrap();
    if let Some(peer) = peer {
        let addr: SocketAddr = peer.parse().unwrap();
        request.extensions_mut().insert(ConnectInfo(addr));
    }
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn default_lets_loopback_in_and_refuses_the_rest() {
    let app = app(DebugLayer::new());
    assert_eq!(
        from_peer(&app, Some("127.0.0.1:40000"), "/_debug/", &[])
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        from_peer(&app, Some("[::1]:40000"), "/_debug/", &[])
            .await
            .0,
        StatusCode::OK
    );

    let (status, body) = from_peer(&app, Some("10.1.2.3:40000"), "/_debug/", &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body.contains("10.1.2.3") && body.contains("AccessPolicy"),
        "{body}"
    );

    let (status, body) = from_peer(&app, None, "/_debug/heapdump?group=size", &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body.contains("into_make_service_with_connect_info"),
        "{body}"
    );
    assert!(body.contains("PeerAddr"), "{body}");

    // The app answers everyone.
    assert_eq!(
        from_peer(&app, Some("10.1.2.3:40000"), "/", &[]).await,
        (StatusCode::OK, "app".into())
    );
    assert_eq!(from_peer(&app, None, "/", &[]).await.0, StatusCode::OK);
}

#[tokio::test]
async fn refusal_comes_in_the_requested_format() {
    let app = app(DebugLayer::new());
    let (status, body) = from_peer(
        &app,
        Some("192.0.2.9:1"),
        "/_debug/",
        &[("accept", "application/json")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["status"], 403);
    assert!(json["error"].as_str().unwrap().contains("loopback"));
}

#[tokio::test]
async fn bearer_token_from_anywhere() {
    let app = app(DebugLayer::new().access(AccessPolicy::bearer_token("s3cret")));
    let remote = Some("203.0.113.7:5000");
    let (status, body) = from_peer(&app, remote, "/_debug/", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("Authorization: Bearer"), "{body}");
    let wrong = [("authorization", "Bearer guess")];
    assert_eq!(
        from_peer(&app, remote, "/_debug/", &wrong).await.0,
        StatusCode::UNAUTHORIZED
    );
    let right = [("authorization", "Bearer s3cret")];
    assert_eq!(
        from_peer(&app, remote, "/_debug/", &right).await.0,
        StatusCode::OK
    );
    // Loopback without the token is refused too: the token is the policy.
    assert_eq!(
        from_peer(&app, Some("127.0.0.1:1"), "/_debug/", &[])
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(from_peer(&app, remote, "/", &[]).await.0, StatusCode::OK);
}

#[tokio::test]
async fn predicate_decides() {
    let policy = AccessPolicy::predicate(|parts| {
        let from_office =
            peer_addr(parts).is_some_and(|addr| addr.ip().to_string().starts_with("10.8."));
        from_office && parts.headers.contains_key("x-sre")
    });
    let app = app(DebugLayer::new().access(policy));
    assert_eq!(
        from_peer(&app, Some("10.8.0.1:1"), "/_debug/", &[("x-sre", "1")])
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        from_peer(&app, Some("10.8.0.1:1"), "/_debug/", &[]).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        from_peer(&app, Some("127.0.0.1:1"), "/_debug/", &[("x-sre", "1")])
            .await
            .0,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn allow_all_is_explicit() {
    let app = app(DebugLayer::new().access(AccessPolicy::allow_all()));
    assert_eq!(
        from_peer(&app, Some("198.51.100.1:1"), "/_debug/", &[])
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        from_peer(&app, None, "/_debug/", &[]).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn over_real_http_loopback_is_let_in() {
    let addr = common::serve(app(DebugLayer::new())).await;
    assert_eq!(common::get(addr, "/_debug/").await.status, StatusCode::OK);
}
