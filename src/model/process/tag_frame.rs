//! Frames that are no code: addresses in the kernel's half of the address
//! space, where no user-space code can be, that a sampled stack carries
//! for memscope.
//!
//! - A route tag rides as one more "return address" after the outermost
//!   frame. jemalloc keeps stacks apart by their addresses, so the same
//!   code reached from two routes makes two stacks; the dump's reader
//!   takes the tag off before anything resolves addresses.
//! - A sample whose thread had too little stack left for the walk is kept
//!   with one frame that says so, so that its bytes are counted and named.

/// The high bits that mark a tag frame: no x86-64 or AArch64 user-space
/// return address has them.
const TAG_FRAME: u64 = 0xffff_ff00_0000_0000;
const TAG_MASK: u64 = 0xffff_ffff;

/// The one frame of a sample whose stack was not walked.
const SKIPPED_FRAME: u64 = 0xffff_fe00_0000_0000;

/// The frame of a sample whose thread had too little stack left to walk.
#[inline]
pub(crate) fn skipped_frame() -> u64 {
    SKIPPED_FRAME
}

/// Whether `address` is [`skipped_frame`].
#[inline]
pub(crate) fn is_skipped_frame(address: u64) -> bool {
    address == SKIPPED_FRAME
}

/// The frame that carries `tag`.
#[inline]
pub(crate) fn tag_frame(tag: u32) -> u64 {
    TAG_FRAME | u64::from(tag)
}

/// The tag `address` carries, if it is a tag frame.
#[inline]
pub(crate) fn frame_tag(address: u64) -> Option<u32> {
    (address & !TAG_MASK == TAG_FRAME).then_some((address & TAG_MASK) as u32)
}

/// `addresses` without its tag frame, and the tag (0 where there is none).
pub(crate) fn split_tag(addresses: &[u64]) -> (&[u64], u32) {
    match addresses.split_last() {
        Some((&last, rest)) => match frame_tag(last) {
            Some(tag) => (rest, tag),
            None => (addresses, 0),
        },
        None => (addresses, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_frame_comes_apart_from_the_stack() {
        let stack = [0x55d0_1234, 0x55d0_5678, tag_frame(0x0010_0003)];
        assert_eq!(split_tag(&stack), (&stack[..2], 0x0010_0003));
        assert_eq!(split_tag(&stack[..2]), (&stack[..2], 0));
        assert_eq!(frame_tag(0x7fff_ffff_f000), None);
        assert_eq!(split_tag(&[]), (&[][..], 0));
    }
}
