//! The demo read by the tools fleets already run: `go tool pprof` (Debian's
//! golang-go) reads its heap and CPU profiles, `promtool` passes its
//! metrics, and a Prometheus server scrapes it. Each test is skipped, with
//! a message, only where its tool is not installed; `.ci/run` installs
//! them.

use crate::common::own_process::{in_own_process, profiling};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::get;
use crate::leaky_cache::Mode;
use http::StatusCode;

/// The tool at `path`, or a message saying the test is skipped.
fn tool(path: &str) -> Option<&str> {
    if Path::new(path).exists() {
        Some(path)
    } else {
        crate::common::skipped(
            "a test of the real clients",
            &format!("{path} is not installed (.ci/run installs it)"),
        );
        None
    }
}

async fn demo_after(requests: usize) -> SocketAddr {
    let addr = crate::leaky_cache::start(Mode::Leaky, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    for _ in 0..requests {
        assert_eq!(get(addr, "/json").await.status, StatusCode::OK);
    }
    addr
}

/// Runs `go tool pprof` with `args`, its cache in a directory of its own.
fn go_tool_pprof(go: &str, args: &[&str]) -> String {
    let home = tempfile::tempdir().unwrap();
    let output = Command::new(go)
        .args(["tool", "pprof"])
        .args(args)
        .env("HOME", home.path())
        .env("PPROF_TMPDIR", home.path())
        .env("GOCACHE", home.path().join("cache"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "go tool pprof {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The function names of `-top`'s table, largest flat first.
fn top_functions(top: &str) -> Vec<&str> {
    top.lines()
        .skip_while(|line| !line.trim_start().starts_with("flat"))
        .skip(1)
        .filter_map(|line| line.split_whitespace().nth(5))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_tool_pprof_reads_the_heap_and_cpu_profiles() {
    if in_own_process(&profiling(14)) {
        return;
    }
    let Some(go) = tool("/usr/bin/go") else {
        return;
    };
    let addr = demo_after(2_000).await;
    let url = format!("http://{addr}/_debug/pprof/heap");
    let go = go.to_owned();
    let top = tokio::task::spawn_blocking(move || {
        go_tool_pprof(&go, &["-top", "-sample_index=inuse_space", &url])
    })
    .await
    .unwrap();
    let functions = top_functions(&top);
    assert!(
        functions
            .first()
            .is_some_and(|first| first.contains("leaky_cache::cache::store_response")),
        "the top inuse_space entry is not the demo's caching function:\n{top}"
    );

    // The samples' labels: the demo's cache was filled by its route.
    let url = format!("http://{addr}/_debug/pprof/heap");
    let go = "/usr/bin/go";
    let tags = tokio::task::spawn_blocking(move || {
        go_tool_pprof(go, &["-tags", "-sample_index=inuse_space", &url])
    })
    .await
    .unwrap();
    let route_tag = tags
        .split("http.route:")
        .nth(1)
        .unwrap_or_else(|| panic!("no http.route tag:\n{tags}"));
    assert!(route_tag.contains("/json"), "{tags}");

    let url = format!("http://{addr}/_debug/pprof/profile?seconds=2");
    let busy = tokio::spawn(async move {
        let end = Instant::now() + Duration::from_millis(1_800);
        while Instant::now() < end {
            get(addr, "/json").await;
        }
    });
    let go = "/usr/bin/go";
    let top = tokio::task::spawn_blocking(move || go_tool_pprof(go, &["-top", &url]))
        .await
        .unwrap();
    busy.await.unwrap();
    assert!(
        top.contains("Type: cpu") && !top_functions(&top).is_empty(),
        "{top}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_passes_the_metrics() {
    if in_own_process(&profiling(14)) {
        return;
    }
    let Some(promtool) = tool("/usr/bin/promtool") else {
        return;
    };
    // A snapshot every 200 ms, so that one is taken after the requests
    // and the live heap by route has the demo's route in it.
    // A black box with a capture in it, for its series.
    let black_box_dir = tempfile::tempdir().unwrap();
    let black_box = memscope::BlackBox::new(black_box_dir.path());
    let layer = crate::leaky_cache::demo_layer()
        .heap_history(Duration::from_millis(200), 60)
        .black_box(black_box.clone());
    let addr = crate::leaky_cache::start_with(Mode::Leaky, "127.0.0.1:0".parse().unwrap(), layer)
        .await
        .unwrap();
    for _ in 0..200 {
        assert_eq!(get(addr, "/json").await.status, StatusCode::OK);
    }
    tokio::task::spawn_blocking(move || black_box.capture("promtool"))
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    for accept in ["*/*", "application/openmetrics-text;version=1.0.0"] {
        let metrics = crate::common::get_with(addr, "/_debug/metrics", &[("accept", accept)]).await;
        assert_eq!(metrics.status, StatusCode::OK);
        if accept == "*/*" {
            assert_eq!(
                metrics.header("content-type"),
                "text/plain; version=0.0.4; charset=utf-8"
            );
            let mut check = Command::new(promtool)
                .args(["check", "metrics"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            check
                .stdin
                .take()
                .unwrap()
                .write_all(metrics.body.as_bytes())
                .unwrap();
            let output = check.wait_with_output().unwrap();
            assert!(
                output.status.success(),
                "promtool check metrics:\n{}{}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
                metrics.body
            );
        } else {
            assert!(
                metrics
                    .header("content-type")
                    .starts_with("application/openmetrics-text")
            );
            assert!(metrics.body.ends_with("# EOF\n"));
        }
        for series in [
            "memscope_jemalloc_allocated_bytes",
            "memscope_process_resident_memory_bytes",
            "memscope_heap_profiling_active",
            "memscope_requests_total{route=\"/json\"}",
            "memscope_request_allocated_bytes_total{route=\"/json\"}",
            "memscope_request_freed_bytes_total{route=\"/json\"}",
            "memscope_heap_dumps_total",
            "memscope_rss_part_bytes{part=\"live_heap\"}",
            "memscope_rss_part_bytes{part=\"thread_stacks\"}",
            "memscope_threads",
            "memscope_tasks_alive",
            "memscope_route_live_heap_bytes{route=\"/json\"}",
            "memscope_black_box_captures_total{reason=\"hook\"} 1",
            "memscope_black_box_write_failures_total 0",
            "memscope_black_box_last_capture_timestamp_seconds",
        ] {
            assert!(
                metrics.body.contains(series),
                "no {series}:\n{}",
                metrics.body
            );
        }
    }
}

/// What Prometheus's HTTP API answers for `query` now; `None` while it
/// is not ready (it answers 503 until its storage has started).
async fn prometheus_query(prometheus: SocketAddr, query: &str) -> Option<serde_json::Value> {
    let encoded: String = form_urlencoded::byte_serialize(query.as_bytes()).collect();
    let answer = get(prometheus, &format!("/api/v1/query?query={encoded}")).await;
    (answer.status == StatusCode::OK).then(|| answer.json())
}

/// The value of the first series `query` finds, if any.
async fn first_value(prometheus: SocketAddr, query: &str) -> Option<f64> {
    let answer = prometheus_query(prometheus, query).await?;
    answer["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|value| value.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prometheus_server_scrapes_the_demo() {
    if in_own_process(&profiling(14)) {
        return;
    }
    let Some(prometheus) = tool("/usr/bin/prometheus") else {
        return;
    };
    let addr = demo_after(20).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: demo\n    \
             metrics_path: /_debug/metrics\n    static_configs:\n      - targets: ['{addr}']\n"
        ),
    )
    .unwrap();
    let mut server = Command::new(prometheus)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            data.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let api: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let query = "memscope_request_allocated_bytes_total{route=\"/json\"}";
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut first = None;
    let mut rising = None;
    while Instant::now() < deadline {
        for _ in 0..50 {
            get(addr, "/json").await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let Ok(Ok(_)) =
            tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(api)).await
        else {
            continue;
        };
        let Some(value) = first_value(api, query).await else {
            continue;
        };
        match first {
            None => first = Some(value),
            Some(earlier) if value > earlier => {
                rising = Some((earlier, value));
                break;
            }
            Some(_) => {}
        }
    }
    let health = first_value(api, "up{job=\"demo\"}").await;
    let _ = server.kill();
    let _ = server.wait();
    let (earlier, later) = rising.unwrap_or_else(|| {
        panic!("Prometheus never saw {query} rise (first {first:?}, up {health:?})")
    });
    println!("Prometheus scraped {query}: {earlier} then {later}");
    assert_eq!(health, Some(1.0));
}
