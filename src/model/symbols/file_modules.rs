//! The crate and module a source file's path gives, from where cargo and
//! the toolchain put sources: a guess the symbol table and the debug
//! info's units correct where a folder is not named after its crate.

/// The crate and module path a source file gives, from where cargo and the
/// toolchain put sources: `.../registry/src/<index>/tokio-1.40.0/src/a/b.rs`
/// and `/rustc/<hash>/library/alloc/src/a/b.rs` give (`tokio`, `a::b`),
/// `my_app/src/a.rs` gives (`my_app`, `a`), `examples/demo.rs` (`demo`,
/// ``), `tests/suite/heap/sites.rs` (`suite`, `heap::sites`); an
/// example's folder `examples/demo/service.rs` (`demo`, ``), as `include!`
/// puts it.
pub(crate) fn module_of_file(file: &str) -> Option<(String, String)> {
    let file = file.replace('\\', "/");
    let (root, inner) = if let Some(at) = file.rfind("/src/") {
        (&file[..at], &file[at + "/src/".len()..])
    } else if let Some(at) = file.rfind("/examples/") {
        // An example is one file, or a file that `include!`s the files of
        // its folder: the folder's files are at its crate's root.
        let stem = file[at + "/examples/".len()..].trim_end_matches(".rs");
        let crate_name = stem.split('/').next().unwrap_or(stem);
        return Some((crate_name.replace('-', "_"), String::new()));
    } else {
        return ["/tests/", "/benches/"]
            .iter()
            .find_map(|dir| file.rfind(dir).map(|at| &file[at + dir.len()..]))
            .map(target_module);
    };
    let directory = root.rsplit('/').next().unwrap_or(root);
    let crate_name = if root.contains("/registry/src/") || root.contains("/.cargo/git/") {
        // `tokio-1.40.0`: the name, without its version.
        match directory.rfind('-') {
            Some(dash) if directory[dash + 1..].starts_with(|c: char| c.is_ascii_digit()) => {
                &directory[..dash]
            }
            _ => directory,
        }
    } else {
        directory
    };
    let mut segments: Vec<&str> = inner.trim_end_matches(".rs").split('/').collect();
    // A binary target of its own: `src/bin/scale.rs` or
    // `src/bin/scale/main.rs` is the root of crate `scale`.
    let crate_name = match segments.as_slice() {
        ["bin", name, ..] => {
            let name = *name;
            segments.drain(..2);
            name
        }
        _ => crate_name,
    };
    if matches!(segments.last(), Some(&("lib" | "main" | "mod"))) {
        segments.pop();
    }
    Some((crate_name.replace('-', "_"), segments.join("::")))
}

/// The crate and module of a file under `tests/` or `benches/`, given as
/// its path there: a file at the top is a crate's root
/// (`leak.rs`, crate `leak`); a folder's files are that crate's modules
/// (`suite/main.rs` its root, `suite/heap/sites.rs` its `heap::sites`),
/// the `..` of a `#[path]` left out (`suite/../common/mod.rs` is
/// `common`). A folder's own `mod.rs` is a module of that name in some
/// other target's crate, which the symbol table names.
fn target_module(below: &str) -> (String, String) {
    let segments: Vec<&str> = below
        .trim_end_matches(".rs")
        .split('/')
        .filter(|segment| !matches!(*segment, ".." | "." | ""))
        .collect();
    let Some((crate_dir, inner)) = segments.split_first() else {
        return (String::new(), String::new());
    };
    let crate_name = crate_dir.replace('-', "_");
    let module = match inner {
        ["mod"] => vec![crate_name.as_str()],
        [module @ .., "main" | "mod" | "lib"] => module.to_vec(),
        module => module.to_vec(),
    };
    let path = module.join("::");
    (crate_name, path)
}
