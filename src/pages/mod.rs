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
mod links;
mod memory_diff;
mod memory_growth;
mod memory_purge;
mod metrics;
mod mount;
mod overview;
mod pprof;
mod query;
mod render;
mod request;
mod request_detail;
mod request_list;
mod timeline;

pub use access::{AccessPolicy, PeerAddr, peer_addr};
pub(crate) use dispatch::answer;
pub(crate) use mount::Mount;
pub(crate) use request::PageFuture;
