//! Names for return addresses: the symbolizer and its caches
//! (`symbolize`), the debug info it reads (`dwarf`), how a symbol becomes
//! a path with its crate (`names`, with the source file's enclosing items
//! from `source`), and what kind of code a frame is (`frames`: the app's,
//! a library's, the allocator's, memscope's own). The heap pages and the
//! CPU profiles both name their frames here.

mod dwarf;
mod frames;
mod names;
mod source;
mod symbolize;

pub(crate) use frames::{FrameKind, crate_of, enclosing_function};
pub(crate) use symbolize::{AddressFrames, Frame, NOT_WALKED, SYMBOLIZER};
