//! The demo's leak found by clicking: the overview, the diff and its
//! baseline button, a site's stacks, the heapdump's form, the requests
//! and a CPU capture.

use std::net::SocketAddr;
use std::time::Duration;

use super::{click, demo_runtime, launch, open, screenshot, text_of};
use crate::common::own_process::{in_own_process, profiling};
use crate::leaky_cache::Mode;

#[test]
#[ignore = "needs Chromium: .ci/run installs it and runs this test"]
fn the_demo_leak_can_be_found_by_clicking() {
    if in_own_process(&profiling(14)) {
        return;
    }
    let runtime = demo_runtime();
    let addr: SocketAddr = runtime
        .block_on(crate::leaky_cache::start(
            Mode::Leaky,
            "127.0.0.1:0".parse().unwrap(),
        ))
        .unwrap();
    let base = format!("http://{addr}/_debug");
    let browser = launch();
    let tab = &browser;

    // The overview draws the timeline once it has two points.
    std::thread::sleep(Duration::from_millis(2200));
    open(tab, &format!("{base}/"));
    assert_eq!(tab.title(), "Overview · memscope");
    tab.wait_for("svg polyline");
    screenshot(tab, "overview");

    // Pause and resume heap sampling with the overview's button.
    click(tab, "form[action$='/profiling?active=false'] button");
    assert!(tab.url().ends_with("/_debug/"), "{}", tab.url());
    assert!(text_of(tab, "header .state").contains("paused"));
    click(tab, "form[action$='/profiling?active=true'] button");
    assert!(text_of(tab, "header .state").contains("active"));

    // The first visit to the diff takes the baseline; then the leak.
    open(tab, &format!("{base}/memory/diff"));
    assert!(text_of(tab, "main").contains("No baseline yet"));
    runtime.block_on(async {
        for _ in 0..500 {
            crate::common::get(addr, "/json").await;
        }
    });
    open(tab, &format!("{base}/memory/diff"));
    let top = text_of(tab, "table tr:nth-child(2) td.name a");
    assert!(
        top.contains("leaky_cache::cache::store_response"),
        "top growing site: {top}"
    );
    screenshot(tab, "diff");

    // Its link leads to its stacks, with the file and line.
    click(tab, "table tr:nth-child(2) td.name a");
    assert!(text_of(tab, "h1").contains("store_response"));
    assert!(text_of(tab, "main").contains("examples/leaky_cache/service.rs:"));
    screenshot(tab, "site");

    // The heapdump's form: choose a grouping, type a filter, submit.
    open(tab, &format!("{base}/heapdump"));
    let group = tab.wait_for("select[name=group]");
    tab.execute("arguments[0].value = 'function';", &[&group]);
    let filter = tab.wait_for("input[name=filter]");
    tab.type_into(&filter, "STORE_response");
    click(tab, "main form button[type=submit]");
    let url = tab.url();
    assert!(
        url.contains("group=function") && url.contains("filter=STORE_response"),
        "{url}"
    );
    assert!(text_of(tab, "table tr:nth-child(2) td.name").contains("store_response"));

    // The diff's button takes a new baseline and comes back.
    open(tab, &format!("{base}/memory/diff"));
    click(tab, "form[action$='/memory/diff/baseline'] button");
    assert!(tab.url().ends_with("/_debug/memory/diff"), "{}", tab.url());
    assert!(text_of(tab, "main p").contains("Growth since the baseline"));

    // The requests page links each request to its own page.
    open(tab, &format!("{base}/profiles"));
    assert!(text_of(tab, "main").contains("/json"));
    screenshot(tab, "profiles");
    click(tab, "main table:last-of-type tr:nth-child(2) a");
    assert!(text_of(tab, "h1").starts_with("Request "));

    // A CPU capture from its button: the page shows the flamegraph image.
    open(tab, &format!("{base}/profiles"));
    click(tab, "form[action*='/profiles/cpu'] button");
    assert!(tab.url().contains("/_debug/profiles/cpu/"), "{}", tab.url());
    let image = tab.wait_for("main img");
    // The element is in the page before its image has arrived: wait for
    // the image, up to 15 s.
    let loaded_width = || {
        tab.execute("return arguments[0].naturalWidth;", &[&image])
            .as_u64()
            .unwrap_or(0)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while loaded_width() == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(loaded_width() > 0, "the flamegraph did not load");
    screenshot(tab, "cpu");
}
