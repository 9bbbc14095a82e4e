//! The meter that follows one request: created when the layer passes the
//! request on, carried by the response future and then by the body, and
//! closed when the body ends or is dropped.
//!
//! Times are raw ticks of the process's clock (`clock.rs`).
//!
//! Busy time is the sum of spans. A span begins where the request's work
//! begins and ends where it waits, and the clock is read only at those two
//! edges, not around every step within a span. Two places where one step
//! follows another at once share a span:
//! - the inner service's `call` and the first poll of its future: the
//!   caller polls the future it was just given;
//! - the poll in which the future answers and the first poll of the body:
//!   the server polls the body as soon as it has written the response head.
//!
//! So a hello-world request reads the clock twice, not six times (three
//! steps, each with a start and an end); the head's encoding, hyper's
//! work, is counted in with the request's.

use super::clock;
use super::shard::{FinishedRequest, record};
use super::tag::{route_tag, with_tag};
use super::thread_counters::thread_allocation_totals;

/// Allocation and busy time of one request, so far.
#[derive(Debug)]
pub(crate) struct RequestMeter {
    /// The log's id: the meter holds no reference to the log, whose
    /// reference count every request would otherwise add to and take from,
    /// on a cache line every worker thread writes. A request that ends
    /// after its log is gone is not recorded.
    log: u64,
    /// Clock ticks when the layer received the request.
    started: u64,
    /// While a span is open, the ticks when it began; after, when it
    /// ended: the request's end, once it is over.
    span_edge: u64,
    /// Ticks inside spans so far.
    busy: u64,
    allocated: u64,
    freed: u64,
    /// Its row in the log's route table.
    route: u32,
    /// The route's tag, which the thread runs under while it polls.
    tag: u32,
    /// Its row in the log's method table.
    method: u16,
    /// 0 until the inner service answers.
    status: u16,
    closed: bool,
    completed: bool,
    /// A span is open: the next poll continues it rather than reading the
    /// clock again (see the module's comment).
    span_open: bool,
}

impl RequestMeter {
    pub(crate) fn start(log: u64, method: u16, route: u32) -> Self {
        let started = clock::ticks();
        Self {
            log,
            started,
            span_edge: started,
            busy: 0,
            allocated: 0,
            freed: 0,
            route,
            tag: route_tag(log, route),
            method,
            status: 0,
            closed: false,
            completed: false,
            // The span that begins with the call.
            span_open: true,
        }
    }

    /// Runs one poll and adds what it allocated, freed and took. A poll runs
    /// on one thread, so the thread's counters before and after bracket it
    /// exactly, wherever the task ran last time. `span_ends` says, from
    /// what the poll returned, whether the request now waits (its span
    /// ends) or goes straight on to a next step that continues the span.
    #[inline]
    pub(crate) fn measure<R>(
        &mut self,
        poll: impl FnOnce() -> R,
        span_ends: impl FnOnce(&R) -> bool,
    ) -> R {
        let before = thread_allocation_totals();
        if !self.span_open {
            self.span_edge = clock::ticks();
            self.span_open = true;
        }
        let result = with_tag(self.tag, poll);
        if span_ends(&result) {
            self.end_span();
        }
        self.add_allocations_since(before);
        result
    }

    #[inline]
    fn end_span(&mut self) {
        let ended = clock::ticks();
        // A span runs on one thread or follows on at once; ticks that went
        // backwards (a clock not synchronised across cores) count as none.
        self.busy += ended.saturating_sub(self.span_edge);
        self.span_edge = ended;
        self.span_open = false;
    }

    /// Adds what this thread allocated and freed since its totals were
    /// `before`, read before a poll or the inner service's `call`.
    #[inline]
    pub(crate) fn add_allocations_since(&mut self, (allocated_before, freed_before): (u64, u64)) {
        let (allocated, freed) = thread_allocation_totals();
        self.allocated += allocated.wrapping_sub(allocated_before);
        self.freed += freed.wrapping_sub(freed_before);
    }

    /// The meter, with what this thread allocated and freed since its
    /// totals were `before` added: the inner service's `call`, whose time
    /// is counted in the span its future's first poll ends.
    #[inline]
    pub(crate) fn with_allocations_since(mut self, before: (u64, u64)) -> Self {
        self.add_allocations_since(before);
        self
    }

    /// The route's tag, for the inner service's `call`.
    pub(crate) fn tag(&self) -> u32 {
        self.tag
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
        // A body that ended before its first poll, or a request dropped
        // between steps.
        if self.span_open {
            self.end_span();
        }
        record(
            self.log,
            &FinishedRequest {
                started: self.started,
                ended: self.span_edge,
                method: self.method,
                route: self.route,
                status: self.status,
                busy_ticks: self.busy,
                allocated: self.allocated,
                freed: self.freed,
                completed: self.completed,
            },
        );
    }
}

impl Drop for RequestMeter {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use std::task::Poll;
    use std::thread::sleep;
    use std::time::Duration;

    use super::super::log::RequestLog;
    use super::super::route::RouteName;
    use super::*;

    #[test]
    fn busy_time_counts_spans_and_leaves_out_waits() {
        let log = RequestLog::new(4);
        let route = log.route_row(&RouteName::Path("/t".into()));
        let mut meter = RequestMeter::start(log.id(), 0, route);
        // The call's span runs on through a first poll that waits...
        let first = meter.measure(
            || {
                sleep(Duration::from_millis(3));
                Poll::<()>::Pending
            },
            Poll::is_pending,
        );
        assert!(first.is_pending());
        // ...for 20 ms, which is not busy time.
        sleep(Duration::from_millis(20));
        // The poll that answers leaves its span open for the body's first
        // poll; what happens in between (2 ms here) is counted.
        assert!(
            meter
                .measure(|| Poll::Ready(()), Poll::is_pending)
                .is_ready()
        );
        sleep(Duration::from_millis(2));
        let body = meter.measure(
            || {
                sleep(Duration::from_millis(1));
                Poll::Ready(())
            },
            |_| true,
        );
        assert!(body.is_ready());
        meter.complete();
        let record = &log.records()[0];
        assert!(record.busy_us >= 6_000, "{record:?}");
        assert!(record.busy_us <= record.wall_us - 20_000, "{record:?}");
        assert!(record.completed);
    }

    /// The meter is moved with the response future and the body, each move
    /// a copy: it stays within one cache line.
    #[test]
    fn a_meter_fits_a_cache_line() {
        assert!(std::mem::size_of::<Option<RequestMeter>>() <= 64);
    }
}
