//! The heap as flamegraphs, drawn by inferno: the live heap by stack, each
//! frame as wide as the estimated bytes allocated through it, and the
//! growth between two snapshots as a differential flamegraph (wider where
//! more is held now; red where a stack grew, blue where it shrank).

mod tree;

use std::io::Cursor;
use std::sync::Arc;

use tree::FrameTree;

use crate::model::ModelError;
use crate::model::heap::{Grouping, HeapSnapshot, Stack, key_of};
use crate::model::symbols::{FrameKind, Frameworks, RunLabels};

/// The live heap of `snapshot` as an SVG flamegraph; `filter` (lower case)
/// keeps the stacks with a frame whose function or file contains it;
/// `fold`, where given, folds runs of its frameworks' frames into one.
/// The snapshot is let go once its stacks are in the tree, before the
/// drawing allocates.
pub(crate) fn heap_flamegraph(
    snapshot: Arc<HeapSnapshot>,
    filter: Option<&str>,
    fold: Option<&Frameworks>,
) -> Result<Vec<u8>, ModelError> {
    let mut labels = RunLabels::default();
    let mut tree = tree_of(&snapshot, filter, fold, &mut labels);
    drop(snapshot);
    tree.relabel(|name| labels.shown(name));
    let lines = tree.folded_lines(drawable(tree.total()));
    let title = match filter {
        Some(filter) => format!("Live heap, stacks through `{filter}`"),
        None => "Live heap".to_owned(),
    };
    draw(&title, "bytes", lines.iter().map(String::as_str))
}

/// What changed from `then` to `now`, as a differential flamegraph: both
/// folded alike, down to the frames the wider of the two can draw.
pub(crate) fn diff_flamegraph(
    then: &HeapSnapshot,
    now: &HeapSnapshot,
    filter: Option<&str>,
    fold: Option<&Frameworks>,
) -> Result<Vec<u8>, ModelError> {
    // One set of labels for both, so that a run is one frame in both.
    let mut labels = RunLabels::default();
    let mut before = tree_of(then, filter, fold, &mut labels);
    let mut after = tree_of(now, filter, fold, &mut labels);
    for tree in [&mut before, &mut after] {
        tree.relabel(|name| labels.shown(name));
    }
    let min_bytes = drawable(before.total().max(after.total()));
    let text = |tree: &FrameTree| {
        let mut text = tree.folded_lines(min_bytes).join("\n");
        text.push('\n');
        text
    };
    let mut merged = Vec::new();
    inferno::differential::from_readers(
        inferno::differential::Options::default(),
        Cursor::new(text(&before)),
        Cursor::new(text(&after)),
        &mut merged,
    )
    .map_err(|error| ModelError::failed(format!("could not merge the two heaps: {error}")))?;
    let merged = String::from_utf8_lossy(&merged);
    draw(
        "Heap growth: red grew, blue shrank; widths are bytes now",
        "bytes",
        merged.lines(),
    )
}

/// The narrowest frame worth a line: inferno leaves out frames under 0.1
/// pixel of its 1,200 (of the same total), so those are folded into their
/// parents, and every frame it draws is there.
fn drawable(total: f64) -> f64 {
    total * 0.1 / 1200.0
}

/// The stacks a flamegraph shows (see [`shown_stacks`]) as a tree of their
/// frames, outermost first, the allocator's and std's left out as on the
/// pages, and runs of the frameworks' frames folded where `fold` says.
fn tree_of(
    snapshot: &HeapSnapshot,
    filter: Option<&str>,
    fold: Option<&Frameworks>,
    labels: &mut RunLabels,
) -> FrameTree {
    let mut tree = FrameTree::new();
    let allocator_only: Arc<str> = "[allocator frames only]".into();
    for stack in shown_stacks(snapshot, filter) {
        let mut frames: Vec<_> = stack
            .frames()
            .filter(|frame| frame.kind != FrameKind::Allocator)
            .collect();
        frames.reverse();
        let names: Vec<Arc<str>> = match fold {
            _ if frames.is_empty() => vec![allocator_only.clone()],
            Some(frameworks) => frameworks.fold(&frames, labels),
            None => frames.iter().map(|frame| frame.function.clone()).collect(),
        };
        tree.add(names.iter(), stack.bytes);
    }
    tree
}

/// The stacks a flamegraph shows: those holding bytes, with a frame that
/// `filter` (lower case) matches; memscope's own left out, as on the
/// tables.
fn shown_stacks<'a>(
    snapshot: &'a HeapSnapshot,
    filter: Option<&'a str>,
) -> impl Iterator<Item = &'a Stack> {
    snapshot.stacks.iter().filter(move |stack| {
        stack.bytes > 0.0
            && key_of(stack, Grouping::Site).is_some()
            && filter.is_none_or(|needle| stack.frames().any(|frame| frame.matches(needle)))
    })
}

fn draw<'a>(
    title: &str,
    count_name: &str,
    lines: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<u8>, ModelError> {
    // A line is drawn as wide as its last count (bytes now, in a
    // differential one): lines of nothing are left out, and where nothing
    // is left inferno would fail ("No stack counts found").
    let lines: Vec<&str> = lines
        .into_iter()
        .filter(|line| {
            line.rsplit(' ')
                .next()
                .and_then(|count| count.parse::<u64>().ok())
                .is_some_and(|count| count > 0)
        })
        .collect();
    if lines.is_empty() {
        return Ok(empty_svg(title));
    }
    let mut options = inferno::flamegraph::Options::default();
    options.title = title.to_owned();
    options.count_name = count_name.to_owned();
    options.colors =
        inferno::flamegraph::color::Palette::Basic(inferno::flamegraph::color::BasicPalette::Mem);
    let mut svg = Vec::new();
    inferno::flamegraph::from_lines(&mut options, lines, &mut svg)
        .map_err(|error| ModelError::failed(format!("could not draw the flamegraph: {error}")))?;
    Ok(svg)
}

/// A flamegraph of nothing: inferno writes none, and an empty file shows
/// as a broken image.
fn empty_svg(title: &str) -> Vec<u8> {
    let title = title.replace('&', "&amp;").replace('<', "&lt;");
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="60" viewBox="0 0 1200 60"><text x="600" y="35" font-family="sans-serif" font-size="16" text-anchor="middle">{title}: no sampled stacks.</text></svg>"#
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::heap::table::tests::{alloc, app, library, stack};

    #[test]
    fn folds_outermost_first_without_the_allocator() {
        let snapshot = HeapSnapshot::of_stacks(vec![
            stack(
                &[
                    alloc(),
                    library("bytes::B::new"),
                    app("shop::cache::store", 4),
                ],
                1.0,
                300.0,
            ),
            stack(
                &[
                    alloc(),
                    library("bytes::B::new"),
                    app("shop::cache::store", 5),
                ],
                1.0,
                200.0,
            ),
            stack(&[alloc(), app("shop::orders::new; [u8; 4]", 1)], 1.0, 50.0),
        ]);
        let folded = tree_of(&snapshot, None, None, &mut RunLabels::default()).folded_lines(0.0);
        assert_eq!(
            folded,
            [
                "shop::cache::store;bytes::B::new 500".to_owned(),
                "shop::orders::new: [u8: 4] 50".to_owned(),
            ]
        );
        assert_eq!(
            tree_of(&snapshot, Some("orders"), None, &mut RunLabels::default())
                .folded_lines(0.0)
                .len(),
            1
        );
        let snapshot = Arc::new(snapshot);
        let svg =
            String::from_utf8(heap_flamegraph(snapshot.clone(), None, None).unwrap()).unwrap();
        assert!(
            svg.contains("<svg") && svg.contains("shop::cache::store"),
            "{svg}"
        );
        let none =
            String::from_utf8(heap_flamegraph(snapshot, Some("nothing"), None).unwrap()).unwrap();
        assert!(none.contains("no sampled stacks"));
    }

    #[test]
    fn runs_of_the_framework_s_frames_are_folded_unless_all_are_asked_for() {
        let polls = [
            alloc(),
            app("shop::cache::store", 4),
            library("<axum::routing::Route as tower_service::Service<_>>::call"),
            library("hyper::proto::h1::dispatch::Dispatcher::poll_catch"),
            library("tokio::runtime::task::harness::Harness::poll"),
            library("tokio::runtime::scheduler::multi_thread::worker::run"),
            library("start_thread"),
        ];
        let snapshot = HeapSnapshot::of_stacks(vec![stack(&polls, 1.0, 300.0)]);
        let frameworks = Frameworks::default();
        let mut labels = RunLabels::default();
        let mut tree = tree_of(&snapshot, None, Some(&frameworks), &mut labels);
        tree.relabel(|name| labels.shown(name));
        assert_eq!(
            tree.folded_lines(0.0),
            ["C runtime, tokio, hyper, axum: 5 frames;shop::cache::store 300"]
        );
        assert_eq!(
            tree_of(&snapshot, None, None, &mut RunLabels::default()).folded_lines(0.0)[0]
                .split(';')
                .count(),
            6
        );
    }

    #[test]
    fn a_diff_flamegraph_of_stacks_that_all_vanished_is_drawn_empty() {
        let then = HeapSnapshot::of_stacks(vec![stack(
            &[alloc(), app("shop::cache::store", 4)],
            1.0,
            300.0,
        )]);
        let now = HeapSnapshot::of_stacks(Vec::new());
        let svg = String::from_utf8(diff_flamegraph(&then, &now, None, None).unwrap()).unwrap();
        assert!(svg.contains("no sampled stacks"), "{svg}");
        let svg =
            String::from_utf8(diff_flamegraph(&now, &now, Some("nothing"), None).unwrap()).unwrap();
        assert!(svg.contains("no sampled stacks"), "{svg}");
    }

    #[test]
    fn a_diff_flamegraph_colours_growth_and_shrinking() {
        let grows = [alloc(), app("shop::cache::store", 4)];
        let shrinks = [alloc(), app("shop::session::open", 9)];
        let then =
            HeapSnapshot::of_stacks(vec![stack(&grows, 1.0, 100.0), stack(&shrinks, 1.0, 900.0)]);
        let now =
            HeapSnapshot::of_stacks(vec![stack(&grows, 1.0, 800.0), stack(&shrinks, 1.0, 100.0)]);
        let svg = String::from_utf8(diff_flamegraph(&then, &now, None, None).unwrap()).unwrap();
        assert!(svg.contains("shop::cache::store") && svg.contains("shop::session::open"));
        // Each frame's title gives its change in share of the whole, and
        // its colour says which way: red grew, blue shrank.
        assert!(
            svg.contains("shop::cache::store (800 bytes, 88.89%; +77.78%)"),
            "{svg}"
        );
        assert!(
            svg.contains("shop::session::open (100 bytes, 11.11%; -88.89%)"),
            "{svg}"
        );
        assert!(
            svg.contains("fill=\"rgb(255,118,118)\"") && svg.contains("fill=\"rgb(100,100,255)\"")
        );
    }
}
