//! The process below any allocator: what it has loaded and mapped
//! (`objects`), how its stacks are walked (`unwind`, memscope's walker on
//! x86-64 Linux), the route tag the walker appends to a stack
//! (`tag_frame`), its resident memory by kind (`resident`), its mappings
//! sorted by what they hold (`mappings`: thread stacks, named maps, the
//! binary), what the C library's malloc holds (`libc_malloc`), its
//! container's memory (`cgroup`) and whether a directory's volume can
//! take files (`volume`). The lowest layer of the model: it
//! imports no other.

mod age;
pub(crate) mod cgroup;
mod libc_malloc;
mod mappings;
pub(crate) mod objects;
mod resident;
mod tag_frame;
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
pub(crate) mod unwind;
mod volume;

pub(crate) use age::process_age;
pub(crate) use libc_malloc::LibcMalloc;
pub(crate) use mappings::{MappedParts, read as read_mappings};
pub(crate) use objects::{MappedFile, mapped_files, parse_mapping};
pub(crate) use resident::{ResidentByKind, resident_set_size};
pub(crate) use tag_frame::{frame_tag, is_skipped_frame, skipped_frame, split_tag, tag_frame};
pub(crate) use volume::write_problem;

/// Heap samples since the process started whose threads had too little
/// stack left for the walk (memscope's walker's; none elsewhere).
pub(crate) fn heap_samples_skipped_for_stack() -> u64 {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    return unwind::heap_samples_skipped_for_stack();
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    return 0;
}
