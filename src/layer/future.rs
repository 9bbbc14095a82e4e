//! The response future: the inner service's, or memscope's own answer.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

use super::body::ResponseBody;
use crate::pages::PageFuture;
use crate::record::RequestMeter;

pin_project! {
    /// The future [`DebugService`](crate::DebugService) returns.
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Inner { #[pin] future: F, meter: Option<RequestMeter> },
        Answered { future: PageFuture },
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn inner(future: F, meter: RequestMeter) -> Self {
        Self {
            kind: Kind::Inner {
                future,
                meter: Some(meter),
            },
        }
    }

    pub(crate) fn answered(future: PageFuture) -> Self {
        Self {
            kind: Kind::Answered { future },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future, meter } => {
                let polled = match meter.as_mut() {
                    // An answer goes on to the body's first poll at once;
                    // `Pending` waits.
                    Some(meter) => meter.measure(|| future.poll(cx), Poll::is_pending),
                    None => future.poll(cx),
                };
                // On `Err` the meter is dropped with the future: the record
                // is closed with no status.
                let response = ready!(polled)?;
                let mut meter = meter.take();
                if let Some(meter) = meter.as_mut() {
                    meter.set_status(response.status().as_u16());
                }
                Poll::Ready(Ok(response.map(|body| ResponseBody::inner(body, meter))))
            }
            KindProj::Answered { future } => {
                let response = ready!(future.as_mut().poll(cx));
                Poll::Ready(Ok(response.map(ResponseBody::page)))
            }
        }
    }
}
