//! The service: answers requests under the prefix, forwards the rest.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::body::ResponseBody;
use super::future::ResponseFuture;
use crate::pages::{self, Mount};
use crate::record::{RequestMeter, route_name, thread_allocation_totals, with_tag};

/// The service [`DebugLayer`](crate::DebugLayer) wraps around an inner service.
///
/// Requests under the prefix are answered by memscope's pages (unless the
/// layer was [split](crate::DebugLayer::split), and the pages are served
/// apart); every other request goes to the inner service as it is, and its answer comes back
/// as it is (its body streamed, never buffered), with a record of it kept.
///
/// # How a request is measured
///
/// Around the inner service's `call` and every poll of the response future
/// and of the response body, the service reads jemalloc's per-thread
/// allocated and freed counters (through pointers each thread looks up
/// once) and adds the differences up: a poll runs on one thread, so the
/// sum is right on a multi-threaded runtime where the task moves between
/// workers. Busy time (`busy_us`) is the time inside those steps, read from
/// the CPU's time-stamp counter where it is invariant (else the monotonic
/// clock), and only at the edges of spans of work: the call runs on into
/// the first poll, and the poll that answers runs on into the body's first
/// poll, so a request that answers at once reads the clock twice. The
/// first layer built in a process calibrates that clock once.
///
/// The record closes when the body ends or is dropped, and is written into
/// a ring of the ending thread's own, with no lock: ids count the requests
/// recorded, in the order they ended. The route is axum's matched route
/// (`/users/{id}`) under `Router::layer` with the `axum` feature, else the
/// path with numeric, long hexadecimal and UUID segments collapsed
/// (`/users/{n}`).
#[derive(Clone, Debug)]
pub struct DebugService<S> {
    inner: S,
    mount: Arc<Mount>,
    /// `false` where the layer was split: the pages are served apart, and
    /// every request goes to the inner service.
    answers_pages: bool,
}

impl<S> DebugService<S> {
    pub(crate) fn new(inner: S, mount: Arc<Mount>, answers_pages: bool) -> Self {
        Self {
            inner,
            mount,
            answers_pages,
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The wrapped service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
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
        if self.answers_pages && self.mount.is_debug_path(request.uri().path()) {
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
            with_tag(meter.tag(), || self.inner.call(request)),
            meter.with_allocations_since(before),
        )
    }
}
