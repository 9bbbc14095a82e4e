//! Route tags: while the layer polls a request's future or body (or its
//! inner service's `call`), the thread knows the request's route as a tag,
//! and memscope's stack walker records it with every allocation jemalloc
//! samples meanwhile, so that the heap profile says which route allocated
//! what is live. Work handed to other tasks carries the tag it was given
//! (`memscope::tagged`), and background work a name of its own
//! (`memscope::scope`).
//!
//! A tag is a number, cheap to set around every poll: a request's is its
//! log's id and its row in that log's route table, packed; a scope's, its
//! row in the process's table of scope names. Both tables are bounded, so
//! tags are too. 0 is no tag: memory allocated outside any request.

use std::cell::Cell;
use std::sync::{Arc, Mutex};

use rustc_hash::FxHashMap;

use super::route::{MAX_ROUTES, OTHER_ROUTES};

/// No request: what is allocated outside any request or scope.
pub(crate) const NO_TAG: u32 = 0;

/// A tag's high bits say whose table its row is in: a log's (its id plus
/// one, so that no tag of a request is 0), or the scopes'.
const ROW_BITS: u32 = 20;
const ROW_MASK: u32 = (1 << ROW_BITS) - 1;
const SCOPES: u32 = (1 << (32 - ROW_BITS)) - 1;
/// The table of routes named by a black box capture of an earlier
/// process, which the pages of this one read under tags of their own.
const CAPTURED: u32 = SCOPES - 1;

thread_local! {
    static CURRENT: Cell<u32> = const { Cell::new(NO_TAG) };
}

/// The tag of row `row` of log `log`'s route table.
#[inline]
pub(crate) fn route_tag(log: u64, row: u32) -> u32 {
    // Ids past the bits a tag has for them (only tests make that many
    // logs) wrap: their rows could be read under another log's names.
    let table = ((log + 1) % u64::from(CAPTURED)) as u32;
    (table << ROW_BITS) | (row & ROW_MASK)
}

/// The tag the thread runs under now; [`NO_TAG`] outside any request. Read
/// by the walker inside jemalloc's sampler: a thread-local read, no
/// allocation, nothing that can call back into the allocator.
#[inline]
pub(crate) fn current_tag() -> u32 {
    CURRENT.try_with(Cell::get).unwrap_or(NO_TAG)
}

/// Runs `work` with the thread under `tag`, and puts back the tag it had.
#[inline]
pub(crate) fn with_tag<R>(tag: u32, work: impl FnOnce() -> R) -> R {
    let previous = CURRENT.try_with(|current| current.replace(tag)).ok();
    let result = work();
    if let Some(previous) = previous {
        let _ = CURRENT.try_with(|current| current.set(previous));
    }
    result
}

/// Names by row: the scopes', or the routes of captures read back.
#[derive(Default)]
struct Names {
    rows: FxHashMap<Arc<str>, u32>,
    names: Vec<Arc<str>>,
}

impl Names {
    /// The row of `name`, added if new; past [`MAX_ROUTES`] names, they
    /// share one row.
    fn row(&mut self, name: &str) -> u32 {
        if let Some(&row) = self.rows.get(name) {
            return row;
        }
        let name: Arc<str> = if self.names.len() < MAX_ROUTES {
            name.into()
        } else {
            let other: Arc<str> = OTHER_ROUTES.into();
            if let Some(&row) = self.rows.get(&other) {
                return row;
            }
            other
        };
        let row = self.names.len() as u32;
        self.names.push(name.clone());
        self.rows.insert(name, row);
        row
    }
}

static SCOPE_NAMES: Mutex<Option<Names>> = Mutex::new(None);
static CAPTURED_NAMES: Mutex<Option<Names>> = Mutex::new(None);

/// The tag of the background work named `name`: its row in the scopes'
/// table, added if new; past [`MAX_ROUTES`] names, they share one row.
pub(crate) fn scope_tag(name: &str) -> u32 {
    let row = crate::sync::lock(&SCOPE_NAMES)
        .get_or_insert_with(Names::default)
        .row(name);
    (SCOPES << ROW_BITS) | row
}

/// The tag under which this process names route `name` of a capture an
/// earlier process took.
pub(crate) fn captured_route_tag(name: &str) -> u32 {
    let row = crate::sync::lock(&CAPTURED_NAMES)
        .get_or_insert_with(Names::default)
        .row(name);
    (CAPTURED << ROW_BITS) | row
}

/// Every scope's tag and name.
pub(crate) fn scope_names() -> Vec<(u32, Arc<str>)> {
    crate::sync::lock(&SCOPE_NAMES)
        .as_ref()
        .map_or_else(Vec::new, |table| {
            table
                .names
                .iter()
                .enumerate()
                .map(|(row, name)| ((SCOPES << ROW_BITS) | row as u32, name.clone()))
                .collect()
        })
}

/// Whose table a tag's row is in.
pub(crate) enum TagTable {
    /// A request log's, by the log's id.
    Log(u64),
    Scopes,
    /// Routes of a capture of an earlier process.
    Captured,
}

/// Where `tag` is named: its table and its row; `None` for [`NO_TAG`].
pub(crate) fn tag_table(tag: u32) -> Option<(TagTable, u32)> {
    let table = tag >> ROW_BITS;
    let row = tag & ROW_MASK;
    match table {
        0 => None,
        SCOPES => Some((TagTable::Scopes, row)),
        CAPTURED => Some((TagTable::Captured, row)),
        log => Some((TagTable::Log(u64::from(log) - 1), row)),
    }
}

/// Whether `tag` names a scope (`memscope::scope`), not a request's route.
pub(crate) fn is_scope_tag(tag: u32) -> bool {
    matches!(tag_table(tag), Some((TagTable::Scopes, _)))
}

/// The name of row `row` of the scopes' table.
pub(crate) fn scope_name(row: u32) -> Option<Arc<str>> {
    crate::sync::lock(&SCOPE_NAMES)
        .as_ref()?
        .names
        .get(row as usize)
        .cloned()
}

/// The name of row `row` of the captured routes' table.
pub(crate) fn captured_name(row: u32) -> Option<Arc<str>> {
    crate::sync::lock(&CAPTURED_NAMES)
        .as_ref()?
        .names
        .get(row as usize)
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_pack_their_table_and_row_and_nest() {
        let tag = route_tag(3, 17);
        assert!(matches!(tag_table(tag), Some((TagTable::Log(3), 17))));
        assert!(tag_table(NO_TAG).is_none());
        let scope = scope_tag("job:reindex");
        assert_eq!(scope_tag("job:reindex"), scope);
        let Some((TagTable::Scopes, row)) = tag_table(scope) else {
            panic!("not a scope: {scope:#x}");
        };
        assert_eq!(scope_name(row).as_deref(), Some("job:reindex"));
        assert_eq!(current_tag(), NO_TAG);
        with_tag(tag, || {
            assert_eq!(current_tag(), tag);
            with_tag(scope, || assert_eq!(current_tag(), scope));
            assert_eq!(current_tag(), tag);
        });
        assert_eq!(current_tag(), NO_TAG);
    }
}
