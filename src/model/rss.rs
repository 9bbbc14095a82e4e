//! Where the process's resident memory is, in parts that add up to it:
//! what the heap holds live, what jemalloc keeps around it (its
//! fragmentation, the freed pages it keeps for reuse, its metadata), the
//! anonymous memory that is not jemalloc's (thread stacks, other
//! allocators, anonymous maps), mapped files, and shared memory. The first
//! question about a growing RSS ("a leak, or the allocator keeping
//! pages?") is which part grows.

use serde::Serialize;

use super::allocator::AllocatorStats;
use super::process::ResidentByKind;

/// One part of the RSS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct RssPart {
    /// `live_heap`, `allocator_overhead`, `kept_for_reuse`,
    /// `allocator_metadata`, `outside_jemalloc`, `file_backed` or
    /// `shared_memory`.
    pub(crate) part: &'static str,
    pub(crate) bytes: u64,
    /// What it is, and what to do about it.
    #[serde(skip)]
    pub(crate) about: &'static str,
}

/// The RSS in parts that add up to it. jemalloc's figures count pages it
/// has mapped but the kernel has not made resident (metadata above all),
/// so its parts are taken in order (live heap, overhead, kept for reuse,
/// metadata) within the anonymous RSS, and what is left of it is outside
/// jemalloc.
pub(crate) fn breakdown(stats: &AllocatorStats, kinds: ResidentByKind) -> (u64, Vec<RssPart>) {
    if !super::allocator::figures_are_jemalloc() {
        return beyond_the_live_heap(stats, kinds);
    }
    let part = |part, bytes, about| RssPart { part, bytes, about };
    let mut anonymous_left = kinds.anonymous;
    let mut within_anonymous = |bytes: u64| {
        let taken = bytes.min(anonymous_left);
        anonymous_left -= taken;
        taken
    };
    let mut parts = vec![
        part(
            "live_heap",
            within_anonymous(stats.allocated),
            "live allocations, as jemalloc counts them",
        ),
        part(
            "allocator_overhead",
            within_anonymous(stats.active.saturating_sub(stats.allocated)),
            "room inside jemalloc's pages that live allocations do not use: fragmentation and size-class rounding",
        ),
        part(
            "kept_for_reuse",
            within_anonymous(
                stats
                    .resident
                    .saturating_sub(stats.active)
                    .saturating_sub(stats.metadata),
            ),
            "freed pages jemalloc keeps to reuse: what a purge gives back",
        ),
        part(
            "allocator_metadata",
            within_anonymous(stats.metadata),
            "jemalloc's own bookkeeping",
        ),
    ];
    parts.extend([
        part(
            "outside_jemalloc",
            anonymous_left,
            "anonymous memory that is not jemalloc's: thread stacks, other allocators, anonymous maps",
        ),
        part(
            "file_backed",
            kinds.file,
            "pages of mapped files: the binary, libraries, mapped debug info; the kernel can drop them",
        ),
        part(
            "shared_memory",
            kinds.shared,
            "tmpfs and memfd files mapped, shared anonymous memory",
        ),
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
            part: "live_heap",
            bytes: live,
            about: "live allocations, as memscope's sampling allocator counts them (exact)",
        },
        RssPart {
            part: "beyond_live_heap",
            bytes: kinds.anonymous - live,
            about: "anonymous memory beyond the live heap: the allocator's free room, the freed pages it keeps and its bookkeeping, and thread stacks and anonymous maps; over this allocator they cannot be told apart",
        },
        RssPart {
            part: "file_backed",
            bytes: kinds.file,
            about: "pages of mapped files: the binary, libraries, mapped debug info; the kernel can drop them",
        },
        RssPart {
            part: "shared_memory",
            bytes: kinds.shared,
            about: "tmpfs and memfd files mapped, shared anonymous memory",
        },
    ];
    (kinds.total(), parts)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let bytes: Vec<(&str, u64)> = parts.iter().map(|p| (p.part, p.bytes)).collect();
        assert_eq!(
            bytes,
            [
                ("live_heap", 100),
                ("allocator_overhead", 20),
                ("kept_for_reuse", 50),
                ("allocator_metadata", 30),
                ("outside_jemalloc", 60),
                ("file_backed", 40),
                ("shared_memory", 5),
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
        let bytes: Vec<(&str, u64)> = parts.iter().map(|p| (p.part, p.bytes)).collect();
        assert_eq!(
            bytes,
            [
                ("live_heap", 100),
                ("beyond_live_heap", 160),
                ("file_backed", 40),
                ("shared_memory", 5),
            ]
        );
        assert_eq!(parts.iter().map(|p| p.bytes).sum::<u64>(), rss);
    }

    #[test]
    fn this_process_s_parts_come_near_its_rss() {
        let stats = AllocatorStats::read();
        let Some(kinds) = ResidentByKind::read() else {
            return;
        };
        let (rss, parts) = breakdown(&stats, kinds);
        let sum: u64 = parts.iter().map(|p| p.bytes).sum();
        assert_eq!(sum, rss, "{parts:?}");
        assert!(parts[0].bytes > 0, "{parts:?}");
    }
}
