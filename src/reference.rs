//! The reference: how each part of memscope answers. The crate's front
//! page says what memscope does and how to start; these pages say every
//! path, query parameter, JSON field and setting, with examples that are
//! compiled with the crate.
//!
//! - [`mounting`]: on axum's routes, around a router, around any
//!   `tower::Service`, on an admin listener of its own;
//! - [`pages`]: every page and the query it takes;
//! - [`formats`]: HTML, JSON and text, the JSON fields, the errors;
//! - [`access`]: who may see the pages;
//! - [`verdict`]: "is it a leak?", the parts of the RSS, the heap history,
//!   the time to the memory limit;
//! - [`routes`]: what each route keeps, and work handed to other tasks;
//! - [`fleet`]: Prometheus, Parca, Grafana Pyroscope and `go tool pprof`;
//! - [`black_box`]: captures before the OOM kill, read after the restart.
//!
//! Leak checks in tests are [`crate::testing`]'s; the sampling allocator
//! over any other is [`crate::Sampled`].

#[doc = include_str!("docs/mounting.md")]
pub mod mounting {}

#[doc = include_str!("docs/pages.md")]
pub mod pages {}

#[doc = include_str!("docs/formats.md")]
pub mod formats {}

#[doc = include_str!("docs/access.md")]
pub mod access {}

#[doc = include_str!("docs/verdict.md")]
pub mod verdict {}

#[doc = include_str!("docs/routes.md")]
pub mod routes {}

#[doc = include_str!("docs/fleet.md")]
pub mod fleet {}

#[doc = include_str!("docs/black_box.md")]
pub mod black_box {}
