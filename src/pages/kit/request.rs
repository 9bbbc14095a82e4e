//! What a page handler is given and what it answers: the types every page
//! shares, in a module that imports no page.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::Response;
use http::request::Parts;

use super::Layout;
use super::error::PageError;
use super::format::Format;
use super::mount::Mount;

/// A page being answered; boxed because pages that read a heap profile
/// wait on a blocking task.
pub(crate) type PageFuture = Pin<Box<dyn Future<Output = Response<Bytes>> + Send>>;

/// What a page handler returns.
pub(crate) type Answer = Result<Response<Bytes>, PageError>;
/// A page handler's answer to come, for pages that wait.
pub(crate) type Pending<'a> = Pin<Box<dyn Future<Output = Answer> + Send + 'a>>;

/// What a page handler gets.
pub(crate) struct PageRequest<'a> {
    pub(crate) mount: &'a Arc<Mount>,
    pub(crate) parts: &'a Parts,
    pub(crate) format: Format,
    pub(crate) layout: &'a Layout,
    /// The path after the page's own, for pages of one item
    /// (`/heapdump/{site}`); empty for the others.
    pub(crate) rest: &'a str,
}

impl PageRequest<'_> {
    pub(crate) fn raw_query(&self) -> Option<&str> {
        self.parts.uri.query()
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.mount.prefix
    }
}
