//! Asking jemalloc for a heap profile and reading it back.
//!
//! `prof.dump` writes the `heap_v2` text format to a file:
//!
//! ```text
//! heap_v2/524288                       (the mean sample interval, in bytes)
//!   t*: 190: 1962219 [0: 0]            (all threads: sampled objects: bytes)
//! @ 0x55c1b2d638d5 0x55c1b2d639b3 ...  (a stack, leaf first)
//!   t*: 187: 1913110 [0: 0]            (what that stack holds)
//!   t0: 187: 1913110 [0: 0]            (per thread; not needed)
//! MAPPED_LIBRARIES:
//! ```

#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;

use tikv_jemalloc_ctl::raw;

/// One stack of the dump with what it holds, sampled and estimated.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RawStack {
    /// Return addresses, leaf first, as the dump gives them.
    pub(crate) addresses: Vec<u64>,
    pub(crate) sampled_objects: u64,
    pub(crate) sampled_bytes: u64,
    /// Estimated live objects and bytes, the samples scaled up.
    pub(crate) objects: f64,
    pub(crate) bytes: f64,
}

/// A parsed dump.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct RawProfile {
    /// Mean bytes between two samples (2^lg_prof_sample).
    pub(crate) sample_interval: u64,
    pub(crate) stacks: Vec<RawStack>,
}

/// Writes a heap profile to a temporary file and parses it. The caller
/// holds the one-dump-at-a-time lock.
pub(crate) fn dump_heap_profile() -> io::Result<RawProfile> {
    let file = tempfile::Builder::new()
        .prefix("memscope-heap-")
        .suffix(".prof")
        .tempfile()?;
    let path = CString::new(file.path().as_os_str().as_encoded_bytes()).map_err(|_| {
        io::Error::new(io::ErrorKind::InvalidInput, "temporary path has a NUL byte")
    })?;
    // SAFETY: `prof.dump` takes a `const char *` to a NUL-terminated path,
    // which `path` owns until after the call returns.
    unsafe { raw::write(b"prof.dump\0", path.as_ptr()) }
        .map_err(|error| io::Error::other(format!("jemalloc refused prof.dump: {error}")))?;
    let text = std::fs::read_to_string(file.path())?;
    parse(&text).map_err(|message| io::Error::new(io::ErrorKind::InvalidData, message))
}

/// Parses the `heap_v2` format.
pub(crate) fn parse(text: &str) -> Result<RawProfile, String> {
    let mut lines = text.lines();
    let header = lines.next().ok_or("empty heap profile")?;
    let sample_interval: u64 = header
        .strip_prefix("heap_v2/")
        .and_then(|rate| rate.trim().parse().ok())
        .ok_or_else(|| format!("not a heap_v2 profile: {header:?}"))?;
    let mut profile = RawProfile {
        sample_interval,
        stacks: Vec::new(),
    };
    let mut pending: Option<Vec<u64>> = None;
    for line in lines {
        if line.starts_with("MAPPED_LIBRARIES") {
            break;
        }
        if let Some(addresses) = line.strip_prefix("@ ") {
            pending = Some(
                addresses
                    .split_whitespace()
                    .filter_map(|address| {
                        u64::from_str_radix(address.trim_start_matches("0x"), 16).ok()
                    })
                    .collect(),
            );
        } else if let Some(counts) = line.trim_start().strip_prefix("t*:") {
            // The first `t*` line is the whole profile's; later ones belong
            // to the stack just read.
            let Some(addresses) = pending.take() else {
                continue;
            };
            let (objects, bytes) = parse_counts(counts)
                .ok_or_else(|| format!("bad counts line in heap profile: {line:?}"))?;
            if objects == 0 {
                continue;
            }
            let (estimated_objects, estimated_bytes) = unsample(objects, bytes, sample_interval);
            profile.stacks.push(RawStack {
                addresses,
                sampled_objects: objects,
                sampled_bytes: bytes,
                objects: estimated_objects,
                bytes: estimated_bytes,
            });
        }
    }
    Ok(profile)
}

/// `" 190: 1962219 [0: 0]"` → `(190, 1962219)`.
fn parse_counts(counts: &str) -> Option<(u64, u64)> {
    let (objects, rest) = counts.split_once(':')?;
    let bytes = rest.split_whitespace().next()?;
    Some((objects.trim().parse().ok()?, bytes.parse().ok()?))
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

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = "heap_v2/524288\n  t*: 3: 1049600 [0: 0]\n  t0: 3: 1049600 [0: 0]\n\
        @ 0x10 0x20 0x30\n  t*: 1: 10240 [0: 0]\n  t0: 1: 10240 [0: 0]\n\
        @ 0x10 0x40\n  t*: 2: 1039360 [0: 0]\n\
        @ 0x50\n  t*: 0: 0 [0: 0]\n\
        MAPPED_LIBRARIES:\n55c1b2c00000-55c1b2d00000 r-xp 00000000 08:01 1 /bin/app\n";

    #[test]
    fn parses_stacks_and_both_counts() {
        let profile = parse(DUMP).unwrap();
        assert_eq!(profile.sample_interval, 524_288);
        assert_eq!(profile.stacks.len(), 2, "empty stacks are dropped");
        assert_eq!(profile.stacks[0].addresses, vec![0x10, 0x20, 0x30]);
        assert_eq!(profile.stacks[0].sampled_objects, 1);
        assert_eq!(profile.stacks[0].sampled_bytes, 10_240);
        assert_eq!(profile.stacks[1].sampled_objects, 2);
    }

    #[test]
    fn small_samples_are_scaled_up_more_than_large_ones() {
        let profile = parse(DUMP).unwrap();
        // A sampled 10 KiB object stands for ~51 of them at R = 512 KiB.
        let small = &profile.stacks[0];
        assert!((small.objects - 51.7).abs() < 0.5, "{}", small.objects);
        // 507.5 KiB objects are sampled with p = 0.63: scale 1/0.63 = 1.59.
        let large = &profile.stacks[1];
        assert!((large.bytes / large.sampled_bytes as f64 - 1.59).abs() < 0.01);
    }

    #[test]
    fn rejects_what_is_not_a_heap_profile() {
        assert!(parse("").is_err());
        assert!(parse("heap_v1/1\n").is_err());
        assert!(parse("heap_v2/512\n@ 0x1\n  t*: x: y\n").is_err());
    }
}
