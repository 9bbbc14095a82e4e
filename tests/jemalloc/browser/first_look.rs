//! What a person reads first on the demo's pages after traffic, in a
//! window 1,400 pixels wide: the overview speaks with one voice, no page
//! overflows sideways, and the live heap's flamegraph shows the app's code
//! in the top half of the window with the frames under it in view, where
//! every frame drawn would need a window of some 1,600 pixels; a black box
//! capture's pages read the same. The
//! screenshots (`target/tmp/first-look-*.png`) are kept for people to look
//! at.

use std::net::SocketAddr;
use std::time::Duration;

use super::{demo_runtime, launch, open, screenshot, text_of};
use crate::common::own_process::{in_own_process, profiling};
use crate::common::webdriver::Browser;
use crate::leaky_cache::Mode;

const WIDTH: u32 = 1_400;
const HEIGHT: u32 = 1_000;

/// Whether the page is wider than the window.
fn overflows_sideways(tab: &Browser) -> bool {
    tab.execute(
        "return document.documentElement.scrollWidth > window.innerWidth;",
        &[],
    )
    .as_bool()
    .unwrap()
}

/// Where the widest frame whose name contains `name` is drawn in the
/// window: its top and bottom, its width, and the drawing's height.
fn frame_box(tab: &Browser, name: &str) -> Option<(f64, f64, f64, f64)> {
    let found = tab.execute(
        &format!(
            "let widest = null;
             for (const g of document.querySelectorAll('g')) {{
               const title = g.querySelector('title');
               const rect = g.querySelector('rect');
               if (!title || !rect || !title.textContent.includes({name:?})) continue;
               const box = rect.getBoundingClientRect();
               if (!widest || box.width > widest.width) widest = box;
             }}
             if (!widest) return null;
             const svg = document.documentElement.getBoundingClientRect();
             return [widest.top, widest.bottom, widest.width, svg.height];"
        ),
        &[],
    );
    let numbers = found.as_array()?;
    let at = |index: usize| numbers[index].as_f64().unwrap();
    Some((at(0), at(1), at(2), at(3)))
}

#[test]
#[ignore = "needs Chromium: .ci/run installs it and runs this test"]
fn what_a_person_reads_first() {
    if in_own_process(&profiling(14)) {
        return;
    }
    let runtime = demo_runtime();
    // A snapshot every half second, so that the history names the leak
    // within seconds.
    let black_box_dir = tempfile::tempdir().unwrap();
    let layer = crate::leaky_cache::demo_layer()
        .heap_history(Duration::from_millis(500), 120)
        .black_box(memscope::BlackBox::new(black_box_dir.path()));
    let addr: SocketAddr = runtime
        .block_on(crate::leaky_cache::start_with(
            Mode::Leaky,
            "127.0.0.1:0".parse().unwrap(),
            layer,
        ))
        .unwrap();
    let base = format!("http://{addr}/_debug");
    let browser = launch();
    let tab = &browser;
    tab.set_window_size(WIDTH, HEIGHT);
    let window = tab.execute("return [window.innerWidth, window.innerHeight];", &[]);
    let inner_height = window[1].as_f64().unwrap();

    // The diff's first visit takes its baseline; then the traffic, 3,000
    // requests over a few snapshots.
    open(tab, &format!("{base}/memory/diff"));
    runtime.block_on(async {
        for _ in 0..6 {
            for _ in 0..500 {
                crate::common::get(addr, "/json").await;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });

    let pages = [
        ("overview", format!("{base}/")),
        ("heapdump", format!("{base}/heapdump")),
        ("diff", format!("{base}/memory/diff")),
        ("growth", format!("{base}/memory/growth")),
    ];
    for (name, url) in &pages {
        open(tab, url);
        assert!(!overflows_sideways(tab), "{name} overflows at {WIDTH} px");
        screenshot(tab, &format!("first-look-{name}"));
    }

    // One voice: the growth page's suspects are the overview's verdict,
    // and no box says "too early" beside a named leak.
    open(tab, &format!("{base}/"));
    let verdict = text_of(tab, ".verdict");
    let suspects = tab
        .execute("return document.querySelector('.suspects') !== null;", &[])
        .as_bool()
        .unwrap();
    assert!(suspects, "no growing site on the overview: {verdict}");
    assert!(
        tab.execute(
            "return document.querySelector('.verdict-leak') !== null;",
            &[]
        )
        .as_bool()
        .unwrap(),
        "the overview names growing sites but its verdict is: {verdict}"
    );
    assert!(!verdict.contains("Too early"), "{verdict}");
    assert!(verdict.contains("store_response"), "{verdict}");

    // The live heap's flamegraph: the app's frame in the top half of the
    // window, the whole drawing in view.
    open(tab, &format!("{base}/heapdump/flamegraph.svg"));
    let (top, bottom, width, height) =
        frame_box(tab, "store_response").expect("the flamegraph draws the app's store_response");
    eprintln!(
        "flamegraph: store_response drawn at {top:.0}-{bottom:.0} px, {width:.0} px wide; the drawing {height:.0} px tall in a {inner_height:.0} px window"
    );
    assert!(
        top >= 0.0 && top < inner_height / 2.0,
        "store_response at {top} px of {inner_height}"
    );
    assert!(width > 200.0, "store_response is {width} px wide");
    assert!(height <= inner_height, "the flamegraph is {height} px tall");
    screenshot(tab, "first-look-flamegraph");

    // A black box capture, listed and opened as after a restart: its
    // verdict names the leak, its flamegraph loads, nothing overflows.
    let taken = runtime.block_on(crate::common::post(
        addr,
        "/_debug/memory/postmortem/capture?format=json",
    ));
    let id = taken.json()["id"].as_str().unwrap().to_owned();
    open(tab, &format!("{base}/memory/postmortem"));
    assert!(!overflows_sideways(tab), "the black box's list overflows");
    screenshot(tab, "first-look-postmortem");
    open(tab, &format!("{base}/memory/postmortem/{id}"));
    assert!(!overflows_sideways(tab), "the capture's page overflows");
    let verdict = text_of(tab, ".verdict-leak");
    assert!(verdict.contains("store_response"), "{verdict}");
    let loaded = tab.execute(
        "const img = document.querySelector('img.flamegraph');
         return new Promise(done => {
           const check = () => img.complete ? done(img.naturalWidth) : setTimeout(check, 50);
           check();
         });",
        &[],
    );
    assert!(
        loaded.as_f64().unwrap_or(0.0) > 0.0,
        "the capture's flamegraph did not load"
    );
    screenshot(tab, "first-look-postmortem-capture");

    // Every frame, as before: taller than the window.
    open(tab, &format!("{base}/heapdump/flamegraph.svg?frames=all"));
    let (_, _, _, all_height) = frame_box(tab, "store_response").unwrap();
    eprintln!("flamegraph with every frame: {all_height:.0} px tall");
    assert!(all_height > height, "{all_height} px with every frame");
    screenshot(tab, "first-look-flamegraph-every-frame");
}
