//! Names for return addresses: the symbolizer and its caches
//! (`symbolize`), the debug info it reads (`dwarf`), how a symbol becomes
//! a path with its crate (`names`, with the source file's enclosing items
//! from `source`), what kind of code a frame is (`frames`: the app's,
//! a library's, the allocator's, memscope's own), and which frames a
//! flamegraph folds as the framework's (`framework`). The heap pages and the
//! CPU profiles both name their frames here.

mod crate_roots;
mod dwarf;
mod file_modules;
mod frames;
mod framework;
mod names;
mod source;
mod symbol_extents;
mod symbolize;

pub(crate) use frames::{FrameKind, crate_of, enclosing_function};
pub(crate) use framework::{DEFAULT_FRAMEWORK_CRATES, Frameworks, RunLabels};
pub(crate) use symbolize::{AddressFrames, Frame, NOT_WALKED, SYMBOLIZER};
