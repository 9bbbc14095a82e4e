//! The service: answers requests under the prefix, forwards the rest.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use crate::body::ResponseBody;
use crate::future::ResponseFuture;
use crate::requests::{RequestMeter, RouteSource};
use crate::routes;
use crate::state::Shared;

/// The service [`DebugLayer`](crate::DebugLayer) wraps around an inner service.
#[derive(Clone, Debug)]
pub struct DebugService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> DebugService<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        Self { inner, shared }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for DebugService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: http_body::Body,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        if self.shared.is_debug_path(request.uri().path()) {
            // The body of a debug request is never read: every page takes
            // its input from the path and the query.
            let (parts, _body) = request.into_parts();
            return ResponseFuture::answered(routes::answer(self.shared.clone(), parts));
        }
        // Boxed: the future and then the body carry it, and axum moves both
        // by value several times per request; a pointer moves cheaper than
        // the meter's 130 bytes.
        let mut meter = Box::new(RequestMeter::start(
            self.shared.requests.clone(),
            request.method().clone(),
            RouteSource::of(&request),
        ));
        let started = meter.poll_started();
        let future = self.inner.call(request);
        meter.poll_ended(started);
        ResponseFuture::inner(future, meter)
    }
}
