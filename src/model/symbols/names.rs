//! Full names for frames that DWARF names only as written.
//!
//! With line tables only, an inlined function is named by its last path
//! segment (`store_response`, `build<&str, Bytes>`, `{async_fn#0}`). The
//! symbol table has the full path of every function that also exists out
//! of line, and the frame's file says which crate and module it is in; a
//! short name is given the one full path those agree on, and else the path
//! its file gives.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};

use super::file_modules::module_of_file;

/// The text symbols of one object file, found by the last segment of
/// their demangled names, and by their crates and modules.
pub(crate) struct LastSegmentIndex {
    /// Full names, demangled without their hash, sorted.
    names: Vec<Box<str>>,
    /// The names' indexes by a hash of their last segment.
    by_last_segment: HashMap<u64, Vec<u32>>,
    /// Every crate that has a symbol.
    crates: HashSet<Box<str>>,
    /// By the item at a crate's root (`work` of `app::work::{{closure}}`),
    /// the crate, or `None` where two crates have one of that name.
    root_items: HashMap<Box<str>, Option<u32>>,
    /// The names' indexes sorted by their path after the crate, so that
    /// the names in a module are found by bisection.
    by_path: Vec<u32>,
}

/// `app::cache::store` → `("app", "cache::store")`.
fn split_crate(name: &str) -> Option<(&str, &str)> {
    name.trim_start_matches('<').split_once("::")
}

/// `work::{{closure}}` or `work<T>` → `work`: the item at the root.
fn root_item(path: &str) -> &str {
    let end = [path.find("::"), path.find('<')]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(path.len());
    &path[..end]
}

impl LastSegmentIndex {
    /// Indexes function symbols, mangled as the symbol table has them.
    pub(crate) fn build(mangled: &[&str]) -> Self {
        Self::of_names(
            mangled
                .iter()
                .map(|name| format!("{:#}", rustc_demangle::demangle(name)))
                .collect(),
        )
    }

    /// Indexes demangled names.
    fn of_names(mut names: Vec<String>) -> Self {
        names.sort_unstable();
        names.dedup();
        let mut index = Self {
            names: Vec::new(),
            by_last_segment: HashMap::new(),
            crates: HashSet::new(),
            root_items: HashMap::new(),
            by_path: Vec::new(),
        };
        for name in names {
            let last = last_segment(&name);
            if last.is_empty() || last.starts_with('{') {
                continue;
            }
            let position = index.names.len() as u32;
            index
                .by_last_segment
                .entry(hash(last))
                .or_default()
                .push(position);
            // `<&mut F as core::future::Future>::poll` is in no crate of
            // its own: its self type is not a path.
            if let Some((crate_name, path)) = split_crate(&name).filter(|(crate_name, _)| {
                crate_name.chars().all(|c| c.is_alphanumeric() || c == '_')
            }) {
                if !index.crates.contains(crate_name) {
                    index.crates.insert(crate_name.into());
                }
                // A function at the crate's root (`work`, `work<T>`,
                // `work::{{closure}}`), not a module's item (`json::Json`).
                let item = root_item(path);
                let rest = &path[item.len()..];
                let is_function =
                    rest.is_empty() || rest.starts_with('<') || rest.starts_with("::{");
                if is_function {
                    index
                        .root_items
                        .entry(item.into())
                        .and_modify(|known| {
                            let same = known.is_some_and(|known| {
                                split_crate(&index.names[known as usize])
                                    .is_some_and(|(other, _)| other == crate_name)
                            });
                            if !same {
                                *known = None;
                            }
                        })
                        .or_insert(Some(position));
                }
                index.by_path.push(position);
            }
            index.names.push(name.into_boxed_str());
        }
        let names = &index.names;
        let path_of =
            |position: &u32| split_crate(&names[*position as usize]).map_or("", |(_, path)| path);
        index
            .by_path
            .sort_by(|a, b| path_of(a).cmp(path_of(b)).then(a.cmp(b)));
        index
    }

    /// The crate whose symbols are in module `path`, if one is: a file's
    /// directory need not be its crate's name. Where several are, the
    /// first by name.
    fn crate_of_module(&self, path: &str) -> Option<&str> {
        if path.is_empty() {
            return None;
        }
        let module = format!("{path}::");
        let path_of = |position: &u32| {
            split_crate(&self.names[*position as usize]).map_or("", |(_, path)| path)
        };
        let start = self
            .by_path
            .partition_point(|position| path_of(position) < module.as_str());
        self.by_path[start..]
            .iter()
            .take_while(|position| path_of(position).starts_with(&module))
            .min()
            .and_then(|&position| split_crate(&self.names[position as usize]))
            .map(|(crate_name, _)| crate_name)
    }

    /// The one crate with an item `item` at its root (`leak_scenarios::work`
    /// or `leak_scenarios::work::{{closure}}` for `work`), if exactly one
    /// has: a binary's folder need not be its crate's name.
    fn crate_with_root_item(&self, item: &str) -> Option<&str> {
        let position = (*self.root_items.get(item)?)?;
        split_crate(&self.names[position as usize]).map(|(crate_name, _)| crate_name)
    }

    /// Whether any symbol is in crate `crate_name`.
    fn has_crate(&self, crate_name: &str) -> bool {
        self.crates.contains(crate_name)
    }

    /// Every full name whose last segment is `last`.
    fn candidates(&self, last: &str) -> impl Iterator<Item = &str> {
        self.by_last_segment
            .get(&hash(last))
            .into_iter()
            .flatten()
            .map(|&position| &*self.names[position as usize])
            .filter(move |name| last_segment(name) == last)
    }
}

fn hash(text: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

/// `a::b<T>::c` → `c`; `<a::B as c::D>::e` → `e`: the segment after the
/// last `::` outside angle brackets, without its generic arguments.
pub(crate) fn last_segment(name: &str) -> &str {
    let mut depth = 0i32;
    let mut start = 0;
    let bytes = name.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'<' => depth += 1,
            // The `>` of a function type's `->` closes nothing.
            b'>' if index > 0 && bytes[index - 1] == b'-' => {}
            b'>' => depth -= 1,
            b':' if depth == 0 && bytes.get(index + 1) == Some(&b':') => {
                start = index + 2;
                index += 1;
            }
            _ => {}
        }
        index += 1;
    }
    let last = &name[start..];
    split_generics(last).0
}

/// `build<&str, Bytes>` → (`build`, `<&str, Bytes>`).
fn split_generics(name: &str) -> (&str, &str) {
    match name.find('<') {
        Some(open) if open > 0 => name.split_at(open),
        _ => (name, ""),
    }
}

/// Whether `name` has a path of its own (a `::` outside angle brackets).
fn has_path(name: &str) -> bool {
    last_segment(name).len() < split_generics(name).0.len()
}

/// The full name of a frame written `short` in DWARF, in `file`, inlined
/// into the frames `outer` (their full names and files, nearest first);
/// `index` gives the symbol table, `crate_of_file` the crate the debug
/// info puts a file in (see `crate_roots`), asked only where the file's
/// folder names no crate.
pub(crate) fn full_name<'a>(
    short: &str,
    file: Option<&str>,
    line: Option<u32>,
    outer: &[(&str, Option<&str>)],
    index: impl FnOnce() -> &'a LastSegmentIndex,
    crate_of_file: &mut dyn FnMut(&str) -> Option<String>,
) -> String {
    // `__rust_alloc` and the like: the compiler's and runtime's own
    // symbols, which have no path.
    if short.is_empty() || has_path(short) || short.starts_with("__") {
        return short.to_owned();
    }
    let module = file.and_then(module_of_file);
    if short.starts_with('{') {
        return closure_name(
            short,
            file,
            line,
            outer,
            module.as_ref(),
            index,
            crate_of_file,
        );
    }
    let (base, generics) = split_generics(short);
    let index = index();
    let candidates: Vec<&str> = index.candidates(base).collect();
    match chosen_candidate(&candidates, module.as_ref()) {
        // Keep the instance's generic arguments, which the symbol table's
        // legacy names leave out.
        Some(full) if generics.is_empty() || full.ends_with('>') => full.to_owned(),
        Some(full) => format!("{full}{generics}"),
        None => match &module {
            Some((crate_name, path)) => {
                let file = file.unwrap_or_default();
                let named = (crate_name.as_str(), is_fetched(file));
                let found = crate_for(index, named, path, base, &mut || crate_of_file(file));
                join(&found, path, short)
            }
            None => short.to_owned(),
        },
    }
}

/// A closure or an async body (`{closure#0}`): named after the function
/// it is written in, as its source says where the file is at hand (that
/// function's full name where it is a frame around it), else the nearest
/// frame around it from the same file's crate.
fn closure_name<'a>(
    short: &str,
    file: Option<&str>,
    line: Option<u32>,
    outer: &[(&str, Option<&str>)],
    module: Option<&(String, String)>,
    index: impl FnOnce() -> &'a LastSegmentIndex,
    crate_of_file: &mut dyn FnMut(&str) -> Option<String>,
) -> String {
    if let (Some(file), Some(line), Some((crate_name, path))) = (file, line, module)
        && let Some(items) = super::source::enclosing_items(file, line)
    {
        let written_in = items.join("::");
        if let Some((around, _)) = outer
            .iter()
            .find(|(around, _)| is_named(around, &written_in))
        {
            return format!("{around}::{short}");
        }
        // Else the one function of that name the symbol table has under
        // a path that names the file's folder (a module the file was
        // included as with `#[path]`: `app::leaky_cache::cache::store`
        // for `examples/leaky_cache/service.rs`), where it has one out of
        // line.
        let index = index();
        let last = items.last().map_or(short, String::as_str);
        let mut written = index.candidates(last).filter(|candidate| {
            is_named(candidate, &written_in)
                && candidate
                    .split("::")
                    .any(|segment| segment == crate_name.as_str())
        });
        if let (Some(function), None) = (written.next(), written.next()) {
            return format!("{function}::{short}");
        }
        let inner = format!("{written_in}::{short}");
        let first_item = items.first().map_or(short, String::as_str);
        let named = (crate_name.as_str(), is_fetched(file));
        let found = crate_for(index, named, path, first_item, &mut || crate_of_file(file));
        return join(&found, path, &inner);
    }
    let same_crate = outer.iter().find(|(_, outer_file)| {
        let outer_module = outer_file.and_then(module_of_file);
        matches!((module, &outer_module), (Some((a, _)), Some((b, _))) if a == b)
    });
    match (same_crate, module) {
        (Some((around, _)), _) => format!("{around}::{short}"),
        (None, Some((crate_name, path))) => join(crate_name, path, short),
        (None, None) => match outer.first() {
            Some((around, _)) => format!("{around}::{short}"),
            None => short.to_owned(),
        },
    }
}

/// The one symbol-table name among `candidates` (names whose last segment
/// is the frame's) that the frame's file places: in its module and crate,
/// or in its module alone where that says enough.
fn chosen_candidate<'n>(
    candidates: &[&'n str],
    module: Option<&(String, String)>,
) -> Option<&'n str> {
    let Some((crate_name, path)) = module else {
        return match candidates {
            [one] => Some(*one),
            _ => None,
        };
    };
    // The module path is told by the file exactly; the crate only by its
    // directory, which need not be its name.
    let in_module = |name: &&str| {
        path.is_empty()
            || name.contains(&format!("::{path}::"))
            || name.starts_with(&format!("{path}::"))
    };
    let in_crate = |name: &&str| {
        name.trim_start_matches('<')
            .starts_with(&format!("{crate_name}::"))
    };
    let both: Vec<&str> = candidates
        .iter()
        .copied()
        .filter(|name| in_module(name) && in_crate(name))
        .collect();
    let by_module: Vec<&str> = candidates.iter().copied().filter(in_module).collect();
    match (both.as_slice(), by_module.as_slice()) {
        ([one], _) => Some(*one),
        (_, [one]) if !path.is_empty() => Some(*one),
        // A crate's root file in a folder not named after the crate: the
        // one candidate at a crate's root.
        _ if path.is_empty() => {
            let mut at_root = candidates.iter().copied().filter(|name| {
                let (base, _) = split_generics(name.trim_start_matches('<'));
                base.matches("::").count() == 1
            });
            match (at_root.next(), at_root.next()) {
                (Some(one), None) => Some(one),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Whether the full name `name` is the function `written_in` (its items
/// as the source nests them: `store`, `Cache::store`), generic arguments
/// aside: `app::cache::Cache<T>::store` is `Cache::store`.
fn is_named(name: &str, written_in: &str) -> bool {
    let plain = super::frames::enclosing_function(name);
    let plain: String = plain
        .split("::")
        .map(|segment| split_generics(segment).0)
        .collect::<Vec<_>>()
        .join("::");
    plain
        .strip_suffix(written_in)
        .is_some_and(|before| before.ends_with("::"))
}

/// The crate a file's directory names, where that is a crate's for sure
/// (the registry's, git's and the toolchain's folders are named after
/// their crates) or the symbol table knows a crate of that name; else the crate the debug info's units put the file
/// in (`from_debug_info`); else the crate the symbol table puts the module
/// path in or, for a crate's root file, the one crate with an item named
/// `first_item` at its root; else the directory's name after all.
fn crate_for(
    index: &LastSegmentIndex,
    (crate_name, folder_is_crate): (&str, bool),
    path: &str,
    first_item: &str,
    from_debug_info: &mut dyn FnMut() -> Option<String>,
) -> String {
    if index.has_crate(crate_name) || folder_is_crate {
        return crate_name.to_owned();
    }
    if let Some(found) = from_debug_info() {
        return found;
    }
    let found = if path.is_empty() {
        index.crate_with_root_item(first_item)
    } else {
        index.crate_of_module(path)
    };
    found.unwrap_or(crate_name).to_owned()
}

/// A file cargo fetched or the toolchain's, in a folder named after its
/// crate.
fn is_fetched(file: &str) -> bool {
    file.contains("/registry/src/")
        || file.contains("/.cargo/git/")
        || file.starts_with("/rustc/")
        || file.starts_with("/rust/deps/")
}

fn join(crate_name: &str, path: &str, short: &str) -> String {
    if path.is_empty() {
        format!("{crate_name}::{short}")
    } else {
        format!("{crate_name}::{path}::{short}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` written at `path` under `dir`, for the source reader.
    fn source_file(dir: &tempfile::TempDir, path: &str, text: &str) -> std::path::PathBuf {
        let file = dir.path().join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, text).unwrap();
        file
    }

    fn index(names: &[&str]) -> LastSegmentIndex {
        LastSegmentIndex::of_names(names.iter().map(|name| (*name).to_owned()).collect())
    }

    #[test]
    fn last_segments_leave_generics_and_trait_paths_out() {
        assert_eq!(last_segment("tower::poll<fn(A) -> B, C>"), "poll");
        assert_eq!(
            last_segment("leaky_cache::cache::store_response"),
            "store_response"
        );
        assert_eq!(last_segment("alloc::vec::Vec<T,A>::push"), "push");
        assert_eq!(
            last_segment("<alloc::vec::Vec<T> as core::ops::Drop>::drop"),
            "drop"
        );
        assert_eq!(last_segment("build<&str, bytes::Bytes>"), "build");
        assert!(has_path("a::b"));
        assert!(!has_path("build<a::B>"));
    }

    #[test]
    fn files_give_crates_and_modules() {
        let registry = "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tokio-1.40.0/src/runtime/task/mod.rs";
        assert_eq!(
            module_of_file(registry),
            Some(("tokio".into(), "runtime::task".into()))
        );
        assert_eq!(
            module_of_file("/rustc/abc/library/alloc/src/raw_vec.rs"),
            Some(("alloc".into(), "raw_vec".into()))
        );
        assert_eq!(
            module_of_file("/work/my-app/src/handlers/upload.rs"),
            Some(("my_app".into(), "handlers::upload".into()))
        );
        assert_eq!(
            module_of_file("/work/main/examples/leaky_cache.rs"),
            Some(("leaky_cache".into(), String::new()))
        );
        assert_eq!(module_of_file("/usr/include/x.h"), None);
        let of = |file: &str| module_of_file(file).unwrap();
        assert_eq!(of("/work/app/tests/leak.rs"), ("leak".into(), "".into()));
        assert_eq!(
            of("/work/app/tests/suite/main.rs"),
            ("suite".into(), "".into())
        );
        assert_eq!(
            of("/work/app/tests/suite/heap/sites.rs"),
            ("suite".into(), "heap::sites".into())
        );
        assert_eq!(
            of("/work/app/tests/suite/../common/mod.rs"),
            ("suite".into(), "common".into())
        );
        // A folder's mod.rs is a module of another target's crate.
        assert_eq!(
            of("/work/app/tests/shared/mod.rs"),
            ("shared".into(), "shared".into())
        );
    }

    #[test]
    fn short_names_get_the_path_the_symbols_and_the_file_agree_on() {
        let symbols = index(&[
            "leaky_cache::cache::store_response",
            "my_app::handlers::upload::keep",
            "my_app::handlers::upload::Upload::new",
            "other_crate::keep",
            "leak_scenarios::work",
            "leak_scenarios::work::{{closure}}",
            "scale::grow",
            "alloc::vec::Vec<T,A>::push",
            "smallvec::SmallVec<A>::push",
        ]);
        let main = [("my_app::main", Some("/w/my_app/src/main.rs"))];
        let named = |short, file| full_name(short, file, None, &main, || &symbols, &mut |_| None);
        assert_eq!(
            named("store_response", Some("/w/examples/leaky_cache.rs")),
            "leaky_cache::cache::store_response"
        );
        assert_eq!(
            named(
                "keep<alloc::string::String>",
                Some("/w/my_app/src/handlers/upload.rs")
            ),
            "my_app::handlers::upload::keep<alloc::string::String>"
        );
        assert_eq!(
            named("push<u8>", Some("/rustc/x/library/alloc/src/vec/mod.rs")),
            "alloc::vec::Vec<T,A>::push<u8>"
        );
        // Nothing in the symbol table: the file's path.
        assert_eq!(
            named("inlined_only", Some("/w/my_app/src/cache.rs")),
            "my_app::cache::inlined_only"
        );
        // Already a path, or nothing to go by.
        assert_eq!(named("a::b", None), "a::b");
        assert_eq!(named("mystery", None), "mystery");
        // A closure inlined into the function of its own crate, even
        // through another crate's.
        assert_eq!(
            named("{async_fn#0}", Some("/w/my_app/src/main.rs")),
            "my_app::main::{async_fn#0}"
        );
        let through = [
            (
                "alloc::vec::Vec<T>::extend",
                Some("/rustc/x/library/alloc/src/vec/mod.rs"),
            ),
            ("my_app::cache::store", Some("/w/my_app/src/cache.rs")),
        ];
        assert_eq!(
            full_name(
                "{closure#0}",
                Some("/w/my_app/src/cache.rs"),
                None,
                &through,
                || &symbols,
                &mut |_| None
            ),
            "my_app::cache::store::{closure#0}"
        );
        // ... or into another crate's only: its own file's module.
        let tokio = [(
            "tokio::spawn",
            Some("/r/registry/src/i/tokio-1.0.0/src/task.rs"),
        )];
        assert_eq!(
            full_name(
                "{closure#0}",
                Some("/w/my_app/src/jobs.rs"),
                None,
                &tokio,
                || { &symbols },
                &mut |_| None
            ),
            "my_app::jobs::{closure#0}"
        );
        // A binary crate whose folder is not its name, and a binary of
        // `src/bin/`: the symbols tell, and the file.
        assert_eq!(
            named("work", Some("/w/app/src/main.rs")),
            "leak_scenarios::work"
        );
        let checkout = tempfile::tempdir().unwrap();
        let main_rs = source_file(
            &checkout,
            "app/src/main.rs",
            "async fn work() {\n    let kept = vec![1u8; 64];\n}\n",
        );
        assert_eq!(
            full_name(
                "{async_fn#0}",
                main_rs.to_str(),
                Some(2),
                &[],
                || &symbols,
                &mut |_| None
            ),
            "leak_scenarios::work::{async_fn#0}"
        );
        assert_eq!(
            named("grow", Some("/w/app/src/bin/scale.rs")),
            "scale::grow"
        );
        assert_eq!(
            named("grow_more", Some("/w/app/src/bin/scale/main.rs")),
            "scale::grow_more"
        );
        // A crate whose directory is not its name: the symbols tell.
        assert_eq!(
            named("helper", Some("/w/checkout/src/handlers/upload.rs")),
            "my_app::handlers::upload::helper"
        );
    }

    #[test]
    fn a_checkout_s_folder_never_names_a_crate() {
        let symbols = index(&[
            "memscope::layer::future::other",
            "tokio::spawn",
            "<&mut F as core::future::future::Future>::poll",
            "jemalloc::leaky_cache::cache::store_response",
        ]);
        // A trait method on a type that is not a path makes no crate of
        // `&mut F as core`: a fetched crate's folder names it.
        assert_eq!(
            full_name(
                "try_poll<app::Fut>",
                Some("/r/registry/src/i/futures-core-0.3.0/src/future.rs"),
                None,
                &[],
                || &symbols,
                &mut |_| None
            ),
            "futures_core::future::try_poll<app::Fut>"
        );
        // A checkout in `main/`: the debug info's units say whose it is.
        assert_eq!(
            full_name(
                "inlined_only",
                Some("/work/main/src/layer/future.rs"),
                None,
                &[],
                || &symbols,
                &mut |file| file
                    .starts_with("/work/main/src/")
                    .then(|| "memscope".to_owned())
            ),
            "memscope::layer::future::inlined_only"
        );
        // An async fn of a binary crate in a folder of another name, its
        // body in no symbol: the units say whose the folder is.
        let scenarios = tempfile::tempdir().unwrap();
        let main_rs = source_file(
            &scenarios,
            "scenarios/src/main.rs",
            "async fn work() {\n    let kept = vec![1u8; 64];\n}\n",
        );
        let folder = main_rs.parent().unwrap().to_str().unwrap().to_owned();
        assert_eq!(
            full_name(
                "{async_fn#0}",
                main_rs.to_str(),
                Some(2),
                &[],
                || &symbols,
                &mut |file| file
                    .starts_with(&folder)
                    .then(|| "leak_scenarios".to_owned())
            ),
            "leak_scenarios::work::{async_fn#0}"
        );
        // A closure inlined into its own function takes that function's
        // full name, whatever its file's folder is called.
        let checkout = tempfile::tempdir().unwrap();
        let cache_rs = source_file(
            &checkout,
            "examples/leaky_cache/cache.rs",
            "pub fn store_response(body: &[u8]) -> Vec<u8> {\n    body.iter().map(|b| b + 1).collect()\n}\n",
        );
        let around = [(
            "jemalloc::leaky_cache::cache::store_response",
            cache_rs.to_str(),
        )];
        assert_eq!(
            full_name(
                "{closure#0}",
                cache_rs.to_str(),
                Some(2),
                &around,
                || &symbols,
                &mut |_| None
            ),
            "jemalloc::leaky_cache::cache::store_response::{closure#0}"
        );
        // ... and where it is not a frame around it, the one of its name
        // the symbol table has.
        assert_eq!(
            full_name(
                "{closure#0}",
                cache_rs.to_str(),
                Some(2),
                &[],
                || &symbols,
                &mut |_| None
            ),
            "jemalloc::leaky_cache::cache::store_response::{closure#0}"
        );
    }
}
