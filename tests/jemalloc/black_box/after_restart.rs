//! The story the black box is for: a service leaks toward its memory
//! limit, captures appear as it nears it, it is killed with SIGKILL as the
//! OOM killer kills, and the next process of the same binary lists the
//! captures and names the leaking function and route in them.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use http::StatusCode;

use super::{captures_in, id_of, runtime, spawn_role, wait_until};
use crate::common::own_process::{in_own_process, profiling};
use crate::common::{KeptAlive, get, serve};
use crate::leaky_cache::{Mode, start_with};

/// Set in the process that leaks: the black box's directory.
const LEAKER: &str = "MEMSCOPE_TEST_BLACK_BOX_LEAKER";

/// The RSS now, from `/proc/self/statm`.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// The leaking service: the demo, its memory limit 48 MiB above its RSS at
/// start, a heap snapshot every 500 ms, captures at most every second,
/// and requests to itself until it is killed.
fn leak_until_killed(dir: &Path) {
    runtime().block_on(async {
        let limit = rss() + (48 << 20);
        let black_box = memscope::BlackBox::new(dir).at_most_every(Duration::from_secs(1));
        let layer = memscope::DebugLayer::new()
            .heap_history(Duration::from_millis(500), 240)
            .memory_limit(limit)
            .black_box(black_box);
        let addr = start_with(Mode::Leaky, SocketAddr::from(([127, 0, 0, 1], 0)), layer)
            .await
            .unwrap();
        for _ in 0..4 {
            tokio::spawn(async move {
                let client = KeptAlive::to(addr);
                loop {
                    client.get("/json").await;
                }
            });
        }
        std::future::pending::<()>().await;
    });
}

#[test]
fn a_service_killed_at_its_limit_is_named_by_the_next_process() {
    if in_own_process(&profiling(14)) {
        return;
    }
    if let Ok(dir) = std::env::var(LEAKER) {
        leak_until_killed(Path::new(&dir));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut leaker = spawn_role(LEAKER, dir.path(), &profiling(14));
    // A capture for the limit (80 % of it), and the next step's.
    let limit_captures = || {
        captures_in(dir.path())
            .iter()
            .filter(|path| {
                let summary = first_lines(path);
                summary.contains("\"reason\":\"limit\"")
            })
            .count()
    };
    wait_until(
        Duration::from_secs(180),
        "two captures for the limit",
        || limit_captures() >= 2,
    );
    // As the OOM killer kills: SIGKILL, no destructor, nothing flushed.
    leaker.kill().unwrap();
    let status = leaker.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    let leaker_pid = leaker.id();

    runtime().block_on(async {
        let layer = memscope::DebugLayer::new().black_box(memscope::BlackBox::new(dir.path()));
        let addr = serve(axum::Router::new().layer(layer)).await;
        let list = get(addr, "/_debug/memory/postmortem?format=json").await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.body);
        let list = list.json();
        let captures = list["captures"].as_array().unwrap();
        assert!(captures.len() >= 2, "{list}");
        assert!(list["unreadable"].as_array().unwrap().is_empty(), "{list}");
        let newest = &captures[0];
        assert_eq!(newest["pid"], leaker_pid, "{newest}");
        assert_eq!(newest["this_process"], false);
        assert_eq!(newest["reason"], "limit", "{newest}");
        assert!(newest["limit"].as_u64().unwrap() > 0 && newest["rss"].as_u64().unwrap() > 0);
        assert!(
            newest["build_id"].as_str().is_some_and(|id| id.len() >= 16),
            "{newest}"
        );
        assert_eq!(newest["verdict"]["kind"], "leak", "{newest}");
        let sentence = newest["verdict"]["summary"].as_str().unwrap();
        assert!(sentence.contains("store_response"), "{sentence}");
        // Newest first.
        let times: Vec<u64> = captures
            .iter()
            .map(|c| c["taken_at_unix_ms"].as_u64().unwrap())
            .collect();
        assert!(times.windows(2).all(|pair| pair[0] > pair[1]), "{times:?}");

        let id = newest["id"].as_str().unwrap();
        assert_eq!(id, id_of(captures_in(dir.path()).last().unwrap()));
        let page = get(addr, &format!("/_debug/memory/postmortem/{id}?format=json")).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let page = page.json();
        let top = page["rows"][0]["name"].as_str().unwrap();
        assert!(
            top.contains("store_response"),
            "the largest site is {top}: {}",
            page["rows"]
        );
        assert!(
            page["rows"][0]["share"].as_f64().unwrap() > 0.5,
            "{}",
            page["rows"][0]
        );
        assert_eq!(page["verdict"]["kind"], "leak");
        let suspect = &page["suspects"][0];
        assert!(
            suspect["name"].as_str().unwrap().contains("store_response"),
            "{suspect}"
        );
        assert_eq!(suspect["route"]["route"], "/json", "{suspect}");
        let names = page["names"].as_array().unwrap();
        assert!(
            names
                .iter()
                .any(|name| name["how"].as_str().unwrap().contains("running binary")),
            "{names:?}"
        );
        assert!(
            page["timeline_points"].as_u64().unwrap() >= 3,
            "{}",
            page["timeline_points"]
        );
        let notes = page["notes"].to_string();
        assert!(notes.contains("This capture's profile"), "{notes}");
        assert!(
            page["rss_breakdown"]["parts"]
                .as_array()
                .is_some_and(|parts| !parts.is_empty())
        );
        let route = &page["routes"][0];
        assert_eq!(route["route"], "/json", "{}", page["routes"]);

        let by_route = get(
            addr,
            &format!("/_debug/memory/postmortem/{id}?format=json&group=route"),
        )
        .await
        .json();
        assert_eq!(by_route["rows"][0]["name"], "/json", "{}", by_route["rows"]);
        let filtered = get(
            addr,
            &format!(
                "/_debug/memory/postmortem/{id}?format=json&route=/json&filter=store_response"
            ),
        )
        .await
        .json();
        assert!(!filtered["rows"].as_array().unwrap().is_empty());

        let html = get(addr, &format!("/_debug/memory/postmortem/{id}?format=html")).await;
        assert_eq!(html.status, StatusCode::OK);
        assert!(
            html.body.contains("store_response"),
            "no name: {}",
            html.body
        );
        assert!(html.body.contains("<svg"), "no chart: {}", html.body);
        let text = get(addr, &format!("/_debug/memory/postmortem/{id}?format=text")).await;
        assert!(text.body.contains("store_response"), "{}", text.body);
        let svg = get(
            addr,
            &format!("/_debug/memory/postmortem/{id}/flamegraph.svg"),
        )
        .await;
        assert_eq!(svg.status, StatusCode::OK);
        assert!(svg.body.contains("store_response"));
        let pprof =
            crate::common::get_bytes(addr, &format!("/_debug/memory/postmortem/{id}/pprof")).await;
        assert_eq!(&pprof[..2], &[0x1f, 0x8b], "not gzip");

        // What is no capture is a 404, never a file read.
        for bad in ["0000000000000-1", "..%2F..%2Fetc%2Fpasswd", "1-2/nothing"] {
            let answer = get(addr, &format!("/_debug/memory/postmortem/{bad}")).await;
            assert_eq!(
                answer.status,
                StatusCode::NOT_FOUND,
                "{bad}: {}",
                answer.body
            );
        }
        let overview = get(addr, "/_debug/?format=json").await.json();
        assert_eq!(
            overview["black_box"]["captures"].as_u64(),
            Some(captures.len() as u64)
        );
    });
}

/// A capture's summary line, read through gzip.
fn first_lines(path: &Path) -> String {
    use std::io::BufRead;
    let Ok(file) = std::fs::File::open(path) else {
        return String::new();
    };
    let mut reader = std::io::BufReader::new(flate2::read::GzDecoder::new(file));
    let mut text = String::new();
    for _ in 0..2 {
        if reader.read_line(&mut text).is_err() {
            break;
        }
    }
    text
}
