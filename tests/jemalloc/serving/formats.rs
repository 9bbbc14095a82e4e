//! Every page answers in HTML, JSON and text from one model.

use crate::common::own_process::{in_own_process, profiling};
use crate::common::{get as http_get, get_with, serve_app_with_layer};
use http::StatusCode;

/// Every page that answers a GET without an id.
const PAGES: [&str; 6] = [
    "/_debug/",
    "/_debug/heapdump?group=size",
    "/_debug/heapdump",
    "/_debug/memory/diff",
    "/_debug/profiles",
    "/_debug/timeline",
];

const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

#[tokio::test]
async fn format_parameter_wins_then_accept_then_text() {
    if in_own_process(&profiling(19)) {
        return;
    }
    let addr = serve_app_with_layer().await;
    for path in PAGES {
        let sep = if path.contains('?') { '&' } else { '?' };
        let html = http_get(addr, &format!("{path}{sep}format=html")).await;
        assert_eq!(html.header("content-type"), "text/html; charset=utf-8");
        assert!(html.body.starts_with("<!doctype html>"), "{path}");
        let json = get_with(
            addr,
            &format!("{path}{sep}format=json"),
            &[("accept", BROWSER_ACCEPT)],
        )
        .await;
        assert_eq!(
            json.header("content-type"),
            "application/json",
            "{path}: format= must win over Accept"
        );
        assert!(json.json().is_object());
        let text = http_get(addr, path).await;
        assert_eq!(text.header("content-type"), "text/plain; charset=utf-8");
        for answer in [&html, &json, &text] {
            assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
            assert_eq!(answer.header("vary"), "Accept");
        }

        let browser = get_with(addr, path, &[("accept", BROWSER_ACCEPT)]).await;
        assert!(browser.header("content-type").starts_with("text/html"));
        let tool = get_with(addr, path, &[("accept", "application/json")]).await;
        assert_eq!(tool.header("content-type"), "application/json");
        let httpie = get_with(addr, path, &[("accept", "*/*")]).await;
        assert!(httpie.header("content-type").starts_with("text/plain"));
    }
}

#[tokio::test]
async fn overview_json_has_the_documented_fields() {
    if in_own_process(&profiling(19)) {
        return;
    }
    let addr = serve_app_with_layer().await;
    let overview = http_get(addr, "/_debug/?format=json").await.json();
    for field in [
        "allocated",
        "active",
        "resident",
        "mapped",
        "retained",
        "metadata",
        "rss",
    ] {
        assert!(overview[field].as_u64().unwrap() > 0, "{field}: {overview}");
    }
    assert!(overview["resident"].as_u64() >= overview["allocated"].as_u64().map(|a| a / 2));
    let profiling = &overview["profiling"];
    assert_eq!(profiling["enabled"], true);
    assert_eq!(profiling["active"], true);
    assert_eq!(profiling["lg_sample"], 19);
    // Where the RSS is: the parts, in order, adding up to the RSS in
    // bytes and in growth.
    let breakdown = &overview["rss_breakdown"];
    let parts = breakdown["parts"].as_array().unwrap();
    let names: Vec<&str> = parts.iter().map(|p| p["part"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "live_heap",
            "memscope_heap",
            "allocator_overhead",
            "kept_for_reuse",
            "allocator_metadata",
            "thread_stacks",
            "libc_malloc",
            "named_maps",
            "other_anonymous",
            "binary",
            "memscope_debug_info",
            "other_files",
            "shared_memory"
        ]
    );
    let sum: u64 = parts.iter().map(|p| p["bytes"].as_u64().unwrap()).sum();
    let rss = breakdown["rss"].as_u64().unwrap();
    assert_eq!(sum, rss, "{breakdown:#}");
    if let Some(growth) = breakdown["growth"].as_i64() {
        let parts_growth: i64 = parts.iter().map(|p| p["growth"].as_i64().unwrap()).sum();
        assert_eq!(parts_growth, growth, "{breakdown:#}");
    }
    assert_eq!(breakdown["growth_by"], "difference");
    assert!(breakdown["threads"].as_u64().unwrap() >= 2, "{breakdown:#}");
    assert!(
        breakdown["libc_malloc"]["arenas"].as_u64().unwrap() >= 1,
        "{breakdown:#}"
    );
    let groups: Vec<&str> = breakdown["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["group"].as_str().unwrap())
        .collect();
    assert_eq!(groups, ["outside_jemalloc", "file_backed"]);
    assert!(parts[0]["bytes"].as_u64().unwrap() > 0 && parts[0]["share"].as_f64().unwrap() > 0.0);
    assert!(parts[0].get("growth").is_some(), "{breakdown}");
    // The verdict: a layer just built has too short a history, and says
    // when it will know; nothing grows, so there is no time to the limit.
    let verdict = &overview["verdict"];
    assert_eq!(verdict["kind"], "too_early", "{verdict:#}");
    assert!(
        verdict["summary"]
            .as_str()
            .unwrap()
            .starts_with("Too early"),
        "{verdict}"
    );
    let evidence = &verdict["evidence"];
    assert!(
        evidence["knows_in_seconds"].as_u64().unwrap() > 0,
        "{evidence}"
    );
    for field in [
        "window_seconds",
        "timeline_points",
        "heap_snapshots",
        "noise_bytes",
        "parts",
        "suspects",
        "routes",
    ] {
        assert!(!evidence[field].is_null(), "{field}: {evidence}");
    }
    assert!(
        overview.get("time_to_limit").is_some_and(|t| t.is_null()),
        "{overview}"
    );
    // The container's memory, where the process's cgroup has a memory
    // controller (these machines have v1's; production mostly v2's).
    let controller = std::path::Path::new("/sys/fs/cgroup/memory").exists()
        || std::path::Path::new("/sys/fs/cgroup/memory.current").exists();
    let cgroup = &overview["cgroup"];
    if controller {
        assert!(cgroup["version"] == 1 || cgroup["version"] == 2, "{cgroup}");
        assert!(cgroup["usage"].as_u64().unwrap() > 0, "{cgroup}");
        assert!(
            cgroup["path"].as_str().unwrap().starts_with('/'),
            "{cgroup}"
        );
        assert!(cgroup.get("limit").is_some(), "{cgroup}");
        let text = http_get(addr, "/_debug/?format=text").await.body;
        assert!(text.contains("cgroup v"), "{text}");
        let metrics = http_get(addr, "/_debug/metrics").await.body;
        assert!(
            metrics.contains("memscope_cgroup_memory_usage_bytes "),
            "{metrics}"
        );
    } else {
        assert!(cgroup.is_null(), "{cgroup}");
    }
}

#[tokio::test]
async fn size_table_is_exact_and_sorted() {
    if in_own_process(&profiling(19)) {
        return;
    }
    let addr = serve_app_with_layer().await;
    // 40 live objects of 5 KiB each, in the 5 KiB size class.
    let held: Vec<Vec<u8>> = (0..40).map(|_| vec![7u8; 5 * 1024]).collect();
    let table = http_get(addr, "/_debug/heapdump?group=size&format=json&limit=10000")
        .await
        .json();
    let rows = table["rows"].as_array().unwrap();
    assert!(rows.len() > 3);
    let bytes: Vec<u64> = rows.iter().map(|r| r["bytes"].as_u64().unwrap()).collect();
    assert!(
        bytes.windows(2).all(|w| w[0] >= w[1]),
        "not largest first: {bytes:?}"
    );
    for row in rows {
        assert!(row["name"].is_string() && row["objects"].as_u64().unwrap() > 0);
    }
    let class = rows
        .iter()
        .find(|r| r["size"] == 5120)
        .expect("no 5 KiB class");
    assert!(class["objects"].as_u64().unwrap() >= 40, "{class}");
    let total: u64 = bytes.iter().sum();
    assert_eq!(table["total"]["bytes"].as_u64().unwrap(), total);
    drop(held);

    let limited = http_get(addr, "/_debug/heapdump?group=size&format=json&limit=2")
        .await
        .json();
    assert_eq!(limited["rows"].as_array().unwrap().len(), 2);
    assert!(limited["rows_omitted"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn text_table_is_aligned_for_terminals() {
    if in_own_process(&profiling(19)) {
        return;
    }
    let addr = serve_app_with_layer().await;
    let text = http_get(addr, "/_debug/heapdump?group=size").await.body;
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("size class"), "{text}");
    assert!(lines[1].chars().all(|c| c == '=' || c == '|'));
    let bar = lines[0].find('|').unwrap();
    for line in lines.iter().take_while(|l| !l.is_empty()) {
        assert_eq!(line.find('|'), Some(bar), "misaligned: {line}");
    }
    assert!(text.contains("\ntotal "));
}

#[tokio::test]
async fn html_escapes_and_uses_no_external_asset() {
    if in_own_process(&profiling(19)) {
        return;
    }
    let addr = serve_app_with_layer().await;
    for path in PAGES.iter().chain(&["/_debug/nope"]) {
        let html = get_with(addr, path, &[("accept", BROWSER_ACCEPT)])
            .await
            .body;
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "{path} links out"
        );
        assert!(!html.contains("<script src"), "{path}");
    }
    // The unknown path is echoed in the 404 page, escaped.
    let html = get_with(addr, "/_debug/%3Cscript%3E", &[("accept", BROWSER_ACCEPT)]).await;
    assert_eq!(html.status, StatusCode::NOT_FOUND);
    assert!(!html.body.contains("<script>"));
}
