//! The black box in real processes: one leaks toward its memory limit and
//! is killed with SIGKILL as the OOM killer kills, and the next process of
//! the same binary lists its captures and names the leak in them; a kill
//! in the middle of a capture's write; read-only and full directories;
//! files that are no captures; the bounds on what is kept; what a capture
//! holds while it runs on a heap of the scale bench's size.

mod after_restart;
mod bounds;
mod faults;
mod transient;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The captures in `dir`, oldest first (their names sort by time).
pub(crate) fn captures_in(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .filter(|path| path.extension().is_some_and(|ext| ext == "capture"))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// A capture's id, from its file's name.
pub(crate) fn id_of(capture: &Path) -> String {
    capture.file_stem().unwrap().to_string_lossy().into_owned()
}

/// Waits up to `within` for `ready` to hold, looking every 20 ms.
pub(crate) fn wait_until(within: Duration, what: &str, mut ready: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(started.elapsed() < within, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs the calling test again in a process of its own, in the role
/// `role` names (set to `dir` in its environment), jemalloc configured by
/// `conf`: a process for the test to kill.
pub(crate) fn spawn_role(role: &str, dir: &Path, conf: &str) -> std::process::Child {
    let test = std::thread::current().name().unwrap().to_owned();
    std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            test.as_str(),
            "--exact",
            "--include-ignored",
            "--test-threads=1",
        ])
        .env("MEMSCOPE_TEST_CHILD", &test)
        .env(role, dir)
        .env("_RJEM_MALLOC_CONF", conf)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// A runtime for a test that serves pages and sends requests itself.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}
