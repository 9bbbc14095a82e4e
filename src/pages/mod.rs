//! The pages: who may see them, which page answers which path, the query
//! each takes, and one model rendered three ways (HTML, JSON, text).
//!
//! How the room is laid out, leaves first: what every page shares
//! (`request`, `mount`, `links`, `error`, `format`, `query`, `access`),
//! the views two pages share (`render`), one module a page (which imports
//! no other page), and `dispatch`, whose table of pages says which page
//! answers which path and with which methods. `tests/module_graph.rs`
//! checks that no import goes the other way. The pages read the memory
//! model (`crate::model`) and the request records (`crate::record`), and
//! never the other way round.

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
