//! The live heap as rows: a snapshot's stacks grouped by site, function,
//! crate or whole stack, or jemalloc's exact size classes.

use std::collections::HashMap;

use crate::model::allocator::SizeClass;
use crate::model::heap::{Grouping, HeapSnapshot, SiteId, key_of, named_frame, route_of_tag};
use crate::model::symbols::{Frame, FrameKind};

/// What a table is asked for.
#[derive(Clone, Debug)]
pub(crate) struct TableSpec {
    /// `None` for jemalloc's size classes, which need no profile.
    pub(crate) grouping: Option<Grouping>,
    /// Lower case; keeps the stacks with a frame whose function or file
    /// contains it.
    pub(crate) filter: Option<String>,
    /// Keeps the stacks sampled in requests of this route (or this scope;
    /// `(no request)` for those outside any), by name.
    pub(crate) route: Option<String>,
    /// Rows listed at most; the rest are counted.
    pub(crate) limit: usize,
}

/// Estimated objects and bytes, with what sampling leaves unknown.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Amount {
    pub(crate) objects: f64,
    pub(crate) bytes: f64,
    /// Sampled objects behind the estimate; 0 for exact figures.
    pub(crate) samples: u64,
    /// The variance of `bytes` (stacks are sampled independently, so the
    /// variances of a row's stacks add up); 0 for exact figures.
    pub(crate) bytes_variance: f64,
}

/// Sampling's uncertainty as an interval's half-width: three standard
/// errors, which 99.7 % of estimates lie within. A diff calls growth
/// significant beyond it, so that the rows of a heap that holds still are
/// called so once in several hundred, not once in forty as at two.
pub(crate) const Z_INTERVAL: f64 = 3.0;

impl Amount {
    /// An exact amount.
    pub(crate) fn exact(objects: f64, bytes: f64) -> Self {
        Self {
            objects,
            bytes,
            samples: 0,
            bytes_variance: 0.0,
        }
    }

    fn add_stack(&mut self, stack: &crate::model::heap::Stack) {
        self.objects += stack.objects;
        self.bytes += stack.bytes;
        self.samples += stack.samples;
        self.bytes_variance += stack.bytes_variance;
    }

    pub(crate) fn add(&mut self, other: &Amount) {
        self.objects += other.objects;
        self.bytes += other.bytes;
        self.samples += other.samples;
        self.bytes_variance += other.bytes_variance;
    }

    /// The interval's half-width (three standard errors) for `bytes`.
    pub(crate) fn bytes_error(&self) -> f64 {
        Z_INTERVAL * self.bytes_variance.sqrt()
    }

    /// The interval (three standard errors) of the live bytes: never below what the samples
    /// themselves hold, which is live for sure.
    pub(crate) fn bytes_interval(&self) -> (f64, f64) {
        let error = self.bytes_error();
        ((self.bytes - error).max(0.0), self.bytes + error)
    }
}

/// One row: the stacks that share a name under a grouping, or one size
/// class.
#[derive(Clone, Debug)]
pub(crate) struct HeapRow {
    pub(crate) label: RowLabel,
    pub(crate) amount: Amount,
    /// For a route's row: the sites that hold most of its bytes, most
    /// first, with their bytes. Empty under other groupings.
    pub(crate) holds: Vec<(String, f64)>,
}

/// Sites named on a route's row.
const SITES_PER_ROUTE: usize = 3;

/// What names a row of a table or a diff, and where it is.
#[derive(Clone, Debug, Default)]
pub(crate) struct RowLabel {
    /// The row's stable id; `None` for a size class.
    pub(crate) id: Option<SiteId>,
    pub(crate) name: String,
    /// The frames of the row's largest stack, innermost first, allocator
    /// frames left out; `None` for a size class.
    pub(crate) frames: Option<Vec<Frame>>,
    /// `file:line` of the frame the row is named after, in its largest
    /// stack; `None` for a size class.
    pub(crate) location: Option<String>,
    /// The size of every object of a size class.
    pub(crate) size: Option<u64>,
}

impl RowLabel {
    /// A size class's row: named after its size, no frames.
    pub(crate) fn size_class(class: &SizeClass) -> Self {
        Self {
            name: class.name(),
            size: Some(class.size),
            ..Self::default()
        }
    }
}

/// A table, largest row first.
#[derive(Debug)]
pub(crate) struct HeapTable {
    pub(crate) rows: Vec<HeapRow>,
    /// Rows past the limit, counted in the total but not listed.
    pub(crate) rows_omitted: usize,
    /// Summed over every row, listed or not.
    pub(crate) total: Amount,
    /// memscope's own allocations, left out of the rows; `None` for size
    /// classes, which cannot tell whose an object is.
    pub(crate) memscope_own: Option<Amount>,
}

/// Frames listed on a row, innermost first; enough to see the way in.
const FRAMES_PER_ROW: usize = 12;

/// A snapshot's stacks grouped, filtered, memscope's own counted apart.
#[derive(Debug, Default)]
pub(crate) struct GroupedHeap {
    pub(crate) groups: HashMap<SiteId, HeapRow>,
    pub(crate) memscope_own: Amount,
}

impl GroupedHeap {
    /// Groups `snapshot`'s stacks under `grouping`, the stacks `spec`'s
    /// filter and route keep.
    pub(crate) fn build(snapshot: &HeapSnapshot, grouping: Grouping, spec: &TableSpec) -> Self {
        let filter = spec.filter.as_deref();
        let route = spec.route.as_deref();
        let mut grouped = Self::default();
        // The bytes of each group's largest stack so far, which names its
        // frames and location.
        let mut largest: HashMap<SiteId, f64> = HashMap::new();
        // Under routes, each row's bytes by site, for what it holds.
        let mut sites: HashMap<SiteId, HashMap<String, f64>> = HashMap::new();
        for stack in &snapshot.stacks {
            // Freed: in the profile only for what it allocated.
            if stack.objects == 0.0 {
                continue;
            }
            if let Some(needle) = filter
                && !stack.frames().any(|frame| frame.matches(needle))
            {
                continue;
            }
            if let Some(route) = route
                && *route_of_tag(stack.tag) != *route
            {
                continue;
            }
            let Some(key) = key_of(stack, grouping) else {
                grouped.memscope_own.add_stack(stack);
                continue;
            };
            let id = SiteId::of(grouping, &key);
            let row = grouped.groups.entry(id).or_insert_with(|| HeapRow {
                label: RowLabel {
                    id: Some(id),
                    name: key,
                    frames: Some(Vec::new()),
                    location: Some(String::new()),
                    size: None,
                },
                amount: Amount::default(),
                holds: Vec::new(),
            });
            row.amount.add_stack(stack);
            if grouping == Grouping::Route
                && let Some(site) = key_of(stack, Grouping::Site)
            {
                *sites.entry(id).or_default().entry(site).or_default() += stack.bytes;
            }
            let largest = largest.entry(id).or_insert(-1.0);
            if stack.bytes > *largest {
                *largest = stack.bytes;
                row.label.location =
                    Some(named_frame(stack, grouping).map_or_else(String::new, Frame::location));
                row.label.frames = Some(
                    stack
                        .frames()
                        .filter(|frame| frame.kind != FrameKind::Allocator)
                        .take(FRAMES_PER_ROW)
                        .cloned()
                        .collect(),
                );
            }
        }
        for (id, by_site) in sites {
            if let Some(row) = grouped.groups.get_mut(&id) {
                let mut holds: Vec<(String, f64)> = by_site.into_iter().collect();
                holds.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                holds.truncate(SITES_PER_ROUTE);
                row.holds = holds;
            }
        }
        grouped
    }
}

impl HeapTable {
    /// The live heap by `spec.grouping` from a snapshot's stacks.
    pub(crate) fn of_stacks(snapshot: &HeapSnapshot, grouping: Grouping, spec: &TableSpec) -> Self {
        let grouped = GroupedHeap::build(snapshot, grouping, spec);
        let rows = grouped.groups.into_values().collect();
        Self::of_rows(rows, spec.limit, Some(grouped.memscope_own))
    }

    /// The live heap by jemalloc's size classes: exact, no profile needed.
    pub(crate) fn of_size_classes(classes: &[SizeClass], limit: usize) -> Self {
        let rows = classes
            .iter()
            .map(|class| HeapRow {
                label: RowLabel::size_class(class),
                amount: Amount::exact(class.objects as f64, class.bytes() as f64),
                holds: Vec::new(),
            })
            .collect();
        Self::of_rows(rows, limit, None)
    }

    /// Largest first (by bytes, then the larger size, then the name), the
    /// total over all of them, and the first `limit` kept.
    fn of_rows(mut rows: Vec<HeapRow>, limit: usize, memscope_own: Option<Amount>) -> Self {
        rows.sort_by(|a, b| {
            b.amount
                .bytes
                .total_cmp(&a.amount.bytes)
                .then(b.label.size.cmp(&a.label.size))
                .then_with(|| a.label.name.cmp(&b.label.name))
        });
        let mut total = Amount::default();
        for row in &rows {
            total.add(&row.amount);
        }
        let rows_omitted = keep_first(&mut rows, limit);
        Self {
            rows,
            rows_omitted,
            total,
            memscope_own,
        }
    }

    /// Each row's part of the total, from 0 to 1.
    pub(crate) fn share(&self, row: &HeapRow) -> f64 {
        share(row.amount.bytes, self.total.bytes)
    }
}

/// `part` of `whole`, 0 where the whole is empty.
pub(crate) fn share(part: f64, whole: f64) -> f64 {
    if whole <= 0.0 { 0.0 } else { part / whole }
}

/// Keeps the first `limit` of `rows`, which are ranked, and says how many
/// were left out: the tables show that count under their rows.
pub(crate) fn keep_first<T>(rows: &mut Vec<T>, limit: usize) -> usize {
    let omitted = rows.len().saturating_sub(limit);
    rows.truncate(limit);
    omitted
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::heap::Stack;

    /// A frame of kind `kind`.
    pub(crate) fn frame(function: &str, file: &str, line: u32, kind: FrameKind) -> Frame {
        Frame {
            function: function.into(),
            file: Some(file.into()),
            line: Some(line),
            kind,
        }
    }

    /// A stack of `frames` (innermost first, one address each) holding
    /// `objects` objects of `bytes` bytes in all.
    pub(crate) fn stack(frames: &[Frame], objects: f64, bytes: f64) -> Stack {
        Stack {
            objects,
            bytes,
            samples: objects as u64,
            ..Stack::of(
                (1..=frames.len() as u64).collect(),
                frames
                    .iter()
                    .map(|frame| Arc::from(vec![frame.clone()]))
                    .collect(),
            )
        }
    }

    pub(crate) fn alloc() -> Frame {
        frame(
            "alloc::raw_vec::RawVecInner<A>::with_capacity_in",
            "/rustc/x/library/alloc/src/raw_vec.rs",
            10,
            FrameKind::Allocator,
        )
    }

    pub(crate) fn app(function: &str, line: u32) -> Frame {
        frame(function, "src/main.rs", line, FrameKind::App)
    }

    pub(crate) fn library(function: &str) -> Frame {
        frame(
            function,
            "/root/.cargo/registry/src/x/bytes-1.0.0/src/bytes_mut.rs",
            5,
            FrameKind::Library,
        )
    }

    fn spec(grouping: Grouping, filter: Option<&str>, limit: usize) -> TableSpec {
        TableSpec {
            grouping: Some(grouping),
            filter: filter.map(str::to_owned),
            route: None,
            limit,
        }
    }

    fn snapshot() -> HeapSnapshot {
        HeapSnapshot::of_stacks(vec![
            // Two stacks of one site, through one library function.
            stack(
                &[
                    alloc(),
                    library("bytes::BytesMut::with_capacity"),
                    app("shop::cache::store", 40),
                    app("shop::main", 3),
                ],
                10.0,
                1000.0,
            ),
            stack(
                &[
                    alloc(),
                    library("bytes::BytesMut::with_capacity"),
                    app("shop::cache::store", 41),
                    app("shop::handlers::order", 9),
                ],
                5.0,
                3000.0,
            ),
            // Another site, directly.
            stack(&[alloc(), app("shop::orders::new", 12)], 2.0, 500.0),
            // A library's own, with no application frame.
            stack(&[alloc(), library("tokio::runtime::spawn")], 1.0, 64.0),
            // memscope's own.
            stack(
                &[
                    alloc(),
                    frame("memscope::x", "/m/src/x.rs", 1, FrameKind::Memscope),
                ],
                4.0,
                256.0,
            ),
        ])
    }

    #[test]
    fn groups_by_site_largest_first_with_memscope_apart() {
        let table =
            HeapTable::of_stacks(&snapshot(), Grouping::Site, &spec(Grouping::Site, None, 10));
        let names: Vec<&str> = table
            .rows
            .iter()
            .map(|row| row.label.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "shop::cache::store via bytes::BytesMut::with_capacity",
                "shop::orders::new",
                "tokio::runtime::spawn",
            ]
        );
        let top = table.rows[0].amount;
        assert_eq!((top.objects, top.bytes, top.samples), (15.0, 4000.0, 15));
        // Named after the larger of its stacks.
        assert_eq!(
            table.rows[0].label.location.as_deref(),
            Some("src/main.rs:41")
        );
        let frames = table.rows[0].label.frames.as_ref().unwrap();
        assert_eq!(&*frames[0].function, "bytes::BytesMut::with_capacity");
        assert!(frames.iter().all(|f| f.kind != FrameKind::Allocator));
        assert_eq!((table.total.objects, table.total.bytes), (18.0, 4564.0));
        let own = table.memscope_own.unwrap();
        assert_eq!((own.objects, own.bytes), (4.0, 256.0));
        assert!((table.share(&table.rows[0]) - 4000.0 / 4564.0).abs() < 1e-9);
    }

    #[test]
    fn groups_by_function_crate_and_stack() {
        let snapshot = snapshot();
        let names = |grouping| {
            HeapTable::of_stacks(&snapshot, grouping, &spec(grouping, None, 10))
                .rows
                .into_iter()
                .map(|row| (row.label.name, row.amount.bytes))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(Grouping::Function),
            [
                ("bytes::BytesMut::with_capacity".to_owned(), 4000.0),
                ("shop::orders::new".to_owned(), 500.0),
                ("tokio::runtime::spawn".to_owned(), 64.0),
            ]
        );
        assert_eq!(
            names(Grouping::Crate),
            [
                ("bytes".to_owned(), 4000.0),
                ("shop".to_owned(), 500.0),
                ("tokio".to_owned(), 64.0),
            ]
        );
        let stacks = names(Grouping::Stack);
        assert_eq!(stacks.len(), 4, "{stacks:?}");
        assert_eq!(
            stacks[0].0,
            "bytes::BytesMut::with_capacity ← shop::cache::store ← shop::handlers::order"
        );
    }

    #[test]
    fn a_closure_named_by_its_crate_alone_is_charged_to_its_caller() {
        let snapshot = HeapSnapshot::of_stacks(vec![stack(
            &[
                alloc(),
                app("shop::{closure#0}", 7),
                library("alloc::vec::Vec<T>::from_iter"),
                app("shop::cache::store", 40),
            ],
            1.0,
            100.0,
        )]);
        let table =
            HeapTable::of_stacks(&snapshot, Grouping::Site, &spec(Grouping::Site, None, 10));
        assert_eq!(table.rows[0].label.name, "shop::cache::store");
    }

    #[test]
    fn filters_and_limits() {
        let table = HeapTable::of_stacks(
            &snapshot(),
            Grouping::Site,
            &spec(Grouping::Site, Some("orders"), 10),
        );
        let names: Vec<&str> = table
            .rows
            .iter()
            .map(|row| row.label.name.as_str())
            .collect();
        assert_eq!(names, ["shop::orders::new"]);
        let limited =
            HeapTable::of_stacks(&snapshot(), Grouping::Site, &spec(Grouping::Site, None, 1));
        assert_eq!(limited.rows.len(), 1);
        assert_eq!(limited.rows_omitted, 2);
        assert_eq!(limited.total.bytes, 4564.0, "the total counts omitted rows");
    }

    #[test]
    fn size_classes_are_exact_and_largest_first() {
        let classes = [
            SizeClass {
                size: 16,
                objects: 10,
                small: true,
            },
            SizeClass {
                size: 4096,
                objects: 1,
                small: false,
            },
            SizeClass {
                size: 32,
                objects: 128,
                small: true,
            },
        ];
        let table = HeapTable::of_size_classes(&classes, 2);
        let sizes: Vec<Option<u64>> = table.rows.iter().map(|row| row.label.size).collect();
        // 32 × 128 = 4096 ties 4096 × 1: the larger size first.
        assert_eq!(sizes, [Some(4096), Some(32)]);
        assert_eq!(table.rows_omitted, 1);
        assert_eq!(table.total.bytes, 4096.0 * 2.0 + 160.0);
        assert!(table.memscope_own.is_none());
    }
}
