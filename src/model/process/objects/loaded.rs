//! The objects the dynamic loader has loaded (the executable and its shared
//! libraries): where each one's segments are mapped, the bias that turns a
//! file's address into one in memory, and where its unwind table's header
//! is, as `dl_iterate_phdr` says.

#![allow(unsafe_code)]

use std::ffi::{CStr, c_int, c_void};
use std::ops::Range;
use std::path::PathBuf;

use super::elf::ObjectFile;
use super::maps::mapped_area;

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
    /// Its GNU build id, as the loaded code carries it: what a file must
    /// match to be read for its names.
    pub(crate) build_id: Option<Vec<u8>>,
}

impl LoadedObject {
    /// An object another process had loaded, as its black box capture
    /// describes it: read from `path` where a file there has `build_id`.
    pub(crate) fn of_earlier_process(
        path: PathBuf,
        bias: u64,
        segments: Vec<Segment>,
        build_id: Vec<u8>,
    ) -> Self {
        Self {
            name: path,
            is_executable: false,
            bias,
            segments,
            eh_frame_hdr: None,
            build_id: Some(build_id),
        }
    }

    /// Whether it is the executable, rather than a shared library.
    pub(crate) fn is_executable(&self) -> bool {
        self.is_executable
    }

    pub(crate) fn contains(&self, address: u64) -> bool {
        self.segments
            .iter()
            .any(|segment| segment.range.contains(&address))
    }

    /// Whether any of its segments lies in `area` (a mapping of
    /// `/proc/self/maps`, which starts at a page boundary that may come
    /// before the segment's own start).
    pub(crate) fn overlaps(&self, area: &Range<u64>) -> bool {
        self.segments
            .iter()
            .any(|segment| segment.range.start < area.end && area.start < segment.range.end)
    }

    /// Opens the file this object was loaded from, as it was loaded: the
    /// executable through `/proc/self/exe` (the running file, even after
    /// another was renamed over its path), a library by its path or, where
    /// that now names another file, through `/proc/self/map_files`. A file
    /// whose build id is not the loaded one's is never read: no names
    /// rather than wrong ones.
    pub(crate) fn open_file(&self) -> Option<ObjectFile> {
        let executable = self.is_executable.then(|| PathBuf::from("/proc/self/exe"));
        // Read the maps only when the paths before fail: it is the rare case.
        let mapped = || {
            let area = mapped_area(self.segments.first()?.range.start)?;
            Some(PathBuf::from(format!(
                "/proc/self/map_files/{:x}-{:x}",
                area.start, area.end
            )))
        };
        executable
            .into_iter()
            .chain(self.file_path())
            .chain(std::iter::once_with(mapped).flatten())
            .filter_map(|path| ObjectFile::open(&path))
            .find(|file| self.is_loaded_from(file))
    }

    /// Whether `file` is the one this object was loaded from, as far as
    /// build ids tell; an object without one is taken at its word.
    pub(crate) fn is_loaded_from(&self, file: &ObjectFile) -> bool {
        match &self.build_id {
            Some(loaded) => file.build_id_bytes().as_deref() == Some(loaded.as_slice()),
            None => true,
        }
    }

    /// The build id in hex, as pprof's mappings carry it.
    pub(crate) fn build_id_hex(&self) -> Option<String> {
        self.build_id.as_deref().map(hex)
    }

    /// The file it was loaded from, by the loader's name for it; `None`
    /// for an object with no file of its own (the vDSO).
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
                let segments: Vec<Segment> = headers
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
                let build_id = headers
                    .iter()
                    .filter(|header| header.p_type == libc::PT_NOTE)
                    .map(mapped)
                    .filter(|notes| {
                        segments.iter().any(|segment: &Segment| {
                            segment.range.start <= notes.start && notes.end <= segment.range.end
                        })
                    })
                    .find_map(|notes| {
                        // SAFETY: the notes lie inside a loaded segment of
                        // this object, mapped for the length of the call.
                        let bytes = std::slice::from_raw_parts(
                            notes.start as *const u8,
                            (notes.end - notes.start) as usize,
                        );
                        gnu_build_id(bytes)
                    });
                let is_executable = list.objects.is_empty();
                list.objects.push(LoadedObject {
                    name,
                    is_executable,
                    bias: info.dlpi_addr,
                    segments,
                    eh_frame_hdr,
                    build_id,
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

/// Runs `work` while no object can be unloaded: inside a callback of
/// `dl_iterate_phdr`, which holds glibc's lock on the list of loaded
/// objects (a recursive lock, so `work` may list them again). A `dlclose`
/// on another thread takes an object off that list before unmapping it,
/// and waits meanwhile; so what `work` reads of the objects it lists stays
/// mapped until it returns.
#[cfg(target_os = "linux")]
pub(crate) fn with_objects_held<T, F: FnOnce() -> T>(work: F) -> T {
    struct Call<F, T> {
        work: Option<F>,
        result: Option<std::thread::Result<T>>,
    }
    unsafe extern "C" fn first<F: FnOnce() -> T, T>(
        _info: *mut libc::dl_phdr_info,
        _size: usize,
        data: *mut c_void,
    ) -> c_int {
        // SAFETY: `data` is the `Call` below, borrowed for the call.
        let call = unsafe { &mut *data.cast::<Call<F, T>>() };
        if let Some(work) = call.work.take() {
            // A panic may not cross the C frames: it is carried out.
            call.result = Some(std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)));
        }
        // Once is enough: stop the iteration.
        1
    }
    let mut call = Call {
        work: Some(work),
        result: None,
    };
    // SAFETY: the callback only runs `work` and stores its result in the
    // `Call`, which outlives the iteration.
    unsafe { libc::dl_iterate_phdr(Some(first::<F, T>), (&raw mut call).cast()) };
    match (call.result, call.work) {
        (Some(result), _) => result.unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
        // No object listed at all (never in practice): nothing to hold.
        (None, Some(work)) => work(),
        (None, None) => unreachable!("the work ran without a result"),
    }
}

/// The GNU build id among ELF notes (`NT_GNU_BUILD_ID`, owner `GNU`).
fn gnu_build_id(mut notes: &[u8]) -> Option<Vec<u8>> {
    const NT_GNU_BUILD_ID: u32 = 3;
    let word = |bytes: &[u8], at: usize| -> Option<u32> {
        Some(u32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
    };
    let padded = |length: usize| length.div_ceil(4) * 4;
    while notes.len() >= 12 {
        let name_size = word(notes, 0)? as usize;
        let desc_size = word(notes, 4)? as usize;
        let kind = word(notes, 8)?;
        let name = notes.get(12..12 + name_size)?;
        let desc_start = 12 + padded(name_size);
        let desc = notes.get(desc_start..desc_start + desc_size)?;
        if kind == NT_GNU_BUILD_ID && name == b"GNU\0" {
            return Some(desc.to_vec());
        }
        notes = notes.get(desc_start + padded(desc_size)..)?;
    }
    None
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
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
        let file = holder.open_file().expect("the test binary opens");
        assert_eq!(
            file.build_id_bytes().as_deref(),
            holder.build_id.as_deref(),
            "the build id in memory is the file's"
        );
    }

    #[test]
    fn a_file_of_another_build_is_not_read() {
        let list = LoadedObjects::read();
        let mut executable = list.objects[0].clone();
        assert!(executable.open_file().is_some());
        executable.build_id = Some(vec![0xde, 0xad, 0xbe, 0xef]);
        assert!(
            executable.open_file().is_none(),
            "a file whose build id differs was opened"
        );
    }

    #[test]
    fn reads_build_id_notes() {
        let mut notes = Vec::new();
        // An unrelated note first, then the build id.
        for (name, kind, desc) in [
            (&b"Go\0\0"[..], 4u32, &[1u8, 2, 3][..]),
            (b"GNU\0", 3, &[0xab; 20]),
        ] {
            notes.extend((name.len() as u32).to_ne_bytes());
            notes.extend((desc.len() as u32).to_ne_bytes());
            notes.extend(kind.to_ne_bytes());
            notes.extend(name);
            notes.extend(desc);
            notes.resize(notes.len().div_ceil(4) * 4, 0);
        }
        assert_eq!(gnu_build_id(&notes), Some(vec![0xab; 20]));
        assert_eq!(gnu_build_id(&notes[..20]), None);
    }
}
