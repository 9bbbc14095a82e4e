//! Tasks that pile up, in a real process: a route spawns 50 tasks a
//! request that never end, each holding a 1 KiB buffer it allocates when
//! first polled; 40 requests leave 2,000. The tasks page ranks the spawn
//! site with the route (its tasks' cells were allocated under the route's
//! tag) and a count within its error; the verdict says tasks, before the
//! leak their memory makes; the growth page fits the buffers, allocated
//! outside any request, to the route; the route table's `(no request)` row
//! names what it holds. The fixed twin's tasks end: quiet.

use std::time::Duration;

use axum::Router;
use axum::routing::get;

use super::assert_parts_add_up;
use crate::common::own_process::{in_own_process, profiling};
use crate::common::{get as get_page, overview_after_steady_traffic, serve};

const TASKS_A_REQUEST: usize = 50;
const REQUESTS: usize = 40;
const BUFFER: usize = 1024;

/// Spawns tasks that allocate a buffer and, where `end` is false, wait
/// for good. Not inlined: the tests are optimised, and an inlined spawner
/// can lose its frame to its caller's line.
#[inline(never)]
fn spawn_watchers(end: bool) {
    for _ in 0..TASKS_A_REQUEST {
        tokio::spawn(async move {
            let buffer = std::hint::black_box(vec![1u8; BUFFER]);
            // State the future keeps across its wait: a task's cell of
            // about 1.3 KiB, which one sample in 4 KiB counts to ±7 %.
            let state = std::hint::black_box([2u8; 1024]);
            if end {
                tokio::time::sleep(Duration::from_millis(1)).await;
            } else {
                std::future::pending::<()>().await;
            }
            std::hint::black_box((buffer, state));
        });
    }
}

async fn watch_forever() -> &'static str {
    spawn_watchers(false);
    "watching"
}

async fn watch_once() -> &'static str {
    spawn_watchers(true);
    "watched"
}

async fn serve_route(route: axum::routing::MethodRouter) -> std::net::SocketAddr {
    let layer = crate::common::fast_verdict_layer();
    serve(Router::new().route("/watch", route).layer(layer)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_that_never_end_are_named_where_they_are_spawned() {
    if in_own_process(&profiling(12)) {
        return;
    }
    let addr = serve_route(get(watch_forever)).await;
    let overview =
        overview_after_steady_traffic(addr, "/watch", REQUESTS, Duration::from_secs(3)).await;
    assert_parts_add_up(&overview);
    let spawned = (TASKS_A_REQUEST * REQUESTS) as f64;

    let tasks = get_page(addr, "/_debug/tasks?format=json").await;
    assert_eq!(tasks.status, http::StatusCode::OK, "{}", tasks.body);
    let tasks = tasks.json();
    println!("{tasks:#}");
    assert!(tasks["alive"].as_f64().unwrap() >= spawned, "{tasks:#}");
    let site = &tasks["sites"][0];
    assert!(
        site["name"]
            .as_str()
            .unwrap()
            .ends_with("tasks::spawn_watchers"),
        "{tasks:#}"
    );
    assert!(
        site["location"]
            .as_str()
            .unwrap()
            .contains("verdict/tasks.rs:"),
        "{site}"
    );
    let (estimate, error) = (
        site["tasks"].as_f64().unwrap(),
        site["tasks_error"].as_f64().unwrap(),
    );
    // The error is three standard errors: an estimate lies within it
    // 99.7 % of the time, within half as much again all but always.
    assert!(
        (estimate - spawned).abs() <= error * 1.5,
        "{estimate} ± {error} tasks for {spawned} spawned"
    );
    assert!(site["bytes"].as_f64().unwrap() > 0.0, "{site}");
    assert_eq!(site["route"], "/watch", "{site}");
    assert!(site["growth"].as_f64().unwrap() > spawned / 2.0, "{site}");
    assert_eq!(site["piles_up"], true, "{site}");

    let verdict = &overview["verdict"];
    assert_eq!(verdict["kind"], "tasks", "{overview:#}");
    let summary = verdict["summary"].as_str().unwrap();
    println!("{summary}");
    assert!(
        summary.starts_with("Tasks pile up: tasks spawned at"),
        "{summary}"
    );
    assert!(summary.contains("spawn_watchers"), "{summary}");
    assert!(summary.contains("a minute"), "{summary}");
    assert!(
        verdict["evidence"]["task_site"]["piles_up"] == true,
        "{verdict:#}"
    );

    // The buffers were allocated in the tasks' own polls, under no route:
    // the growth page fits their growth to the route's requests.
    let growth = get_page(addr, "/_debug/memory/growth?format=json")
        .await
        .json();
    let buffers = growth["suspects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|suspect| {
            suspect["significant"] == true
                && suspect["route"]["evidence"] == "request_fit"
                && suspect["name"].as_str().unwrap().contains("spawn_watchers")
        })
        .unwrap_or_else(|| panic!("no buffer site fitted to a route: {growth:#}"));
    assert_eq!(buffers["route"]["route"], "/watch", "{buffers}");
    // And the route table's "(no request)" row names them.
    let routes = get_page(addr, "/_debug/heapdump?group=route&format=json")
        .await
        .json();
    let unrouted = routes["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["name"] == "(no request)")
        .unwrap_or_else(|| panic!("no (no request) row: {routes:#}"));
    assert!(
        unrouted["about"]
            .as_str()
            .unwrap()
            .contains("memscope::tagged"),
        "{unrouted}"
    );
    assert!(
        unrouted["holds"]
            .as_array()
            .unwrap()
            .iter()
            .any(|held| held["site"].as_str().unwrap().contains("spawn_watchers")),
        "{unrouted}"
    );

    let metrics = get_page(addr, "/_debug/metrics").await.body;
    let alive: f64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("memscope_tasks_alive "))
        .unwrap_or_else(|| panic!("no memscope_tasks_alive: {metrics}"))
        .parse()
        .unwrap();
    assert!(alive >= spawned, "{alive}");
}

/// At the default sampling rate: at one sample in 4 KiB the twin's churn
/// of 2,000 tasks read as fragmentation once in 30 runs (+4.2 MiB of
/// jemalloc's pages beyond the live heap, no live growth), an effect of
/// the dense sampling on the allocator, not of the tasks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_that_end_stay_quiet() {
    if in_own_process(&profiling(19)) {
        return;
    }
    let addr = serve_route(get(watch_once)).await;
    let overview =
        overview_after_steady_traffic(addr, "/watch", REQUESTS, Duration::from_secs(3)).await;
    assert_parts_add_up(&overview);
    assert_eq!(overview["verdict"]["kind"], "steady", "{overview:#}");
    let tasks = get_page(addr, "/_debug/tasks?format=json").await.json();
    assert!(tasks["alive"].as_u64().unwrap() < 100, "{tasks:#}");
    assert!(
        tasks["sites"]
            .as_array()
            .unwrap()
            .iter()
            .all(|site| site["piles_up"] == false),
        "{tasks:#}"
    );
}
