//! The diff page's model, its three comparisons (against the baseline,
//! over `seconds=`, since a stored snapshot), and its text and HTML.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::model::allocator::HeapSource;
use crate::model::heap::diff::{DiffRow, HeapDiff};
use crate::model::heap::table::TableSpec;
use crate::model::heap::{Grouping, HeapSnapshot};
use crate::pages::kit::HEAP_GROUPS;
use crate::pages::kit::heap_view::{
    AmountView, EstimateView, RowLabelView, estimate_notes, group_name, group_title,
};
use crate::pages::kit::text::{Align, TextTable};
use crate::pages::kit::{HtmlForm, Layout, Page, html_form};
use crate::units::duration_text;
use crate::units::{
    grouped, grouped_signed, human_bytes, human_bytes_signed, human_bytes_signed_with_error,
};

/// What the diff compares the heap now with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum ComparedTo {
    /// The stored baseline.
    Baseline,
    /// A snapshot taken `seconds=` before this one.
    Interval,
    /// The heap history's snapshot nearest to `since=`.
    History,
}

#[derive(Serialize)]
pub(crate) struct MemoryDiff {
    group: &'static str,
    filter: Option<String>,
    /// `baseline` (against the stored baseline), `interval` (`seconds=`)
    /// or `history` (`since=`).
    compared_to: ComparedTo,
    /// This visit found no baseline and took one: there is nothing to
    /// compare yet.
    baseline_created: bool,
    /// When the earlier snapshot was taken, in seconds since the Unix epoch.
    since_unix: u64,
    elapsed_seconds: f64,
    /// Requests the layer passed to the app in between.
    requests: u64,
    rows: Vec<DiffRowView>,
    rows_omitted: usize,
    /// The change summed over every row, including those past `limit`.
    total: DiffTotal,
    jemalloc: JemallocDelta,
    /// memscope's own allocations now, left out of the rows.
    memscope_own: Option<AmountView>,
    pub(super) notes: Vec<String>,
}

#[derive(Serialize)]
pub(crate) struct DiffRowView {
    #[serde(flatten)]
    label: RowLabelView,
    objects: u64,
    objects_delta: i64,
    bytes: u64,
    bytes_delta: i64,
    /// `bytes_delta` over the requests in between; `null` without requests.
    bytes_per_request: Option<f64>,
    /// The interval's half-width (three standard errors) of `bytes_delta`
    /// that sampling leaves; 0 for `group=size`, which is exact.
    bytes_delta_error: u64,
    /// Whether the row grew by more than sampling noise explains.
    significant: bool,
    /// Of `bytes` now.
    #[serde(flatten)]
    estimate: EstimateView,
}

#[derive(Serialize, Default)]
struct DiffTotal {
    objects: u64,
    objects_delta: i64,
    bytes: u64,
    bytes_delta: i64,
    bytes_per_request: Option<f64>,
}

/// jemalloc's exact figures then and now.
#[derive(Serialize)]
struct JemallocDelta {
    allocated: u64,
    allocated_delta: i64,
    resident: u64,
    resident_delta: i64,
    rss: Option<u64>,
    rss_delta: Option<i64>,
}

fn delta(now: u64, then: u64) -> i64 {
    now as i64 - then as i64
}

fn per_request(bytes_delta: i64, requests: u64) -> Option<f64> {
    (requests > 0).then(|| bytes_delta as f64 / requests as f64)
}

impl MemoryDiff {
    /// Every `group=` value, for the page's links.
    fn groups(&self) -> &'static [&'static str] {
        HEAP_GROUPS
    }

    pub(super) fn build(
        then: &HeapSnapshot,
        now: &HeapSnapshot,
        requests: u64,
        spec: &TableSpec,
        prefix: &str,
    ) -> Self {
        let diff = HeapDiff::between(then, now, spec);
        let rows = diff
            .rows
            .iter()
            .map(|row| DiffRowView::of(row, requests, spec.grouping, prefix))
            .collect();
        let (total_then, total_now) = (AmountView::from(diff.then), AmountView::from(diff.now));
        let bytes_delta = delta(total_now.bytes, total_then.bytes);
        let total = DiffTotal {
            objects: total_now.objects,
            objects_delta: delta(total_now.objects, total_then.objects),
            bytes: total_now.bytes,
            bytes_delta,
            bytes_per_request: per_request(bytes_delta, requests),
        };
        Self {
            group: group_name(spec),
            filter: spec.filter.clone(),
            compared_to: ComparedTo::Baseline,
            baseline_created: false,
            since_unix: then
                .moment
                .taken_at
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| since.as_secs()),
            elapsed_seconds: now
                .moment
                .instant
                .duration_since(then.moment.instant)
                .as_secs_f64(),
            requests,
            rows,
            rows_omitted: diff.rows_omitted,
            total,
            jemalloc: JemallocDelta {
                allocated: now.moment.stats.allocated,
                allocated_delta: delta(now.moment.stats.allocated, then.moment.stats.allocated),
                resident: now.moment.stats.resident,
                resident_delta: delta(now.moment.stats.resident, then.moment.stats.resident),
                rss: now.moment.rss,
                rss_delta: now
                    .moment
                    .rss
                    .zip(then.moment.rss)
                    .map(|(now, then)| delta(now, then)),
            },
            memscope_own: diff.memscope_own.map(AmountView::from),
            notes: if spec.grouping.is_some() {
                estimate_notes(now)
            } else {
                Vec::new()
            },
        }
    }
}

impl DiffRowView {
    /// What the change is, against sampling noise.
    pub(crate) fn growth(&self) -> &'static str {
        if self.significant {
            "significant"
        } else if self.bytes_delta < 0 && self.bytes_delta.unsigned_abs() > self.bytes_delta_error {
            "shrank"
        } else {
            "within noise"
        }
    }

    /// `+1.20 MiB ± 0.30`.
    pub(crate) fn delta_text(&self) -> String {
        human_bytes_signed_with_error(self.bytes_delta as f64, self.bytes_delta_error as f64)
    }

    fn of(row: &DiffRow, requests: u64, grouping: Option<Grouping>, prefix: &str) -> Self {
        let bytes_delta = row.bytes_delta();
        Self {
            label: RowLabelView::of(&row.label, grouping, prefix),
            objects: row.now.objects.round() as u64,
            objects_delta: row.objects_delta(),
            bytes: row.now.bytes.round() as u64,
            bytes_delta,
            bytes_per_request: per_request(bytes_delta, requests),
            bytes_delta_error: row.bytes_delta_error().round() as u64,
            significant: row.grew_significantly(),
            estimate: EstimateView::of(&row.now, grouping),
        }
    }
}

impl MemoryDiff {
    pub(super) fn heading(&self) -> String {
        if self.baseline_created {
            return "No baseline yet: one was taken now. Send some traffic, then load this page again."
                .to_owned();
        }
        let what = match self.compared_to {
            ComparedTo::Interval => "over",
            ComparedTo::History => "since the history's snapshot of",
            ComparedTo::Baseline => "since the baseline,",
        };
        format!(
            "Growth {what} {:.1} s ago, across {} requests",
            self.elapsed_seconds,
            grouped(self.requests)
        )
    }

    fn group_title(&self) -> &'static str {
        group_title(self.group)
    }
}

impl MemoryDiff {
    /// For the template: whether the diff is against the stored baseline.
    pub(super) fn against_baseline(&self) -> bool {
        self.compared_to == ComparedTo::Baseline
    }
}

impl Page for MemoryDiff {
    fn text(&self) -> String {
        let mut out = format!("{}\n\n", self.heading());
        let estimated = self.group != "size";
        let mut columns = vec![
            (self.group_title(), Align::Left),
            ("size", Align::Right),
            ("Δ size", Align::Right),
            ("growth", Align::Left),
            ("# objects", Align::Right),
            ("Δ objects", Align::Right),
            ("per request", Align::Right),
        ];
        if estimated {
            columns.push(("file:line", Align::Left));
        }
        let mut table = TextTable::new(&columns);
        for row in &self.rows {
            let mut cells = vec![
                row.label.name.clone(),
                human_bytes(row.bytes),
                human_bytes_signed_with_error(row.bytes_delta as f64, row.bytes_delta_error as f64),
                row.growth().to_owned(),
                grouped(row.objects),
                grouped_signed(row.objects_delta),
                crate::pages::kit::view::per_request(&row.bytes_per_request),
            ];
            if estimated {
                cells.push(row.label.location.clone().unwrap_or_default());
            }
            table.row(cells);
        }
        table.omitted_rows(self.rows_omitted);
        table.footer(vec![
            "total".to_owned(),
            human_bytes(self.total.bytes),
            human_bytes_signed(self.total.bytes_delta),
            String::new(),
            grouped(self.total.objects),
            grouped_signed(self.total.objects_delta),
            crate::pages::kit::view::per_request(&self.total.bytes_per_request),
        ]);
        if let Some(own) = &self.memscope_own {
            table.footer(vec![
                "memscope's own now (not above)".to_owned(),
                human_bytes(own.bytes),
                String::new(),
                String::new(),
                grouped(own.objects),
            ]);
        }
        out.push_str(&table.render());
        let allocated = format!(
            "allocated {} ({})",
            human_bytes(self.jemalloc.allocated),
            human_bytes_signed(self.jemalloc.allocated_delta),
        );
        let rss = match (self.jemalloc.rss, self.jemalloc.rss_delta) {
            (Some(rss), Some(delta)) => {
                format!("{} ({})", human_bytes(rss), human_bytes_signed(delta))
            }
            _ => "unknown".to_owned(),
        };
        out.push_str(&if HeapSource::get().knows_allocator_figures() {
            format!(
                "\njemalloc {allocated} · resident {} ({}) · process RSS {rss}\n",
                human_bytes(self.jemalloc.resident),
                human_bytes_signed(self.jemalloc.resident_delta),
            )
        } else {
            format!("\n{allocated}, memscope's sampling allocator · process RSS {rss}\n")
        });
        for note in &self.notes {
            out.push_str(note);
            out.push('\n');
        }
        out
    }
}

html_form!(MemoryDiff => "diff.html");

/// What `since=` asked of the history, to say how near its snapshot is.
pub(super) struct HistoryAsked {
    /// `since=`.
    pub(super) ago: Duration,
    /// When that was.
    pub(super) when: SystemTime,
    /// The history's interval: a snapshot further off than this from
    /// `when` is said to be.
    pub(super) interval: Duration,
}

impl MemoryDiff {
    /// The diff of two snapshots taken `seconds=` apart.
    pub(super) fn over_interval(
        then: &HeapSnapshot,
        now: &HeapSnapshot,
        requests: u64,
        spec: &TableSpec,
        prefix: &str,
    ) -> Self {
        let mut diff = Self::build(then, now, requests, spec, prefix);
        diff.compared_to = ComparedTo::Interval;
        diff
    }

    /// The page a first visit gets: a baseline was taken now, and there is
    /// nothing to compare yet.
    pub(super) fn baseline_created(
        snapshot: &HeapSnapshot,
        spec: &TableSpec,
        prefix: &str,
    ) -> Self {
        let mut diff = Self::build(snapshot, snapshot, 0, spec, prefix);
        diff.baseline_created = true;
        diff
    }

    /// The diff against the history's snapshot `then`, the nearest to what
    /// `since=` asked, with a note where it is further off than the
    /// history's interval.
    pub(super) fn since_history(
        then: &HeapSnapshot,
        now: &HeapSnapshot,
        requests: u64,
        asked: HistoryAsked,
        spec: &TableSpec,
        prefix: &str,
    ) -> Self {
        let mut diff = Self::build(then, now, requests, spec, prefix);
        diff.compared_to = ComparedTo::History;
        let taken_at = then.moment.taken_at;
        let off_by = match taken_at.duration_since(asked.when) {
            Ok(later) => later,
            Err(earlier) => earlier.duration(),
        };
        if off_by > asked.interval {
            diff.notes.insert(
                0,
                format!(
                    "Asked for {} ago; the nearest snapshot the history keeps is {} ago.",
                    duration_text(asked.ago.as_secs()),
                    duration_text(
                        SystemTime::now()
                            .duration_since(taken_at)
                            .map_or(0, |age| age.as_secs())
                    )
                ),
            );
        }
        diff
    }
}

#[derive(Serialize)]
pub(super) struct BaselineTaken {
    pub(super) taken_at_unix: u64,
    pub(super) requests: u64,
    pub(super) allocated: u64,
}

impl Page for BaselineTaken {
    fn text(&self) -> String {
        format!(
            "New baseline taken: allocated {}, {} requests so far.\n",
            human_bytes(self.allocated),
            grouped(self.requests)
        )
    }
}

impl HtmlForm for BaselineTaken {
    fn html(&self, _layout: &Layout) -> askama::Result<String> {
        // Browsers are sent to the diff page instead (`new_baseline`).
        Ok(self.text())
    }
}
