//! The response body: the inner service's body, streamed as it is, or a
//! page memscope rendered.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::record::RequestMeter;

pin_project! {
    /// The body of every response that passes through
    /// [`DebugService`](crate::DebugService).
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Inner { #[pin] body: B, meter: Option<RequestMeter> },
        Page { data: Option<Bytes> },
    }
}

impl<B: Body> ResponseBody<B> {
    /// The app's body, measured until it ends or is dropped.
    pub(crate) fn inner(body: B, mut meter: Option<RequestMeter>) -> Self {
        // A body that is empty from the start may never be polled.
        if body.is_end_stream()
            && let Some(meter) = meter.as_mut()
        {
            meter.complete();
        }
        Self {
            kind: Kind::Inner { body, meter },
        }
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn page(data: Bytes) -> Self {
        Self {
            kind: Kind::Page { data: Some(data) },
        }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.project().kind.project() {
            KindProj::Inner { mut body, meter } => {
                let Some(active) = meter.as_mut() else {
                    return body.poll_frame(cx);
                };
                // Every body poll ends its span: what comes next (the
                // socket write, the next frame) is the server's.
                let polled = active.measure(|| body.as_mut().poll_frame(cx), |_| true);
                let ended = match &polled {
                    Poll::Ready(None) => true,
                    // hyper stops polling once it has the body's announced
                    // length, so the last frame may be the end.
                    Poll::Ready(Some(Ok(_))) => body.is_end_stream(),
                    Poll::Ready(Some(Err(_))) | Poll::Pending => false,
                };
                if ended {
                    active.complete();
                }
                if ended || matches!(polled, Poll::Ready(Some(Err(_)))) {
                    // Closes the record now rather than when hyper drops the body.
                    *meter = None;
                }
                polled
            }
            KindProj::Page { data } => Poll::Ready(data.take().map(|data| Ok(Frame::data(data)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body, .. } => body.is_end_stream(),
            Kind::Page { data } => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body, .. } => body.size_hint(),
            Kind::Page { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
        }
    }
}
