//! The service: answers requests under the prefix, forwards the rest.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::body::ResponseBody;
use super::future::ResponseFuture;
use crate::pages::{self, Mount};
use crate::record::{RequestMeter, route_name, thread_allocation_totals};

/// The service [`DebugLayer`](crate::DebugLayer) wraps around an inner service.
#[derive(Clone, Debug)]
pub struct DebugService<S> {
    inner: S,
    mount: Arc<Mount>,
}

impl<S> DebugService<S> {
    pub(crate) fn new(inner: S, mount: Arc<Mount>) -> Self {
        Self { inner, mount }
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
        if self.mount.is_debug_path(request.uri().path()) {
            // The body of a debug request is never read: every page takes
            // its input from the path and the query.
            let (parts, _body) = request.into_parts();
            return ResponseFuture::answered(pages::answer(self.mount.clone(), parts));
        }
        let log = &self.mount.requests;
        let route = log.route_row(&route_name(&request));
        let method = log.method_code(request.method());
        // Carried by value, in the future and then in the body: a box
        // would cost an allocation and a cold cache line per request, more
        // than copying the meter's 64 bytes when axum moves them
        // (BENCHMARKS.md, "What was tried").
        let meter = RequestMeter::start(log.id(), method, route);
        let before = thread_allocation_totals();
        // One expression, whose second argument is evaluated after the
        // call, so that the call's allocations are counted in the meter
        // before it goes into the response future: each move of the inner
        // future copies a few hundred bytes, and building the response
        // future first and counting into it after moved it once more.
        ResponseFuture::inner(
            self.inner.call(request),
            meter.with_allocations_since(before),
        )
    }
}
