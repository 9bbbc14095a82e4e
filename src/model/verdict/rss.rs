//! Where the process's resident memory is, in parts that add up to it,
//! byte for byte: what the heap holds live (the app's and memscope's
//! own), what jemalloc keeps around it (its fragmentation, the freed pages
//! it keeps for reuse, its metadata), the anonymous memory that is not
//! jemalloc's (thread stacks, the C library's malloc, named maps, the
//! rest), mapped files (the binary, memscope's debug info, the rest) and
//! shared memory. The first question about a growing RSS ("a leak, or
//! the allocator keeping pages?") is which part grows.
//!
//! The kernel's figures are the frame: the anonymous, file-backed and
//! shared RSS. Within the anonymous RSS the parts counted page by page in
//! the mappings come first (thread stacks, named maps), then jemalloc's
//! (live, overhead, metadata, and last the kept pages, the one reckoned
//! from an upper bound), then the C library's malloc: each is taken up to
//! what is left, and a part that had to be cut says what its source
//! reported.

use serde::Serialize;

use crate::model::over_time::reading::MemoryReading;

/// What a part of the RSS is (`part` in JSON, by [`Part::name`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Part {
    /// Live allocations of the app, as the allocator (or the sampling
    /// allocator) counts them, less memscope's own.
    LiveHeap,
    /// memscope's own live heap (its last snapshot's estimate).
    MemscopeHeap,
    /// Room inside jemalloc's pages that live allocations do not use.
    AllocatorOverhead,
    /// Freed pages jemalloc keeps to reuse: what a purge gives back.
    KeptForReuse,
    /// jemalloc's own bookkeeping.
    AllocatorMetadata,
    /// Over another allocator: anonymous memory beyond the live heap that
    /// memscope cannot split there (the allocator's room and kept pages,
    /// anonymous maps).
    BeyondLiveHeap,
    /// The threads' stacks, resident.
    ThreadStacks,
    /// What the C library's malloc holds: C code's allocations and the
    /// freed memory its arenas keep.
    LibcMalloc,
    /// Anonymous maps named with `PR_SET_VMA_ANON_NAME`.
    NamedMaps,
    /// Anonymous memory none of the above explains.
    OtherAnonymous,
    /// The running binary's pages.
    Binary,
    /// The debug info memscope maps to name stacks (given back a minute
    /// after its last use).
    MemscopeDebugInfo,
    /// Pages of other mapped files.
    OtherFiles,
    /// tmpfs and memfd files mapped, shared anonymous memory.
    SharedMemory,
}

/// Parts that sum up the way the pages show them: the anonymous memory
/// outside jemalloc, and the file-backed pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Group {
    OutsideJemalloc,
    FileBacked,
}

impl Part {
    /// The part's name in JSON and in `/metrics`: `kept_for_reuse`.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::LiveHeap => "live_heap",
            Self::MemscopeHeap => "memscope_heap",
            Self::AllocatorOverhead => "allocator_overhead",
            Self::KeptForReuse => "kept_for_reuse",
            Self::AllocatorMetadata => "allocator_metadata",
            Self::BeyondLiveHeap => "beyond_live_heap",
            Self::ThreadStacks => "thread_stacks",
            Self::LibcMalloc => "libc_malloc",
            Self::NamedMaps => "named_maps",
            Self::OtherAnonymous => "other_anonymous",
            Self::Binary => "binary",
            Self::MemscopeDebugInfo => "memscope_debug_info",
            Self::OtherFiles => "other_files",
            Self::SharedMemory => "shared_memory",
        }
    }

    /// The group it sums into, if any.
    pub(crate) const fn group(self) -> Option<Group> {
        match self {
            Self::ThreadStacks | Self::LibcMalloc | Self::NamedMaps | Self::OtherAnonymous => {
                Some(Group::OutsideJemalloc)
            }
            Self::Binary | Self::MemscopeDebugInfo | Self::OtherFiles => Some(Group::FileBacked),
            _ => None,
        }
    }

    /// Whether the part is memscope's, not the app's: left out of what
    /// the verdict judges.
    pub(crate) const fn is_memscopes(self) -> bool {
        matches!(self, Self::MemscopeHeap | Self::MemscopeDebugInfo)
    }
}

impl Group {
    /// The group's name in JSON: `outside_jemalloc`.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::OutsideJemalloc => "outside_jemalloc",
            Self::FileBacked => "file_backed",
        }
    }
}

impl Serialize for Part {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl Serialize for Group {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// One part of the RSS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct RssPart {
    pub(crate) part: Part,
    pub(crate) bytes: u64,
    /// What the part's source reported where that was more than the RSS
    /// left it: the part is cut to what is resident.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reported: Option<u64>,
}

/// The RSS of a reading in parts that add up to it, in the pages' order;
/// `None` without the kernel's figures.
pub(crate) fn breakdown(reading: &MemoryReading) -> Option<(u64, Vec<RssPart>)> {
    let kinds = reading.kinds?;
    let mut parts = Vec::with_capacity(14);
    let mut anonymous = Within::new(kinds.anonymous);
    let stats = &reading.stats;
    let live = |anonymous: &mut Within, parts: &mut Vec<RssPart>| {
        let live = anonymous.take(Part::LiveHeap, stats.allocated);
        let own = reading.memscope_heap.min(live.bytes);
        parts.push(RssPart {
            bytes: live.bytes - own,
            ..live
        });
        parts.push(RssPart {
            part: Part::MemscopeHeap,
            bytes: own,
            reported: None,
        });
    };
    let stacks = anonymous.take(Part::ThreadStacks, reading.thread_stacks);
    let named = anonymous.take(Part::NamedMaps, reading.named_maps);
    if reading.allocator_figures {
        live(&mut anonymous, &mut parts);
        parts.push(anonymous.take(
            Part::AllocatorOverhead,
            stats.active.saturating_sub(stats.allocated),
        ));
        // jemalloc's resident figure is a most: pages it purged lazily may
        // be gone already. The kept pages, reckoned from it, are taken after
        // what is known to be resident: its other parts and what C code
        // holds in the C library's malloc (its free room, which the system
        // may have taken back, comes last).
        let metadata = anonymous.take(Part::AllocatorMetadata, stats.metadata);
        let libc = reading.libc.unwrap_or_default();
        let libc_in_use = anonymous.take(Part::LibcMalloc, libc.in_use);
        let kept = anonymous.take(
            Part::KeptForReuse,
            stats
                .resident
                .saturating_sub(stats.active)
                .saturating_sub(stats.metadata),
        );
        let libc_free = anonymous.take(Part::LibcMalloc, libc.free);
        parts.extend([kept, metadata, stacks, libc_in_use.and(libc_free), named]);
        parts.push(anonymous.rest(Part::OtherAnonymous));
    } else {
        live(&mut anonymous, &mut parts);
        let libc = anonymous.take(
            Part::LibcMalloc,
            libc_held(reading, reading.live_heap_in_libc),
        );
        parts.push(anonymous.rest(Part::BeyondLiveHeap));
        parts.extend([stacks, libc, named]);
    }
    let mut files = Within::new(kinds.file);
    parts.push(files.take(Part::Binary, reading.binary));
    parts.push(files.take(Part::MemscopeDebugInfo, reading.memscope_debug_info));
    parts.push(files.rest(Part::OtherFiles));
    parts.push(RssPart {
        part: Part::SharedMemory,
        bytes: kinds.shared,
        reported: None,
    });
    Some((kinds.total(), parts))
}

/// What the C library's malloc holds beyond what the live heap counts:
/// where it is the allocator memscope's sampling allocator wraps
/// (`under_live_heap`), the live heap's bytes are in it too.
fn libc_held(reading: &MemoryReading, under_live_heap: bool) -> u64 {
    let held = reading.libc.map_or(0, |libc| libc.held());
    if under_live_heap {
        held.saturating_sub(reading.stats.allocated)
    } else {
        held
    }
}

impl RssPart {
    /// One part taken in two pieces.
    fn and(self, other: Self) -> Self {
        let cut = self.reported.is_some() || other.reported.is_some();
        Self {
            part: self.part,
            bytes: self.bytes + other.bytes,
            reported: cut.then(|| {
                self.reported.unwrap_or(self.bytes) + other.reported.unwrap_or(other.bytes)
            }),
        }
    }
}

/// A part of the RSS shared out part by part.
struct Within {
    left: u64,
}

impl Within {
    fn new(total: u64) -> Self {
        Self { left: total }
    }

    /// `reported` bytes of `part`, cut to what is left.
    fn take(&mut self, part: Part, reported: u64) -> RssPart {
        let bytes = reported.min(self.left);
        self.left -= bytes;
        RssPart {
            part,
            bytes,
            reported: (bytes < reported).then_some(reported),
        }
    }

    /// What is left, as `part`.
    fn rest(&mut self, part: Part) -> RssPart {
        let bytes = std::mem::take(&mut self.left);
        RssPart {
            part,
            bytes,
            reported: None,
        }
    }
}

#[cfg(test)]
mod tests;
