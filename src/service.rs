//! The service: answers requests under the prefix, forwards the rest.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use crate::allocator::thread_allocation_totals;
use crate::body::ResponseBody;
use crate::future::ResponseFuture;
use crate::requests::{RequestMeter, route_name};
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
        let log = &self.shared.requests;
        let route = log.route_row(&route_name(&request));
        let method = log.method_code(request.method());
        // Carried by value, in the future and then in the body: a box
        // would cost an allocation and a cold cache line per request, more
        // than copying the meter's 64 bytes when axum moves them (paired
        // load runs: 0.6 to 1 % of a hello-world request's throughput).
        let meter = RequestMeter::start(log.id(), method, route);
        let before = thread_allocation_totals();
        // One expression, whose second argument is evaluated after the
        // call, so that the call's allocations are counted in the meter
        // before it goes into the response future. Each move of the inner
        // future copies a few hundred bytes, and building the response
        // future first and counting into it after moved it once more (64
        // instructions a request under callgrind, and 16 to 19 ns in the
        // throughput bench's in-process mode: BENCHMARKS.md).
        ResponseFuture::inner(
            self.inner.call(request),
            meter.with_allocations_since(before),
        )
    }
}
