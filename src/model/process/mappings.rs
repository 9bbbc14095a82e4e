//! The process's mappings, as `/proc/self/maps` lists them, sorted into
//! what the parts of the RSS need to name, each counted in resident bytes
//! with `mincore` (one system call a mapping, rather than `smaps`'s page
//! walk and text for every mapping):
//!
//! - thread stacks: a writable anonymous mapping right above a small guard
//!   page, which is how glibc (and so Rust's standard library) maps a
//!   thread's stack, and the main thread's `[stack]`;
//! - named anonymous maps (`[anon:NAME]`, from `PR_SET_VMA_ANON_NAME`), by
//!   name;
//! - the running binary's file pages;
//! - the ranges a caller names (memscope's own mapped debug info).

#![allow(unsafe_code)]

use std::collections::BTreeMap;
use std::ops::Range;

/// A guard page below a thread's stack is a page, or a few; a larger
/// inaccessible mapping is something else's reservation (glibc's malloc
/// keeps the unused part of an arena's 64 MiB so).
const MAX_GUARD: u64 = 1 << 20;

/// What the mappings hold, resident.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct MappedParts {
    /// Thread stacks' resident bytes, and how many stack mappings there
    /// are.
    pub(crate) thread_stacks: u64,
    pub(crate) stacks: u32,
    /// Named anonymous maps' resident bytes, by name.
    pub(crate) named: BTreeMap<String, u64>,
    /// The running binary's resident file pages.
    pub(crate) binary: u64,
    /// The resident bytes of the ranges asked for.
    pub(crate) asked: u64,
    /// The anonymous regions that are neither a stack nor named, most
    /// resident first, as many as asked for.
    pub(crate) largest_anonymous: Vec<Region>,
}

/// One mapping, and its resident bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Region {
    pub(crate) range: Range<u64>,
    pub(crate) resident: u64,
}

impl MappedParts {
    /// Named anonymous maps' resident bytes, all names.
    pub(crate) fn named_total(&self) -> u64 {
        self.named.values().sum()
    }
}

/// One line of `/proc/self/maps`.
#[derive(Debug, PartialEq, Eq)]
struct Mapping<'a> {
    range: Range<u64>,
    permissions: &'a str,
    inode: u64,
    path: &'a str,
}

fn parse(line: &str) -> Option<Mapping<'_>> {
    let mut fields = line.splitn(6, ' ');
    let (start, end) = fields.next()?.split_once('-')?;
    let permissions = fields.next()?;
    let _offset = fields.next()?;
    let _device = fields.next()?;
    let inode = fields.next()?.parse().ok()?;
    let path = fields.next().unwrap_or("").trim_start();
    Some(Mapping {
        range: u64::from_str_radix(start, 16).ok()?..u64::from_str_radix(end, 16).ok()?,
        permissions,
        inode,
        path,
    })
}

/// Reads the mappings now and counts what is resident of each kind, of
/// `asked`, and of the `largest` other anonymous regions (each anonymous
/// region is then counted: the allocators' may span gigabytes); `None`
/// where there is no procfs.
pub(crate) fn read(asked: &[Range<u64>], largest: usize) -> Option<MappedParts> {
    // The binary's path as it started: once replaced on disk, its mappings
    // read `path (deleted)`, which `sort` takes as the same file.
    static BINARY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let binary = BINARY.get_or_init(|| {
        let path = std::fs::read_link("/proc/self/exe").ok()?;
        Some(path.to_str()?.trim_end_matches(" (deleted)").to_owned())
    });
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    Some(sort(
        &maps,
        binary.as_deref(),
        (asked, largest),
        &mut resident,
    ))
}

/// The mappings of `maps` sorted and counted by `resident_of`.
fn sort(
    maps: &str,
    binary: Option<&str>,
    (asked, largest): (&[Range<u64>], usize),
    resident_of: &mut dyn FnMut(&Range<u64>) -> u64,
) -> MappedParts {
    let mut parts = MappedParts::default();
    let mut below: Option<Mapping<'_>> = None;
    for mapping in maps.lines().filter_map(parse) {
        let anonymous = mapping.inode == 0;
        let writable = mapping.permissions.starts_with("rw");
        let guarded = below.as_ref().is_some_and(|below| {
            below.permissions.starts_with("---")
                && below.inode == 0
                && below.range.end == mapping.range.start
                && below.range.end - below.range.start <= MAX_GUARD
        });
        if mapping.path == "[stack]"
            || (anonymous && writable && guarded && mapping.path.is_empty())
        {
            parts.thread_stacks += resident_of(&mapping.range);
            parts.stacks += 1;
        } else if let Some(name) = mapping
            .path
            .strip_prefix("[anon:")
            .and_then(|name| name.strip_suffix(']'))
        {
            *parts.named.entry(name.to_owned()).or_default() += resident_of(&mapping.range);
        } else if !anonymous
            && binary.is_some_and(|binary| {
                mapping.path == binary || mapping.path.strip_suffix(" (deleted)") == Some(binary)
            })
        {
            parts.binary += resident_of(&mapping.range);
        } else if anonymous && largest > 0 && !mapping.permissions.starts_with("---") {
            let resident = resident_of(&mapping.range);
            parts.largest_anonymous.push(Region {
                range: mapping.range.clone(),
                resident,
            });
            if parts.largest_anonymous.len() > largest * 4 {
                keep_largest(&mut parts.largest_anonymous, largest);
            }
        }
        below = Some(mapping);
    }
    keep_largest(&mut parts.largest_anonymous, largest);
    parts.asked = asked.iter().map(&mut *resident_of).sum();
    parts
}

/// The `count` most resident of `regions`, most first.
fn keep_largest(regions: &mut Vec<Region>, count: usize) {
    regions.sort_by(|a, b| {
        b.resident
            .cmp(&a.resident)
            .then(a.range.start.cmp(&b.range.start))
    });
    regions.truncate(count);
}

/// The resident bytes of `range`, from `mincore`; 0 where it is not
/// mapped.
fn resident(range: &Range<u64>) -> u64 {
    const PAGE: u64 = 4096;
    let start = range.start & !(PAGE - 1);
    let pages = range.end.saturating_sub(start).div_ceil(PAGE) as usize;
    if pages == 0 {
        return 0;
    }
    let mut vector = vec![0u8; pages];
    // SAFETY: `start` is page-aligned, the vector has a byte for each page
    // of the range, and the kernel only writes into it.
    let read = unsafe {
        libc::mincore(
            start as *mut libc::c_void,
            (pages as u64 * PAGE) as usize,
            vector.as_mut_ptr(),
        )
    };
    if read != 0 {
        return 0;
    }
    vector.iter().filter(|&&page| page & 1 == 1).count() as u64 * PAGE
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &str = "\
55c1b2c00000-55c1b2d00000 r-xp 00000000 08:01 1234 /srv/app
55c1b2d00000-55c1b2e00000 r--p 00100000 08:01 1234 /srv/app
7f0000000000-7f0000001000 ---p 00000000 00:00 0
7f0000001000-7f0000201000 rw-p 00000000 00:00 0
7f0000300000-7f0000400000 rw-p 00000000 00:00 0 
7f0000400000-7f0004000000 ---p 00000000 00:00 0
7f0004000000-7f0004100000 rw-p 00000000 00:00 0
7f0005000000-7f0005010000 rw-p 00000000 00:00 0                          [anon:pool]
7f0005010000-7f0005020000 rw-p 00000000 00:00 0                          [anon:pool]
7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0                          [stack]
";

    #[test]
    fn sorts_stacks_named_maps_and_the_binary() {
        // Every mapping counted whole.
        let mut whole = |range: &Range<u64>| range.end - range.start;
        let asked = vec![0x1000..0x2000, 0x2000..0x3000];
        let parts = sort(MAPS, Some("/srv/app"), (&asked, 2), &mut whole);
        // The thread's stack above its guard page, and the main thread's;
        // not the mapping above glibc's 60 MiB reservation.
        assert_eq!(parts.stacks, 2);
        assert_eq!(parts.thread_stacks, 0x20_0000 + 0x21000);
        assert_eq!(parts.named, BTreeMap::from([("pool".to_owned(), 0x20000)]));
        assert_eq!(parts.binary, 0x20_0000);
        assert_eq!(parts.asked, 0x2000);
        // The two largest of the other anonymous regions.
        assert_eq!(
            parts.largest_anonymous,
            [
                Region {
                    range: 0x7f0000300000..0x7f0000400000,
                    resident: 0x10_0000
                },
                Region {
                    range: 0x7f0004000000..0x7f0004100000,
                    resident: 0x10_0000
                },
            ]
        );
    }

    #[test]
    fn this_process_has_its_main_stack_and_this_thread_s() {
        let parts = std::thread::spawn(|| read(&[], 0).unwrap()).join().unwrap();
        assert!(parts.stacks >= 2, "{parts:?}");
        assert!(parts.thread_stacks > 0, "{parts:?}");
        assert!(parts.binary > 0, "{parts:?}");
    }
}
