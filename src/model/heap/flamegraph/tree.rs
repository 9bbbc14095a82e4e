//! The live heap as a tree of frames, outermost first, each node as wide as
//! the bytes held through it, so that the flamegraph is given only the
//! frames it can draw: a heap of tens of thousands of stacks folds into
//! lines for the few thousand frames at least a fraction of a pixel wide,
//! instead of one line per stack (hundreds of MiB of text at that size).

use std::collections::HashMap;
use std::sync::Arc;

/// One frame of the tree.
struct Node {
    name: Arc<str>,
    bytes: f64,
    children: HashMap<Arc<str>, usize>,
}

/// Frames by their path from the outermost.
pub(super) struct FrameTree {
    nodes: Vec<Node>,
}

impl FrameTree {
    pub(super) fn new() -> Self {
        Self {
            nodes: vec![Node {
                name: "".into(),
                bytes: 0.0,
                children: HashMap::new(),
            }],
        }
    }

    /// Adds `bytes` held through the frames `outermost_first`.
    pub(super) fn add<'a>(
        &mut self,
        outermost_first: impl Iterator<Item = &'a Arc<str>>,
        bytes: f64,
    ) {
        let mut at = 0;
        self.nodes[0].bytes += bytes;
        for name in outermost_first {
            let next = match self.nodes[at].children.get(name) {
                Some(&next) => next,
                None => {
                    self.nodes.push(Node {
                        name: name.clone(),
                        bytes: 0.0,
                        children: HashMap::new(),
                    });
                    let next = self.nodes.len() - 1;
                    self.nodes[at].children.insert(name.clone(), next);
                    next
                }
            };
            self.nodes[next].bytes += bytes;
            at = next;
        }
    }

    /// All the bytes added.
    pub(super) fn total(&self) -> f64 {
        self.nodes[0].bytes
    }

    /// Folded lines (`outer;inner` and the bytes held in the frame itself)
    /// of every frame at least `min_bytes` wide; what narrower frames under
    /// it hold is counted as its own, where the flamegraph leaves a gap the
    /// same width as before.
    pub(super) fn folded(&self, min_bytes: f64) -> Vec<(String, f64)> {
        let mut lines = Vec::new();
        let mut path: Vec<&str> = Vec::new();
        for &child in self.nodes[0].children.values() {
            self.fold_into(child, min_bytes, &mut path, &mut lines);
        }
        lines.sort_by(|a, b| a.0.cmp(&b.0));
        lines
    }

    fn fold_into<'a>(
        &'a self,
        at: usize,
        min_bytes: f64,
        path: &mut Vec<&'a str>,
        lines: &mut Vec<(String, f64)>,
    ) {
        let node = &self.nodes[at];
        if node.bytes < min_bytes {
            return;
        }
        path.push(&node.name);
        let mut own = node.bytes;
        for &child in node.children.values() {
            if self.nodes[child].bytes >= min_bytes {
                own -= self.nodes[child].bytes;
                self.fold_into(child, min_bytes, path, lines);
            }
        }
        if own >= 0.5 {
            // `;` separates frames, and a Rust name can hold one (`[u8; 4]`).
            let folded: Vec<String> = path.iter().map(|name| name.replace(';', ":")).collect();
            lines.push((folded.join(";"), own));
        }
        path.pop();
    }
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
}
