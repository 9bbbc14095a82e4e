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

use super::raw_profile::{AddressNumbers, Counts, RawProfile, RawStack, take_tag};
use crate::model::process::parse_mapping;

/// Has jemalloc write a heap profile and parses it as it is read. The
/// caller holds the one-dump-at-a-time lock.
///
/// On Linux the profile goes to an anonymous in-memory file
/// (`memfd_create`), which jemalloc opens by its `/proc/self/fd` path: the
/// heap pages then need no writable file system (a read-only root, no
/// `TMPDIR`, a full disk), and the dump is memory only while it is read.
/// Where that cannot be done (no procfs), a temporary file in `TMPDIR`.
pub(crate) fn dump_heap_profile() -> io::Result<RawProfile> {
    #[cfg(target_os = "linux")]
    let in_memory = match dump_to_memory() {
        Ok(profile) => return Ok(profile),
        Err(error) => error,
    };
    #[cfg(not(target_os = "linux"))]
    let in_memory = io::Error::other("no in-memory files on this platform");
    dump_to_temporary_file().map_err(|error| {
        io::Error::new(
            error.kind(),
            format!(
                "jemalloc could write the heap profile neither to memory ({in_memory}) nor to a \
                 temporary file ({error}): mount /proc, or point TMPDIR at a writable directory"
            ),
        )
    })
}

/// The dump through an anonymous in-memory file.
#[cfg(target_os = "linux")]
fn dump_to_memory() -> io::Result<RawProfile> {
    use std::io::{BufReader, Seek, SeekFrom};
    use std::os::fd::FromRawFd;

    // SAFETY: a NUL-terminated name and flags; the call returns a new
    // descriptor or -1.
    let fd = unsafe { libc::memfd_create(c"memscope-heap-profile".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and nothing else owns it.
    let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
    write_dump(&format!("/proc/self/fd/{fd}"))?;
    file.seek(SeekFrom::Start(0))?;
    parse_from(BufReader::with_capacity(64 * 1024, file))
        .map_err(|message| io::Error::new(io::ErrorKind::InvalidData, message))
}

/// The dump through a temporary file, deleted after it is read.
fn dump_to_temporary_file() -> io::Result<RawProfile> {
    let file = tempfile::Builder::new()
        .prefix("memscope-heap-")
        .suffix(".prof")
        .tempfile()?;
    write_dump(&file.path().to_string_lossy())?;
    let reader = io::BufReader::with_capacity(64 * 1024, file.reopen()?);
    parse_from(reader).map_err(|message| io::Error::new(io::ErrorKind::InvalidData, message))
}

/// Asks jemalloc to write its heap profile to `path`.
pub(super) fn write_dump(path: &str) -> io::Result<()> {
    let path = CString::new(path).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "the dump's path has a NUL byte",
        )
    })?;
    // SAFETY: `prof.dump` takes a `const char *` to a NUL-terminated path,
    // which `path` owns until after the call returns.
    unsafe { raw::write(b"prof.dump\0", path.as_ptr()) }
        .map_err(|error| io::Error::other(format!("jemalloc refused prof.dump: {error}")))
}

/// Parses the `heap_v2` format from a string.
#[cfg(test)]
pub(crate) fn parse(text: &str) -> Result<RawProfile, String> {
    parse_from(text.as_bytes())
}

/// Parses the `heap_v2` format line by line as it is read, holding one
/// line at a time rather than the whole dump.
pub(crate) fn parse_from(reader: impl io::BufRead) -> Result<RawProfile, String> {
    let mut lines = reader.lines();
    let header = lines
        .next()
        .ok_or("empty heap profile")?
        .map_err(unreadable)?;
    let sample_interval: u64 = header
        .strip_prefix("heap_v2/")
        .and_then(|rate| rate.trim().parse().ok())
        .ok_or_else(|| format!("not a heap_v2 profile: {header:?}"))?;
    let mut profile = RawProfile {
        sample_interval,
        ..RawProfile::default()
    };
    let mut numbers = AddressNumbers::default();
    // The stack just read, until its counts come; one buffer for all.
    let mut addresses: Vec<u64> = Vec::new();
    let mut pending = false;
    for line in lines.by_ref() {
        let line = line.map_err(unreadable)?;
        let line = line.as_str();
        if line.starts_with("MAPPED_LIBRARIES") {
            break;
        }
        if let Some(stack) = line.strip_prefix("@ ") {
            addresses.clear();
            addresses.extend(stack.split_whitespace().filter_map(|address| {
                u64::from_str_radix(address.trim_start_matches("0x"), 16).ok()
            }));
            pending = true;
        } else if let Some(counts) = line.trim_start().strip_prefix("t*:") {
            // The first `t*` line is the whole profile's; later ones belong
            // to the stack just read.
            if !std::mem::take(&mut pending) {
                continue;
            }
            let ((objects, bytes), (allocated_objects, allocated_bytes)) = parse_counts(counts)
                .ok_or_else(|| format!("bad counts line in heap profile: {line:?}"))?;
            if objects == 0 && allocated_objects == 0 {
                continue;
            }
            let tag = take_tag(&mut addresses);
            profile.stacks.push(RawStack {
                frames: numbers.frames(&addresses),
                tag,
                live: Counts::of(objects, bytes, sample_interval),
                allocated: Counts::of(allocated_objects, allocated_bytes, sample_interval),
            });
        }
    }
    profile.addresses = numbers.into_addresses();
    for line in lines {
        if let Some(mapping) = parse_mapping(&line.map_err(unreadable)?) {
            profile.mappings.push(mapping);
        }
    }
    Ok(profile)
}

fn unreadable(error: io::Error) -> String {
    format!("could not read the heap profile: {error}")
}

/// `" 190: 1962219 [5: 4096]"` → `((190, 1962219), (5, 4096))`: live, then
/// accumulated (zero without `prof_accum`).
fn parse_counts(counts: &str) -> Option<((u64, u64), (u64, u64))> {
    let (live, accumulated) = counts.split_once('[').unwrap_or((counts, "0: 0]"));
    let pair = |text: &str| -> Option<(u64, u64)> {
        let (objects, bytes) = text.split_once(':')?;
        Some((objects.trim().parse().ok()?, bytes.trim().parse().ok()?))
    };
    Some((
        pair(live)?,
        pair(accumulated.trim_end().trim_end_matches(']'))?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::process::MappedFile;

    const DUMP: &str = "heap_v2/524288\n  t*: 3: 1049600 [0: 0]\n  t0: 3: 1049600 [0: 0]\n\
        @ 0x10 0x20 0x30\n  t*: 1: 10240 [0: 0]\n  t0: 1: 10240 [0: 0]\n\
        @ 0x10 0x40\n  t*: 2: 1039360 [0: 0]\n\
        @ 0x50\n  t*: 0: 0 [0: 0]\n\
        @ 0x60\n  t*: 0: 0 [4: 2048]\n\
        MAPPED_LIBRARIES:\n55c1b2c00000-55c1b2d00000 r-xp 00000000 08:01 1 /bin/app\n\
        55c1b2d00000-55c1b2e00000 rw-p 00100000 08:01 1 /bin/app\n\
        7f0000000000-7f0000010000 r-xp 00002000 08:01 2 /lib/x86_64-linux-gnu/libc.so.6\n\
        7ffc0000000-7ffc0001000 r-xp 00000000 00:00 0 [vdso]\n";

    #[test]
    fn parses_stacks_and_both_counts() {
        let profile = parse(DUMP).unwrap();
        assert_eq!(profile.sample_interval, 524_288);
        assert_eq!(profile.stacks.len(), 3, "empty stacks are dropped");
        let first: Vec<u64> = profile.addresses_of(&profile.stacks[0]).collect();
        assert_eq!(first, vec![0x10, 0x20, 0x30]);
        // 0x10 is one address, numbered once for both stacks.
        assert_eq!(profile.stacks[0].frames[0], profile.stacks[1].frames[0]);
        assert_eq!(profile.addresses.len(), 5);
        assert_eq!(profile.stacks[0].live.sampled_objects, 1);
        assert_eq!(profile.stacks[0].live.sampled_bytes, 10_240);
        assert_eq!(profile.stacks[1].live.sampled_objects, 2);
        // Freed, but still counted where jemalloc accumulates.
        assert_eq!(profile.stacks[2].live.objects, 0.0);
        assert_eq!(profile.stacks[2].allocated.sampled_bytes, 2048);
        assert_eq!(
            profile.mappings,
            vec![
                MappedFile {
                    start: 0x55c1b2c00000,
                    end: 0x55c1b2d00000,
                    offset: 0,
                    path: "/bin/app".to_owned()
                },
                MappedFile {
                    start: 0x7f0000000000,
                    end: 0x7f0000010000,
                    offset: 0x2000,
                    path: "/lib/x86_64-linux-gnu/libc.so.6".to_owned()
                },
            ],
            "executable mappings of files only"
        );
    }

    #[test]
    fn small_samples_are_scaled_up_more_than_large_ones() {
        let profile = parse(DUMP).unwrap();
        // A sampled 10 KiB object stands for ~51 of them at R = 512 KiB.
        let small = &profile.stacks[0].live;
        assert!((small.objects - 51.7).abs() < 0.5, "{}", small.objects);
        // 507.5 KiB objects are sampled with p = 0.63: scale 1/0.63 = 1.59.
        let large = &profile.stacks[1].live;
        assert!((large.bytes / large.sampled_bytes as f64 - 1.59).abs() < 0.01);
    }

    #[test]
    fn rejects_what_is_not_a_heap_profile() {
        assert!(parse("").is_err());
        assert!(parse("heap_v1/1\n").is_err());
        assert!(parse("heap_v2/512\n@ 0x1\n  t*: x: y\n").is_err());
    }
}
