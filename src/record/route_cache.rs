//! Each worker thread's copy of the route names it has seen, with their
//! rows in the log's route table.
//!
//! A request's route is named when the layer passes it on, because only
//! then is the request (and axum's `MatchedPath`) at hand. Looking the name
//! up in the shared table would take the log's lock on every request, and
//! keeping the name until the request ends would take a reference count.
//! Rows are never removed from a log's table, so a row, once known, stays
//! right; the cache only ever misses.
//!
//! In front of the names, a small table for axum's matched routes, which it
//! knows by address: axum gives every request a route serves a clone of the
//! same `Arc<str>`, and a slot that holds a clone of it keeps that
//! allocation alive, so no other name can be at its address. A hit costs
//! two comparisons instead of hashing and comparing the name.

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

/// Slots in each thread's table of matched routes (more routes than this
/// fall through to the names, which hold them all).
#[cfg(feature = "axum")]
const MATCHED_SLOTS: usize = 1 << MATCHED_SLOT_BITS;
#[cfg(feature = "axum")]
const MATCHED_SLOT_BITS: u32 = 4;

#[cfg(feature = "axum")]
struct MatchedSlot {
    log: u64,
    route: axum::extract::MatchedPath,
    row: u32,
}

#[cfg(feature = "axum")]
thread_local! {
    static MATCHED: RefCell<[Option<MatchedSlot>; MATCHED_SLOTS]> =
        const { RefCell::new([const { None }; MATCHED_SLOTS]) };
}

/// The row of axum's matched route `matched` in log `log`'s route table:
/// from this thread's table of matched routes, else from `look_up`, whose
/// answer is then kept in the slot the route's address picks.
#[cfg(feature = "axum")]
pub(super) fn matched_row(
    log: u64,
    matched: &axum::extract::MatchedPath,
    look_up: impl FnOnce() -> u32,
) -> u32 {
    let name: *const str = matched.as_str();
    // Fibonacci hashing of the address, whose low bits are alignment.
    let address = name as *const u8 as usize as u64;
    let slot = (address.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - MATCHED_SLOT_BITS)) as usize;
    let cached = MATCHED.try_with(|table| {
        let table = table.borrow();
        let kept = table[slot].as_ref()?;
        // Address and length: the same allocation, kept alive by the slot.
        (kept.log == log && std::ptr::eq(kept.route.as_str(), name)).then_some(kept.row)
    });
    if let Ok(Some(row)) = cached {
        return row;
    }
    let row = look_up();
    let kept = MatchedSlot {
        log,
        route: matched.clone(),
        row,
    };
    // A thread being torn down has no table left; the row is still right.
    let _ = MATCHED.try_with(|table| table.borrow_mut()[slot] = Some(kept));
    row
}

/// The row of `name` in log `log`'s route table: from this thread's cache,
/// else from `look_up`, whose answer (the interned name and its row) is
/// then kept, unless `name` was filed under another name's row.
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
    // Names past the table's bound share a row under another name: they
    // are not kept, so that an app whose paths never repeat costs each
    // thread nothing (each such request looks its row up again).
    if *interned == *name {
        // A thread being torn down has no cache left; the row is still right.
        let _ = CACHE.try_with(|cache| remember(&mut cache.borrow_mut(), log, interned, row));
    }
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

#[cfg(all(test, feature = "axum"))]
mod matched_tests {
    use std::sync::mpsc;

    use axum::Router;
    use axum::body::Body;
    use axum::extract::MatchedPath;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::matched_row;

    /// The `MatchedPath` of each request to `uris`, served by `router`.
    async fn matched_paths(
        router: fn(mpsc::Sender<MatchedPath>) -> Router,
        uris: &[&str],
    ) -> Vec<MatchedPath> {
        let (sender, receiver) = mpsc::channel();
        let app = router(sender);
        for uri in uris {
            let request = http::Request::get(*uri).body(Body::empty()).unwrap();
            app.clone().oneshot(request).await.unwrap();
        }
        receiver.try_iter().collect()
    }

    fn two_routes(sender: mpsc::Sender<MatchedPath>) -> Router {
        let again = sender.clone();
        Router::new()
            .route(
                "/users/{id}",
                get(move |path: MatchedPath| async move { sender.send(path).unwrap() }),
            )
            .route(
                "/health",
                get(move |path: MatchedPath| async move { again.send(path).unwrap() }),
            )
    }

    #[tokio::test(flavor = "current_thread")]
    async fn knows_a_matched_route_by_its_allocation() {
        let paths = matched_paths(two_routes, &["/users/1", "/users/2", "/health"]).await;
        // What the table relies on to hit: axum hands each request of a
        // route a clone of one `Arc<str>`.
        assert!(std::ptr::eq(paths[0].as_str(), paths[1].as_str()));
        // The same names from another router: other allocations.
        let elsewhere = matched_paths(two_routes, &["/users/3"]).await;
        assert_eq!(elsewhere[0].as_str(), paths[0].as_str());

        let log = 4_000_001;
        let mut asked = Vec::new();
        let mut row = |log, path: &MatchedPath, answer| {
            matched_row(log, path, || {
                asked.push(path.as_str().to_owned());
                answer
            })
        };
        assert_eq!(row(log, &paths[0], 5), 5);
        assert_eq!(
            row(log, &paths[1], 99),
            5,
            "a second request of the route hits"
        );
        assert_eq!(row(log, &paths[2], 7), 7);
        assert_eq!(row(log + 1, &paths[0], 8), 8, "another log asks again");
        assert_eq!(
            row(log, &elsewhere[0], 6),
            6,
            "an equal name elsewhere asks again"
        );
        assert_eq!(
            asked,
            ["/users/{id}", "/health", "/users/{id}", "/users/{id}"]
        );
    }
}
