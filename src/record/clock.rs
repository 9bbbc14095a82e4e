//! The clock meters read around every poll: one for the process.
//!
//! Times are raw ticks (the CPU's time-stamp counter where it is invariant,
//! else the monotonic clock): a read is one instruction instead of a
//! `clock_gettime` call, and ticks become microseconds only when a page
//! reads them. One clock for every log, so that a meter needs no reference
//! to its log to read it.

use std::sync::OnceLock;

static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();

/// The first call calibrates the time-stamp counter against the monotonic
/// clock, which takes up to a fifth of a second, once a process.
fn clock() -> &'static quanta::Clock {
    CLOCK.get_or_init(quanta::Clock::new)
}

/// Now, in ticks.
#[inline]
pub(super) fn ticks() -> u64 {
    clock().raw()
}

/// `ticks` as a duration in microseconds.
pub(super) fn micros(ticks: u64) -> u64 {
    clock().delta_as_nanos(0, ticks) / 1_000
}
