//! The pages on a listener of their own: the service that
//! [`DebugLayer::split`](crate::DebugLayer::split) hands out beside a layer
//! that measures the app and answers none of memscope's paths.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::pages::{self, Mount, PageFuture};

/// memscope's pages as a service of their own, for an internal listener
/// (`127.0.0.1:6060`, say), as TiKV and Materialize serve their debug
/// pages. Made by [`DebugLayer::split`](crate::DebugLayer::split), it
/// shares its state with the layer on the app: the pages show the app's
/// requests.
///
/// It answers paths under the prefix (`/_debug` by default) as the layer
/// would, with the same access policy; `/` is redirected to the overview,
/// and any other path is a 404 that says where the pages are. It serves
/// any server that takes a `tower::Service<http::Request<B>>`: axum (as a
/// router's fallback service, or with `axum::serve` after
/// `Router::new().fallback_service(pages)`) or hyper through
/// `hyper_util::service::TowerToHyperService`.
#[derive(Clone, Debug)]
pub struct DebugPages {
    mount: Arc<Mount>,
}

impl DebugPages {
    pub(crate) fn new(mount: Arc<Mount>) -> Self {
        Self { mount }
    }
}

impl<B> Service<Request<B>> for DebugPages {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = DebugPagesFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let path = request.uri().path();
        let answer = if self.mount.is_debug_path(path) {
            // As on the app's listener, the body is never read.
            Answer::Page {
                future: pages::answer(self.mount.clone(), request.into_parts().0),
            }
        } else if path == "/" {
            Answer::Ready {
                response: Some(redirect(&format!("{}/", self.mount.prefix))),
            }
        } else {
            Answer::Ready {
                response: Some(not_here(&self.mount.prefix)),
            }
        };
        DebugPagesFuture { answer }
    }
}

fn redirect(to: &str) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(format!("The pages are at {to}\n")));
    *response.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(location) = header::HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The path asked for is not echoed: it is the client's.
fn not_here(prefix: &str) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(format!(
        "Not found: this listener serves memscope's pages, under {prefix}/\n"
    )));
    *response.status_mut() = StatusCode::NOT_FOUND;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

pin_project! {
    /// The future [`DebugPages`] returns.
    pub struct DebugPagesFuture {
        #[pin]
        answer: Answer,
    }
}

pin_project! {
    #[project = AnswerProj]
    enum Answer {
        Page { future: PageFuture },
        Ready { response: Option<Response<Bytes>> },
    }
}

impl Future for DebugPagesFuture {
    type Output = Result<Response<Full<Bytes>>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let response = match self.project().answer.project() {
            AnswerProj::Page { future } => ready!(future.as_mut().poll(cx)),
            AnswerProj::Ready { response } => response
                .take()
                .expect("DebugPagesFuture polled after it answered"),
        };
        Poll::Ready(Ok(response.map(Full::new)))
    }
}

impl std::fmt::Debug for DebugPagesFuture {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("DebugPagesFuture")
            .finish_non_exhaustive()
    }
}
