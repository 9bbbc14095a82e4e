//! The meter that follows one request: created when the layer passes the
//! request on, carried by the response future and then by the body, and
//! closed when the body ends or is dropped.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::log::{RequestLog, RequestRecord};
use crate::allocator::thread_allocation_totals;

/// Allocation and busy time of one request, so far.
#[derive(Debug)]
pub(crate) struct RequestMeter {
    log: Arc<RequestLog>,
    id: u64,
    started_unix_ms: u64,
    started: Instant,
    method: http::Method,
    path: String,
    status: Option<u16>,
    allocated: u64,
    freed: u64,
    busy: Duration,
    completed: bool,
    closed: bool,
}

impl RequestMeter {
    pub(crate) fn start(log: Arc<RequestLog>, method: http::Method, path: String) -> Self {
        let started_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as u64);
        Self {
            id: log.next_id(),
            log,
            started_unix_ms,
            started: Instant::now(),
            method,
            path,
            status: None,
            allocated: 0,
            freed: 0,
            busy: Duration::ZERO,
            completed: false,
            closed: false,
        }
    }

    /// Runs one poll and adds what it allocated, freed and took. A poll runs
    /// on one thread, so the thread's counters before and after bracket it
    /// exactly, wherever the task ran last time.
    #[inline]
    pub(crate) fn measure<R>(&mut self, poll: impl FnOnce() -> R) -> R {
        let (allocated, freed) = thread_allocation_totals();
        let started = Instant::now();
        let result = poll();
        self.busy += started.elapsed();
        let (allocated_after, freed_after) = thread_allocation_totals();
        self.allocated += allocated_after.wrapping_sub(allocated);
        self.freed += freed_after.wrapping_sub(freed);
        result
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
        if self.closed {
            return;
        }
        self.closed = true;
        self.log.push(RequestRecord {
            id: self.id,
            started_unix_ms: self.started_unix_ms,
            method: self.method.as_str().to_owned(),
            path: std::mem::take(&mut self.path),
            status: self.status,
            wall_us: self.started.elapsed().as_micros() as u64,
            cpu_us: self.busy.as_micros() as u64,
            allocated: self.allocated,
            freed: self.freed,
            net: self.allocated as i64 - self.freed as i64,
            completed: self.completed,
        });
    }
}

impl Drop for RequestMeter {
    fn drop(&mut self) {
        self.close();
    }
}
