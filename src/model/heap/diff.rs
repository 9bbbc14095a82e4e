//! What changed between two snapshots, row by row, growing first.

use std::collections::HashMap;

use super::HeapSnapshot;
use super::table::{Amount, GroupedHeap, RowLabel, TableSpec, Z_INTERVAL, keep_first};
use crate::model::allocator::SizeClass;

/// One row's figures then and now.
#[derive(Clone, Debug)]
pub(crate) struct DiffRow {
    pub(crate) label: RowLabel,
    pub(crate) then: Amount,
    pub(crate) now: Amount,
}

impl DiffRow {
    /// Bytes now minus bytes then, rounded.
    pub(crate) fn bytes_delta(&self) -> i64 {
        (self.now.bytes - self.then.bytes).round() as i64
    }

    pub(crate) fn objects_delta(&self) -> i64 {
        (self.now.objects - self.then.objects).round() as i64
    }

    /// The interval's half-width (three standard errors) for the change in bytes: the two
    /// estimates' variances added, as if the snapshots were sampled apart.
    /// Objects live in both were sampled once and add no noise to the
    /// change, so this overstates it where the heap holds still: a change
    /// called significant is so with room to spare.
    pub(crate) fn bytes_delta_error(&self) -> f64 {
        Z_INTERVAL * (self.then.bytes_variance + self.now.bytes_variance).sqrt()
    }

    /// Whether the row grew by more than sampling noise explains.
    pub(crate) fn grew_significantly(&self) -> bool {
        let delta = self.now.bytes - self.then.bytes;
        delta > 0.0 && delta > self.bytes_delta_error()
    }
}

/// The change between two snapshots.
#[derive(Debug)]
pub(crate) struct HeapDiff {
    /// Growing first; among equals, the larger now, then by name.
    pub(crate) rows: Vec<DiffRow>,
    pub(crate) rows_omitted: usize,
    /// Summed over every row, listed or not: (then, now).
    pub(crate) then: Amount,
    pub(crate) now: Amount,
    /// memscope's own allocations now, left out of the rows; `None` for
    /// size classes.
    pub(crate) memscope_own: Option<Amount>,
}

impl HeapDiff {
    /// The change from `then` to `now`, grouped as `spec` says.
    pub(crate) fn between(then: &HeapSnapshot, now: &HeapSnapshot, spec: &TableSpec) -> Self {
        let (rows, memscope_own) = match spec.grouping {
            Some(grouping) => {
                let before = GroupedHeap::build(then, grouping, spec);
                let after = GroupedHeap::build(now, grouping, spec);
                let own = after.memscope_own;
                (stack_rows(before, after), Some(own))
            }
            None => (
                size_class_rows(&then.moment.size_classes, &now.moment.size_classes),
                None,
            ),
        };
        Self::of_rows(rows, spec.limit, memscope_own)
    }

    fn of_rows(mut rows: Vec<DiffRow>, limit: usize, memscope_own: Option<Amount>) -> Self {
        // Growth beyond sampling noise first, then the rest, each by how
        // much it grew; among equals, the larger now.
        rows.sort_by(|a, b| {
            b.grew_significantly()
                .cmp(&a.grew_significantly())
                .then(b.bytes_delta().cmp(&a.bytes_delta()))
                .then(b.now.bytes.total_cmp(&a.now.bytes))
                .then_with(|| a.label.name.cmp(&b.label.name))
        });
        let (mut then, mut now) = (Amount::default(), Amount::default());
        for row in &rows {
            then.add(&row.then);
            now.add(&row.now);
        }
        let rows_omitted = keep_first(&mut rows, limit);
        Self {
            rows,
            rows_omitted,
            then,
            now,
            memscope_own,
        }
    }
}

/// Rows of stacks grouped alike in both snapshots: what is in both, what
/// appeared, and what vanished (shrank to nothing).
fn stack_rows(before: GroupedHeap, after: GroupedHeap) -> Vec<DiffRow> {
    let mut before = before.groups;
    let mut rows: Vec<DiffRow> = after
        .groups
        .into_values()
        .map(|row| {
            let then = row
                .label
                .id
                .and_then(|id| before.remove(&id))
                .map_or_else(Amount::default, |then| then.amount);
            DiffRow {
                label: row.label,
                then,
                now: row.amount,
            }
        })
        .collect();
    rows.extend(before.into_values().map(|row| DiffRow {
        label: row.label,
        then: row.amount,
        now: Amount::default(),
    }));
    rows
}

fn size_class_rows(then: &[SizeClass], now: &[SizeClass]) -> Vec<DiffRow> {
    let mut classes: HashMap<u64, (Option<&SizeClass>, Option<&SizeClass>)> = HashMap::new();
    for class in then {
        classes.entry(class.size).or_default().0 = Some(class);
    }
    for class in now {
        classes.entry(class.size).or_default().1 = Some(class);
    }
    let amount = |class: Option<&SizeClass>| {
        class.map_or_else(Amount::default, |class| {
            Amount::exact(class.objects as f64, class.bytes() as f64)
        })
    };
    classes
        .into_iter()
        .map(|(size, (then, now))| DiffRow {
            label: RowLabel {
                name: now.or(then).map(SizeClass::name).unwrap_or_default(),
                size: Some(size),
                ..RowLabel::default()
            },
            then: amount(then),
            now: amount(now),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::heap::Grouping;
    use crate::model::heap::table::tests::{alloc, app, library, stack};

    fn spec(grouping: Option<Grouping>) -> TableSpec {
        TableSpec {
            grouping,
            filter: None,
            route: None,
            limit: 100,
        }
    }

    fn delta_of<'a>(diff: &'a HeapDiff, name: &str) -> &'a DiffRow {
        diff.rows
            .iter()
            .find(|row| row.label.name == name)
            .unwrap_or_else(|| panic!("no row {name}: {diff:#?}"))
    }

    #[test]
    fn growth_shrink_appearance_and_vanishing() {
        let cache = [alloc(), app("shop::cache::store", 40)];
        let orders = [alloc(), app("shop::orders::new", 12)];
        let session = [alloc(), app("shop::session::open", 7)];
        let report = [alloc(), app("shop::report::build", 3)];
        let then = HeapSnapshot::of_stacks(vec![
            stack(&cache, 10.0, 1_000.0),
            stack(&orders, 8.0, 4_000.0),
            stack(&session, 2.0, 300.0),
        ]);
        let now = HeapSnapshot::of_stacks(vec![
            stack(&cache, 30.0, 3_000.0),
            stack(&orders, 4.0, 2_000.0),
            stack(&report, 1.0, 700.0),
        ]);
        let diff = HeapDiff::between(&then, &now, &spec(Some(Grouping::Site)));
        let order: Vec<(&str, i64)> = diff
            .rows
            .iter()
            .map(|row| (row.label.name.as_str(), row.bytes_delta()))
            .collect();
        assert_eq!(
            order,
            [
                ("shop::cache::store", 2_000),
                ("shop::report::build", 700),
                ("shop::session::open", -300),
                ("shop::orders::new", -2_000),
            ],
            "growing first, shrinking last"
        );
        assert_eq!(delta_of(&diff, "shop::cache::store").objects_delta(), 20);
        let appeared = delta_of(&diff, "shop::report::build");
        assert_eq!(appeared.then, Amount::default());
        let vanished = delta_of(&diff, "shop::session::open");
        assert_eq!(vanished.now, Amount::default());
        assert_eq!(vanished.label.location.as_deref(), Some("src/main.rs:7"));
        assert_eq!(diff.then.bytes, 5_300.0);
        assert_eq!(diff.now.bytes, 5_700.0);
    }

    #[test]
    fn rows_are_grouped_alike_on_both_sides() {
        let first = [
            alloc(),
            library("bytes::BytesMut::with_capacity"),
            app("shop::cache::store", 40),
        ];
        let second = [alloc(), app("shop::cache::evict", 90)];
        let then = HeapSnapshot::of_stacks(vec![stack(&first, 1.0, 100.0)]);
        let now =
            HeapSnapshot::of_stacks(vec![stack(&first, 2.0, 200.0), stack(&second, 1.0, 50.0)]);
        let by_crate = HeapDiff::between(&then, &now, &spec(Some(Grouping::Crate)));
        let crates: Vec<(&str, i64)> = by_crate
            .rows
            .iter()
            .map(|row| (row.label.name.as_str(), row.bytes_delta()))
            .collect();
        assert_eq!(crates, [("bytes", 100), ("shop", 50)]);
        let by_function = HeapDiff::between(&then, &now, &spec(Some(Grouping::Function)));
        assert_eq!(
            delta_of(&by_function, "bytes::BytesMut::with_capacity").bytes_delta(),
            100
        );
        let by_stack = HeapDiff::between(&then, &now, &spec(Some(Grouping::Stack)));
        assert_eq!(by_stack.rows.len(), 2);
        assert_eq!(
            by_stack.rows[0].label.name,
            "bytes::BytesMut::with_capacity ← shop::cache::store"
        );
    }

    /// Sampled stacks with `samples` samples of small objects at the
    /// default interval: what a diff sees of churn and of a leak.
    fn sampled(frames: &[crate::model::symbols::Frame], samples: u64) -> crate::model::heap::Stack {
        let interval = 512 * 1024;
        let counts = crate::model::allocator::Counts::of(samples, samples * 64, interval);
        let mut stack = stack(frames, counts.objects, counts.bytes);
        stack.samples = samples;
        stack.bytes_variance = counts.bytes_variance;
        stack
    }

    #[test]
    fn growth_within_sampling_noise_is_not_significant() {
        let churn = [alloc(), app("shop::pool::refill", 5)];
        let leak = [alloc(), app("shop::cache::store", 40)];
        // The pool holds about the same, sampled 20 then 24 times; the
        // cache grew from 20 samples to 120.
        let then = HeapSnapshot::of_stacks(vec![sampled(&churn, 20), sampled(&leak, 20)]);
        let now = HeapSnapshot::of_stacks(vec![sampled(&churn, 24), sampled(&leak, 120)]);
        let diff = HeapDiff::between(&then, &now, &spec(Some(Grouping::Site)));
        let pool = delta_of(&diff, "shop::pool::refill");
        let cache = delta_of(&diff, "shop::cache::store");
        assert!(
            pool.bytes_delta() > 0 && !pool.grew_significantly(),
            "{pool:?}"
        );
        assert!(cache.grew_significantly(), "{cache:?}");
        assert_eq!(diff.rows[0].label.name, "shop::cache::store");
        // One sample more is 512 KiB more, and well within the noise.
        let one_more = HeapDiff::between(
            &HeapSnapshot::of_stacks(vec![sampled(&churn, 1)]),
            &HeapSnapshot::of_stacks(vec![sampled(&churn, 2)]),
            &spec(Some(Grouping::Site)),
        );
        assert!(!one_more.rows[0].grew_significantly());
    }

    #[test]
    fn size_classes_compare_exactly() {
        let mut then = HeapSnapshot::of_stacks(Vec::new());
        then.moment.size_classes = vec![SizeClass {
            size: 32,
            objects: 10,
            small: true,
        }];
        let mut now = HeapSnapshot::of_stacks(Vec::new());
        now.moment.size_classes = vec![
            SizeClass {
                size: 32,
                objects: 4,
                small: true,
            },
            SizeClass {
                size: 64,
                objects: 3,
                small: true,
            },
        ];
        let diff = HeapDiff::between(&then, &now, &spec(None));
        let rows: Vec<(Option<u64>, i64)> = diff
            .rows
            .iter()
            .map(|row| (row.label.size, row.bytes_delta()))
            .collect();
        assert_eq!(rows, [(Some(64), 192), (Some(32), -192)]);
        assert!(diff.memscope_own.is_none());
    }
}
