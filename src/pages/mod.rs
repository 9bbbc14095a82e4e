//! The pages: who may see them, which page answers which path, the query
//! each takes, and one model rendered three ways (HTML, JSON, text).
//!
//! The table of pages (`dispatch::PAGES`) drives everything that lists
//! them: dispatch, the methods each allows, the navigation bar and the
//! overview's list. Each page is a module of its own; the pages read the
//! memory model (`crate::model`) and the request records
//! (`crate::record`), and never the other way round.

mod access;
mod cpu_capture;
mod dispatch;
mod error;
mod format;
mod heap_flamegraph;
mod heap_sampling;
mod heap_site;
mod heapdump;
mod memory_diff;
mod memory_growth;
mod memory_purge;
mod metrics;
mod overview;
mod pprof;
mod query;
mod render;
mod request_detail;
mod request_list;
mod timeline;

pub use access::{AccessPolicy, PeerAddr, peer_addr};
pub(crate) use dispatch::answer;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::Response;

use crate::model::baseline::BaselineSlot;
use crate::record::RequestLog;

/// A page being answered; boxed because pages that read a heap profile
/// wait on a blocking task.
pub(crate) type PageFuture = Pin<Box<dyn Future<Output = Response<Bytes>> + Send>>;

/// What the pages of one layer serve from.
#[derive(Debug)]
pub(crate) struct Mount {
    /// Where the pages are: `/_debug` by default.
    pub(crate) prefix: String,
    /// Who may see them.
    pub(crate) access: AccessPolicy,
    /// The requests the layer passed to the app.
    pub(crate) requests: Arc<RequestLog>,
    /// What the memory diff compares against.
    pub(crate) baseline: Arc<BaselineSlot>,
}

impl Mount {
    /// Whether `path` is the prefix itself or below it (`/_debug/x`, not
    /// `/_debugger`).
    pub(crate) fn is_debug_path(&self, path: &str) -> bool {
        self.page_path(path).is_some()
    }

    /// The part of `path` after the prefix, starting with `/` (the overview
    /// is `/`), or `None` when `path` is not a debug path.
    pub(crate) fn page_path<'a>(&self, path: &'a str) -> Option<&'a str> {
        let rest = path.strip_prefix(self.prefix.as_str())?;
        match rest {
            "" => Some("/"),
            rest if rest.starts_with('/') => Some(rest),
            _ => None,
        }
    }
}
