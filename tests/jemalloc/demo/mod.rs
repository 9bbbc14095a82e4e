//! The demo: its pages, its leak found and its fix holding, the leak
//! check that fails on it, and the verdict on both.

#[cfg(feature = "axum")]
mod flamegraph;
#[cfg(feature = "axum")]
mod leak;
#[cfg(feature = "axum")]
mod leak_check;
#[cfg(feature = "axum")]
mod pages;
#[cfg(feature = "axum")]
mod verdict_fixed;
#[cfg(feature = "axum")]
mod verdict_leaky;
