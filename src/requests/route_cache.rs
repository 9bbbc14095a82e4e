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
//!
//! In front of the names too, for requests axum has not routed (under
//! `wrap_router`, or in front of a plain tower service), a small table of
//! paths as they came: a hit skips collapsing identifiers as well as the
//! name cache's lookup.

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

/// Slots in each of a thread's front tables (more keys than this take
/// turns, and fall through to the names, which hold them all).
const FRONT_SLOTS: usize = 1 << FRONT_SLOT_BITS;
const FRONT_SLOT_BITS: u32 = 4;

/// A key a front table knows, with its row in log `log`'s route table.
struct FrontSlot<K> {
    log: u64,
    key: K,
    row: u32,
}

/// The longest path the table of paths keeps, so that it holds at most
/// 16 × 256 bytes of paths a thread whatever clients send.
const MAX_KEPT_PATH: usize = 256;

type FrontTable<K> = RefCell<[Option<FrontSlot<K>>; FRONT_SLOTS]>;

#[cfg(feature = "axum")]
thread_local! {
    static MATCHED: FrontTable<axum::extract::MatchedPath> =
        const { RefCell::new([const { None }; FRONT_SLOTS]) };
}

thread_local! {
    static PATHS: FrontTable<Box<str>> = const { RefCell::new([const { None }; FRONT_SLOTS]) };
}

/// The front table's slot for a key that hashes to `hash` (Fibonacci
/// hashing: the top bits of the product mix all of the hash's bits).
fn front_slot(hash: u64) -> usize {
    (hash.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - FRONT_SLOT_BITS)) as usize
}

fn fx_hash(text: &str) -> u64 {
    let mut hasher = rustc_hash::FxHasher::default();
    std::hash::Hasher::write(&mut hasher, text.as_bytes());
    std::hash::Hasher::finish(&hasher)
}

/// The row kept in `table`'s slot `slot` for log `log`, if its key `is`
/// the one asked for; else `look_up`'s row, whose key, if it gives one,
/// then takes the slot.
fn front_row<K: 'static>(
    table: &'static std::thread::LocalKey<FrontTable<K>>,
    slot: usize,
    log: u64,
    is: impl FnOnce(&K) -> bool,
    look_up: impl FnOnce() -> (u32, Option<K>),
) -> u32 {
    let kept = table.try_with(|table| {
        let table = table.borrow();
        let kept = table[slot].as_ref()?;
        (kept.log == log && is(&kept.key)).then_some(kept.row)
    });
    if let Ok(Some(row)) = kept {
        return row;
    }
    let (row, key) = look_up();
    if let Some(key) = key {
        // A thread being torn down has no table left; the row is still right.
        let _ =
            table.try_with(|table| table.borrow_mut()[slot] = Some(FrontSlot { log, key, row }));
    }
    row
}

/// The row of axum's matched route `matched` in log `log`'s route table:
/// from this thread's table of matched routes, else from `look_up`, whose
/// answer is then kept in the slot the route's address picks.
#[cfg(feature = "axum")]
// Out of line: called once a request, it need not grow the service's `call`,
// which is compiled for each inner service.
#[inline(never)]
pub(super) fn matched_row(
    log: u64,
    matched: &axum::extract::MatchedPath,
    look_up: impl FnOnce() -> u32,
) -> u32 {
    let name: *const str = matched.as_str();
    // The address's low bits are alignment; the hash spreads the others.
    let slot = front_slot(name as *const u8 as usize as u64);
    front_row(
        &MATCHED,
        slot,
        log,
        // Address and length: the same allocation, kept alive by the slot.
        |kept| std::ptr::eq(kept.as_str(), name),
        || (look_up(), Some(matched.clone())),
    )
}

/// The row of the request path `path` in log `log`'s route table: from
/// this thread's table of paths, else from `look_up`, which collapses the
/// path's identifiers and finds the name's row, and says whether the path
/// is worth keeping: one with identifiers in it (`/users/17`) is not, as
/// the next request likely names another.
pub(super) fn path_row(log: u64, path: &str, look_up: impl FnOnce() -> (u32, bool)) -> u32 {
    let slot = front_slot(fx_hash(path));
    front_row(
        &PATHS,
        slot,
        log,
        |kept| **kept == *path,
        || {
            let (row, keep) = look_up();
            (
                row,
                (keep && path.len() <= MAX_KEPT_PATH).then(|| path.into()),
            )
        },
    )
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
    fn keeps_paths_without_identifiers() {
        let log = 3_000_001;
        let mut asked = Vec::new();
        let mut row = |log, path: &str| {
            path_row(log, path, || {
                asked.push(path.to_owned());
                (path.len() as u32, !path.contains("17"))
            })
        };
        assert_eq!(row(log, "/plain"), 6);
        assert_eq!(row(log, "/plain"), 6, "a kept path hits");
        assert_eq!(row(log, "/users/17"), 9);
        assert_eq!(
            row(log, "/users/17"),
            9,
            "one with an identifier is not kept"
        );
        assert_eq!(row(log + 1, "/plain"), 6, "another log asks again");
        // ...and takes the slot.
        assert_eq!(row(log, "/plain"), 6);
        let long = format!("/{}", "a".repeat(MAX_KEPT_PATH));
        row(log, &long);
        row(log, &long);
        assert_eq!(
            asked,
            [
                "/plain",
                "/users/17",
                "/users/17",
                "/plain",
                "/plain",
                &long,
                &long
            ]
        );
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
