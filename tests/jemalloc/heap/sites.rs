//! Heap profiles find a known allocation by name and size: the heapdump's
//! top site and the diff's top growing site are the function that retains
//! the bytes, and the estimate is within 15 % of the truth.

use crate::common::own_process::{in_own_process, profiling};
// One sample per 64 KiB: ~1,000 samples for the 64 MiB below, so the
// estimate's standard error is ~3 % and a ±15 % bound cannot flake.

use crate::common::{get as http_get, post, serve_app_with_layer};
use http::StatusCode;
use tokio::sync::Mutex;

const CHUNK: usize = 8 * 1024;
const CHUNKS: usize = 8 * 1024;
const TRUE_BYTES: f64 = (CHUNK * CHUNKS) as f64;

/// Retains 64 MiB in 8 KiB chunks (8 KiB is a size class: no rounding).
#[inline(never)]
fn retain_sixty_four_mebibytes() -> Vec<Vec<u8>> {
    (0..CHUNKS).map(|i| vec![i as u8; CHUNK]).collect()
}

/// The tests share one process heap: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

fn within(estimate: f64, truth: f64, tolerance: f64) -> bool {
    (estimate - truth).abs() <= truth * tolerance
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heapdump_top_site_is_the_retaining_function() {
    if in_own_process(&profiling(16)) {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().await;
    let addr = serve_app_with_layer().await;
    // The layer put memscope's own stack walker in jemalloc's place.
    let overview = http_get(addr, "/_debug/?format=json").await.json();
    assert_eq!(
        overview["profiling"]["unwinder"], "memscope",
        "{overview:#}"
    );
    let held = retain_sixty_four_mebibytes();

    let dump = http_get(addr, "/_debug/heapdump?format=json&limit=5").await;
    assert_eq!(dump.status, StatusCode::OK, "{}", dump.body);
    let dump = dump.json();
    assert_eq!(dump["group"], "site");
    let top = &dump["rows"][0];
    let name = top["name"].as_str().unwrap();
    assert!(
        name.contains("retain_sixty_four_mebibytes"),
        "top site is {name}: {dump:#}"
    );
    let bytes = top["bytes"].as_f64().unwrap();
    assert!(
        within(bytes, TRUE_BYTES, 0.15),
        "estimated {bytes} for {TRUE_BYTES}"
    );
    let objects = top["objects"].as_f64().unwrap();
    assert!(
        within(objects, CHUNKS as f64, 0.15),
        "estimated {objects} objects"
    );
    let frame = &top["frames"][0];
    assert!(
        frame["function"]
            .as_str()
            .unwrap()
            .contains("retain_sixty_four_mebibytes")
    );
    assert!(
        frame["file"]
            .as_str()
            .unwrap()
            .ends_with("tests/jemalloc/heap/sites.rs"),
        "{frame}"
    );
    assert!(frame["line"].as_u64().unwrap() > 0);
    assert!(top["id"].as_str().unwrap().len() == 16);

    // The site page lists its stacks, file:line included.
    let site = http_get(
        addr,
        &format!(
            "/_debug/heapdump/{}?format=json",
            top["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(site.status, StatusCode::OK, "{}", site.body);
    let site = site.json();
    assert!(
        site["stacks"][0]["frames"]
            .as_array()
            .unwrap()
            .iter()
            .any(|frame| frame["kind"] == "app"
                && frame["file"]
                    .as_str()
                    .is_some_and(|file| file.ends_with("tests/jemalloc/heap/sites.rs")))
    );
    // The walk went on past the app, up to the runtime that polls the test.
    assert!(
        site["stacks"][0]["frames"]
            .as_array()
            .unwrap()
            .iter()
            .any(|frame| frame["function"]
                .as_str()
                .is_some_and(|function| function.contains("tokio::runtime"))),
        "{site:#}"
    );

    // Other groupings find it too.
    let by_function = http_get(addr, "/_debug/heapdump?format=json&group=function&limit=1")
        .await
        .json();
    assert!(
        by_function["rows"][0]["name"]
            .as_str()
            .unwrap()
            .contains("retain_sixty_four_mebibytes")
    );
    let by_crate = http_get(addr, "/_debug/heapdump?format=json&group=crate&limit=1")
        .await
        .json();
    assert_eq!(by_crate["rows"][0]["name"], "jemalloc");
    let by_stack = http_get(addr, "/_debug/heapdump?format=json&group=stack&limit=1")
        .await
        .json();
    assert!(
        by_stack["rows"][0]["name"]
            .as_str()
            .unwrap()
            .contains("retain_sixty_four_mebibytes")
    );

    // A filter that matches no frame of it leaves it out; one that does keeps it.
    let filtered = http_get(addr, "/_debug/heapdump?format=json&filter=SIXTY_FOUR")
        .await
        .json();
    assert!(
        filtered["rows"][0]["name"]
            .as_str()
            .unwrap()
            .contains("retain_sixty_four_mebibytes")
    );
    let other = http_get(
        addr,
        "/_debug/heapdump?format=json&filter=no-such-frame-anywhere",
    )
    .await
    .json();
    assert_eq!(other["rows"].as_array().unwrap().len(), 0);

    // The text table reads like the JSON.
    let text = http_get(addr, "/_debug/heapdump?limit=3").await.body;
    assert!(
        text.lines()
            .nth(2)
            .unwrap()
            .contains("retain_sixty_four_mebibytes"),
        "{text}"
    );
    assert!(text.contains("total (estimate)"));
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_top_growing_site_is_the_retaining_function() {
    if in_own_process(&profiling(16)) {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().await;
    // A prefix of its own, so that no other test's visit to a diff has
    // taken this mount's baseline already.
    let addr = crate::common::serve(
        axum::Router::new()
            .route("/", axum::routing::get(|| async { "app" }))
            .layer(memscope::DebugLayer::new().prefix("/_debug_diff")),
    )
    .await;
    // First visit: no baseline, one is taken.
    let first = http_get(addr, "/_debug_diff/memory/diff?format=json")
        .await
        .json();
    assert_eq!(first["baseline_created"], true);
    assert_eq!(
        post(addr, "/_debug_diff/memory/diff/baseline?format=json")
            .await
            .status,
        StatusCode::OK
    );
    for _ in 0..10 {
        assert_eq!(http_get(addr, "/").await.body, "app");
    }
    let held = retain_sixty_four_mebibytes();

    let diff = http_get(addr, "/_debug_diff/memory/diff?format=json&limit=5").await;
    assert_eq!(diff.status, StatusCode::OK, "{}", diff.body);
    let diff = diff.json();
    assert_eq!(diff["baseline_created"], false);
    assert_eq!(diff["requests"], 10);
    let top = &diff["rows"][0];
    assert!(
        top["name"]
            .as_str()
            .unwrap()
            .contains("retain_sixty_four_mebibytes"),
        "{diff:#}"
    );
    let growth = top["bytes_delta"].as_f64().unwrap();
    assert!(
        within(growth, TRUE_BYTES, 0.15),
        "grew {growth} for {TRUE_BYTES}"
    );
    assert!(top["objects_delta"].as_i64().unwrap() > 0);
    let per_request = top["bytes_per_request"].as_f64().unwrap();
    assert!((per_request - growth / 10.0).abs() < 1.0);
    assert!(diff["jemalloc"]["allocated_delta"].as_i64().unwrap() > (TRUE_BYTES * 0.8) as i64);

    // Freed: the site shrinks back and is no longer the top grower.
    drop(held);
    let after = http_get(
        addr,
        "/_debug_diff/memory/diff?format=json&filter=retain_sixty",
    )
    .await
    .json();
    let rows = after["rows"].as_array().unwrap();
    assert!(
        rows.iter()
            .all(|row| row["bytes_delta"].as_i64().unwrap() < (TRUE_BYTES * 0.15) as i64),
        "{after:#}"
    );

    // The exact size-class diff sees the 8 KiB class.
    let sizes = http_get(addr, "/_debug_diff/memory/diff?format=json&group=size")
        .await
        .json();
    assert!(
        sizes["rows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|row| row["size"] == 8192)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seconds_diffs_two_snapshots_and_keeps_the_baseline() {
    if in_own_process(&profiling(16)) {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().await;
    let addr = serve_app_with_layer().await;
    http_get(addr, "/_debug/memory/diff").await;
    let baseline_before = http_get(addr, "/_debug/memory/diff?format=json")
        .await
        .json()["since_unix"]
        .clone();
    let retain = tokio::spawn(async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let held = retain_sixty_four_mebibytes();
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        drop(held);
    });
    let diff = http_get(addr, "/_debug/memory/diff?format=json&seconds=2")
        .await
        .json();
    assert_eq!(diff["compared_to"], "interval");
    assert!(diff["elapsed_seconds"].as_f64().unwrap() >= 2.0);
    assert!(
        diff["rows"][0]["name"]
            .as_str()
            .unwrap()
            .contains("retain_sixty_four_mebibytes"),
        "{diff:#}"
    );
    retain.await.unwrap();
    let after = http_get(addr, "/_debug/memory/diff?format=json")
        .await
        .json();
    assert_eq!(
        after["since_unix"], baseline_before,
        "seconds= moved the stored baseline"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_heapdumps_all_answer() {
    if in_own_process(&profiling(16)) {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().await;
    let addr = serve_app_with_layer().await;
    let calls: Vec<_> = (0..6)
        .map(|i| {
            tokio::spawn(async move {
                let path = if i % 2 == 0 {
                    "/_debug/heapdump?format=json"
                } else {
                    "/_debug/memory/diff?format=json"
                };
                http_get(addr, path).await.status
            })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap(), StatusCode::OK);
    }
}

#[tokio::test]
async fn site_ids_and_diff_parameters_are_validated() {
    if in_own_process(&profiling(16)) {
        return;
    }
    let addr = serve_app_with_layer().await;
    let malformed = http_get(addr, "/_debug/heapdump/not-an-id").await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert!(malformed.body.contains("16 hexadecimal digits"));
    let unknown = http_get(addr, "/_debug/heapdump/00000000deadbeef").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.body);
    for (path, named) in [
        ("/_debug/memory/diff?seconds=0", "`seconds`"),
        ("/_debug/memory/diff?seconds=301", "`seconds`"),
        ("/_debug/memory/diff?seconds=soon", "`seconds`"),
        ("/_debug/heapdump?group=size&filter=cache", "`filter`"),
        ("/_debug/memory/diff?group=everything", "`group`"),
    ] {
        crate::common::assert_bad_request(addr, path, named).await;
    }
    let long = format!("/_debug/heapdump?filter={}", "x".repeat(201));
    assert_eq!(http_get(addr, &long).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        http_get(addr, "/_debug/memory/diff/baseline").await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
}
