//! What the process has loaded and mapped, in one place: the dynamic
//! loader's list of loaded objects (`loaded`), the maps of files
//! (`/proc/self/maps` and the heap dump's copy of it, `maps`), and object
//! files read from disk (`elf`: memory-mapped, with their build ids). The
//! stack walker reads the unwind tables of the loaded objects, the
//! symbolizer their files, and the pprof encoder the maps and build ids.

mod elf;
mod loaded;
mod maps;

pub(crate) use elf::{ObjectFile, build_id};
pub(crate) use loaded::{
    LoadedObject, LoadedObjects, Segment, loader_generation, with_objects_held,
};
pub(crate) use maps::{MappedFile, mapped_files, parse_mapping};
