//! The black box: what memory looked like before the process was killed,
//! kept in files that outlive it, for the next process's pages.
//!
//! The app's settings (`settings`: where, when, how many) start a watch
//! (`watch`) that takes a capture on its own as memory nears its limit;
//! a capture (`capture`) is the summary, the timeline, the heap history
//! and the heap profile, its addresses unresolved, streamed into one file
//! (`schema`) that the directory (`directory`) renames into place when
//! whole. After the restart, the captures are listed and opened (`open`),
//! their addresses named by the same build of each object wherever one is
//! at hand (`names`), their figures judged as the live process's are
//! (`judged`).

mod capture;
mod directory;
mod judged;
mod names;
pub(crate) mod open;
pub(crate) mod reason;
mod schema;
mod settings;
#[cfg(test)]
mod tests;
mod watch;

pub use capture::Captured;
pub(crate) use reason::Reason;
pub(crate) use schema::Summary;
pub use settings::BlackBox;
pub(crate) use watch::watch;

/// Takes a capture for a request to the pages.
pub(crate) fn capture_for_request(black_box: &BlackBox) -> std::io::Result<Captured> {
    capture::take(
        black_box,
        Reason::Request,
        "taken by hand: POST /memory/postmortem/capture".to_owned(),
    )
}

/// What the overview says of a black box: how many captures its
/// directory holds, and why captures cannot be written there, if they
/// cannot.
#[derive(Debug)]
pub(crate) struct Status {
    pub(crate) captures: usize,
    pub(crate) problem: Option<String>,
    pub(crate) last_taken_unix_ms: Option<u64>,
}

/// The status of `black_box` now: its directory read, its volume asked.
pub(crate) fn status(black_box: &BlackBox) -> Status {
    let captures = directory::entries(&black_box.dir)
        .map(|entries| entries.iter().filter(|entry| entry.id.is_some()).count())
        .unwrap_or(0);
    Status {
        captures,
        problem: write_problem(&black_box.dir),
        last_taken_unix_ms: reason::tally().last_taken_unix_ms,
    }
}

/// Why captures cannot be written to `dir` now, or why the last one
/// could not be.
pub(crate) fn write_problem(dir: &std::path::Path) -> Option<String> {
    crate::model::process::write_problem(dir)
        .map(|problem| format!("captures cannot be written to {}: {problem}", dir.display()))
        .or_else(|| reason::tally().last_failure)
}
