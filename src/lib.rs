#![doc = include_str!("../README.md")]
#![deny(unsafe_code)]
#![warn(missing_docs, rust_2018_idioms, unreachable_pub)]

mod access;
mod allocator;
mod body;
mod cpu;
mod error;
mod format;
mod future;
mod heap;
mod layer;
mod pages;
mod process;
mod query;
mod render;
mod requests;
mod routes;
mod service;
mod state;
mod sync;
mod text;
mod timeline;
mod view;
#[cfg(feature = "axum")]
mod wrapped_router;

pub use access::{AccessPolicy, PeerAddr, peer_addr};
pub use body::ResponseBody;
pub use future::ResponseFuture;
pub use layer::{DEFAULT_PREFIX, DebugLayer};
pub use service::DebugService;
/// jemalloc as the global allocator; memscope reads its statistics and
/// heap profiles. See [`heap_profiling!`] to switch profiling on.
pub use tikv_jemallocator::Jemalloc;
#[cfg(feature = "axum")]
pub use wrapped_router::{WrappedRouter, WrappedRouterFuture};

#[doc(hidden)]
pub mod __private {
    pub use crate::allocator::nul_terminated_conf;
}
