//! The pprof endpoints answer as Go's `net/http/pprof` does: gzipped
//! protobuf with Go's headers, Go's sample types, and never a 200 that
//! carries an error.

use crate::common::own_process::{in_own_process, profiling};
use std::io::Read;

use crate::common::{get as http_get, serve_app_with_layer};
use http::StatusCode;
use pprof::protos::{Message, Profile};

/// The raw answer to `path`, any status.
async fn fetch(addr: std::net::SocketAddr, path: &str) -> (StatusCode, http::HeaderMap, Vec<u8>) {
    use http_body_util::{BodyExt, Empty};
    let client: hyper_util::client::legacy::Client<_, Empty<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let response = client
        .get(format!("http://{addr}{path}").parse().unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes().to_vec();
    (parts.status, parts.headers, body)
}

fn decode(gzipped: &[u8]) -> Profile {
    assert_eq!(&gzipped[..2], &[0x1f, 0x8b], "not gzip");
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(gzipped)
        .read_to_end(&mut raw)
        .unwrap();
    Profile::decode(&raw[..]).unwrap()
}

fn string(profile: &Profile, index: i64) -> &str {
    &profile.string_table[index as usize]
}

/// A CPU capture pauses heap sampling for the process: one test at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Bytes `retain_in_a_named_function` keeps: 512 buffers of 64 KiB, each
/// sampled with a chance of 63 % at one sample per 64 KiB, so that the
/// estimate's standard error is 3.3 % and a tenth off is three of them.
const RETAINED: i64 = 512 * 64 * 1024;

/// Kept for the length of the test: an allocation the profile must show.
fn retain_in_a_named_function() -> Vec<Vec<u8>> {
    (0..512).map(|_| vec![7u8; 64 * 1024]).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heap_and_allocs_are_go_s_profiles() {
    if in_own_process(&profiling(16)) {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().await;
    let addr = serve_app_with_layer().await;
    let held = retain_in_a_named_function();
    for (path, name) in [
        ("/_debug/pprof/heap", "heap"),
        ("/_debug/pprof/allocs", "allocs"),
    ] {
        let (status, headers, body) = fetch(addr, path).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{path}: {}",
            String::from_utf8_lossy(&body)
        );
        assert_eq!(headers["content-type"], "application/octet-stream");
        assert_eq!(
            headers["content-disposition"],
            format!("attachment; filename=\"{name}\"").as_str()
        );
        assert_eq!(headers["x-content-type-options"], "nosniff");
        let profile = decode(&body);
        let types: Vec<(&str, &str)> = profile
            .sample_type
            .iter()
            .map(|ty| (string(&profile, ty.ty), string(&profile, ty.unit)))
            .collect();
        // This binary does not ask jemalloc to accumulate (`prof_accum`).
        assert_eq!(
            types,
            [("inuse_objects", "count"), ("inuse_space", "bytes")]
        );
        assert_eq!(string(&profile, profile.default_sample_type), "inuse_space");
        let period = profile.period_type.clone().unwrap();
        assert_eq!(
            (string(&profile, period.ty), string(&profile, period.unit)),
            ("space", "bytes")
        );
        assert_eq!(profile.period, 1 << 16);
        // The retained buffers, by name, with their file and line.
        let retaining = profile
            .function
            .iter()
            .find(|function| string(&profile, function.name).contains("retain_in_a_named_function"))
            .expect("the retaining function is named");
        assert!(string(&profile, retaining.filename).ends_with("pprof_endpoints.rs"));
        let total: i64 = profile.sample.iter().map(|sample| sample.value[1]).sum();
        assert!(total > RETAINED * 9 / 10, "{total} bytes in use");
        // Every location lies in a mapping that names its file, and the
        // test binary's has a build id.
        assert!(
            profile
                .location
                .iter()
                .all(|location| location.mapping_id > 0)
        );
        let exe = std::env::current_exe().unwrap();
        let mapping = profile
            .mapping
            .iter()
            .find(|mapping| string(&profile, mapping.filename) == exe.to_str().unwrap())
            .expect("the test binary's mapping");
        assert!(string(&profile, mapping.build_id).len() >= 16);
    }
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seconds_answers_a_delta() {
    if in_own_process(&profiling(16)) {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().await;
    let addr = serve_app_with_layer().await;
    let growing = tokio::spawn(async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        retain_in_a_named_function()
    });
    let (status, _, body) = fetch(addr, "/_debug/pprof/heap?seconds=1").await;
    assert_eq!(status, StatusCode::OK);
    let held = growing.await.unwrap();
    let profile = decode(&body);
    assert!(profile.duration_nanos >= 1_000_000_000);
    let grew: i64 = profile.sample.iter().map(|sample| sample.value[1]).sum();
    assert!(
        grew > RETAINED * 9 / 10,
        "grew {grew} bytes over the second"
    );
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_never_a_200() {
    if in_own_process(&profiling(16)) {
        return;
    }
    let addr = serve_app_with_layer().await;
    for path in [
        "/_debug/pprof/heap?seconds=0",
        "/_debug/pprof/heap?seconds=301",
        "/_debug/pprof/allocs?debug=1",
        "/_debug/pprof/profile?seconds=61",
        "/_debug/pprof/profile?seconds=x",
    ] {
        let answer = http_get(addr, path).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            answer.body
        );
    }
    assert_eq!(
        crate::common::post(addr, "/_debug/pprof/heap").await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_cpu_profile_at_a_time() {
    if in_own_process(&profiling(16)) {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().await;
    let addr = serve_app_with_layer().await;
    let first = tokio::spawn(async move { fetch(addr, "/_debug/pprof/profile?seconds=2").await });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let (status, headers, _) = fetch(addr, "/_debug/pprof/profile?seconds=1").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        headers["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    let (status, headers, body) = first.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"profile\""
    );
    let profile = decode(&body);
    let types: Vec<&str> = profile
        .sample_type
        .iter()
        .map(|ty| string(&profile, ty.ty))
        .collect();
    assert_eq!(types, ["samples", "cpu"]);
    // It is kept among the CPU profiles too.
    let listed = http_get(addr, "/_debug/profiles?format=json").await.json();
    assert!(!listed["captures"].as_array().unwrap().is_empty());
}
