//! A whole axum app behind memscope, wrapped from outside its router.
//!
//! `Router::layer` wraps every route on its own: for each request axum
//! clones the layered route, boxes its future and boxes the new body type,
//! which any layer pays for before it does anything (BENCHMARKS.md).
//! Wrapped from outside,
//! the router's own future and body are measured as they are, and the body
//! is boxed once, into the `Body` that `axum::serve` takes. What is lost:
//! the request has not been routed yet, so axum's route template
//! (`MatchedPath`) is not known and records are filed under the path with
//! identifiers collapsed (`/users/{n}`).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::extract::connect_info::IntoMakeServiceWithConnectInfo;
use axum::response::Response;
use axum::routing::IntoMakeService;
use axum::routing::future::RouteFuture;
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::{DebugLayer, DebugService, ResponseFuture};

impl DebugLayer {
    /// Wraps a whole axum app from outside its router, for `axum::serve`:
    ///
    /// ```rust,no_run
    /// use std::net::SocketAddr;
    /// use axum::{Router, routing::get};
    ///
    /// # async fn run() {
    /// let app = Router::new().route("/", get(|| async { "hello" }));
    /// let app = memscope::DebugLayer::new().wrap_router(app);
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await.unwrap();
    /// axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    ///
    /// Cheaper per request than `Router::layer`, which wraps each route on
    /// its own, but requests are filed under their paths with identifiers
    /// collapsed rather than under axum's route templates.
    ///
    /// The router is made ready to serve here, as `Router::into_make_service`
    /// would make it: its handlers become routes and its own layers are
    /// applied, once.
    #[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
    pub fn wrap_router(&self, router: Router) -> WrappedRouter {
        WrappedRouter {
            // A router left as built turns its handlers into routes and
            // applies its layers again for every request (a clone of each,
            // and boxes), and `WrappedRouter::into_make_service` cannot
            // reach it to do what `Router::into_make_service` does.
            inner: self.layer(router.with_state(())),
        }
    }
}

/// An axum app wrapped by [`DebugLayer::wrap_router`]: a service that
/// `axum::serve` takes, as a `Router` is.
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
#[derive(Clone, Debug)]
pub struct WrappedRouter {
    inner: DebugService<Router>,
}

impl WrappedRouter {
    /// As `Router::into_make_service`.
    pub fn into_make_service(self) -> IntoMakeService<Self> {
        axum::ServiceExt::<Request>::into_make_service(self)
    }

    /// As `Router::into_make_service_with_connect_info`: with
    /// `SocketAddr`, the default access policy can tell loopback peers.
    pub fn into_make_service_with_connect_info<C>(self) -> IntoMakeServiceWithConnectInfo<Self, C> {
        axum::ServiceExt::<Request>::into_make_service_with_connect_info(self)
    }
}

impl Service<Request> for WrappedRouter {
    type Response = Response;
    type Error = Infallible;
    type Future = WrappedRouterFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Service::<Request>::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        WrappedRouterFuture {
            inner: self.inner.call(request),
        }
    }
}

pin_project! {
    /// The future [`WrappedRouter`] returns.
    #[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
    pub struct WrappedRouterFuture {
        #[pin]
        inner: ResponseFuture<RouteFuture<Infallible>>,
    }
}

impl Future for WrappedRouterFuture {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let response = ready!(self.project().inner.poll(cx))?;
        Poll::Ready(Ok(response.map(Body::new)))
    }
}
