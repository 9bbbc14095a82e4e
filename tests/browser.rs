//! The pages in a real browser: headless Chromium follows the links, fills
//! in the forms and presses the buttons of the demo's pages, which work
//! without JavaScript.
//!
//! Ignored by a plain `cargo test`, since it needs Chromium: `.ci/run`
//! installs it (`apt-get install chromium`) and runs
//! `cargo test --test browser -- --ignored`.
// The demo reads the peer from axum's ConnectInfo: memscope's `axum` feature.
#![cfg(feature = "axum")]

mod common;
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/leaky_cache.rs"]
mod leaky_cache;

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
use headless_chrome::{Browser, LaunchOptions, Tab};
use leaky_cache::Mode;

const CHROMIUM: &str = "/usr/bin/chromium";

fn launch() -> Browser {
    assert!(
        std::path::Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: apt-get install chromium (as .ci/run does)"
    );
    let options = LaunchOptions::default_builder()
        .path(Some(PathBuf::from(CHROMIUM)))
        .headless(true)
        .sandbox(false)
        .idle_browser_timeout(Duration::from_secs(120))
        .args(
            [
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ]
            .iter()
            .map(OsStr::new)
            .collect(),
        )
        .build()
        .unwrap();
    Browser::new(options).expect("Chromium did not start")
}

fn text_of(tab: &Tab, selector: &str) -> String {
    tab.wait_for_element(selector)
        .unwrap_or_else(|e| panic!("no `{selector}` on {}: {e}", tab.get_url()))
        .get_inner_text()
        .unwrap()
}

fn open(tab: &Tab, url: &str) {
    // Marked first: `navigate_to` may return before the new document has
    // replaced the old one, and a click made then could land on the old
    // page or be undone by the new one's arrival (a CI run failed so).
    mark_document(tab);
    tab.navigate_to(url).unwrap();
    wait_for_new_document(tab, url);
}

/// Clicks `selector` and waits until another document has replaced this
/// one (a form's POST may come back to the same URL, so the URL can't tell).
fn click(tab: &Tab, selector: &str) {
    mark_document(tab);
    tab.wait_for_element(selector).unwrap().click().unwrap();
    wait_for_new_document(tab, &format!("clicking `{selector}`"));
}

fn mark_document(tab: &Tab) {
    tab.evaluate("window.memscopeOldPage = true", false)
        .unwrap();
}

/// Waits until the document `mark_document` marked has been replaced and
/// the new one has loaded; `what` names the step if it never happens.
fn wait_for_new_document(tab: &Tab, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let loaded_and_new = tab
            .evaluate(
                "window.memscopeOldPage !== true && document.readyState === 'complete'",
                false,
            )
            .ok()
            .and_then(|result| result.value)
            .and_then(|value| value.as_bool());
        if loaded_and_new == Some(true) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what} led to no new page"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    tab.wait_until_navigated().unwrap();
}

fn screenshot(tab: &Tab, name: &str) {
    let png = tab
        .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
        .unwrap();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    std::fs::write(dir.join(format!("browser-{name}.png")), png).unwrap();
}

#[test]
#[ignore = "needs Chromium: .ci/run installs it and runs this test"]
fn the_demo_leak_can_be_found_by_clicking() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let addr: SocketAddr = runtime
        .block_on(leaky_cache::start(
            Mode::Leaky,
            "127.0.0.1:0".parse().unwrap(),
        ))
        .unwrap();
    let base = format!("http://{addr}/_debug");
    let browser = launch();
    let tab = browser.new_tab().unwrap();

    // The overview draws the timeline once it has two points.
    std::thread::sleep(Duration::from_millis(2200));
    open(&tab, &format!("{base}/"));
    assert_eq!(tab.get_title().unwrap(), "Overview · memscope");
    tab.wait_for_element("svg polyline")
        .expect("no chart on the overview");
    screenshot(&tab, "overview");

    // Pause and resume heap sampling with the overview's button.
    click(&tab, "form[action$='/profiling?active=false'] button");
    assert!(tab.get_url().ends_with("/_debug/"), "{}", tab.get_url());
    assert!(text_of(&tab, "header .state").contains("paused"));
    click(&tab, "form[action$='/profiling?active=true'] button");
    assert!(text_of(&tab, "header .state").contains("active"));

    // The first visit to the diff takes the baseline; then the leak.
    open(&tab, &format!("{base}/memory/diff"));
    assert!(text_of(&tab, "main").contains("No baseline yet"));
    runtime.block_on(async {
        for _ in 0..500 {
            common::get(addr, "/json").await;
        }
    });
    open(&tab, &format!("{base}/memory/diff"));
    let top = text_of(&tab, "table tr:nth-child(2) td.name a");
    assert!(
        top.contains("leaky_cache::cache::store_response"),
        "top growing site: {top}"
    );
    screenshot(&tab, "diff");

    // Its link leads to its stacks, with the file and line.
    click(&tab, "table tr:nth-child(2) td.name a");
    assert!(text_of(&tab, "h1").contains("store_response"));
    assert!(text_of(&tab, "main").contains("examples/leaky_cache.rs:"));
    screenshot(&tab, "site");

    // The heapdump's form: choose a grouping, type a filter, submit.
    open(&tab, &format!("{base}/heapdump"));
    tab.wait_for_element("select[name=group]")
        .unwrap()
        .call_js_fn("function () { this.value = 'function'; }", vec![], false)
        .unwrap();
    tab.wait_for_element("input[name=filter]")
        .unwrap()
        .click()
        .unwrap();
    tab.type_str("STORE_response").unwrap();
    click(&tab, "main form button[type=submit]");
    let url = tab.get_url();
    assert!(
        url.contains("group=function") && url.contains("filter=STORE_response"),
        "{url}"
    );
    assert!(text_of(&tab, "table tr:nth-child(2) td.name").contains("store_response"));

    // The diff's button takes a new baseline and comes back.
    open(&tab, &format!("{base}/memory/diff"));
    click(&tab, "form[action$='/memory/diff/baseline'] button");
    assert!(
        tab.get_url().ends_with("/_debug/memory/diff"),
        "{}",
        tab.get_url()
    );
    assert!(text_of(&tab, "main p").contains("Growth since the baseline"));

    // The requests page links each request to its own page.
    open(&tab, &format!("{base}/profiles"));
    assert!(text_of(&tab, "main").contains("/json"));
    screenshot(&tab, "profiles");
    click(&tab, "main table:last-of-type tr:nth-child(2) a");
    assert!(text_of(&tab, "h1").starts_with("Request "));

    // A CPU capture from its button: the page shows the flamegraph image.
    open(&tab, &format!("{base}/profiles"));
    click(&tab, "form[action*='/profiles/cpu'] button");
    assert!(
        tab.get_url().contains("/_debug/profiles/cpu/"),
        "{}",
        tab.get_url()
    );
    let image = tab.wait_for_element("main img").unwrap();
    // The element is in the page before its image has arrived: wait for
    // the image, up to 15 s.
    let loaded_width = || {
        image
            .call_js_fn("function () { return this.naturalWidth; }", vec![], false)
            .unwrap()
            .value
            .and_then(|value| value.as_u64())
            .unwrap_or(0)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while loaded_width() == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(loaded_width() > 0, "the flamegraph did not load");
    screenshot(&tab, "cpu");
}
