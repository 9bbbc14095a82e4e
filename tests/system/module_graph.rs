//! The crate's architecture, checked from its source: the rooms (`layer`,
//! `record`, `model`, `pages`) import each other one way only, and no room
//! has an import cycle among its own modules.
//!
//! An edge is a `use` of another module's item, or an inline
//! `crate::`/`super::` path, in code that is not a test; askama templates
//! count for the module that derives them. A re-export (`pub use`,
//! `pub(crate) use`) is a door, not a dependency: paths through it are
//! followed to the module that defines the item, and the re-exporting
//! module depends on that module only where its own code uses the name.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The rooms, and the rooms each may import. The layer reaches into the
/// model only to start what the pages will read (the samplers, the walker).
const ROOMS: &[(&str, &[&str])] = &[
    ("layer", &["record", "pages", "model"]),
    ("pages", &["model", "record"]),
    ("model", &["record"]),
    ("record", &[]),
];

/// The model's folders, top layer first: each imports only those after it
/// (and `model::error`, which every layer shares and which imports none).
const MODEL_LAYERS: &[&str] = &[
    "black_box",
    "verdict",
    "cpu",
    "pprof",
    "over_time",
    "heap",
    "symbols",
    "allocator",
    "process",
];

/// Rooms whose folders and files, taken one level below the room, must
/// not import each other in a circle.
const FOLDER_ROOMS: &[&str] = &["model", "pages"];

/// What dispatch imports that is not a page: the kit every page shares.
const SHARED_BY_PAGES: &str = "pages::kit";

type Module = Vec<String>;

struct SourceFile {
    module: Module,
    /// The code without comments, strings and test modules.
    code: String,
    /// The `crate::` paths of the templates this module derives.
    template_paths: Vec<String>,
}

struct Crate {
    files: BTreeMap<Module, SourceFile>,
    /// (module, name) → the path the name is re-exported from.
    reexports: BTreeMap<(Module, String), Module>,
}

#[test]
fn rooms_import_one_way_and_have_no_cycle_inside() {
    let krate = read_crate();
    let edges = edges(&krate);
    let mut problems = Vec::new();
    for (from, to) in &edges {
        let (Some(from_room), Some(to_room)) = (room_of(from), room_of(to)) else {
            continue;
        };
        if from_room == to_room {
            continue;
        }
        let allowed = ROOMS
            .iter()
            .find(|(room, _)| *room == from_room)
            .is_some_and(|(_, may)| may.contains(&to_room));
        if !allowed {
            problems.push(format!(
                "{} imports {}: room {from_room} may not import room {to_room}",
                from.join("::"),
                to.join("::")
            ));
        }
    }
    for (room, _) in ROOMS {
        for cycle in cycles(&edges, room) {
            problems.push(format!("cycle in room {room}: {}", cycle.join(" → ")));
        }
    }
    for room in FOLDER_ROOMS {
        let folders = folder_edges(&edges, room);
        for cycle in cycles(&folders, room) {
            problems.push(format!(
                "the folders of room {room} import each other in a circle: {}",
                cycle.join(" → ")
            ));
        }
    }
    problems.extend(model_layer_problems(&edges));
    // The pages are what dispatch imports of its own room besides the
    // leaves every page shares; no page imports another (shared views live in `render`).
    let dispatch = module("pages::dispatch");
    let pages: BTreeSet<&Module> = edges
        .iter()
        .filter(|(from, to)| {
            *from == dispatch
                && room_of(to) == Some("pages")
                && !to.join("::").starts_with(SHARED_BY_PAGES)
        })
        .map(|(_, to)| to)
        .collect();
    for (from, to) in &edges {
        let into_a_page = pages.iter().any(|page| to.starts_with(page));
        let from_its_own = pages
            .iter()
            .any(|page| from.starts_with(page) && to.starts_with(page));
        if into_a_page && *from != dispatch && !from_its_own {
            problems.push(format!(
                "{} imports the page {}: pages share through render/",
                from.join("::"),
                to.join("::")
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "the module graph breaks the architecture:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_checker_finds_folders_in_a_circle_and_a_layer_reaching_up() {
    let graph: BTreeSet<(Module, Module)> = [
        ("model::heap::table", "model::symbols::names"),
        ("model::symbols::names", "model::heap::site"),
        ("model::process::unwind", "model::allocator::sampled"),
        ("model::allocator::source", "model::error"),
    ]
    .iter()
    .map(|(from, to)| (module(from), module(to)))
    .collect();
    assert_eq!(
        cycles(&folder_edges(&graph, "model"), "model"),
        vec![vec!["model::heap", "model::symbols"]]
    );
    let problems = model_layer_problems(&graph);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("model::process::unwind imports model::allocator::sampled"));
    assert!(problems[1].contains("model::symbols::names imports model::heap::site"));
}

#[test]
fn the_checker_finds_a_cycle_and_a_door_opened_the_wrong_way() {
    let graph: BTreeSet<(Module, Module)> = [
        ("pages::a", "pages::b"),
        ("pages::b", "pages::c"),
        ("pages::c", "pages::a"),
        ("pages::c", "pages::d"),
    ]
    .iter()
    .map(|(from, to)| (module(from), module(to)))
    .collect();
    assert_eq!(
        cycles(&graph, "pages"),
        vec![vec!["pages::a", "pages::b", "pages::c"]]
    );
    let krate = Crate {
        files: BTreeMap::from([
            (
                module("model::x"),
                file("model::x", "use crate::pages::y::Z;"),
            ),
            (module("pages::y"), file("pages::y", "pub(crate) struct Z;")),
            (
                module("pages"),
                file("pages", "mod y; pub(crate) use y::Z;"),
            ),
            (
                module("pages::w"),
                file("pages::w", "fn f() { super::Z::new(); }"),
            ),
        ]),
        reexports: BTreeMap::from([((module("pages"), "Z".to_owned()), module("pages::y::Z"))]),
    };
    let edges = edges(&krate);
    assert!(edges.contains(&(module("model::x"), module("pages::y"))));
    assert!(
        edges.contains(&(module("pages::w"), module("pages::y"))),
        "{edges:?}"
    );
    assert!(
        !edges.iter().any(|(from, _)| *from == module("pages")),
        "a re-export alone is not a dependency: {edges:?}"
    );
}

/// The edges between the folders and files one level below `room`
/// (`model::heap::table` → `model::symbols::names` is `model::heap` →
/// `model::symbols`).
fn folder_edges(edges: &BTreeSet<(Module, Module)>, room: &str) -> BTreeSet<(Module, Module)> {
    let folder = |module: &Module| -> Option<Module> {
        (module.first()? == room && module.len() >= 2).then(|| module[..2].to_vec())
    };
    edges
        .iter()
        .filter_map(|(from, to)| Some((folder(from)?, folder(to)?)))
        .filter(|(from, to)| from != to)
        .collect()
}

/// Every import of a model folder that reaches a layer above it.
fn model_layer_problems(edges: &BTreeSet<(Module, Module)>) -> Vec<String> {
    let layer = |module: &Module| -> Option<usize> {
        if module.first()? != "model" {
            return None;
        }
        MODEL_LAYERS
            .iter()
            .position(|name| Some(*name) == module.get(1).map(String::as_str))
    };
    let mut problems = Vec::new();
    for (from, to) in edges {
        let from_error = from.len() >= 2 && from[0] == "model" && from[1] == "error";
        if from_error && to.first().is_some_and(|room| room == "model") && to.len() >= 2 {
            problems.push(format!(
                "{} imports {}: model::error is below every layer",
                from.join("::"),
                to.join("::")
            ));
        }
        let (Some(from_layer), Some(to_layer)) = (layer(from), layer(to)) else {
            continue;
        };
        if to_layer < from_layer {
            problems.push(format!(
                "{} imports {}: model layer {} may not import layer {}, which is above it",
                from.join("::"),
                to.join("::"),
                MODEL_LAYERS[from_layer],
                MODEL_LAYERS[to_layer]
            ));
        }
    }
    problems
}

fn module(path: &str) -> Module {
    path.split("::").map(str::to_owned).collect()
}

fn file(path: &str, code: &str) -> SourceFile {
    SourceFile {
        module: module(path),
        code: code.to_owned(),
        template_paths: Vec::new(),
    }
}

fn room_of(module: &Module) -> Option<&str> {
    let first = module.first()?;
    ROOMS
        .iter()
        .map(|(room, _)| *room)
        .find(|room| room == first)
}

fn read_crate() -> Crate {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = Vec::new();
    collect_rust_files(&root.join("src"), &mut paths);
    let mut files = BTreeMap::new();
    for path in paths {
        let relative = path.strip_prefix(root.join("src")).unwrap();
        let Some(module) = module_of(relative) else {
            continue;
        };
        let text = fs::read_to_string(&path).unwrap();
        let template_paths = template_names(&text)
            .iter()
            .flat_map(|name| {
                let template = fs::read_to_string(root.join("templates").join(name))
                    .unwrap_or_else(|e| panic!("template {name}: {e}"));
                inline_paths(&template)
            })
            .collect();
        let code = without_tests(&strip_comments_and_strings(&text));
        files.insert(
            module.clone(),
            SourceFile {
                module,
                code,
                template_paths,
            },
        );
    }
    let mut krate = Crate {
        files,
        reexports: BTreeMap::new(),
    };
    let mut reexports = BTreeMap::new();
    for file in krate.files.values() {
        for statement in use_statements(&file.code) {
            if !statement.public {
                continue;
            }
            for path in expand_use_tree(&statement.tree) {
                let Some(name) = path.last().cloned() else {
                    continue;
                };
                if name == "self" {
                    continue;
                }
                if let Some(target) = absolute(&krate, &file.module, &path) {
                    reexports.insert((file.module.clone(), name), target);
                }
            }
        }
    }
    krate.reexports = reexports;
    krate
}

fn collect_rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// `model/heap/mod.rs` → `model::heap`; test modules of their own file
/// (`tests.rs`) are left out.
fn module_of(relative: &Path) -> Option<Module> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|part| part.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop()?;
    let stem = last.strip_suffix(".rs")?;
    match stem {
        "lib" | "mod" => {}
        "tests" => return None,
        stem => parts.push(stem.to_owned()),
    }
    Some(parts)
}

/// The templates a file derives: `#[template(path = "x.html")]`, or the
/// kit's `html_form!(Page => "x.html")`.
fn template_names(text: &str) -> Vec<String> {
    let derived = text
        .match_indices("#[template(path = \"")
        .map(|(at, found)| at + found.len());
    let declared = text.match_indices("html_form!(").filter_map(|(at, found)| {
        let call = &text[at + found.len()..];
        let arrow = call.find("=> \"")?;
        (call[..arrow].find(')').is_none()).then_some(at + found.len() + arrow + 4)
    });
    derived
        .chain(declared)
        .filter_map(|start| {
            let rest = &text[start..];
            rest.find('"').map(|end| rest[..end].to_owned())
        })
        .collect()
}

/// Removes comments and the contents of string and char literals, so that
/// what is left is code.
fn strip_comments_and_strings(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            let end = rest.find('\n').unwrap_or(rest.len());
            i += end;
        } else if rest.starts_with("/*") {
            let end = rest.find("*/").map_or(rest.len(), |end| end + 2);
            i += end;
        } else if let Some(hashes) = raw_string_start(rest) {
            let closing = format!("\"{}", "#".repeat(hashes));
            let body = &rest[hashes + 2..];
            let end = body
                .find(&closing)
                .map_or(body.len(), |end| end + closing.len());
            out.push_str("\"\"");
            i += hashes + 2 + end;
        } else if rest.starts_with('"') {
            let mut j = 1;
            while j < rest.len() {
                match rest.as_bytes()[j] {
                    b'\\' => j += 2,
                    b'"' => break,
                    _ => j += 1,
                }
            }
            out.push_str("\"\"");
            i += (j + 1).min(rest.len());
        } else if let Some(len) = char_literal_len(rest) {
            out.push_str("' '");
            i += len;
        } else {
            let c = rest.chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

fn raw_string_start(rest: &str) -> Option<usize> {
    let after_r = rest.strip_prefix('r').or_else(|| rest.strip_prefix("br"))?;
    let prefix = rest.len() - after_r.len();
    let hashes = after_r.bytes().take_while(|&b| b == b'#').count();
    (after_r.as_bytes().get(hashes) == Some(&b'"')).then_some(hashes + prefix - 1)
}

/// The length of a char literal at the start of `rest` (`'a'`, `'\n'`,
/// `'\''`), or `None` for a lifetime.
fn char_literal_len(rest: &str) -> Option<usize> {
    let body = rest.strip_prefix('\'')?;
    if let Some(escaped) = body.strip_prefix('\\') {
        let end = escaped[1..].find('\'')?;
        return Some(end + 4);
    }
    let c = body.chars().next()?;
    body[c.len_utf8()..]
        .starts_with('\'')
        .then_some(c.len_utf8() + 2)
}

/// Cuts every `#[cfg(test)]` item: test modules may import what they test.
fn without_tests(code: &str) -> String {
    let mut out = String::new();
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        // The item ends at its `;` or at the brace that closes its body.
        let mut depth = 0usize;
        let mut end = after.len();
        for (index, byte) in after.bytes().enumerate().skip("#[cfg(test)]".len()) {
            match byte {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = index + 1;
                        break;
                    }
                }
                b';' if depth == 0 => {
                    end = index + 1;
                    break;
                }
                _ => {}
            }
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

struct UseStatement {
    public: bool,
    tree: String,
    /// Where the statement is in the code, to leave it out of the scan for
    /// names used.
    span: std::ops::Range<usize>,
}

fn use_statements(code: &str) -> Vec<UseStatement> {
    let mut statements = Vec::new();
    let mut search = 0;
    while let Some(found) = code[search..].find("use ") {
        let at = search + found;
        search = at + 4;
        let before = code[..at].trim_end();
        let starts_statement = before.is_empty()
            || before.ends_with(';')
            || before.ends_with('{')
            || before.ends_with('}')
            || before.ends_with(']')
            || before.ends_with("pub")
            || before.ends_with(')');
        let word_start = at == 0 || !is_ident_byte(code.as_bytes()[at - 1]);
        if !starts_statement || !word_start {
            continue;
        }
        let Some(end) = code[at..].find(';') else {
            break;
        };
        let public = before.ends_with("pub") || before.ends_with("pub(crate)");
        let start = if public {
            before.rfind("pub").unwrap()
        } else {
            at
        };
        statements.push(UseStatement {
            public,
            tree: code[at + 4..at + end]
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
            span: start..at + end + 1,
        });
        search = at + end;
    }
    statements
}

fn is_ident_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

/// `a::{b, c::{d, self}}` → `a::b`, `a::c::d`, `a::c::self`.
fn expand_use_tree(tree: &str) -> Vec<Vec<String>> {
    fn expand(prefix: &[String], tree: &str, out: &mut Vec<Vec<String>>) {
        let tree = tree.trim();
        if tree.is_empty() {
            return;
        }
        match tree.find('{') {
            Some(open) if tree.ends_with('}') => {
                let head: Vec<String> = tree[..open]
                    .trim()
                    .trim_end_matches("::")
                    .split("::")
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                let mut path = prefix.to_vec();
                path.extend(head);
                for part in split_top_level(&tree[open + 1..tree.len() - 1]) {
                    expand(&path, part, out);
                }
            }
            _ => {
                let plain = tree.split(" as ").next().unwrap_or(tree);
                let mut path = prefix.to_vec();
                path.extend(plain.split("::").map(|s| s.trim().to_owned()));
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    expand(&[], tree, &mut out);
    out
}

fn split_top_level(list: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (index, byte) in list.bytes().enumerate() {
        match byte {
            b'{' => depth += 1,
            b'}' => depth -= 1,
            b',' if depth == 0 => {
                parts.push(&list[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    parts.push(&list[start..]);
    parts
}

/// Every `crate::…` and `super::…` path written in `code`.
fn inline_paths(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    for anchor in ["crate::", "super::"] {
        for (at, _) in code.match_indices(anchor) {
            if at > 0 && (is_ident_byte(code.as_bytes()[at - 1]) || code.as_bytes()[at - 1] == b':')
            {
                continue;
            }
            let end = code[at..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .map_or(code.len(), |end| at + end);
            paths.push(code[at..end].trim_end_matches(':').to_owned());
        }
    }
    paths
}

/// The module path a `use` path or an inline path starts from, made
/// absolute; `None` for a path into another crate.
fn absolute(krate: &Crate, from: &Module, path: &[String]) -> Option<Module> {
    let first = path.first()?;
    let mut base: Module = match first.as_str() {
        "crate" => Vec::new(),
        "self" => from.clone(),
        "super" => {
            let mut base = from.clone();
            let mut rest = path;
            while rest.first().is_some_and(|s| s == "super") {
                base.pop()?;
                rest = &rest[1..];
            }
            base.extend(rest.iter().cloned());
            return Some(base);
        }
        child => {
            let mut candidate = from.clone();
            candidate.push(child.to_owned());
            if !krate.files.contains_key(&candidate) {
                return None;
            }
            from.clone()
        }
    };
    let skip = usize::from(matches!(first.as_str(), "crate" | "self"));
    base.extend(path[skip..].iter().cloned());
    Some(base)
}

/// The module that defines what an absolute path names, through
/// re-exports.
fn defining_module(krate: &Crate, path: &Module) -> Option<Module> {
    let mut path = path.clone();
    for _ in 0..16 {
        let mut module = Vec::new();
        let mut consumed = 0;
        for segment in &path {
            let mut next = module.clone();
            next.push(segment.clone());
            if krate.files.contains_key(&next) {
                module = next;
                consumed += 1;
            } else {
                break;
            }
        }
        if !krate.files.contains_key(&module) {
            return None;
        }
        let Some(item) = path.get(consumed) else {
            return Some(module);
        };
        match krate.reexports.get(&(module.clone(), item.clone())) {
            Some(target) => {
                let mut next = target.clone();
                next.extend(path[consumed + 1..].iter().cloned());
                path = next;
            }
            None => return Some(module),
        }
    }
    None
}

fn edges(krate: &Crate) -> BTreeSet<(Module, Module)> {
    let mut edges = BTreeSet::new();
    for file in krate.files.values() {
        let statements = use_statements(&file.code);
        let mut targets = Vec::new();
        for statement in &statements {
            for path in expand_use_tree(&statement.tree) {
                let Some(absolute) = absolute(krate, &file.module, &path) else {
                    continue;
                };
                let absolute: Module = absolute.into_iter().filter(|s| s != "self").collect();
                if statement.public {
                    // A door: a dependency only where this module's own
                    // code uses the name.
                    let name = path.last().unwrap();
                    let used = word_occurs_outside(&file.code, name, &statements);
                    if !used || name == "self" {
                        continue;
                    }
                }
                targets.push(absolute);
            }
        }
        let mut code_only = file.code.clone();
        for statement in statements.iter().rev() {
            code_only.replace_range(statement.span.clone(), "");
        }
        for path in inline_paths(&code_only).iter().chain(&file.template_paths) {
            let segments: Vec<String> = path.split("::").map(str::to_owned).collect();
            if let Some(absolute) = absolute(krate, &file.module, &segments) {
                targets.push(absolute);
            }
        }
        for target in targets {
            if let Some(to) = defining_module(krate, &target)
                && to != file.module
                && !to.is_empty()
            {
                edges.insert((file.module.clone(), to));
            }
        }
    }
    edges
}

fn word_occurs_outside(code: &str, word: &str, statements: &[UseStatement]) -> bool {
    code.match_indices(word).any(|(at, _)| {
        let end = at + word.len();
        let bounded = (at == 0 || !is_ident_byte(code.as_bytes()[at - 1]))
            && (end == code.len() || !is_ident_byte(code.as_bytes()[end]));
        bounded && !statements.iter().any(|s| s.span.contains(&at))
    })
}

/// The import cycles among the modules of `room` (strongly connected
/// components of more than one module), each sorted.
fn cycles(edges: &BTreeSet<(Module, Module)>, room: &str) -> Vec<Vec<String>> {
    let in_room = |module: &Module| module.first().is_some_and(|first| first == room);
    let nodes: BTreeSet<&Module> = edges
        .iter()
        .flat_map(|(from, to)| [from, to])
        .filter(|module| in_room(module))
        .collect();
    let reaches = |start: &Module| -> BTreeSet<Module> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![start.clone()];
        while let Some(module) = stack.pop() {
            for (from, to) in edges {
                if *from == module && in_room(to) && seen.insert(to.clone()) {
                    stack.push(to.clone());
                }
            }
        }
        seen
    };
    let reach: BTreeMap<&Module, BTreeSet<Module>> =
        nodes.iter().map(|node| (*node, reaches(node))).collect();
    let mut components: BTreeSet<Vec<String>> = BTreeSet::new();
    for node in &nodes {
        if !reach[node].contains(*node) {
            continue;
        }
        let component: Vec<String> = nodes
            .iter()
            .filter(|other| reach[node].contains(**other) && reach[**other].contains(*node))
            .map(|module| module.join("::"))
            .collect();
        components.insert(component);
    }
    components.into_iter().collect()
}
