//! A heap profile as the samplers give it, before any name is looked
//! up: each stack's return addresses with what it holds, sampled and
//! scaled up, and the mapped files to resolve them against. jemalloc's
//! dump reader and memscope's sampling allocator both produce it; the heap
//! snapshot, the history and the pprof encoder read it.
//!
//! Each distinct return address is numbered once as the profile is read,
//! and a stack is kept as those numbers: tens of thousands of stacks share
//! a few tens of thousands of addresses, which are then resolved once each
//! rather than once a frame, and a frame takes 4 bytes rather than 8.

use rustc_hash::FxHashMap;

use crate::model::process::{MappedFile, frame_tag};

/// Sampled counts and what they stand for, scaled up.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Counts {
    pub(crate) sampled_objects: u64,
    pub(crate) sampled_bytes: u64,
    /// Estimated objects and bytes: the samples scaled up.
    pub(crate) objects: f64,
    pub(crate) bytes: f64,
    /// The variance of `bytes` that sampling leaves (see `bytes_variance`).
    pub(crate) bytes_variance: f64,
}

impl Counts {
    pub(crate) fn of(sampled_objects: u64, sampled_bytes: u64, sample_interval: u64) -> Self {
        let (objects, bytes) = unsample(sampled_objects, sampled_bytes, sample_interval);
        Self {
            sampled_objects,
            sampled_bytes,
            objects,
            bytes,
            bytes_variance: bytes_variance(sampled_objects, sampled_bytes, sample_interval),
        }
    }
}

/// One stack of the dump with what it holds, sampled and estimated.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RawStack {
    /// Return addresses, leaf first, as the dump gives them: their
    /// numbers in the profile's `addresses`.
    pub(crate) frames: Box<[u32]>,
    /// The route tag the sample was taken under (`crate::record`'s); 0 for
    /// none.
    pub(crate) tag: u32,
    /// What the stack holds now.
    pub(crate) live: Counts,
    /// What it has allocated since profiling began, freed or not; zero
    /// unless jemalloc accumulates (`prof_accum`).
    pub(crate) allocated: Counts,
}

/// A parsed dump.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct RawProfile {
    /// Mean bytes between two samples (2^lg_prof_sample).
    pub(crate) sample_interval: u64,
    /// Every distinct return address of the stacks, by its number.
    pub(crate) addresses: Vec<u64>,
    pub(crate) stacks: Vec<RawStack>,
    /// The executable mappings of files, in address order.
    pub(crate) mappings: Vec<MappedFile>,
}

impl RawProfile {
    /// The return addresses of `stack`, leaf first.
    pub(crate) fn addresses_of<'a>(
        &'a self,
        stack: &'a RawStack,
    ) -> impl Iterator<Item = u64> + 'a {
        stack
            .frames
            .iter()
            .map(|&number| self.addresses[number as usize])
    }
}

/// Numbers distinct return addresses as a profile is read.
#[derive(Debug, Default)]
pub(crate) struct AddressNumbers {
    numbers: FxHashMap<u64, u32>,
    addresses: Vec<u64>,
}

impl AddressNumbers {
    /// `addresses` as numbers, each address numbered the first time it is
    /// met.
    pub(crate) fn frames(&mut self, addresses: &[u64]) -> Box<[u32]> {
        addresses
            .iter()
            .map(|&address| {
                *self.numbers.entry(address).or_insert_with(|| {
                    self.addresses.push(address);
                    (self.addresses.len() - 1) as u32
                })
            })
            .collect()
    }

    /// Every address numbered, by its number.
    pub(crate) fn into_addresses(self) -> Vec<u64> {
        self.addresses
    }
}

/// The route tag memscope's walker put after the outermost frame, taken
/// off `addresses` (0 where there is none).
pub(crate) fn take_tag(addresses: &mut Vec<u64>) -> u32 {
    match addresses.last().copied().and_then(frame_tag) {
        Some(tag) => {
            addresses.pop();
            tag
        }
        None => 0,
    }
}

/// Scales sampled counts up to estimates of what is live. jemalloc samples
/// an allocation of `size` bytes with probability `1 - exp(-size / R)`, so
/// each sampled object stands for `1 / (1 - exp(-size / R))` objects of its
/// stack. Ranked unscaled, one sampled 10 MiB buffer outweighs a leak of
/// thousands of small objects.
pub(crate) fn unsample(objects: u64, bytes: u64, sample_interval: u64) -> (f64, f64) {
    if objects == 0 || sample_interval == 0 {
        return (objects as f64, bytes as f64);
    }
    let mean_size = bytes as f64 / objects as f64;
    let probability = 1.0 - (-mean_size / sample_interval as f64).exp();
    let scale = if probability > 0.0 {
        1.0 / probability
    } else {
        1.0
    };
    (objects as f64 * scale, bytes as f64 * scale)
}

/// The variance of an estimate of live bytes made from `objects` sampled
/// objects of `bytes` bytes in all, at a mean sample interval of R bytes.
///
/// Each live object of size s was sampled, independently, with
/// probability p = 1 - exp(-s / R), and the estimate adds s / p for each
/// sampled one (Horvitz-Thompson). Its variance is the sum over all live
/// objects of s² (1 - p) / p, which the sampled ones estimate without bias
/// as the sum of s² (1 - p) / p². The dump gives only a stack's count and
/// total, so every object is taken at the mean size s̄:
/// n s̄² (1 - p) / p². For objects much smaller than R this is about n R²:
/// n samples, each standing for R bytes, known to ±√n samples.
pub(crate) fn bytes_variance(objects: u64, bytes: u64, sample_interval: u64) -> f64 {
    if objects == 0 || sample_interval == 0 {
        return 0.0;
    }
    let mean_size = bytes as f64 / objects as f64;
    let probability = 1.0 - (-mean_size / sample_interval as f64).exp();
    if probability <= 0.0 {
        return 0.0;
    }
    objects as f64 * mean_size * mean_size * (1.0 - probability) / (probability * probability)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_objects_are_known_to_the_square_root_of_their_samples() {
        let interval = 512 * 1024;
        // 100 samples of 64-byte objects: about 100 R, ± 10 R.
        let counts = Counts::of(100, 6_400, interval);
        let error = counts.bytes_variance.sqrt();
        assert!(
            (counts.bytes / interval as f64 - 100.0).abs() < 1.0,
            "{}",
            counts.bytes
        );
        assert!((error / interval as f64 - 10.0).abs() < 0.1, "{error}");
        // Objects far larger than R are always sampled: no error.
        let large = Counts::of(3, 3 * 64 * 1024 * 1024, interval);
        assert!(large.bytes_variance.sqrt() < 1.0);
    }
}
