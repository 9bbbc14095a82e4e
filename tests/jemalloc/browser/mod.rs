//! The pages in a real browser, headless Chromium: it follows the links,
//! fills in the forms and presses the buttons of the demo's pages, which
//! work without JavaScript (`clicking`), and looks at what a person reads
//! first on them (`first_look`). Screenshots are kept in `target/tmp/`.
//!
//! Ignored by a plain `cargo test`, since they need Chromium and its
//! chromedriver: `.ci/run` installs them (`apt-get install chromium
//! chromium-driver`) and runs `cargo test --test jemalloc browser --
//! --ignored`.

mod clicking;
mod first_look;

use std::path::PathBuf;
use std::time::Duration;

use crate::common::webdriver::Browser;
use base64::Engine;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

fn launch() -> Browser {
    for tool in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            std::path::Path::new(tool).exists(),
            "{tool} is missing: apt-get install chromium chromium-driver (as .ci/run does)"
        );
    }
    Browser::launch(CHROMEDRIVER, CHROMIUM)
}

/// The runtime the demo's server runs on, beside the test's thread that
/// drives the browser.
fn demo_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn text_of(browser: &Browser, selector: &str) -> String {
    let element = browser.wait_for(selector);
    browser.text(&element)
}

fn open(browser: &Browser, url: &str) {
    // Marked first, so that a new document is known when it has arrived.
    mark_document(browser);
    browser.navigate(url);
    wait_for_new_document(browser, url);
}

/// Clicks `selector` and waits until another document has replaced this
/// one (a form's POST may come back to the same URL, so the URL can't tell).
fn click(browser: &Browser, selector: &str) {
    mark_document(browser);
    let element = browser.wait_for(selector);
    browser.click(&element);
    wait_for_new_document(browser, &format!("clicking `{selector}`"));
}

fn mark_document(browser: &Browser) {
    browser.execute("window.memscopeOldPage = true;", &[]);
}

/// Waits until the document `mark_document` marked has been replaced and
/// the new one has loaded; `what` names the step if it never happens.
fn wait_for_new_document(browser: &Browser, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let loaded_and_new = browser.execute(
            "return window.memscopeOldPage !== true && document.readyState === 'complete';",
            &[],
        );
        if loaded_and_new.as_bool() == Some(true) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what} led to no new page"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn screenshot(browser: &Browser, name: &str) {
    let png = base64::engine::general_purpose::STANDARD
        .decode(browser.screenshot_base64())
        .unwrap();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    std::fs::write(dir.join(format!("browser-{name}.png")), png).unwrap();
}
