//! The pages on a listener of their own: `DebugLayer::split` gives a layer
//! for the app, which answers none of memscope's paths, and a service for
//! an admin listener, which answers all of them; both see the same
//! requests.

use crate::common::own_process::{in_own_process, profiling};
use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use http::StatusCode;
use tokio::net::TcpListener;

/// The app and the admin listener, the admin one served as axum serves a
/// router, or by hyper alone.
async fn two_listeners(prefix: &str, admin_on_hyper: bool) -> (SocketAddr, SocketAddr) {
    let (layer, pages) = memscope::DebugLayer::new()
        .prefix(prefix)
        .request_history(5_000)
        .split();
    let app = Router::new()
        .route("/hello", get(|| async { "hello" }))
        .route(
            &format!("{prefix}/heapdump"),
            get(|| async { "the app's own page" }),
        )
        .layer(layer);
    let app = crate::common::serve(app).await;
    let admin = if admin_on_hyper {
        crate::common::serve_with_hyper(pages).await
    } else {
        crate::common::serve(Router::new().fallback_service(pages)).await
    };
    (app, admin)
}

#[tokio::test]
async fn the_app_answers_none_of_the_pages_and_the_admin_listener_all_of_them() {
    if in_own_process(&profiling(19)) {
        return;
    }
    let (app, admin) = two_listeners("/_split", false).await;
    for _ in 0..7 {
        assert_eq!(crate::common::get(app, "/hello").await.body, "hello");
    }

    // The app's listener: memscope's paths are the app's like any other.
    let overview = crate::common::get(app, "/_split/").await;
    assert_eq!(overview.status, StatusCode::NOT_FOUND, "{}", overview.body);
    let own = crate::common::get(app, "/_split/heapdump").await;
    assert_eq!(own.status, StatusCode::OK);
    assert_eq!(own.body, "the app's own page");
    let metrics = crate::common::get(app, "/_split/metrics").await;
    assert_eq!(metrics.status, StatusCode::NOT_FOUND);

    // The admin listener: every page, in every form.
    for path in [
        "/_split/",
        "/_split/heapdump",
        "/_split/heapdump?group=size",
        "/_split/memory/growth",
        "/_split/profiles",
        "/_split/timeline",
    ] {
        for format in ["text", "json", "html"] {
            let separator = if path.contains('?') { '&' } else { '?' };
            let answer =
                crate::common::get(admin, &format!("{path}{separator}format={format}")).await;
            assert_eq!(
                answer.status,
                StatusCode::OK,
                "{path} {format}: {}",
                answer.body
            );
        }
    }
    let metrics = crate::common::get(admin, "/_split/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(
        metrics.body.contains("memscope_requests_total"),
        "{}",
        metrics.body
    );
    let bad = crate::common::get(admin, "/_split/heapdump?limit=0").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    // Both see the same requests: the admin's pages list the app's.
    let profiles = crate::common::get(admin, "/_split/profiles?format=json")
        .await
        .json();
    let hello = profiles["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|route| route["route"] == "/hello")
        .unwrap_or_else(|| panic!("no /hello among {}", profiles["routes"]));
    assert_eq!(hello["requests"], 7);
    // The app's answers to memscope's paths were the app's requests.
    let recorded: Vec<&str> = profiles["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|record| record["path"].as_str())
        .collect();
    assert!(recorded.contains(&"/_split/heapdump"), "{recorded:?}");
    // The admin listener's own requests are not the app's: one `/_split/`
    // (the app's 404), no timeline, no profiles.
    assert_eq!(
        recorded.iter().filter(|path| **path == "/_split/").count(),
        1,
        "{recorded:?}"
    );
    assert!(
        !recorded
            .iter()
            .any(|path| path.contains("timeline") || path.contains("profiles")),
        "{recorded:?}"
    );

    // Outside the prefix: the root leads to the pages, the rest is a 404.
    let root = crate::common::get(admin, "/").await;
    assert_eq!(root.status, StatusCode::SEE_OTHER);
    assert_eq!(root.header("location"), "/_split/");
    let elsewhere = crate::common::get(admin, "/hello").await;
    assert_eq!(elsewhere.status, StatusCode::NOT_FOUND);
    assert!(elsewhere.body.contains("/_split/"), "{}", elsewhere.body);
}

#[tokio::test]
async fn hyper_serves_the_pages_alone_with_the_access_policy() {
    if in_own_process(&profiling(19)) {
        return;
    }
    let (app, admin) = two_listeners("/_hyper", true).await;
    assert_eq!(crate::common::get(app, "/hello").await.body, "hello");
    let overview = crate::common::get(admin, "/_hyper/?format=json").await;
    assert_eq!(overview.status, StatusCode::OK, "{}", overview.body);
    let heap = crate::common::get(admin, "/_hyper/heapdump?format=text").await;
    assert_eq!(heap.status, StatusCode::OK, "{}", heap.body);
    // Actions are POSTs checked for their origin, as on the app's listener.
    let purge = crate::common::post(admin, "/_hyper/memory/purge").await;
    assert_eq!(purge.status, StatusCode::OK, "{}", purge.body);
    let get_purge = crate::common::get(admin, "/_hyper/memory/purge").await;
    assert_eq!(get_purge.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn without_a_peer_address_the_admin_pages_are_refused() {
    if in_own_process(&profiling(19)) {
        return;
    }
    let (_layer, pages) = memscope::DebugLayer::new().prefix("/_nopeer").split();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = listener.local_addr().unwrap();
    // Served with no ConnectInfo and no PeerAddr: the loopback policy
    // cannot tell who asks, and says so.
    let router = Router::new().fallback_service(pages);
    tokio::spawn(async move { axum::serve(listener, router).await });
    let answer = crate::common::get(admin, "/_nopeer/").await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert!(answer.body.contains("PeerAddr"), "{}", answer.body);
}
