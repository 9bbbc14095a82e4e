//! Per-request accounting: every request the layer passes to the app is
//! measured around every poll of its future and its body.

mod clock;
mod log;
mod meter;
mod ring;
mod route;
mod route_cache;
mod route_totals;
mod shard;

pub(crate) use log::{RequestLog, RequestRecord, RouteTotals};
pub(crate) use meter::RequestMeter;
pub(crate) use route::route_name;
