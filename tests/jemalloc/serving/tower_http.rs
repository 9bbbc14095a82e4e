//! memscope among the tower-http layers real apps stack: compression,
//! timeout, trace, CORS and a request-body limit, outside memscope and
//! inside it. The app answers as it does without memscope, its requests are
//! recorded as they end, and the pages are served, compressed when the
//! client asks.

use crate::common::own_process::{NO_PROFILING, in_own_process};
use std::io::Read;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::Full;
use memscope::DebugLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::CorsLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// Long enough to be worth compressing.
fn document() -> String {
    "{\"items\": [".to_owned() + &"{\"name\": \"widget\", \"price\": 12},".repeat(200) + "{}]}"
}

fn routes() -> Router {
    Router::new()
        .route(
            "/doc",
            get(|| async { ([("content-type", "application/json")], document()) }),
        )
        .route("/echo", post(|body: Bytes| async move { body }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(500)).await;
                "late"
            }),
        )
}

/// The tower-http stack, as a service would have it.
fn with_tower_http(router: Router) -> Router {
    router
        .layer(RequestBodyLimitLayer::new(1024))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_millis(100),
        ))
        .layer(CompressionLayer::new())
        .layer(CorsLayer::permissive())
        .layer(TraceLayer::new_for_http())
}

/// How memscope is placed among them.
#[derive(Clone, Copy, Debug)]
enum Placement {
    /// No memscope: what the app answers.
    Without,
    /// memscope on the routes, inside the tower-http layers.
    Inside,
    /// memscope outside them, around the whole router.
    Outside,
}

fn app(placement: Placement, prefix: &str) -> Router {
    match placement {
        Placement::Without => with_tower_http(routes()),
        Placement::Inside => with_tower_http(routes().layer(DebugLayer::new().prefix(prefix))),
        Placement::Outside => with_tower_http(routes()).layer(DebugLayer::new().prefix(prefix)),
    }
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

async fn send(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let body = Full::new(Bytes::from(body.to_owned()));
    let (status, headers, body) = crate::common::exchange(addr, method, path, headers, body).await;
    Answer {
        status,
        headers,
        body,
    }
}

/// A request: method, path, headers, body.
type Asked<'a> = (Method, &'a str, &'a [(&'a str, &'a str)], String);

/// The requests every placement is asked, and what of each answer must
/// not change: status, the headers the layers set, and the body.
async fn answers(addr: SocketAddr) -> Vec<(StatusCode, Vec<(String, String)>, Bytes)> {
    let gzip = [
        ("accept-encoding", "gzip"),
        ("origin", "http://site.example"),
    ];
    let requests: [Asked<'_>; 5] = [
        (Method::GET, "/doc", &gzip, String::new()),
        (Method::GET, "/doc", &[], String::new()),
        (Method::POST, "/echo", &[], "small".to_owned()),
        (Method::POST, "/echo", &[], "x".repeat(4096)),
        (Method::GET, "/slow", &[], String::new()),
    ];
    let mut answers = Vec::new();
    for (method, path, headers, body) in requests {
        let answer = send(addr, method, path, headers, &body).await;
        let kept: Vec<(String, String)> = [
            "content-type",
            "content-encoding",
            "vary",
            "access-control-allow-origin",
        ]
        .iter()
        .filter_map(|name| {
            Some((
                name.to_string(),
                answer.headers.get(*name)?.to_str().ok()?.to_owned(),
            ))
        })
        .collect();
        answers.push((answer.status, kept, answer.body));
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memscope_among_tower_http_layers_changes_nothing_the_app_answers() {
    if in_own_process(NO_PROFILING) {
        return;
    }
    let bare = crate::common::serve(app(Placement::Without, "/_unused")).await;
    let expected = answers(bare).await;
    assert_eq!(
        expected[0].1[1],
        ("content-encoding".into(), "gzip".into()),
        "{expected:?}"
    );
    assert_eq!(expected[3].0, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(expected[4].0, StatusCode::REQUEST_TIMEOUT);

    for (placement, prefix) in [
        (Placement::Inside, "/_debug_inside"),
        (Placement::Outside, "/_debug_outside"),
    ] {
        let addr = crate::common::serve(app(placement, prefix)).await;
        assert_eq!(answers(addr).await, expected, "{placement:?}");

        let profiles =
            crate::common::get(addr, &format!("{prefix}/profiles?format=json&limit=100")).await;
        assert_eq!(
            profiles.status,
            StatusCode::OK,
            "{placement:?}: {}",
            profiles.body
        );
        let profiles = profiles.json();
        let records = profiles["records"].as_array().unwrap();
        let status_of = |path: &str| -> Vec<u64> {
            records
                .iter()
                .filter(|record| record["path"] == path)
                .filter_map(|record| record["status"].as_u64())
                .collect()
        };
        assert_eq!(status_of("/doc"), [200, 200], "{placement:?}: {records:?}");
        let echoes = status_of("/echo");
        let slow = status_of("/slow");
        match placement {
            // Inside the limit and the timeout, memscope sees the requests
            // they let through (the body too large for the limit is refused
            // by its length, before memscope), and a timed-out request ends
            // without a status.
            Placement::Inside => {
                assert_eq!(echoes, [200], "{records:?}");
                assert!(slow.is_empty(), "{records:?}");
                assert!(
                    records
                        .iter()
                        .any(|record| record["path"] == "/slow" && record["status"].is_null()),
                    "{records:?}"
                );
            }
            // Outside, it sees what the layers answered (newest first).
            Placement::Outside => {
                assert_eq!(echoes, [413, 200], "{records:?}");
                assert_eq!(slow, [408], "{records:?}");
            }
            Placement::Without => unreachable!(),
        }

        // The pages, compressed when asked for.
        let page = send(
            addr,
            Method::GET,
            &format!("{prefix}/profiles"),
            &[("accept-encoding", "gzip")],
            "",
        )
        .await;
        assert_eq!(page.status, StatusCode::OK);
        match placement {
            // memscope answers its pages before the compression layer on
            // the routes would see them; around the router it sees them.
            Placement::Inside => {
                assert_eq!(page.headers["content-encoding"], "gzip");
                let mut text = String::new();
                flate2::read::GzDecoder::new(&page.body[..])
                    .read_to_string(&mut text)
                    .unwrap();
                assert!(text.contains("requests measured"), "{text}");
            }
            Placement::Outside => {
                assert!(page.headers.get("content-encoding").is_none());
                assert!(String::from_utf8_lossy(&page.body).contains("requests measured"));
            }
            Placement::Without => unreachable!(),
        }
    }
}
