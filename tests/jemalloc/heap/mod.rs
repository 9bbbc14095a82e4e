//! The heap pages: sites, stacks and views, estimates within their
//! error, names in release builds, route tags, the heap history and its
//! growth, the unwinder and the sampling switch.

mod estimates;
mod growth;
mod history_footprint;
mod jemalloc_unwinder;
mod profiling_switch;
#[cfg(feature = "axum")]
mod raw_bytes;
mod release_names;
mod route_kept;
mod route_tags;
mod sites;
mod views;
