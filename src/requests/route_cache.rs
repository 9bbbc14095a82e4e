//! Each worker thread's copy of the route names it has seen, with their
//! rows in the log's route table.
//!
//! A request's route is named when the layer passes it on, because only
//! then is the request (and axum's `MatchedPath`) at hand. Looking the name
//! up in the shared table would take the log's lock on every request, and
//! keeping the name until the request ends would take a reference count.
//! Rows are never removed from a log's table, so a row, once known, stays
//! right; the cache only ever misses.

use std::cell::RefCell;
use std::sync::Arc;

use rustc_hash::FxHashMap;

/// Logs a thread keeps names for at once: one per layer in the app.
const LOGS_PER_THREAD: usize = 4;
/// Names kept per log; past it the thread starts again, so that an app
/// whose paths never repeat cannot grow the cache.
const NAMES_PER_LOG: usize = 2_048;

/// One log's names, as this thread has seen them.
struct LogNames {
    log: u64,
    rows: FxHashMap<Arc<str>, u32>,
}

thread_local! {
    static CACHE: RefCell<Vec<LogNames>> = const { RefCell::new(Vec::new()) };
}

/// The row of `name` in log `log`'s route table: from this thread's cache,
/// else from `look_up`, whose answer (the interned name and its row) is
/// then kept.
pub(super) fn cached_row(log: u64, name: &str, look_up: impl FnOnce() -> (Arc<str>, u32)) -> u32 {
    let cached = CACHE.try_with(|cache| {
        let cache = cache.borrow();
        let names = cache.iter().find(|names| names.log == log)?;
        names.rows.get(name).copied()
    });
    if let Ok(Some(row)) = cached {
        return row;
    }
    let (interned, row) = look_up();
    // Names past the table's bound share a row under another name.
    let key = if *interned == *name {
        interned
    } else {
        name.into()
    };
    // A thread being torn down has no cache left; the row is still right.
    let _ = CACHE.try_with(|cache| remember(&mut cache.borrow_mut(), log, key, row));
    row
}

fn remember(cache: &mut Vec<LogNames>, log: u64, name: Arc<str>, row: u32) {
    let index = match cache.iter().position(|names| names.log == log) {
        Some(index) => index,
        None => {
            if cache.len() == LOGS_PER_THREAD {
                cache.remove(0);
            }
            cache.push(LogNames {
                log,
                rows: FxHashMap::default(),
            });
            cache.len() - 1
        }
    };
    let rows = &mut cache[index].rows;
    if rows.len() >= NAMES_PER_LOG {
        rows.clear();
    }
    rows.insert(name, row);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asks_once_per_name_and_log() {
        let mut asked = 0;
        let mut row = |log, name: &str, answer| {
            cached_row(log, name, || {
                asked += 1;
                (name.into(), answer)
            })
        };
        assert_eq!(row(1_000_001, "/a", 7), 7);
        assert_eq!(row(1_000_001, "/a", 99), 7);
        assert_eq!(row(1_000_002, "/a", 3), 3);
        assert_eq!(asked, 2);
    }

    #[test]
    fn stays_bounded() {
        for log in 0..(LOGS_PER_THREAD as u64 + 3) {
            for index in 0..(NAMES_PER_LOG + 10) {
                cached_row(2_000_000 + log, &format!("/r{index}"), || ("x".into(), 0));
            }
        }
        CACHE.with_borrow(|cache| {
            assert!(cache.len() <= LOGS_PER_THREAD);
            assert!(cache.iter().all(|names| names.rows.len() <= NAMES_PER_LOG));
        });
    }
}
