//! The live heap folded for the flamegraph: every stack as its frames'
//! names (numbered once each), outermost first, with the bytes held
//! through it; then only the frames inferno can draw are folded into
//! lines. A heap of tens of thousands of stacks makes a few thousand
//! drawable frames, instead of one line per stack (hundreds of MiB of text
//! at that size) or a node for every frame of every stack (hundreds of MiB
//! of tree for deep stacks).

use std::sync::Arc;

use rustc_hash::FxHashMap;

/// Stacks as paths of numbered names.
pub(super) struct FrameTree {
    /// The names drawn, by number: a function's name with its generic
    /// arguments left out (`level3<…>`), so that the instances of one
    /// generic function are one frame, and a frame's label is the
    /// function a person reads rather than its types.
    names: Vec<Arc<str>>,
    /// Numbers by a frame's full name, and by the name drawn.
    numbers: FxHashMap<Arc<str>, u32>,
    by_label: FxHashMap<Arc<str>, u32>,
    /// Each stack's names, outermost first, and the bytes held through it.
    paths: Vec<(Box<[u32]>, f64)>,
    total: f64,
}

impl FrameTree {
    pub(super) fn new() -> Self {
        Self {
            names: Vec::new(),
            numbers: FxHashMap::default(),
            by_label: FxHashMap::default(),
            paths: Vec::new(),
            total: 0.0,
        }
    }

    /// Adds `bytes` held through the frames `outermost_first`.
    pub(super) fn add<'a>(
        &mut self,
        outermost_first: impl Iterator<Item = &'a Arc<str>>,
        bytes: f64,
    ) {
        let path = outermost_first
            .map(|name| match self.numbers.get(name) {
                Some(&number) => number,
                None => {
                    let label: Arc<str> = without_generic_arguments(name).into();
                    let number = match self.by_label.get(&label) {
                        Some(&number) => number,
                        None => {
                            let number = self.names.len() as u32;
                            self.names.push(label.clone());
                            self.by_label.insert(label, number);
                            number
                        }
                    };
                    self.numbers.insert(name.clone(), number);
                    number
                }
            })
            .collect();
        self.paths.push((path, bytes));
        self.total += bytes;
    }

    /// Draws the names `relabel` gives a new label under it (a folded
    /// run's count of frames, known once every stack is in).
    pub(super) fn relabel(&mut self, relabel: impl Fn(&str) -> Option<String>) {
        for name in &mut self.names {
            if let Some(label) = relabel(name) {
                *name = label.into();
            }
        }
    }

    /// All the bytes added.
    pub(super) fn total(&self) -> f64 {
        self.total
    }

    /// The lines inferno reads, `outer;inner 1234`: every frame at least
    /// `min_bytes` wide and the bytes held in the frame itself; what
    /// narrower frames under it hold is counted as its own, where the
    /// flamegraph leaves a gap the same width as before. Each line is
    /// written once at its length: deep stacks of long names make tens of
    /// MiB of them.
    pub(super) fn folded_lines(&self, min_bytes: f64) -> Vec<String> {
        let mut lines = Vec::new();
        let mut run: Vec<usize> = (0..self.paths.len()).collect();
        let mut path = Vec::new();
        self.fold_children(&mut run, 0, min_bytes, &mut path, &mut lines);
        lines.sort_unstable();
        lines
    }

    /// [`Self::folded_lines`], each line's frames and bytes apart.
    #[cfg(test)]
    fn folded(&self, min_bytes: f64) -> Vec<(String, f64)> {
        self.folded_lines(min_bytes)
            .into_iter()
            .map(|line| {
                let (frames, bytes) = line.rsplit_once(' ').unwrap();
                (frames.to_owned(), bytes.parse().unwrap())
            })
            .collect()
    }

    /// Folds the frames at `depth` of the stacks in `run` (which share
    /// their frames above it, `path`): each name's stacks make one frame,
    /// drawn where wide enough. Returns the bytes of the stacks that end
    /// above `depth` or whose frame there is too narrow: the parent's own.
    fn fold_children<'a>(
        &'a self,
        run: &mut [usize],
        depth: usize,
        min_bytes: f64,
        path: &mut Vec<&'a str>,
        lines: &mut Vec<String>,
    ) -> f64 {
        let name_at = |stack: usize| self.paths[stack].0.get(depth).copied();
        run.sort_unstable_by_key(|&stack| name_at(stack));
        let mut own = 0.0;
        let mut start = 0;
        while start < run.len() {
            let name = name_at(run[start]);
            let end = start + run[start..].partition_point(|&stack| name_at(stack) == name);
            let bytes: f64 = run[start..end]
                .iter()
                .map(|&stack| self.paths[stack].1)
                .sum();
            match name {
                Some(name) if bytes >= min_bytes => {
                    path.push(&self.names[name as usize]);
                    let inside =
                        self.fold_children(&mut run[start..end], depth + 1, min_bytes, path, lines);
                    if inside >= 0.5 {
                        lines.push(line(path, inside));
                    }
                    path.pop();
                }
                _ => own += bytes,
            }
            start = end;
        }
        own
    }
}

/// `a::f<T, U>` → `a::f<…>`, `<a::B<T> as c::D>::e` → `<a::B<…> as
/// c::D>::e`: the generic arguments of each path segment left out (a
/// qualified self type's own segments kept).
pub(super) fn without_generic_arguments(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut depth = 0usize;
    let mut previous = ' ';
    for c in name.chars() {
        match c {
            // A segment's arguments open after its name; `<` at the start
            // or after a space opens a qualified self type, kept.
            '<' if depth > 0 || previous.is_alphanumeric() || previous == '_' => {
                if depth == 0 {
                    out.push_str("<…>");
                }
                depth += 1;
            }
            // The `>` of a function type's `->` closes nothing.
            '>' if previous == '-' => {}
            '>' if depth > 0 => depth -= 1,
            _ if depth > 0 => {}
            c => out.push(c),
        }
        previous = c;
    }
    out
}

/// `outer;inner 1234`, at its length. `;` separates frames, and a Rust
/// name can hold one (`[u8; 4]`): it is written `:`.
fn line(path: &[&str], bytes: f64) -> String {
    let count = (bytes.round() as u64).to_string();
    let length = path.iter().map(|name| name.len() + 1).sum::<usize>() + count.len();
    let mut line = String::with_capacity(length);
    for (index, name) in path.iter().enumerate() {
        if index > 0 {
            line.push(';');
        }
        line.extend(name.chars().map(|c| if c == ';' { ':' } else { c }));
    }
    line.push(' ');
    line.push_str(&count);
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(path: &[&str]) -> Vec<Arc<str>> {
        path.iter().map(|name| Arc::from(*name)).collect()
    }

    #[test]
    fn folds_what_can_be_drawn_and_merges_the_rest_into_its_parent() {
        let mut tree = FrameTree::new();
        tree.add(names(&["main", "serve", "cache::store"]).iter(), 1000.0);
        tree.add(names(&["main", "serve", "cache::store"]).iter(), 500.0);
        tree.add(names(&["main", "serve", "tiny"]).iter(), 1.0);
        tree.add(names(&["main", "orders; [u8; 4]"]).iter(), 300.0);
        assert_eq!(tree.total(), 1801.0);
        assert_eq!(
            tree.folded(0.0),
            [
                ("main;orders: [u8: 4]".to_owned(), 300.0),
                ("main;serve;cache::store".to_owned(), 1500.0),
                ("main;serve;tiny".to_owned(), 1.0),
            ]
        );
        // `tiny` is narrower than can be drawn: its byte stays in `serve`.
        assert_eq!(
            tree.folded(10.0),
            [
                ("main;orders: [u8: 4]".to_owned(), 300.0),
                ("main;serve".to_owned(), 1.0),
                ("main;serve;cache::store".to_owned(), 1500.0),
            ]
        );
    }

    #[test]
    fn generic_arguments_are_left_out_and_instances_are_one_frame() {
        assert_eq!(
            without_generic_arguments("app::level3<app::B0<app::Leaf>>"),
            "app::level3<…>"
        );
        assert_eq!(
            without_generic_arguments("<app::B0<app::B1<app::Leaf>> as app::Chain>::retain"),
            "<app::B0<…> as app::Chain>::retain"
        );
        assert_eq!(without_generic_arguments("app::f"), "app::f");
        assert_eq!(
            without_generic_arguments(
                "tower::poll<fn(app::A) -> app::B, core::convert::Infallible>"
            ),
            "tower::poll<…>"
        );
        let mut tree = FrameTree::new();
        tree.add(names(&["main", "level3<B0<Leaf>>"]).iter(), 1.0);
        tree.add(names(&["main", "level3<B1<Leaf>>"]).iter(), 2.0);
        assert_eq!(tree.folded(0.0), [("main;level3<…>".to_owned(), 3.0)]);
    }

    #[test]
    fn a_stack_that_ends_inside_another_keeps_its_bytes_in_its_last_frame() {
        let mut tree = FrameTree::new();
        tree.add(names(&["main", "serve"]).iter(), 40.0);
        tree.add(names(&["main", "serve", "cache::store"]).iter(), 60.0);
        assert_eq!(
            tree.folded(0.0),
            [
                ("main;serve".to_owned(), 40.0),
                ("main;serve;cache::store".to_owned(), 60.0),
            ]
        );
    }
}
