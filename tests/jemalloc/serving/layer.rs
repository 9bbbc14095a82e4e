//! The layer wraps an axum Router and a plain hyper service, answers under
//! its prefix, and leaves every other request to the inner service.

use crate::common::own_process::{NO_PROFILING, in_own_process};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use crate::common::{get as http_get, serve};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioExecutor;
use memscope::DebugLayer;

use tower::{Layer, Service, ServiceBuilder, ServiceExt};

fn app() -> Router {
    Router::new()
        .route(
            "/hello",
            get(|| async {
                (
                    StatusCode::IM_A_TEAPOT,
                    [("x-app", "yes"), ("content-type", "text/x-app")],
                    "hello from the app",
                )
            }),
        )
        .route("/_debugger", get(|| async { "not memscope's" }))
        .layer(DebugLayer::new())
}

#[tokio::test]
async fn axum_routes_pass_through_untouched() {
    if in_own_process(NO_PROFILING) {
        return;
    }
    let addr = serve(app()).await;
    let answer = http_get(addr, "/hello").await;
    assert_eq!(answer.status, StatusCode::IM_A_TEAPOT);
    assert_eq!(answer.header("x-app"), "yes");
    assert_eq!(answer.header("content-type"), "text/x-app");
    assert_eq!(
        answer.header("vary"),
        "",
        "the app's answer gained a header"
    );
    assert_eq!(answer.body, "hello from the app");

    // A path that only starts like the prefix belongs to the app.
    let answer = http_get(addr, "/_debugger").await;
    assert_eq!(answer.body, "not memscope's");
    // The app's own 404 stays the app's.
    let answer = http_get(addr, "/missing").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.body, "");
}

#[tokio::test]
async fn axum_router_serves_the_pages_under_the_prefix() {
    if in_own_process(NO_PROFILING) {
        return;
    }
    let addr = serve(app()).await;
    let overview = http_get(addr, "/_debug/").await;
    assert_eq!(overview.status, StatusCode::OK);
    assert!(overview.body.contains("allocated"), "{}", overview.body);
    // The prefix without its slash is the overview too.
    assert_eq!(http_get(addr, "/_debug").await.status, StatusCode::OK);
}

/// The whole router wrapped from outside: the app's answers untouched, the
/// pages served, and each request recorded under its collapsed path.
#[cfg(feature = "axum")]
#[tokio::test]
async fn a_router_wrapped_from_outside_is_measured_too() {
    if in_own_process(NO_PROFILING) {
        return;
    }
    let router = Router::new().route(
        "/users/{id}",
        get(|| async { (StatusCode::IM_A_TEAPOT, [("x-app", "yes")], "a user") }),
    );
    let app = DebugLayer::new().wrap_router(router);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await });

    for id in [17, 42] {
        let answer = http_get(addr, &format!("/users/{id}")).await;
        assert_eq!(answer.status, StatusCode::IM_A_TEAPOT);
        assert_eq!(answer.header("x-app"), "yes");
        assert_eq!(answer.header("content-length"), "6");
        assert_eq!(answer.body, "a user");
    }
    assert_eq!(
        http_get(addr, "/missing").await.status,
        StatusCode::NOT_FOUND
    );

    let profiles = http_get(addr, "/_debug/profiles?format=json").await;
    assert_eq!(profiles.status, StatusCode::OK, "{}", profiles.body);
    let profiles = profiles.json();
    let routes = profiles["routes"].as_array().unwrap();
    let users = routes
        .iter()
        .find(|route| route["route"] == "/users/{n}")
        .unwrap_or_else(|| panic!("no /users/{{n}} row: {routes:?}"));
    assert_eq!(users["requests"], 2);
    let statuses: Vec<_> = profiles["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|record| (record["path"].clone(), record["status"].clone()))
        .collect();
    assert!(
        statuses.contains(&("/users/{n}".into(), 418.into())),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&("/missing".into(), 404.into())),
        "{statuses:?}"
    );
}

/// `wrap_router` turns handlers into routes once, as
/// `Router::into_make_service` does: a router left as built would apply
/// its layers (and clone its handlers) again for every request.
#[cfg(feature = "axum")]
#[tokio::test]
async fn a_wrapped_router_applies_its_layers_once() {
    if in_own_process(NO_PROFILING) {
        return;
    }
    let applied = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = applied.clone();
    let router = Router::new()
        .route("/", get(|| async { "root" }))
        .layer(tower::layer::layer_fn(move |inner| {
            counter.fetch_add(1, Ordering::Relaxed);
            inner
        }));
    let app = DebugLayer::new().wrap_router(router);
    let applied_when_wrapped = applied.load(Ordering::Relaxed);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await });

    for _ in 0..5 {
        let answer = http_get(addr, "/").await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.body, "root");
    }
    assert_eq!(applied.load(Ordering::Relaxed), applied_when_wrapped);
}

#[tokio::test]
async fn a_custom_prefix_moves_the_pages() {
    if in_own_process(NO_PROFILING) {
        return;
    }
    let app = Router::new()
        .route("/", get(|| async { "root" }))
        .layer(DebugLayer::new().prefix("/ops/memory/"));
    let addr = serve(app).await;
    assert_eq!(http_get(addr, "/ops/memory/").await.status, StatusCode::OK);
    assert_eq!(
        http_get(addr, "/ops/memory/heapdump?group=size")
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        http_get(addr, "/_debug/").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(http_get(addr, "/").await.body, "root");
}

#[tokio::test]
async fn a_streamed_body_is_forwarded_chunk_by_chunk() {
    if in_own_process(NO_PROFILING) {
        return;
    }
    // The second chunk is only produced after the client has read the
    // first: a layer that buffered the body would never finish.
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let release_rx = Arc::new(tokio::sync::Mutex::new(Some(release_rx)));
    let app = Router::new()
        .route(
            "/stream",
            get(move || {
                let release_rx = release_rx.clone();
                async move {
                    let receiver = release_rx.lock().await.take().unwrap();
                    let chunks = futures_util::stream::unfold(
                        (0, Some(receiver)),
                        |(index, receiver)| async move {
                            match index {
                                0 => Some((
                                    Ok::<_, Infallible>(Bytes::from("first;")),
                                    (1, receiver),
                                )),
                                1 => {
                                    receiver.unwrap().await.ok()?;
                                    Some((Ok(Bytes::from("second")), (2, None)))
                                }
                                _ => None,
                            }
                        },
                    );
                    Body::from_stream(chunks)
                }
            }),
        )
        .layer(DebugLayer::new());
    let addr = serve(app).await;

    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .build_http::<http_body_util::Empty<Bytes>>();
    let response = client
        .get(format!("http://{addr}/stream").parse().unwrap())
        .await
        .unwrap();
    let mut body = response.into_body();
    let first = tokio::time::timeout(Duration::from_secs(5), body.frame())
        .await
        .expect("the first chunk did not arrive before the body ended")
        .unwrap()
        .unwrap();
    assert_eq!(first.into_data().unwrap(), "first;");
    release_tx.send(()).unwrap();
    let rest = body.collect().await.unwrap().to_bytes();
    assert_eq!(rest, "second");
}

/// A service that is not ready until told so.
#[derive(Clone)]
struct Gate {
    open: Arc<AtomicBool>,
}

impl Service<Request<Full<Bytes>>> for Gate {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        if self.open.load(Ordering::SeqCst) {
            Poll::Ready(Ok(()))
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    fn call(&mut self, _: Request<Full<Bytes>>) -> Self::Future {
        std::future::ready(Ok(Response::new(Full::new(Bytes::from(
            "through the gate",
        )))))
    }
}

#[tokio::test]
async fn poll_ready_is_forwarded() {
    if in_own_process(NO_PROFILING) {
        return;
    }
    let open = Arc::new(AtomicBool::new(false));
    let mut service = DebugLayer::new().layer(Gate { open: open.clone() });
    let not_ready = tokio::time::timeout(Duration::from_millis(50), service.ready()).await;
    assert!(
        not_ready.is_err(),
        "ready although the inner service is not"
    );
    open.store(true, Ordering::SeqCst);
    let response = service
        .ready()
        .await
        .unwrap()
        .call(Request::new(Full::new(Bytes::new())))
        .await
        .unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "through the gate");
}

/// A plain hyper server: memscope's layer over a `service_fn`, the peer
/// inserted as `PeerAddr`.
async fn serve_plain_hyper() -> SocketAddr {
    let service = ServiceBuilder::new()
        .layer(DebugLayer::new())
        .service(tower::service_fn(|request: Request<Incoming>| async move {
            let body = format!("plain hyper saw {}", request.uri().path());
            Ok::<_, Infallible>(
                Response::builder()
                    .status(StatusCode::CREATED)
                    .header("x-plain", "1")
                    .body(Full::new(Bytes::from(body)))
                    .unwrap(),
            )
        }));
    crate::common::serve_with_hyper(service).await
}

#[tokio::test]
async fn plain_hyper_service_is_wrapped_too() {
    if in_own_process(NO_PROFILING) {
        return;
    }
    let addr = serve_plain_hyper().await;
    let answer = http_get(addr, "/anything").await;
    assert_eq!(answer.status, StatusCode::CREATED);
    assert_eq!(answer.header("x-plain"), "1");
    assert_eq!(answer.body, "plain hyper saw /anything");

    let overview = http_get(addr, "/_debug/?format=json").await;
    assert_eq!(overview.status, StatusCode::OK);
    assert!(overview.json()["allocated"].as_u64().unwrap() > 0);
    let sizes = http_get(addr, "/_debug/heapdump?group=size").await;
    assert_eq!(sizes.status, StatusCode::OK);
    assert!(sizes.body.contains("# objects"), "{}", sizes.body);
}
