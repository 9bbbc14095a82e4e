//! The pages: who may see them, which page answers which path, the query
//! each takes, and one model rendered three ways (HTML, JSON, text).
//!
//! How the room is laid out: `kit`, what every page shares (the request,
//! the query, access, errors, one way to declare a page and its three
//! forms, and the views and words pages share); one module a page, named
//! by its path under the prefix (`overview` is `/`, `heapdump` is
//! `/heapdump` with `heapdump::site` for `/heapdump/{site}`, `memory::diff`
//! is `/memory/diff`, `profiles::cpu` is `/profiles/cpu`), which imports
//! the kit and no other page; and `dispatch`, whose table of pages says
//! which page answers which path and with which methods.
//! `tests/system/module_graph.rs` checks that no import goes the other way. The
//! pages read the memory model (`crate::model`) and the request records
//! (`crate::record`), and never the other way round.

mod dispatch;
mod heapdump;
mod kit;
mod memory;
mod metrics;
mod overview;
mod pprof;
mod profiles;
mod profiling;
mod tasks;
mod timeline;

pub(crate) use dispatch::answer;
pub use kit::{AccessPolicy, PeerAddr, peer_addr};
pub(crate) use kit::{Mount, PageFuture};
