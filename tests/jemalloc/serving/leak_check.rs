//! `memscope::testing::drive` on a plain `tower::Service`, without heap
//! profiling: what each request keeps, exactly, and the report's words.

use crate::common::own_process::{NO_PROFILING, in_own_process};
use std::convert::Infallible;
use std::sync::Mutex;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use memscope::testing::drive;
use tower::service_fn;

static KEPT: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

async fn keep(request: Request<String>) -> Result<Response<Full<Bytes>>, Infallible> {
    let bytes: usize = request.uri().query().unwrap().parse().unwrap();
    KEPT.lock().unwrap().push(vec![1u8; bytes]);
    Ok(Response::new(Full::new(Bytes::from(vec![2u8; 4096]))))
}

#[tokio::test]
async fn each_request_keeps_what_it_keeps_and_no_more() {
    if in_own_process(NO_PROFILING) {
        return;
    }
    KEPT.lock().unwrap().reserve(10_000);
    // One request first: lazily made statics are not a leak.
    drive(service_fn(keep), 1, |_| {
        Request::get("/keep?0").body(String::new()).unwrap()
    })
    .await
    .unwrap();
    let report = drive(service_fn(keep), 500, |_| {
        Request::get("/keep?4096")
            .body("a request body".to_owned())
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(report.requests(), 500);
    assert!(!report.heap_profiled());
    // The 4 KiB kept, and nothing of the response or the request.
    assert!(
        report.kept_per_request().iter().all(|kept| *kept == 4096),
        "{:?}",
        report.kept_per_request()
    );
    assert!(report.allocated() >= 500 * (4096 + 4096), "{report}");
    assert_eq!(
        report.to_string(),
        "/keep kept 4.00 KiB per request over 500 requests (+1.95 MiB in all); \
         heap profiling is off, so no site is named"
    );
    let failure = std::panic::catch_unwind(|| report.assert_kept_at_most(1024)).unwrap_err();
    assert!(
        failure
            .downcast_ref::<String>()
            .unwrap()
            .contains("at most 1.00 KiB per request allowed"),
        "{failure:?}"
    );
    report.assert_kept_at_most(4096);

    // A service that keeps nothing.
    let report = drive(service_fn(keep), 100, |i| {
        Request::get(format!("/keep/{i}?0"))
            .body(String::new())
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        report.kept_per_request().iter().all(|kept| *kept == 0),
        "{report}"
    );
    assert!(
        report
            .to_string()
            .starts_with("/keep/{n} kept 0 B per request"),
        "{report}"
    );
}
