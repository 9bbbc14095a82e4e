#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub,
    clippy::undocumented_unsafe_blocks
)]

// Rooms whose doors open one way: the request path (`layer`, which
// measures requests into `record` and starts the model's samplers) hands
// debug requests to `pages`, which read the memory model (`model`), which
// reads `record`. tests/system/module_graph.rs checks it, and that no room has an
// import cycle inside.
mod layer;
mod model;
mod pages;
mod record;
pub mod reference;
mod sync;
pub mod testing;
mod units;

pub use layer::{
    DEFAULT_PREFIX, DebugLayer, DebugPages, DebugPagesFuture, DebugService, ResponseBody,
    ResponseFuture, Tagged, scope, tagged,
};
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use layer::{WrappedRouter, WrappedRouterFuture};
pub use model::allocator::sampled::Sampled;
pub use model::black_box::{BlackBox, Captured};
pub use pages::{AccessPolicy, PeerAddr, peer_addr};
/// jemalloc as the global allocator; memscope reads its statistics and
/// heap profiles. See [`heap_profiling!`] to switch profiling on.
pub use tikv_jemallocator::Jemalloc;

#[doc(hidden)]
pub mod __private {
    pub use crate::model::allocator::nul_terminated_conf;
}
