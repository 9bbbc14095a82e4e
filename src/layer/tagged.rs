//! Futures that carry a route tag into work a request hands off, or give
//! background work a name of its own, so that what that work allocates is
//! counted with the route (or under the name) on the heap pages.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::record::{current_tag, scope_tag, with_tag};

pin_project! {
    /// A future whose every poll runs under a route tag: what it allocates
    /// is counted with that route (or scope) on the heap pages. Made by
    /// [`tagged`] and [`scope`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct Tagged<F> {
        #[pin]
        future: F,
        tag: u32,
    }
}

/// Carries the route of the request being served into `future`, for work a
/// handler spawns:
///
/// ```rust
/// async fn handler() -> &'static str {
///     tokio::spawn(memscope::tagged(async {
///         // What this allocates counts with the handler's route.
///     }));
///     "accepted"
/// }
/// # fn main() {}
/// ```
///
/// Called outside any request (or scope), the future runs untagged, as it
/// would without the wrapper.
pub fn tagged<F: Future>(future: F) -> Tagged<F> {
    Tagged {
        future,
        tag: current_tag(),
    }
}

/// Runs `future` under a name of its own, for background work that serves
/// no request (`scope("job:reindex", reindex())`): the heap pages' route
/// table shows what it allocated and keeps under that name. Names are
/// bounded like routes: past 1,000, they share one row.
pub fn scope<F: Future>(name: &str, future: F) -> Tagged<F> {
    Tagged {
        future,
        tag: scope_tag(name),
    }
}

impl<F: Future> Future for Tagged<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        with_tag(*this.tag, || this.future.poll(cx))
    }
}
