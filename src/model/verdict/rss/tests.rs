use super::*;
use crate::model::allocator::AllocatorStats;
use crate::model::process::{LibcMalloc, ResidentByKind};
use Part::*;

fn reading(anonymous: u64, file: u64) -> MemoryReading {
    MemoryReading {
        stats: AllocatorStats {
            allocated: 100,
            active: 120,
            resident: 200,
            mapped: 300,
            retained: 0,
            metadata: 30,
        },
        kinds: Some(ResidentByKind {
            anonymous,
            file,
            shared: 5,
        }),
        thread_stacks: 40,
        named_maps: 10,
        binary: 25,
        memscope_debug_info: 8,
        threads: 4,
        libc: Some(LibcMalloc {
            in_use: 30,
            free: 12,
            mapped: 0,
            arenas: 2,
        }),
        memscope_heap: 15,
        tasks: None,
        allocator_figures: true,
        live_heap_in_libc: false,
    }
}

fn bytes(parts: &[RssPart]) -> Vec<(Part, u64)> {
    parts.iter().map(|p| (p.part, p.bytes)).collect()
}

#[test]
fn every_byte_of_the_rss_is_on_one_row() {
    let (rss, parts) = breakdown(&reading(400, 40)).unwrap();
    assert_eq!(rss, 445);
    assert_eq!(
        bytes(&parts),
        [
            (LiveHeap, 85),
            (MemscopeHeap, 15),
            (AllocatorOverhead, 20),
            (KeptForReuse, 50),
            (AllocatorMetadata, 30),
            (ThreadStacks, 40),
            (LibcMalloc, 42),
            (NamedMaps, 10),
            (OtherAnonymous, 108),
            (Binary, 25),
            (MemscopeDebugInfo, 8),
            (OtherFiles, 7),
            (SharedMemory, 5),
        ]
    );
    assert_eq!(parts.iter().map(|p| p.bytes).sum::<u64>(), rss);
    assert!(parts.iter().all(|p| p.reported.is_none()), "{parts:?}");
}

#[test]
fn a_part_cut_to_what_is_resident_says_what_was_reported() {
    // jemalloc's resident figure counts pages it purged lazily: 230
    // bytes of anonymous RSS hold the stacks, the named maps, jemalloc's
    // live, overhead and metadata, and what C code holds in use; the kept
    // pages and the C library's free room are cut.
    let (rss, parts) = breakdown(&reading(230, 40)).unwrap();
    assert_eq!(parts.iter().map(|p| p.bytes).sum::<u64>(), rss);
    let metadata = parts.iter().find(|p| p.part == AllocatorMetadata).unwrap();
    assert_eq!((metadata.bytes, metadata.reported), (30, None));
    let kept = parts.iter().find(|p| p.part == KeptForReuse).unwrap();
    assert_eq!((kept.bytes, kept.reported), (0, Some(50)));
    let libc = parts.iter().find(|p| p.part == LibcMalloc).unwrap();
    assert_eq!((libc.bytes, libc.reported), (30, Some(42)));
}

#[test]
fn this_process_s_parts_add_up_to_its_rss() {
    let reading = MemoryReading::now();
    let (rss, parts) = breakdown(&reading).unwrap();
    assert_eq!(parts.iter().map(|p| p.bytes).sum::<u64>(), rss, "{parts:?}");
    let stacks = parts.iter().find(|p| p.part == ThreadStacks).unwrap();
    assert!(stacks.bytes > 0, "{parts:?}");
}

#[test]
fn over_another_allocator_the_room_beyond_the_live_heap_is_one_part() {
    let mut over_system = reading(400, 40);
    over_system.allocator_figures = false;
    over_system.live_heap_in_libc = true;
    over_system.libc = Some(LibcMalloc {
        in_use: 130,
        free: 20,
        mapped: 0,
        arenas: 1,
    });
    let (rss, parts) = breakdown(&over_system).unwrap();
    assert_eq!(parts.iter().map(|p| p.bytes).sum::<u64>(), rss);
    assert_eq!(
        bytes(&parts)[..6],
        [
            (LiveHeap, 85),
            (MemscopeHeap, 15),
            // 400 less the stacks, named maps, live heap and C malloc's
            // 50 beyond the live heap it holds too.
            (BeyondLiveHeap, 200),
            (ThreadStacks, 40),
            (LibcMalloc, 50),
            (NamedMaps, 10),
        ]
    );
}
