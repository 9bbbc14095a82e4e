//! `memscope::testing` on the demo, in process: the leaky cache fails a
//! leak check with a report that names it; the fix passes the same check.
//! One test, so that the two modes never share the heap's profile at once.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::leaky_cache::{self, Mode};
use axum::body::Body;
use http::Request;
use memscope::testing::{LeakReport, drive};

const REQUESTS: usize = 1_000;
/// What a request may keep on average and still pass: far under the
/// leak's ~1 KiB, far over what a bounded cache's bookkeeping leaves.
const ALLOWED_BYTES_PER_REQUEST: u64 = 256;

fn json_request(_index: usize) -> Request<Body> {
    Request::get("/json").body(Body::empty()).unwrap()
}

async fn check(mode: Mode) -> LeakReport {
    let upstream = leaky_cache::upstream::start().await.unwrap();
    let mut app = leaky_cache::app(mode, upstream);
    // Connections, lazy statics and the symbolizer made before measuring.
    drive(&mut app, 50, json_request).await.unwrap();
    let report = drive(&mut app, REQUESTS, json_request).await.unwrap();
    println!("{mode:?}: {report}");
    report
}

// A current-thread runtime: the demo's upstream and its client's
// connection tasks run on the driving thread, and are counted.
/// The scenario; the test binary sets the demo's allocator.
pub async fn the_leak_fails_the_check_and_the_fix_passes_it() {
    let leaky = check(Mode::Leaky).await;
    assert_eq!(leaky.requests(), REQUESTS);
    assert!(leaky.heap_profiled());
    let failure = catch_unwind(AssertUnwindSafe(|| {
        leaky.assert_kept_at_most(ALLOWED_BYTES_PER_REQUEST)
    }))
    .expect_err("the leak passed the check");
    let message = failure
        .downcast_ref::<String>()
        .expect("a formatted panic message");
    assert!(
        message.starts_with("/json kept ") && message.contains("per request over 1,000 requests"),
        "{message}"
    );
    let top = &leaky.growing_sites()[0];
    assert!(
        top.name.contains("leaky_cache::cache::store_response"),
        "{message}"
    );
    assert!(message.contains("top site "), "{message}");
    assert!(
        message.contains("leaky_cache::cache::store_response ("),
        "{message}"
    );
    assert!(
        top.location
            .as_deref()
            .is_some_and(|l| l.contains("leaky_cache/service.rs:")),
        "{top:?}"
    );
    // What each request keeps: the document, its headers and its URL.
    assert!((500.0..2_000.0).contains(&leaky.mean_kept()), "{leaky}");

    let fixed = check(Mode::Fixed).await;
    fixed.assert_kept_at_most(ALLOWED_BYTES_PER_REQUEST);
    assert!(
        fixed
            .growing_sites()
            .iter()
            .all(|site| !site.name.contains("cache")),
        "{fixed}"
    );
}
