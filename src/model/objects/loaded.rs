//! The objects the dynamic loader has loaded (the executable and its shared
//! libraries): where each one's segments are mapped, the bias that turns a
//! file's address into one in memory, and where its unwind table's header
//! is, as `dl_iterate_phdr` says.

#![allow(unsafe_code)]

use std::ffi::{CStr, c_int, c_void};
use std::ops::Range;
use std::path::PathBuf;

/// A loadable segment of an object, where it is mapped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Segment {
    pub(crate) range: Range<u64>,
    pub(crate) executable: bool,
}

/// One loaded object.
#[derive(Clone, Debug)]
pub(crate) struct LoadedObject {
    /// The loader's name for it: empty for the executable (listed first)
    /// and for objects with no file.
    name: PathBuf,
    /// The first object listed: the executable.
    is_executable: bool,
    /// Added to the file's addresses where it is loaded.
    pub(crate) bias: u64,
    pub(crate) segments: Vec<Segment>,
    /// Where its `PT_GNU_EH_FRAME` segment (`.eh_frame_hdr`) is mapped.
    pub(crate) eh_frame_hdr: Option<Range<u64>>,
}

impl LoadedObject {
    pub(crate) fn contains(&self, address: u64) -> bool {
        self.segments
            .iter()
            .any(|segment| segment.range.contains(&address))
    }

    /// The file it was loaded from; `None` for an object with no file of
    /// its own (the vDSO).
    pub(crate) fn file_path(&self) -> Option<PathBuf> {
        if self.is_executable && self.name.as_os_str().is_empty() {
            return std::env::current_exe().ok();
        }
        (!self.name.as_os_str().is_empty()).then(|| self.name.clone())
    }
}

/// The objects loaded when the list was read, and which load it describes.
#[derive(Debug, Default)]
pub(crate) struct LoadedObjects {
    /// glibc's counts of objects loaded and unloaded so far: when either
    /// moves, the list is out of date.
    pub(crate) generation: (u64, u64),
    pub(crate) objects: Vec<LoadedObject>,
}

impl LoadedObjects {
    /// The objects loaded now.
    #[cfg(target_os = "linux")]
    pub(crate) fn read() -> Self {
        unsafe extern "C" fn each(
            info: *mut libc::dl_phdr_info,
            _size: usize,
            data: *mut c_void,
        ) -> c_int {
            // SAFETY: glibc passes a valid `info` whose name and program
            // headers are readable for the length of the call; `data` is
            // the list below.
            unsafe {
                let list = &mut *data.cast::<LoadedObjects>();
                let info = &*info;
                list.generation = (info.dlpi_adds, info.dlpi_subs);
                let name = if info.dlpi_name.is_null() {
                    PathBuf::new()
                } else {
                    PathBuf::from(CStr::from_ptr(info.dlpi_name).to_string_lossy().as_ref())
                };
                let headers = std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum.into());
                let mapped = |header: &libc::Elf64_Phdr| {
                    let start = info.dlpi_addr.wrapping_add(header.p_vaddr);
                    start..start.wrapping_add(header.p_memsz)
                };
                let segments = headers
                    .iter()
                    .filter(|header| header.p_type == libc::PT_LOAD)
                    .map(|header| Segment {
                        range: mapped(header),
                        executable: header.p_flags & libc::PF_X != 0,
                    })
                    .collect();
                let eh_frame_hdr = headers
                    .iter()
                    .find(|header| header.p_type == libc::PT_GNU_EH_FRAME)
                    .map(mapped);
                let is_executable = list.objects.is_empty();
                list.objects.push(LoadedObject {
                    name,
                    is_executable,
                    bias: info.dlpi_addr,
                    segments,
                    eh_frame_hdr,
                });
            }
            0
        }
        let mut list = Self::default();
        // SAFETY: the callback reads what glibc hands it and pushes to the
        // list it is given, which outlives the call.
        unsafe { libc::dl_iterate_phdr(Some(each), (&raw mut list).cast()) };
        list
    }

    /// Elsewhere: no list, so addresses stay unresolved.
    #[cfg(not(target_os = "linux"))]
    pub(crate) fn read() -> Self {
        Self::default()
    }
}

/// glibc's counts of objects loaded and unloaded so far, cheaply: the
/// loader's lock for one callback, as libgcc's unwinder takes it per frame.
#[cfg(target_os = "linux")]
pub(crate) fn loader_generation() -> (u64, u64) {
    unsafe extern "C" fn first(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        data: *mut c_void,
    ) -> c_int {
        // SAFETY: glibc passes a valid `info`; `data` is the `generation`
        // below, alive for the whole call.
        unsafe {
            *data.cast::<(u64, u64)>() = ((*info).dlpi_adds, (*info).dlpi_subs);
        }
        1
    }
    let mut generation = (0u64, 0u64);
    // SAFETY: the callback only writes through the pointer it is given.
    unsafe { libc::dl_iterate_phdr(Some(first), (&raw mut generation).cast()) };
    generation
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_function_is_in_the_executable_and_libc_is_loaded() {
        let list = LoadedObjects::read();
        let here = this_function_is_in_the_executable_and_libc_is_loaded as *const () as usize;
        let holder = list
            .objects
            .iter()
            .find(|object| object.contains(here as u64))
            .unwrap();
        assert_eq!(holder.file_path(), std::env::current_exe().ok());
        assert!(holder.eh_frame_hdr.is_some());
        assert!(list.objects.iter().any(|object| {
            object
                .file_path()
                .is_some_and(|path| path.to_string_lossy().contains("libc"))
        }));
        assert_eq!(list.generation, loader_generation());
    }
}
