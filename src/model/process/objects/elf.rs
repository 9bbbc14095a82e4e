//! Object files read from disk: memory-mapped, so that their pages are the
//! kernel's to drop and read again, and their GNU build ids.

#![allow(unsafe_code)]

use std::path::Path;
use std::sync::Mutex;

/// An object file mapped read-only.
#[derive(Debug)]
pub(crate) struct ObjectFile {
    map: memmap2::Mmap,
}

impl ObjectFile {
    /// Maps the file at `path`; `None` where it cannot be opened.
    pub(crate) fn open(path: &Path) -> Option<Self> {
        let file = std::fs::File::open(path).ok()?;
        // SAFETY: the map is read only. A file changed underneath while the
        // process runs gives wrong bytes, which every reader checks against
        // the lengths it parses (an error or a wrong name, not a fault);
        // the file stays mapped while `Self` lives.
        let map = unsafe { memmap2::Mmap::map(&file) }.ok()?;
        Some(Self { map })
    }

    /// The file's bytes. They stay where they are when `Self` moves: the
    /// mapping's address is the kernel's, not the struct's.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// Drops the pages of the file this process has read from its
    /// resident set: they stay in the page cache, and are read from there
    /// again (a minor fault each) where they are needed again.
    pub(crate) fn release_pages(&self) {
        // SAFETY: the mapping is a read-only map of a file: its pages,
        // dropped, read back as the file's bytes, which `bytes` then
        // returns unchanged.
        let _ = unsafe {
            self.map
                .unchecked_advise(memmap2::UncheckedAdvice::DontNeed)
        };
    }

    /// The file's GNU build id.
    pub(crate) fn build_id_bytes(&self) -> Option<Vec<u8>> {
        use object::Object;
        let object = object::File::parse(self.bytes()).ok()?;
        Some(object.build_id().ok()??.to_vec())
    }

    /// The file's GNU build id, in hex.
    pub(crate) fn build_id(&self) -> Option<String> {
        let id = self.build_id_bytes()?;
        Some(id.iter().map(|byte| format!("{byte:02x}")).collect())
    }
}

/// The GNU build id of the object file at `path`, in hex, read once a file.
pub(crate) fn build_id(path: &str) -> Option<String> {
    static KNOWN: Mutex<Vec<(String, Option<String>)>> = Mutex::new(Vec::new());
    let mut known = crate::sync::lock(&KNOWN);
    if let Some((_, id)) = known.iter().find(|(known, _)| known == path) {
        return id.clone();
    }
    let id = ObjectFile::open(Path::new(path)).and_then(|file| file.build_id());
    known.push((path.to_owned(), id.clone()));
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_build_id_of_this_test_binary() {
        let exe = std::env::current_exe().unwrap();
        let id = build_id(exe.to_str().unwrap()).expect("rustc writes a build id on Linux");
        assert!(
            id.len() >= 16 && id.chars().all(|c| c.is_ascii_hexdigit()),
            "{id}"
        );
        assert_eq!(build_id(exe.to_str().unwrap()), Some(id));
    }
}
