//! The meter that follows one request: created when the layer passes the
//! request on, carried by the response future and then by the body, and
//! closed when the body ends or is dropped.
//!
//! Times are raw ticks of the log's [`quanta::Clock`] (the CPU's time-stamp
//! counter where it is invariant, else the monotonic clock): a read costs a
//! few instructions instead of a `clock_gettime` call, and ticks become
//! nanoseconds once, when the record closes. A request reads the clock
//! when the layer receives it and at the end of every poll, and at the
//! start of every poll but its first: the busy span that starts with the
//! inner service's `call` runs on to the end of the first poll, which
//! follows at once (the caller polls the future it was just given), so two
//! of six reads in a hello-world request are saved (~10 ns each here).

use std::sync::Arc;

use super::log::{FinishedRequest, RequestLog};
use crate::allocator::thread_allocation_totals;

/// The thread's counters and the clock at the start of a poll.
pub(crate) struct PollStart {
    allocated: u64,
    freed: u64,
    at: u64,
}

/// Allocation and busy time of one request, so far.
#[derive(Debug)]
pub(crate) struct RequestMeter {
    log: Arc<RequestLog>,
    /// Clock ticks when the layer received the request.
    started: u64,
    /// The end of the last poll: the request's end, once it is over.
    last_poll_end: u64,
    /// Ticks spent inside polls.
    busy: u64,
    allocated: u64,
    freed: u64,
    /// Its row in the log's route table.
    route: u32,
    /// Its row in the log's method table.
    method: u16,
    /// 0 until the inner service answers.
    status: u16,
    closed: bool,
    completed: bool,
    /// The span that began with the call is still open: the first poll
    /// continues it rather than reading the clock again.
    in_first_span: bool,
}

impl RequestMeter {
    pub(crate) fn start(log: Arc<RequestLog>, method: u16, route: u32) -> Self {
        let started = log.clock().raw();
        Self {
            log,
            started,
            last_poll_end: started,
            busy: 0,
            allocated: 0,
            freed: 0,
            route,
            method,
            status: 0,
            closed: false,
            completed: false,
            in_first_span: true,
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
    fn poll_started(&self) -> PollStart {
        let (allocated, freed) = thread_allocation_totals();
        let at = if self.in_first_span {
            self.started
        } else {
            self.log.clock().raw()
        };
        PollStart {
            allocated,
            freed,
            at,
        }
    }

    /// Adds what happened since `started`, on this same thread.
    #[inline]
    fn poll_ended(&mut self, started: PollStart) {
        let ended = self.log.clock().raw();
        // A poll runs on one thread; ticks that went backwards (a clock
        // that is not synchronised across cores) count as none.
        self.busy += ended.saturating_sub(started.at);
        self.last_poll_end = ended;
        self.in_first_span = false;
        self.add_allocations_since((started.allocated, started.freed));
    }

    /// Runs the inner service's `call`, which starts as the request does,
    /// and adds what it allocated and freed; its time is counted with the
    /// first poll's (see the module's comment).
    #[inline]
    pub(crate) fn measure_call<R>(&mut self, call: impl FnOnce() -> R) -> R {
        let before = thread_allocation_totals();
        let result = call();
        self.add_allocations_since(before);
        result
    }

    #[inline]
    fn add_allocations_since(&mut self, (allocated_before, freed_before): (u64, u64)) {
        let (allocated, freed) = thread_allocation_totals();
        self.allocated += allocated.wrapping_sub(allocated_before);
        self.freed += freed.wrapping_sub(freed_before);
    }

    pub(crate) fn set_status(&mut self, status: u16) {
        self.status = status;
    }

    /// The body was read to its end.
    pub(crate) fn complete(&mut self) {
        self.completed = true;
        self.close();
    }

    fn close(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        self.log.push(FinishedRequest {
            started: self.started,
            ended: self.last_poll_end,
            method: self.method,
            route: self.route,
            status: self.status,
            busy_ticks: self.busy,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The meter is moved with the response future and the body, each move
    /// a copy: it stays within one cache line.
    #[test]
    fn a_meter_fits_a_cache_line() {
        assert!(std::mem::size_of::<Option<RequestMeter>>() <= 64);
    }
}
