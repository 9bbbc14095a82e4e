//! The heap profile written out, addresses unresolved, as jemalloc's
//! `heap_v2` text: what a black box capture keeps, for the process that
//! reads it after a restart to parse as it parses any dump
//! (`jemalloc_dump::parse_from`).
//!
//! jemalloc writes its dump into an unnamed file in the directory given
//! (never a memory file: near the memory limit a dump of tens of MiB in
//! memory would bring the kill closer), which is then copied out a line
//! at a time without the per-thread lines, which nothing reads.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::Path;

use super::jemalloc_dump::write_dump;
use super::raw_profile::RawProfile;
use super::sampled;
use super::source::{HeapSource, Sampler};
use crate::model::process::tag_frame;

/// Writes the heap profile now to `out`; `scratch` is a directory for
/// jemalloc's dump, on the same volume as `out`'s file. Returns the
/// stacks written: none, and nothing written, where heap profiling is
/// off. The caller holds the one-dump-at-a-time lock.
pub(crate) fn write_heap_profile(
    source: HeapSource,
    scratch: &Path,
    out: &mut impl Write,
) -> io::Result<usize> {
    if source.profiling().hint().is_some() {
        return Ok(0);
    }
    match source.sampler() {
        Sampler::Memscope => write_raw(&sampled::raw_profile(), out),
        Sampler::Jemalloc => copy_jemalloc_dump(scratch, out),
    }
}

/// Has jemalloc dump into an unnamed file in `scratch` and copies it out.
fn copy_jemalloc_dump(scratch: &Path, out: &mut impl Write) -> io::Result<usize> {
    let mut file = unnamed_file(scratch)?;
    use std::os::fd::AsRawFd;
    write_dump(&format!("/proc/self/fd/{}", file.as_raw_fd()))?;
    file.seek(SeekFrom::Start(0))?;
    let mut stacks = 0;
    let mut line = String::new();
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    while {
        line.clear();
        reader.read_line(&mut line)? > 0
    } {
        if is_thread_line(&line) {
            continue;
        }
        stacks += usize::from(line.starts_with("@ "));
        out.write_all(line.as_bytes())?;
    }
    Ok(stacks)
}

/// `  t3: 1: 4096 [0: 0]`: one thread's share of the stack above.
fn is_thread_line(line: &str) -> bool {
    line.trim_start()
        .strip_prefix('t')
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
}

/// A file in `directory` that no name reaches, gone when closed: created
/// with `O_TMPFILE` where the file system has it, else created new under
/// a name of its own and unlinked at once.
fn unnamed_file(directory: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let unnamed = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_TMPFILE | libc::O_CLOEXEC)
        .mode(0o600)
        .open(directory);
    if let Ok(file) = unnamed {
        return Ok(file);
    }
    let path = directory.join(format!(
        ".memscope-dump-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos())
    ));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .mode(0o600)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(file)
}

/// Writes `profile` as `heap_v2` text, each stack's route tag as its last
/// frame, as memscope's walker leaves it in jemalloc's dumps.
pub(crate) fn write_raw(profile: &RawProfile, out: &mut impl Write) -> io::Result<usize> {
    writeln!(out, "heap_v2/{}", profile.sample_interval)?;
    let (objects, bytes) = profile.stacks.iter().fold((0, 0), |(o, b), stack| {
        (o + stack.live.sampled_objects, b + stack.live.sampled_bytes)
    });
    writeln!(out, "  t*: {objects}: {bytes} [0: 0]")?;
    for stack in &profile.stacks {
        out.write_all(b"@")?;
        for address in profile.addresses_of(stack) {
            write!(out, " {address:#x}")?;
        }
        if stack.tag != 0 {
            write!(out, " {:#x}", tag_frame(stack.tag))?;
        }
        writeln!(
            out,
            "\n  t*: {}: {} [{}: {}]",
            stack.live.sampled_objects,
            stack.live.sampled_bytes,
            stack.allocated.sampled_objects,
            stack.allocated.sampled_bytes
        )?;
    }
    writeln!(out, "\nMAPPED_LIBRARIES:")?;
    for file in &profile.mappings {
        writeln!(
            out,
            "{:x}-{:x} r-xp {:08x} 00:00 0 {}",
            file.start, file.end, file.offset, file.path
        )?;
    }
    Ok(profile.stacks.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::allocator::jemalloc_dump::parse;
    use crate::model::allocator::raw_profile::{Counts, RawStack};
    use crate::model::process::MappedFile;

    #[test]
    fn a_written_profile_reads_back_as_it_was() {
        let profile = RawProfile {
            sample_interval: 1 << 14,
            addresses: vec![0x55d0_1000, 0x55d0_2000],
            stacks: vec![
                RawStack {
                    frames: vec![0, 1].into(),
                    tag: 0x0010_0002,
                    live: Counts::of(3, 3000, 1 << 14),
                    allocated: Counts::of(5, 5000, 1 << 14),
                },
                RawStack {
                    frames: vec![1].into(),
                    tag: 0,
                    live: Counts::of(1, 64, 1 << 14),
                    allocated: Counts::default(),
                },
            ],
            mappings: vec![MappedFile {
                start: 0x55d0_0000,
                end: 0x55d1_0000,
                offset: 0x1000,
                path: "/srv/app".to_owned(),
            }],
        };
        let mut text = Vec::new();
        assert_eq!(write_raw(&profile, &mut text).unwrap(), 2);
        let read = parse(std::str::from_utf8(&text).unwrap()).unwrap();
        assert_eq!(read, profile);
    }

    #[test]
    fn thread_lines_are_told_from_the_others() {
        assert!(is_thread_line("  t0: 1: 10 [0: 0]\n"));
        assert!(is_thread_line("  t12: 1: 10 [0: 0]\n"));
        assert!(!is_thread_line("  t*: 1: 10 [0: 0]\n"));
        assert!(!is_thread_line("@ 0x10\n"));
    }
}
