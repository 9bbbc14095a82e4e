//! Each test in a process of its own. What the tests measure (the RSS, the
//! heap profile, jemalloc's arenas, the timeline, the heap history) is the
//! process's, and the tests of one binary would share it: so a test runs
//! itself again, the binary asked for that test alone, with jemalloc's
//! configuration in the environment (`_RJEM_MALLOC_CONF`, which outranks
//! the `heap_profiling!` the binary was built with).

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Names, in the child, the one test it runs.
const CHILD: &str = "MEMSCOPE_TEST_CHILD";
/// The longest a test may take in its process before it is killed.
const LIMIT: Duration = Duration::from_secs(600);

/// jemalloc's start-up configuration with heap profiling on, sampling one
/// allocation per `2^lg_sample` bytes, as `heap_profiling!(lg_sample = …)`
/// writes it.
pub fn profiling(lg_sample: u32) -> String {
    format!("prof:true,prof_active:true,lg_prof_sample:{lg_sample},prof_accum:false")
}

/// jemalloc without heap profiling.
pub const NO_PROFILING: &str = "prof:false";

/// Runs the calling test again in a child process, jemalloc configured by
/// `conf` (none where empty), and says whether this is the parent, whose
/// test is then done: `if in_own_process(conf) { return; }` opens a test.
/// The child's harness captures the test's output and hands it over, which
/// the parent prints as its own (shown on failure or with `--nocapture`);
/// direct writes to the process's stderr (a skip) show as they happen.
pub fn in_own_process(conf: &str) -> bool {
    let thread = std::thread::current();
    let test = thread
        .name()
        .expect("a test runs on a thread named after it")
        .to_owned();
    if std::env::var(CHILD).is_ok_and(|child| child == test) {
        return false;
    }
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            test.as_str(),
            "--exact",
            "--include-ignored",
            "--show-output",
            "--test-threads=1",
        ])
        .env(CHILD, &test)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if !conf.is_empty() {
        command.env("_RJEM_MALLOC_CONF", conf);
    }
    let mut child = command.spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut said = String::new();
        let _ = stdout.read_to_string(&mut said);
        said
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{test} ran over {LIMIT:?} in its own process and was killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let said = reader.join().unwrap();
    print!("{said}");
    assert!(
        status.success() && said.contains("test result: ok. 1 passed"),
        "{test} failed in its own process ({status}):\n{said}"
    );
    true
}
