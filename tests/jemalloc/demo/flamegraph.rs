//! The demo's live-heap flamegraph shows the app: the frameworks' runs of
//! frames (tokio, hyper, axum, tower, memscope's layer) are folded into a
//! frame each, so that the app's frames are not a thin strip on top of
//! dozens of polls; `frames=all` draws them all.

use std::collections::BTreeSet;

use http::StatusCode;

use crate::common::get;
use crate::common::own_process::{in_own_process, profiling};
use crate::leaky_cache::Mode;

/// The most rows deep the default flamegraph of the demo may be.
const MAX_ROWS: usize = 24;

/// An inferno flamegraph's frames: each frame's name (its title less the
/// figures), its row (the rectangle's `y`) and its share of the whole in
/// percent (`name (1,234 bytes, 12.34%)`).
fn frames(svg: &str) -> Vec<(String, String, f64)> {
    svg.split("<g><title>")
        .skip(1)
        .filter_map(|frame| {
            let (title, rest) = frame.split_once("</title>")?;
            let (name, figures) = title.rsplit_once(" (")?;
            let share = figures.rsplit_once(", ")?.1.trim_end_matches("%)");
            let y = rest.split_once(" y=\"")?.1.split_once('"')?.0;
            Some((
                name.replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&amp;", "&"),
                y.to_owned(),
                share.parse().ok()?,
            ))
        })
        .collect()
}

fn rows(frames: &[(String, String, f64)]) -> usize {
    frames
        .iter()
        .map(|(_, y, _)| y)
        .collect::<BTreeSet<_>>()
        .len()
}

/// The share of the heap under which an app frame may come and go between
/// the two flamegraphs' snapshots (the accept loop's and a connection's
/// allocations); the cache's frames hold most of the heap.
const HELD_SHARE: f64 = 1.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_s_flamegraph_shows_the_app_within_24_rows() {
    if in_own_process(&profiling(14)) {
        return;
    }
    let addr = crate::leaky_cache::start(Mode::Leaky, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    for _ in 0..3_000 {
        assert_eq!(get(addr, "/json").await.status, StatusCode::OK);
    }
    let folded = get(addr, "/_debug/heapdump/flamegraph.svg").await;
    assert_eq!(folded.status, StatusCode::OK);
    let all = get(addr, "/_debug/heapdump/flamegraph.svg?frames=all").await;
    assert_eq!(all.status, StatusCode::OK);
    let (folded, all) = (frames(&folded.body), frames(&all.body));

    // The app's frames that hold the heap; the two flamegraphs are drawn
    // from two snapshots, a request apart.
    let app_frames: BTreeSet<&str> = all
        .iter()
        .filter(|(name, _, share)| {
            *share >= HELD_SHARE
                && ["leaky_cache::", "jemalloc::leaky_cache::"]
                    .iter()
                    .any(|app| name.starts_with(app))
        })
        .map(|(name, _, _)| name.as_str())
        .collect();
    assert!(
        app_frames
            .iter()
            .any(|name| name.contains("leaky_cache::cache::store_response")),
        "{app_frames:#?}"
    );
    let drawn: BTreeSet<&str> = folded.iter().map(|(name, _, _)| name.as_str()).collect();
    for name in &app_frames {
        assert!(drawn.contains(name), "{name} is not drawn: {drawn:#?}");
    }
    assert!(
        rows(&folded) <= MAX_ROWS,
        "{} rows deep (every frame: {}): {drawn:#?}",
        rows(&folded),
        rows(&all)
    );
    assert!(
        drawn
            .iter()
            .any(|name| name.starts_with("tokio") && name.ends_with(" frames")),
        "no folded frame: {drawn:#?}"
    );
    eprintln!(
        "the demo's flamegraph: {} rows deep, {} with every frame",
        rows(&folded),
        rows(&all)
    );

    // True names or none: no exported C symbol for the internal code
    // beside it, no folder for a crate, no trait method cut, no bare
    // `main`.
    let wrong: Vec<&str> = all
        .iter()
        .map(|(name, _, _)| name.as_str())
        .filter(|name| {
            ["pthread_condattr_setpshared", "__xmknodat"]
                .iter()
                .any(|wrong| name.contains(wrong))
                || name.starts_with("main::")
                || (name.contains(" as ") && !name.starts_with('<'))
                || *name == "main"
        })
        .collect();
    let rows = get(addr, "/_debug/heapdump?format=json&limit=100")
        .await
        .json();
    assert!(wrong.is_empty(), "wrong names: {wrong:#?}");
    for row in rows["rows"].as_array().unwrap() {
        assert_ne!(row["name"], "main", "{row:#}");
    }

    let bad = get(addr, "/_debug/heapdump/flamegraph.svg?frames=some").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("frames"), "{}", bad.body);
}
