//! The object files loaded in the process (the executable and its shared
//! libraries), where their code is mapped and the bias that turns an
//! address in memory into one in the file, as the dynamic loader says.

#![allow(unsafe_code)]

use std::ffi::{CStr, c_int, c_void};
use std::path::PathBuf;

/// One loaded object.
#[derive(Clone, Debug)]
pub(crate) struct LoadedObject {
    pub(crate) path: PathBuf,
    /// Added to the file's addresses where it is loaded.
    pub(crate) bias: u64,
    /// Where its loadable segments are mapped.
    segments: Vec<(u64, u64)>,
}

impl LoadedObject {
    pub(crate) fn contains(&self, address: u64) -> bool {
        self.segments
            .iter()
            .any(|&(start, end)| (start..end).contains(&address))
    }
}

/// The objects loaded now.
#[cfg(target_os = "linux")]
pub(crate) fn loaded_objects() -> Vec<LoadedObject> {
    unsafe extern "C" fn each(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        data: *mut c_void,
    ) -> c_int {
        // SAFETY: glibc passes a valid `info` whose name and program headers
        // are readable for the length of the call; `data` is the list below.
        unsafe {
            let objects = &mut *data.cast::<Vec<LoadedObject>>();
            let info = &*info;
            let name = if info.dlpi_name.is_null() {
                ""
            } else {
                CStr::from_ptr(info.dlpi_name).to_str().unwrap_or("")
            };
            // The executable comes first, with no name.
            let path = if name.is_empty() {
                match std::env::current_exe() {
                    Ok(path) if objects.is_empty() => path,
                    _ => return 0,
                }
            } else {
                PathBuf::from(name)
            };
            let headers = std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum.into());
            let segments = headers
                .iter()
                .filter(|header| header.p_type == libc::PT_LOAD)
                .map(|header| {
                    let start = info.dlpi_addr.wrapping_add(header.p_vaddr);
                    (start, start.wrapping_add(header.p_memsz))
                })
                .collect();
            objects.push(LoadedObject {
                path,
                bias: info.dlpi_addr,
                segments,
            });
        }
        0
    }
    let mut objects: Vec<LoadedObject> = Vec::new();
    // SAFETY: the callback reads what glibc hands it and pushes to the list
    // it is given, which outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(each), (&raw mut objects).cast()) };
    objects
}

/// Elsewhere: no list, so addresses stay unresolved.
#[cfg(not(target_os = "linux"))]
pub(crate) fn loaded_objects() -> Vec<LoadedObject> {
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_function_is_in_the_executable() {
        let objects = loaded_objects();
        let here = this_function_is_in_the_executable as *const () as usize as u64;
        let holder = objects.iter().find(|object| object.contains(here)).unwrap();
        assert_eq!(holder.path, std::env::current_exe().unwrap());
        assert!(
            objects
                .iter()
                .any(|object| object.path.to_string_lossy().contains("libc"))
        );
    }
}
