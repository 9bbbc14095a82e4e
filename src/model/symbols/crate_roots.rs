//! Which crate a source file belongs to, from the debug info rather than
//! the folder it sits in: a checkout in `main/`, a binary crate in
//! `scenarios/` named `leak_scenarios`, a workspace member in
//! `crates/foo-core/`. rustc names each compilation unit after its crate's
//! root file; the functions whose code the unit's line table puts under
//! the root's folder carry the crate's name in their symbols.

use std::collections::HashMap;

use super::dwarf::DebugInfo;

/// Units read for a folder at most: a crate's code is split over many
/// units, and some hold only other crates' generics.
const UNITS_READ: usize = 64;
/// The fewest functions that name a folder's crate: one alone may be
/// another crate's generic that the crate's code happens to start.
const MIN_VOTES: usize = 3;
/// Functions counted before a folder's crate is settled.
const VOTES_ENOUGH: usize = 16;

/// The crate root folders of one object file's units, and the crate each
/// folder was found to be, read when first asked.
#[derive(Default)]
pub(crate) struct CrateRoots {
    /// Each unit's crate root folder; `None` until first asked.
    units: Option<Vec<(String, gimli::DebugInfoOffset)>>,
    /// By folder, its crate; `None` where its units name none, or no one
    /// crate most of the time (a library and a binary in one `src/`).
    crates: HashMap<String, Option<String>>,
}

impl CrateRoots {
    /// The crate of `file`: that of the units whose root folder holds the
    /// file most closely.
    pub(crate) fn crate_of_file(&mut self, info: &DebugInfo, file: &str) -> Option<String> {
        let units = self.units.get_or_insert_with(|| info.unit_roots());
        // `tests/app/../../examples/demo/cache.rs`, as a `#[path]` leaves
        // it: not under `tests/app`.
        let file = &without_dot_dot(file);
        let folder = units
            .iter()
            .map(|(folder, _)| folder)
            .filter(|folder| {
                file.strip_prefix(folder.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
            })
            .max_by_key(|folder| folder.len())?
            .clone();
        if let Some(known) = self.crates.get(&folder) {
            return known.clone();
        }
        let mut votes = HashMap::new();
        for (_, offset) in units
            .iter()
            .filter(|(unit_folder, _)| *unit_folder == folder)
            .take(UNITS_READ)
        {
            info.crates_in_unit(*offset, &folder, &mut votes);
            // The standard library's generics inline every crate's closures.
            for standard in ["std", "core", "alloc"] {
                votes.remove(standard);
            }
            if votes.values().sum::<usize>() >= VOTES_ENOUGH {
                break;
            }
        }
        // The crate most functions are in, where it is most of them: a
        // library and a binary with their roots in one `src/` name none.
        let total: usize = votes.values().sum();
        let crate_name = votes
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
            .filter(|(_, count)| *count >= MIN_VOTES && *count * 3 >= total * 2)
            .map(|(crate_name, _)| crate_name);
        self.crates.insert(folder, crate_name.clone());
        crate_name
    }
}

/// `a/b/../c` → `a/c`, lexically.
fn without_dot_dot(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            ".." if segments.last().is_some_and(|last| !last.is_empty()) => {
                segments.pop();
            }
            "." => {}
            segment => segments.push(segment),
        }
    }
    segments.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This test binary's own debug info.
    fn own_debug_info() -> DebugInfo {
        let here = own_debug_info as *const () as usize as u64;
        let objects = crate::model::process::objects::LoadedObjects::read().objects;
        let object = objects.iter().find(|object| object.contains(here)).unwrap();
        DebugInfo::of(object.open_file().unwrap()).expect("the test binary opens")
    }

    #[test]
    fn a_file_s_crate_comes_from_the_units_not_its_folder() {
        let info = own_debug_info();
        let mut roots = CrateRoots::default();
        // Whatever the checkout's folder is called, memscope's sources are
        // memscope's.
        let file = concat!(env!("CARGO_MANIFEST_DIR"), "/src/layer/future.rs");
        assert_eq!(
            roots.crate_of_file(&info, file).as_deref(),
            Some("memscope")
        );
        // tokio's, as the registry's folder says.
        let tokio = roots
            .units
            .as_ref()
            .unwrap()
            .iter()
            .find(|(folder, _)| folder.contains("/tokio-1."))
            .map(|(folder, _)| format!("{folder}/runtime/mod.rs"));
        if let Some(tokio) = tokio {
            assert_eq!(roots.crate_of_file(&info, &tokio).as_deref(), Some("tokio"));
        }
        // A file no unit's root holds, however its path is written.
        assert_eq!(roots.crate_of_file(&info, "/nowhere/src/lib.rs"), None);
        let included = concat!(env!("CARGO_MANIFEST_DIR"), "/src/../examples/demo.rs");
        assert_eq!(roots.crate_of_file(&info, included), None);
        assert_eq!(
            without_dot_dot("/w/tests/a/../../examples/b.rs"),
            "/w/examples/b.rs"
        );
    }
}
