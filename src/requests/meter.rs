//! The meter that follows one request: created when the layer passes the
//! request on, carried by the response future and then by the body, and
//! closed when the body ends or is dropped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::log::{FinishedRequest, RequestLog};
use super::route::RouteSource;
use crate::allocator::thread_allocation_totals;

/// The thread's counters and the clock at the start of a poll.
pub(crate) struct PollStart {
    allocated: u64,
    freed: u64,
    at: Instant,
}

/// Allocation and busy time of one request, so far.
#[derive(Debug)]
pub(crate) struct RequestMeter {
    log: Arc<RequestLog>,
    id: u64,
    started: Instant,
    /// The end of the last poll: the request's end, once it is over.
    last_poll_end: Instant,
    method: http::Method,
    route: Option<RouteSource>,
    status: Option<u16>,
    allocated: u64,
    freed: u64,
    busy: Duration,
    completed: bool,
}

impl RequestMeter {
    pub(crate) fn start(log: Arc<RequestLog>, method: http::Method, route: RouteSource) -> Self {
        let started = Instant::now();
        Self {
            id: log.next_id(),
            log,
            started,
            last_poll_end: started,
            method,
            route: Some(route),
            status: None,
            allocated: 0,
            freed: 0,
            busy: Duration::ZERO,
            completed: false,
        }
    }

    /// Runs one poll and adds what it allocated, freed and took. A poll runs
    /// on one thread, so the thread's counters before and after bracket it
    /// exactly, wherever the task ran last time.
    #[inline]
    pub(crate) fn measure<R>(&mut self, poll: impl FnOnce() -> R) -> R {
        let started = self.poll_started();
        let result = poll();
        self.poll_ended(started);
        result
    }

    /// The counters before a poll; see [`measure`](Self::measure).
    #[inline]
    pub(crate) fn poll_started(&self) -> PollStart {
        let (allocated, freed) = thread_allocation_totals();
        PollStart {
            allocated,
            freed,
            at: Instant::now(),
        }
    }

    /// Adds what happened since `started`, on this same thread.
    #[inline]
    pub(crate) fn poll_ended(&mut self, started: PollStart) {
        let ended = Instant::now();
        self.busy += ended - started.at;
        self.last_poll_end = ended;
        let (allocated, freed) = thread_allocation_totals();
        self.allocated += allocated.wrapping_sub(started.allocated);
        self.freed += freed.wrapping_sub(started.freed);
    }

    pub(crate) fn set_status(&mut self, status: u16) {
        self.status = Some(status);
    }

    /// The body was read to its end.
    pub(crate) fn complete(&mut self) {
        self.completed = true;
        self.close();
    }

    fn close(&mut self) {
        let Some(route) = self.route.take() else {
            return;
        };
        self.log.push(FinishedRequest {
            id: self.id,
            started: self.started,
            ended: self.last_poll_end,
            method: std::mem::replace(&mut self.method, http::Method::GET),
            route,
            status: self.status,
            cpu_us: self.busy.as_micros() as u64,
            allocated: self.allocated,
            freed: self.freed,
            completed: self.completed,
        });
    }
}

impl Drop for RequestMeter {
    fn drop(&mut self) {
        self.close();
    }
}
