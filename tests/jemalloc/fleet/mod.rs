//! The fleet's tools: `go tool pprof`, `promtool` and a Prometheus
//! server against the pprof and metrics endpoints.

#[cfg(feature = "axum")]
mod ecosystem;
mod pprof_endpoints;
