//! Which crate a source file belongs to, from the debug info rather than
//! the folder it sits in: a checkout in `main/`, a binary crate in
//! `scenarios/` named `leak_scenarios`, a workspace member in
//! `crates/foo-core/`. rustc names each compilation unit after its crate's
//! root file; the functions whose code the unit's line table puts under
//! the root's folder carry the crate's name in their symbols.

use std::collections::HashMap;

use super::dwarf::{DebugInfo, Reader};

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

/// What the debug info's units say of their crates.
impl DebugInfo {
    /// Each compilation unit's crate root folder (`/w/app/src` for a
    /// unit of `src/lib.rs`, from its name and compilation directory).
    fn unit_roots(&self) -> Vec<(String, gimli::DebugInfoOffset)> {
        let mut roots = Vec::new();
        let mut headers = self.dwarf.debug_info.units();
        while let Ok(Some(header)) = headers.next() {
            let Some(offset) = header.offset().as_debug_info_offset() else {
                continue;
            };
            let Ok(unit) = self.dwarf.unit(header) else {
                continue;
            };
            let text =
                |value: Option<Reader>| value.map(|text| text.to_string_lossy().into_owned());
            // rustc names a unit `<crate root file>/@/<codegen unit>`.
            let Some(name) = text(unit.name) else {
                continue;
            };
            let root_file = name.split("/@/").next().unwrap_or(&name);
            let path = match text(unit.comp_dir) {
                Some(directory) if !root_file.starts_with('/') => {
                    format!("{directory}/{root_file}")
                }
                _ => root_file.to_owned(),
            };
            if let Some((folder, _)) = path.rsplit_once('/') {
                roots.push((folder.to_owned(), offset));
            }
        }
        roots
    }

    /// Counts, into `votes`, the crates of the function symbols with a
    /// plain path (`app::cache::store`, not a trait's `<…>`) whose first
    /// row in unit `offset`'s line table is under `folder` (the unit's
    /// crate root folder): the crate's own functions.
    fn crates_in_unit(
        &self,
        offset: gimli::DebugInfoOffset,
        folder: &str,
        votes: &mut HashMap<String, usize>,
    ) {
        /// Functions enough to tell the crate by.
        const FUNCTIONS_READ: usize = 64;
        let Ok(unit) = self.unit(offset) else { return };
        let Some(program) = unit.line_program.clone() else {
            return;
        };
        let inside = format!("{folder}/");
        let mut files_inside: HashMap<u64, bool> = HashMap::new();
        let mut functions = std::collections::HashSet::new();
        let mut rows = program.rows();
        while let Ok(Some((header, row))) = rows.next_row() {
            if row.end_sequence() {
                continue;
            }
            let file = row.file_index();
            let is_inside = *files_inside.entry(file).or_insert_with(|| {
                self.file_name(&unit, header, file)
                    .is_some_and(|name| name.starts_with(&inside))
            });
            // A function's first row is its own code's: a generic function
            // of another crate that inlines the crate's closures starts in
            // its own crate's file.
            let Some(mangled) = is_inside
                .then(|| self.symbols.starting_at(row.address()))
                .flatten()
            else {
                continue;
            };
            if !functions.insert(mangled) {
                continue;
            }
            let name = format!("{:#}", rustc_demangle::demangle(mangled));
            if let Some((crate_name, _)) = name.split_once("::")
                && crate_name.chars().all(|c| c.is_alphanumeric() || c == '_')
            {
                *votes.entry(crate_name.to_owned()).or_default() += 1;
            }
            if functions.len() >= FUNCTIONS_READ {
                break;
            }
        }
        self.release_pages();
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
