//! Per-request records: every request the layer passes to the app is
//! measured around every poll of its future and its body, and recorded
//! where it ends, in a ring and in per-route totals of the ending thread's
//! own.
//!
//! - `meter`: what follows one request, from the call to the body's end;
//! - `thread_counters` and `clock`: what the meter reads around each poll;
//! - `shard`, `ring`, `route_totals`: where a finished request is written;
//! - `log`: one layer's records and route totals, put together for pages;
//! - `route` and `route_cache`: the name a request is filed under;
//! - `tag`: the route a thread works for now, which the stack walker
//!   records with each sampled allocation;
//! - `wrapper_counters`: what memscope's sampling allocator counts on
//!   every allocation and free, per thread (the request path reads them
//!   as it reads jemalloc's counters, and the allocator its countdown to
//!   the next sample).

mod clock;
mod log;
mod meter;
mod ring;
mod route;
mod route_cache;
mod route_totals;
mod shard;
mod tag;
mod thread_counters;
mod wrapper_counters;

pub(crate) use log::{RequestLog, RequestRecord, known_tags, routes_in_process, tag_name};
pub(crate) use meter::RequestMeter;
pub(crate) use route::{collapse_identifiers, route_name};
pub(crate) use route_totals::RouteTotals;
pub(crate) use shard::recorded_in_process;
pub(crate) use tag::{NO_TAG, captured_route_tag, current_tag, is_scope_tag, scope_tag, with_tag};
pub(crate) use thread_counters::thread_allocation_totals;
pub(crate) use wrapper_counters::{
    Due, as_sampler, count_allocation, count_free, next_sample, wrapper_in_use, wrapper_totals,
};
