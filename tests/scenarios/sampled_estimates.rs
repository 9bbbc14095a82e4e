//! memscope's sampling allocator, whatever it wraps: the heap pages
//! estimate what known sites keep, within the error they state; what is
//! freed does not show; the counts of bytes allocated are exact.

use std::hint::black_box;
use std::sync::Mutex;

use crate::common::{get as http_get, serve};
use axum::Router;
use axum::routing::get;

/// The mean interval between samples: 2^14.
const MEAN: f64 = 16384.0;

static KEPT: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// Each site keeps about 5 MiB in objects of its own size: far below the
/// mean interval (few of them sampled), at it, and far above (every one).
pub mod sites {
    use super::*;

    #[inline(never)]
    pub fn keep_small(kept: &mut Vec<Vec<u8>>) {
        for _ in 0..20_000 {
            kept.push(black_box(vec![1u8; 256]));
        }
    }

    #[inline(never)]
    pub fn keep_at_mean(kept: &mut Vec<Vec<u8>>) {
        for _ in 0..320 {
            kept.push(black_box(vec![2u8; 16 * 1024]));
        }
    }

    #[inline(never)]
    pub fn keep_large(kept: &mut Vec<Vec<u8>>) {
        for _ in 0..5 {
            kept.push(black_box(vec![3u8; 1024 * 1024]));
        }
    }

    /// Allocates as much as the small site, and frees it: nothing live.
    #[inline(never)]
    pub fn churn_small() {
        for _ in 0..20_000 {
            black_box(vec![4u8; 256]);
        }
    }

    pub async fn megabyte() -> &'static str {
        black_box(vec![5u8; 1024 * 1024]);
        "allocated"
    }
}

/// Keeps what the three sites keep, and churns.
fn keep_at_every_site() {
    {
        let mut kept = KEPT.lock().unwrap();
        // Room reserved first: the vector's own growth is not a site here.
        kept.reserve(30_000);
        sites::keep_small(&mut kept);
        sites::keep_at_mean(&mut kept);
        sites::keep_large(&mut kept);
    }
    sites::churn_small();
}

/// The scenario; the test binary sets memscope's sampling allocator over
/// the allocator it tests, with `lg_sample` 14.
pub async fn each_site_is_estimated_within_its_stated_error() {
    let app = Router::new()
        .route("/megabyte", get(sites::megabyte))
        .layer(memscope::DebugLayer::new());
    let addr = serve(app).await;

    // Each stated interval is three standard errors wide on either side:
    // by chance alone an honest estimate falls outside it in about 0.27 %
    // of runs. A miss is measured again once, on fresh objects; a biased
    // estimate, or an error understated, misses both times.
    let mut misses = Vec::new();
    for _ in 0..2 {
        keep_at_every_site();
        match estimates_within_their_errors(addr).await {
            Ok(()) => break,
            Err(miss) => {
                println!("missed: {miss}");
                misses.push(miss);
                KEPT.lock().unwrap().clear();
            }
        }
    }
    assert!(misses.len() < 2, "missed twice: {misses:#?}");
    // The per-request counters read the wrapper's: a route that allocates
    // a mebibyte a request.
    for _ in 0..5 {
        http_get(addr, "/megabyte").await;
    }
    let profiles = http_get(addr, "/_debug/profiles?format=json").await.json();
    let route = profiles["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|route| route["route"] == "/megabyte")
        .unwrap_or_else(|| panic!("{profiles:#}"));
    let mean = route["mean_allocated"].as_u64().unwrap();
    assert!(
        (1 << 20..2 << 20).contains(&mean),
        "mean allocated {mean} for a mebibyte a request"
    );
    KEPT.lock().unwrap().clear();
}

/// The overview's figures, then each site's estimate against what it
/// keeps; `Err` says what missed.
async fn estimates_within_their_errors(addr: std::net::SocketAddr) -> Result<(), String> {
    let overview = http_get(addr, "/_debug/?format=json").await.json();
    assert_eq!(overview["profiling"]["sampler"], "memscope", "{overview:#}");
    assert_eq!(overview["profiling"]["enabled"], true);
    assert_eq!(overview["profiling"]["sample_interval"], 16384);
    assert!(overview["hint"].is_null(), "{}", overview["hint"]);
    // Exact counts: at least the 15 MiB kept are allocated now.
    let allocated = overview["allocated"].as_u64().unwrap();
    assert!(allocated > 15 << 20, "allocated {allocated}");

    let page = http_get(
        addr,
        "/_debug/heapdump?group=function&format=json&limit=200",
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let page = page.json();
    let rows = page["rows"].as_array().unwrap();
    let row = |site: &str| {
        rows.iter()
            .find(|row| {
                row["name"]
                    .as_str()
                    .is_some_and(|name| name.ends_with(site))
            })
            .unwrap_or_else(|| panic!("no row for {site}: {page:#}"))
    };
    assert!(
        !rows.iter().any(|row| row["name"]
            .as_str()
            .is_some_and(|name| name.contains("churn_small"))),
        "freed objects show: {page:#}"
    );
    // What the large site keeps is sampled whole: its estimate is exact
    // but for the chance of missing a 1 MiB object (exp(-64)).
    let large = row("sites::keep_large")["bytes"].as_f64().unwrap();
    assert!((large / (5.0 * 1048576.0) - 1.0).abs() < 1e-6, "{large}");
    for (site, truth) in [
        ("sites::keep_small", 20_000.0 * 256.0),
        ("sites::keep_at_mean", 320.0 * 16384.0),
        ("sites::keep_large", 5.0 * 1048576.0),
    ] {
        let row = row(site);
        let bytes = row["bytes"].as_f64().unwrap();
        let (low, high) = (
            row["bytes_low"].as_f64().unwrap(),
            row["bytes_high"].as_f64().unwrap(),
        );
        println!(
            "{site}: {:.2} MiB ({:.2}–{:.2}) for {:.2} MiB, {} samples",
            bytes / 1048576.0,
            low / 1048576.0,
            high / 1048576.0,
            truth / 1048576.0,
            row["samples"]
        );
        if !(low <= truth && truth <= high) {
            return Err(format!("{site}: {bytes} ({low}–{high}) for {truth}"));
        }
    }
    // The small site's samples: about 1.55 % of 20,000.
    let expected = 20_000.0 * (1.0 - (-256.0 / MEAN).exp());
    let samples = row("sites::keep_small")["samples"].as_f64().unwrap();
    if (samples - expected).abs() >= 5.0 * expected.sqrt() {
        return Err(format!("{samples} samples, {expected} expected"));
    }
    Ok(())
}
