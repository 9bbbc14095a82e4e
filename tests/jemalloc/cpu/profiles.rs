//! CPU profiles on demand: one at a time, kept, with a flamegraph and a
//! pprof download; heap sampling is paused while they run.

use crate::common::own_process::{in_own_process, profiling};
use std::io::Read;

use crate::common::{get as http_get, post, send, serve_app_with_layer};
use http::{Method, StatusCode};

/// Burns CPU so that the profile has samples, in a function of its own
/// (this test's code is optimized: `[profile.test]`).
#[inline(never)]
fn spin(ms: u64) -> u64 {
    let end = std::time::Instant::now() + std::time::Duration::from_millis(ms);
    let mut x = 0u64;
    // Mostly arithmetic: samples that land in the vDSO clock are skipped.
    while std::time::Instant::now() < end {
        for _ in 0..100_000 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
    x
}

/// CPU captures and heap sampling are the process's: one test at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capture_is_served_and_one_runs_at_a_time() {
    if in_own_process(&profiling(19)) {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().await;
    let addr = serve_app_with_layer().await;
    let busy = std::thread::spawn(|| spin(2500));
    let first =
        tokio::spawn(async move { post(addr, "/_debug/profiles/cpu?seconds=2&format=json").await });
    // Well inside the capture, which starts within ~100 ms.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;

    // While it runs: heap sampling is paused, and a second capture is refused.
    let overview = http_get(addr, "/_debug/?format=json").await.json();
    assert_eq!(
        overview["profiling"]["active"], false,
        "heap sampling runs during a CPU capture"
    );
    let second = post(addr, "/_debug/profiles/cpu?seconds=1").await;
    assert_eq!(second.status, StatusCode::CONFLICT, "{}", second.body);
    assert!(second.header("retry-after").parse::<u64>().unwrap() >= 1);

    let capture = first.await.unwrap();
    busy.join().unwrap();
    assert_eq!(capture.status, StatusCode::OK, "{}", capture.body);
    let capture = capture.json();
    // ~200 expected: 2 s at 99 Hz of one busy thread.
    assert!(capture["samples"].as_u64().unwrap() > 40, "{capture}");
    assert_eq!(capture["paused_heap_sampling"], true);
    let overview = http_get(addr, "/_debug/?format=json").await.json();
    assert_eq!(
        overview["profiling"]["active"], true,
        "heap sampling was not resumed"
    );

    let svg = http_get(addr, capture["flamegraph"].as_str().unwrap()).await;
    assert_eq!(svg.header("content-type"), "image/svg+xml");
    assert!(
        svg.body.contains("<svg") && svg.body.contains("spin"),
        "the busy function is missing"
    );
    // The thread's start is folded into one frame; `frames=all` draws it.
    assert!(svg.body.contains("C runtime"), "no folded frame");
    let flamegraph = capture["flamegraph"].as_str().unwrap();
    let all = http_get(addr, &format!("{flamegraph}?frames=all")).await;
    assert!(
        all.body.contains("spin") && !all.body.contains("C runtime"),
        "frames=all folds"
    );
    let bad = http_get(addr, &format!("{flamegraph}?frames=none")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    let pprof = crate::common::get_bytes(addr, capture["pprof"].as_str().unwrap()).await;
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(&pprof[..])
        .read_to_end(&mut decoded)
        .unwrap();
    assert!(
        decoded.len() > 100,
        "pprof protobuf is {} bytes",
        decoded.len()
    );

    let page = http_get(addr, capture["link"].as_str().unwrap()).await;
    assert_eq!(page.status, StatusCode::OK);
    let listed = http_get(addr, "/_debug/profiles?format=json").await.json();
    assert_eq!(listed["captures"][0]["id"], capture["id"]);

    // A browser's form is sent on to the capture's page.
    let form = send(
        addr,
        Method::POST,
        "/_debug/profiles/cpu?seconds=1",
        &[("accept", "text/html")],
    )
    .await;
    assert_eq!(form.status, StatusCode::SEE_OTHER);
    assert!(form.header("location").starts_with("/_debug/profiles/cpu/"));

    for bad in ["seconds=0", "seconds=61", "seconds=ten"] {
        let answer = post(addr, &format!("/_debug/profiles/cpu?{bad}")).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(answer.body.contains("`seconds`"));
    }
    assert_eq!(
        http_get(addr, "/_debug/profiles/cpu").await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

/// Whether heap sampling is active now, from the overview.
async fn sampling_active(addr: std::net::SocketAddr) -> bool {
    let overview = http_get(addr, "/_debug/?format=json").await.json();
    overview["profiling"]["active"].as_bool().unwrap()
}

/// What the user asks of heap sampling while a capture runs is done when it
/// ends, and the two never run at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_users_sampling_choice_during_a_capture_wins_without_overlap() {
    if in_own_process(&profiling(19)) {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().await;
    let addr = serve_app_with_layer().await;
    assert!(sampling_active(addr).await);

    // Paused during a capture: still paused after it.
    let capture =
        tokio::spawn(async move { post(addr, "/_debug/profiles/cpu?seconds=2&format=json").await });
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let pause = post(addr, "/_debug/profiling?active=false&format=json").await;
    assert_eq!(pause.status, StatusCode::ACCEPTED, "{}", pause.body);
    assert_eq!(pause.json()["deferred_until_cpu_capture_ends"], true);
    let overview = http_get(addr, "/_debug/?format=json").await.json();
    assert_eq!(overview["profiling"]["cpu_capture_hold"]["resumes"], false);
    assert!(
        overview["profiling"]["summary"]
            .as_str()
            .unwrap()
            .contains("stays paused after it"),
        "{overview}"
    );
    assert_eq!(capture.await.unwrap().status, StatusCode::OK);
    assert!(
        !sampling_active(addr).await,
        "the capture switched sampling back on"
    );

    // Resumed during a capture: not before it ends, and on after it.
    let capture =
        tokio::spawn(async move { post(addr, "/_debug/profiles/cpu?seconds=2&format=json").await });
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let resume = post(addr, "/_debug/profiling?active=true&format=json").await;
    assert_eq!(resume.status, StatusCode::ACCEPTED, "{}", resume.body);
    assert!(
        !sampling_active(addr).await,
        "sampling and the CPU profiler ran at once"
    );
    let captured = capture.await.unwrap().json();
    assert_eq!(
        captured["paused_heap_sampling"], false,
        "sampling was already paused when this capture began"
    );
    assert!(sampling_active(addr).await, "the resume asked for was lost");

    // Without a capture, the switch is immediate.
    let now = post(addr, "/_debug/profiling?active=true&format=json").await;
    assert_eq!(now.status, StatusCode::OK);
    assert_eq!(now.json()["deferred_until_cpu_capture_ends"], false);
}
