//! Where the process's resident memory is, in parts that add up to it:
//! what the heap holds live, what jemalloc keeps around it (its
//! fragmentation, the freed pages it keeps for reuse, its metadata), the
//! anonymous memory that is not jemalloc's (thread stacks, other
//! allocators, anonymous maps), mapped files, and shared memory. The first
//! question about a growing RSS ("a leak, or the allocator keeping
//! pages?") is which part grows.

use serde::Serialize;

use crate::model::allocator::{AllocatorStats, HeapSource};
use crate::model::process::ResidentByKind;

/// What a part of the RSS is (`part` in JSON, by [`Part::name`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Part {
    /// Live allocations, as the allocator (or the sampling allocator)
    /// counts them.
    LiveHeap,
    /// Room inside jemalloc's pages that live allocations do not use.
    AllocatorOverhead,
    /// Freed pages jemalloc keeps to reuse: what a purge gives back.
    KeptForReuse,
    /// jemalloc's own bookkeeping.
    AllocatorMetadata,
    /// Anonymous memory that is not jemalloc's.
    OutsideJemalloc,
    /// Over another allocator: anonymous memory beyond the live heap,
    /// which memscope cannot split there.
    BeyondLiveHeap,
    /// Pages of mapped files.
    FileBacked,
    /// tmpfs and memfd files mapped, shared anonymous memory.
    SharedMemory,
}

impl Part {
    /// The part's name in JSON and in `/metrics`: `kept_for_reuse`.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::LiveHeap => "live_heap",
            Self::AllocatorOverhead => "allocator_overhead",
            Self::KeptForReuse => "kept_for_reuse",
            Self::AllocatorMetadata => "allocator_metadata",
            Self::OutsideJemalloc => "outside_jemalloc",
            Self::BeyondLiveHeap => "beyond_live_heap",
            Self::FileBacked => "file_backed",
            Self::SharedMemory => "shared_memory",
        }
    }
}

impl Serialize for Part {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// One part of the RSS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct RssPart {
    pub(crate) part: Part,
    pub(crate) bytes: u64,
}

/// The RSS in parts that add up to it. jemalloc's figures count pages it
/// has mapped but the kernel has not made resident (metadata above all),
/// so its parts are taken in order (live heap, overhead, kept for reuse,
/// metadata) within the anonymous RSS, and what is left of it is outside
/// jemalloc.
pub(crate) fn breakdown(stats: &AllocatorStats, kinds: ResidentByKind) -> (u64, Vec<RssPart>) {
    if !HeapSource::get().knows_allocator_figures() {
        return beyond_the_live_heap(stats, kinds);
    }
    let mut anonymous_left = kinds.anonymous;
    let mut within_anonymous = |part, bytes: u64| {
        let taken = bytes.min(anonymous_left);
        anonymous_left -= taken;
        RssPart { part, bytes: taken }
    };
    let mut parts = vec![
        within_anonymous(Part::LiveHeap, stats.allocated),
        within_anonymous(
            Part::AllocatorOverhead,
            stats.active.saturating_sub(stats.allocated),
        ),
        within_anonymous(
            Part::KeptForReuse,
            stats
                .resident
                .saturating_sub(stats.active)
                .saturating_sub(stats.metadata),
        ),
        within_anonymous(Part::AllocatorMetadata, stats.metadata),
    ];
    parts.extend([
        RssPart {
            part: Part::OutsideJemalloc,
            bytes: anonymous_left,
        },
        RssPart {
            part: Part::FileBacked,
            bytes: kinds.file,
        },
        RssPart {
            part: Part::SharedMemory,
            bytes: kinds.shared,
        },
    ]);
    (kinds.total(), parts)
}

/// The RSS over another allocator than jemalloc, under memscope's
/// sampling allocator, which counts the live bytes exactly but cannot see
/// inside the allocator: what its pages hold beyond the live heap (room,
/// freed pages kept, bookkeeping) is one part with the rest of the
/// anonymous memory.
fn beyond_the_live_heap(stats: &AllocatorStats, kinds: ResidentByKind) -> (u64, Vec<RssPart>) {
    let live = stats.allocated.min(kinds.anonymous);
    let parts = vec![
        RssPart {
            part: Part::LiveHeap,
            bytes: live,
        },
        RssPart {
            part: Part::BeyondLiveHeap,
            bytes: kinds.anonymous - live,
        },
        RssPart {
            part: Part::FileBacked,
            bytes: kinds.file,
        },
        RssPart {
            part: Part::SharedMemory,
            bytes: kinds.shared,
        },
    ];
    (kinds.total(), parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Part::*;

    #[test]
    fn the_parts_add_up_to_the_rss() {
        let stats = AllocatorStats {
            allocated: 100,
            active: 120,
            resident: 200,
            mapped: 300,
            retained: 0,
            metadata: 30,
        };
        let kinds = ResidentByKind {
            anonymous: 260,
            file: 40,
            shared: 5,
        };
        let (rss, parts) = breakdown(&stats, kinds);
        assert_eq!(rss, 305);
        let bytes: Vec<(Part, u64)> = parts.iter().map(|p| (p.part, p.bytes)).collect();
        assert_eq!(
            bytes,
            [
                (LiveHeap, 100),
                (AllocatorOverhead, 20),
                (KeptForReuse, 50),
                (AllocatorMetadata, 30),
                (OutsideJemalloc, 60),
                (FileBacked, 40),
                (SharedMemory, 5),
            ]
        );
        assert_eq!(parts.iter().map(|p| p.bytes).sum::<u64>(), rss);
        // jemalloc's metadata counted but not resident: capped, nothing
        // left outside.
        let small = ResidentByKind {
            anonymous: 150,
            file: 40,
            shared: 0,
        };
        let (rss, parts) = breakdown(&stats, small);
        let bytes: Vec<u64> = parts.iter().map(|p| p.bytes).collect();
        assert_eq!(bytes, [100, 20, 30, 0, 0, 40, 0]);
        assert_eq!(bytes.iter().sum::<u64>(), rss);
    }

    #[test]
    fn over_another_allocator_the_live_heap_and_what_lies_beyond_it() {
        let stats = AllocatorStats {
            allocated: 100,
            ..AllocatorStats::default()
        };
        let kinds = ResidentByKind {
            anonymous: 260,
            file: 40,
            shared: 5,
        };
        let (rss, parts) = beyond_the_live_heap(&stats, kinds);
        let bytes: Vec<(Part, u64)> = parts.iter().map(|p| (p.part, p.bytes)).collect();
        assert_eq!(
            bytes,
            [
                (LiveHeap, 100),
                (BeyondLiveHeap, 160),
                (FileBacked, 40),
                (SharedMemory, 5),
            ]
        );
        assert_eq!(parts.iter().map(|p| p.bytes).sum::<u64>(), rss);
    }

    #[test]
    fn this_process_s_parts_come_near_its_rss() {
        let stats = HeapSource::get().figures();
        let Some(kinds) = ResidentByKind::read() else {
            return;
        };
        let (rss, parts) = breakdown(&stats, kinds);
        let sum: u64 = parts.iter().map(|p| p.bytes).sum();
        assert_eq!(sum, rss, "{parts:?}");
        assert!(parts[0].bytes > 0, "{parts:?}");
    }
}
