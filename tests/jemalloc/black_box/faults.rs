//! The black box's faults: a read-only or a full directory is told on the
//! overview and counted in `/metrics`, a capture asked for is an error
//! (never a 200), and the app answers as before; files that are no
//! captures are listed as unreadable, with why.

use std::io::Write;
use std::path::Path;

use http::StatusCode;

use super::{captures_in, runtime};
use crate::common::mounted::Mounted;
use crate::common::own_process::{in_own_process, profiling};
use crate::common::{get, post, serve, skipped};

/// The app and its pages with a black box in `dir`: what the overview
/// says of it, what a capture asked for answers, what the app answers.
async fn check_unwritable(dir: &Path, told: &str, refused: StatusCode) {
    let layer = memscope::DebugLayer::new().black_box(memscope::BlackBox::new(dir));
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "app" }))
        .layer(layer);
    let addr = serve(app).await;
    let overview = get(addr, "/_debug/?format=json").await.json();
    let problem = overview["black_box"]["problem"].as_str().unwrap_or("");
    assert!(problem.contains(told), "{}: {problem}", dir.display());
    let text = get(addr, "/_debug/?format=text").await.body;
    assert!(
        text.contains("Black box: 0 captures") && text.contains(told),
        "{text}"
    );
    let metrics = get(addr, "/_debug/metrics").await.body;
    let failures: u64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("memscope_black_box_write_failures_total "))
        .and_then(|count| count.trim().parse().ok())
        .unwrap_or(0);
    assert!(failures >= 1, "{metrics}");
    let taken = post(addr, "/_debug/memory/postmortem/capture?format=json").await;
    assert_eq!(taken.status, refused, "{}", taken.body);
    assert!(
        taken.body.contains("could not be written"),
        "{}",
        taken.body
    );
    let app = get(addr, "/").await;
    assert_eq!((app.status, app.body.as_str()), (StatusCode::OK, "app"));
    let list = get(addr, "/_debug/memory/postmortem?format=json").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert!(
        list.json()["problem"]
            .as_str()
            .is_some_and(|p| p.contains(told))
    );
    assert!(captures_in(dir).is_empty());
}

#[test]
fn read_only_and_full_directories_are_told_and_the_app_answers() {
    if in_own_process(&profiling(14)) {
        return;
    }
    let test = "read_only_and_full_directories_are_told_and_the_app_answers";
    let root = tempfile::tempdir().unwrap();
    let read_only = root.path().join("read-only");
    let full = root.path().join("full");
    let mounts = Mounted::tmpfs(&read_only, "ro,size=4m")
        .and_then(|ro| Ok((ro, Mounted::tmpfs(&full, "size=2m")?)));
    let _mounts = match mounts {
        Ok(mounts) => mounts,
        Err(why) => {
            skipped(test, &format!("tmpfs mounts need root: {why}"));
            return;
        }
    };
    // Filled to its last pages.
    let mut filler = std::fs::File::create(full.join("filler")).unwrap();
    let block = vec![7u8; 64 * 1024];
    while filler.write_all(&block).is_ok() {}
    drop(filler);
    runtime().block_on(async {
        check_unwritable(&read_only, "read-only", StatusCode::INTERNAL_SERVER_ERROR).await;
        check_unwritable(&full, "full", StatusCode::INSUFFICIENT_STORAGE).await;
    });
}

#[test]
fn files_that_are_no_captures_are_listed_as_unreadable() {
    if in_own_process(&profiling(14)) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let black_box = memscope::BlackBox::new(dir.path());
    let real = black_box.capture("whole").unwrap();
    let whole = std::fs::read(&real.path).unwrap();
    let write = |name: &str, bytes: &[u8]| std::fs::write(dir.path().join(name), bytes).unwrap();
    let gzip = |text: &str| {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(text.as_bytes()).unwrap();
        encoder.finish().unwrap()
    };
    write("notes.txt", b"not ours");
    write("1000000000000-1.capture", b"plain text, no gzip");
    write("1000000000001-1.capture", &gzip("hello\n"));
    write("1000000000002-1.capture", &whole[..whole.len() / 2]);
    write(
        "1000000000003-1.capture",
        &gzip("memscope black box capture 99\n{}\n"),
    );
    write(
        "1000000000004-1.capture",
        &gzip("memscope black box capture 1\n{\"id\":\n"),
    );
    std::os::unix::fs::symlink(&real.path, dir.path().join("1000000000005-1.capture")).unwrap();
    runtime().block_on(async {
        let layer = memscope::DebugLayer::new().black_box(black_box);
        let addr = serve(axum::Router::new().layer(layer)).await;
        let list = get(addr, "/_debug/memory/postmortem?format=json").await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.body);
        let list = list.json();
        let captures = list["captures"].as_array().unwrap();
        assert_eq!(captures.len(), 1, "{list}");
        assert_eq!(captures[0]["id"], real.id.as_str());
        let unreadable = list["unreadable"].as_array().unwrap();
        let reason = |file: &str| -> String {
            unreadable
                .iter()
                .find(|entry| entry["file"] == file)
                .unwrap_or_else(|| panic!("{file} not listed: {list}"))["reason"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        assert!(reason("notes.txt").contains("not a memscope capture"));
        assert!(reason("1000000000000-1.capture").contains("not a memscope capture"));
        assert!(reason("1000000000001-1.capture").contains("not a memscope capture"));
        let truncated = reason("1000000000002-1.capture");
        assert!(
            truncated.contains("damaged") || truncated.contains("truncated"),
            "{truncated}"
        );
        assert!(reason("1000000000003-1.capture").contains("format 99"));
        assert!(reason("1000000000004-1.capture").contains("summary is damaged"));
        assert!(reason("1000000000005-1.capture").contains("symbolic link"));
        for id in ["1000000000000-1", "1000000000002-1", "1000000000003-1"] {
            let page = get(addr, &format!("/_debug/memory/postmortem/{id}?format=json")).await;
            assert_eq!(
                page.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{id}: {}",
                page.body
            );
        }
        let link = get(addr, "/_debug/memory/postmortem/1000000000005-1").await;
        assert_ne!(link.status, StatusCode::OK, "read through a link");
        let text = get(addr, "/_debug/memory/postmortem?format=text")
            .await
            .body;
        assert!(text.contains("Unreadable: notes.txt"), "{text}");
        let html = get(addr, "/_debug/memory/postmortem?format=html").await;
        assert!(html.body.contains("Unreadable files"), "{}", html.body);
        assert_eq!(html.status, StatusCode::OK);
    });
}
