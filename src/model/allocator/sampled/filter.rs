//! Which freed addresses may be sampled ones, answered before any lock.
//!
//! Every free asks; almost none is of a sampled object. A bit per hash of
//! the address, set while a sampled object hashes there, answers "not
//! sampled" for certain with one load. A set bit may be another sampled
//! address's (the table then says no): with 2^20 bits and 40,000 live
//! samples, one free in 26.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

const BITS_LOG2: u32 = 20;
/// How many bits; the table keeps a count for each.
pub(super) const BITS: usize = 1 << BITS_LOG2;
const WORDS: usize = BITS / 64;

/// 128 KiB of zeroes until samples are taken: the pages a bit lies on are
/// touched only then.
static FILTER: [AtomicU64; WORDS] = [const { AtomicU64::new(0) }; WORDS];

/// The bit an address hashes to. Allocations are aligned, so the low bits
/// say little; Fibonacci hashing spreads the rest.
#[inline(always)]
pub(super) fn bit_of(address: usize) -> usize {
    ((address as u64 >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - BITS_LOG2)) as usize
}

/// Whether `address` may be a sampled object's.
#[inline(always)]
pub(super) fn may_be_sampled(address: usize) -> bool {
    let bit = bit_of(address);
    FILTER[bit / 64].load(Relaxed) & (1 << (bit % 64)) != 0
}

/// Sets or clears `bit`; the table calls it under its lock, when the bit's
/// count leaves or reaches zero. A sampled object's bit is set before its
/// allocation returns, so a free of it (which the program orders after)
/// sees the bit.
pub(super) fn set(bit: usize, on: bool) {
    let mask = 1 << (bit % 64);
    if on {
        FILTER[bit / 64].fetch_or(mask, Relaxed);
    } else {
        FILTER[bit / 64].fetch_and(!mask, Relaxed);
    }
}
