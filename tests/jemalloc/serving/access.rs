//! Secure by default: loopback peers only, until a policy says otherwise.
//! The app's own routes are never touched by the policy.

use crate::common::own_process::{NO_PROFILING, in_own_process};
use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::get;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use memscope::{AccessPolicy, DebugLayer, peer_addr};
use tower::ServiceExt;

fn app(layer: DebugLayer) -> Router {
    Router::new()
        .route("/", get(|| async { "app" }))
        .layer(layer)
}

/// Sends one GET straight into the router, as if from `peer`.
async fn from_peer(
    app: &Router,
    peer: Option<&str>,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, String) {
    send_from_peer(app, Method::GET, peer, path, headers).await
}

/// Sends one request straight into the router, as if from `peer`.
async fn send_from_peer(
    app: &Router,
    method: Method,
    peer: Option<&str>,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, String) {
    let mut request = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut request = request.body(Body::empty()).unwrap();
    if let Some(peer) = peer {
        let addr: SocketAddr = peer.parse().unwrap();
        // axum's, which memscope reads with its `axum` feature; else the
        // extension a plain hyper server inserts.
        if cfg!(feature = "axum") {
            request.extensions_mut().insert(ConnectInfo(addr));
        } else {
            request.extensions_mut().insert(memscope::PeerAddr(addr));
        }
    }
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn default_lets_loopback_in_and_refuses_the_rest() {
    if in_own_process(NO_PROFILING) {
        return;
    }
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
    if in_own_process(NO_PROFILING) {
        return;
    }
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
    if in_own_process(NO_PROFILING) {
        return;
    }
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
    if in_own_process(NO_PROFILING) {
        return;
    }
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
    if in_own_process(NO_PROFILING) {
        return;
    }
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
    if in_own_process(NO_PROFILING) {
        return;
    }
    let addr = crate::common::serve(app(DebugLayer::new())).await;
    assert_eq!(
        crate::common::get(addr, "/_debug/").await.status,
        StatusCode::OK
    );
}

/// A page of another site that resolves its own name to 127.0.0.1 (DNS
/// rebinding) sends that name in `Host`: refused under the loopback policy,
/// unless the user allowed the name.
#[tokio::test]
async fn loopback_policy_wants_a_loopback_host() {
    if in_own_process(NO_PROFILING) {
        return;
    }
    let app = app(DebugLayer::new());
    let loopback = Some("127.0.0.1:40000");
    let (status, body) = from_peer(
        &app,
        loopback,
        "/_debug/heapdump?group=size",
        &[("host", "attacker.example")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body.contains("attacker.example") && body.contains("allow_host"),
        "{body}"
    );
    for host in [
        "127.0.0.1:3000",
        "localhost:3000",
        "[::1]:3000",
        "localhost",
    ] {
        assert_eq!(
            from_peer(&app, loopback, "/_debug/", &[("host", host)])
                .await
                .0,
            StatusCode::OK,
            "{host}"
        );
    }
    let tunnel = self::app(
        DebugLayer::new().access(AccessPolicy::loopback_only().allow_host("Box.Internal")),
    );
    assert_eq!(
        from_peer(
            &tunnel,
            loopback,
            "/_debug/",
            &[("host", "box.internal:8080")]
        )
        .await
        .0,
        StatusCode::OK
    );
    // The app's own routes are not the policy's business.
    assert_eq!(
        from_peer(&app, loopback, "/", &[("host", "attacker.example")])
            .await
            .0,
        StatusCode::OK
    );
}

/// A form on another site can make a browser POST to memscope: refused
/// when the browser says where it comes from; curl and httpie say nothing
/// and pass, and so do the pages' own buttons.
#[tokio::test]
async fn state_changes_from_another_site_are_refused() {
    if in_own_process(NO_PROFILING) {
        return;
    }
    let app = app(DebugLayer::new());
    let loopback = Some("127.0.0.1:40000");
    for path in [
        "/_debug/profiling?active=false",
        "/_debug/profiles/cpu?seconds=1",
        "/_debug/memory/diff/baseline",
    ] {
        for headers in [
            &[
                ("host", "127.0.0.1:3000"),
                ("origin", "http://evil.example"),
            ][..],
            &[("host", "127.0.0.1:3000"), ("sec-fetch-site", "cross-site")][..],
        ] {
            let (status, body) = send_from_peer(&app, Method::POST, loopback, path, headers).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path} {headers:?}: {body}");
            assert!(body.contains("another site"), "{body}");
        }
    }
    // This binary has no heap profiling: the switch itself answers 409,
    // which shows the request got past the check.
    let own_button = [
        ("host", "127.0.0.1:3000"),
        ("origin", "http://127.0.0.1:3000"),
        ("sec-fetch-site", "same-origin"),
    ];
    let curl = [("host", "127.0.0.1:3000")];
    for headers in [&own_button[..], &curl[..]] {
        let (status, body) = send_from_peer(
            &app,
            Method::POST,
            loopback,
            "/_debug/profiling?active=false",
            headers,
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "{headers:?}: {body}");
    }
}

/// An IPv4 client of a dual-stack `[::]` listener arrives as
/// `::ffff:127.0.0.1`: loopback.
#[tokio::test]
async fn ipv4_mapped_loopback_is_loopback() {
    if in_own_process(NO_PROFILING) {
        return;
    }
    let app = app(DebugLayer::new());
    assert_eq!(
        from_peer(&app, Some("[::ffff:127.0.0.1]:40000"), "/_debug/", &[])
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        from_peer(&app, Some("[::ffff:10.0.0.1]:40000"), "/_debug/", &[])
            .await
            .0,
        StatusCode::FORBIDDEN
    );
}

/// A peer that may not see the pages learns nothing of them: a bad query
/// value is not answered before the access check.
#[tokio::test]
async fn access_is_checked_before_the_query() {
    if in_own_process(NO_PROFILING) {
        return;
    }
    let app = app(DebugLayer::new());
    let (status, _) = from_peer(&app, Some("10.1.2.3:1"), "/_debug/?format=yaml", &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = from_peer(&app, Some("127.0.0.1:1"), "/_debug/?format=yaml", &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_bearer_scheme_is_any_case() {
    if in_own_process(NO_PROFILING) {
        return;
    }
    let app = app(DebugLayer::new().access(AccessPolicy::bearer_token("s3cret")));
    let remote = Some("203.0.113.7:5000");
    for value in ["bearer s3cret", "BEARER s3cret", "Bearer  s3cret"] {
        assert_eq!(
            from_peer(&app, remote, "/_debug/", &[("authorization", value)])
                .await
                .0,
            StatusCode::OK,
            "{value}"
        );
    }
    for value in ["Bearer s3cre", "Bearer s3cretX", "Basic s3cret"] {
        assert_eq!(
            from_peer(&app, remote, "/_debug/", &[("authorization", value)])
                .await
                .0,
            StatusCode::UNAUTHORIZED,
            "{value}"
        );
    }
}
