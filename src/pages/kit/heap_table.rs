//! The live heap as a table, as the heap page and a black box capture's
//! page show it: rows by site, function, crate, stack, route or size
//! class, with their estimates, totals and notes.

use serde::Serialize;

use super::heap_view::{
    AmountView, EstimateView, RowLabelView, estimate_notes, group_name, group_title,
};
use super::profiling::unwinder_name;
use super::text::{Align, TextTable};
use super::{HEAP_GROUPS, Page};
use crate::model::allocator::{AllocatorStats, HeapSource, Unwinder};
use crate::model::heap::table::{HeapRow, HeapTable, TableSpec};
use crate::model::heap::{Grouping, HeapSnapshot, NO_REQUEST};
use crate::units::{grouped, human_bytes, human_bytes_with_error};

#[derive(Serialize)]
pub(crate) struct HeapTablePage {
    /// How rows are grouped: `site`, `function`, `crate`, `stack`, `route`
    /// or `size`.
    pub(crate) group: &'static str,
    pub(crate) filter: Option<String>,
    /// The route (or scope) whose stacks are shown, where `route=` asks.
    pub(crate) route: Option<String>,
    pub(crate) rows: Vec<HeapRowView>,
    /// Rows beyond `limit`, counted but not listed.
    pub(crate) rows_omitted: usize,
    pub(crate) total: Total,
    /// memscope's own allocations (symbolizer, pages), left out of the rows.
    pub(crate) memscope_own: Option<AmountView>,
    /// Whether the figures are estimates from sampled stacks.
    pub(crate) estimate: bool,
    /// Sampled stacks in the heap profile (0 for `group=size`).
    pub(crate) stacks: usize,
    /// What the figures are and how far to trust them.
    pub(crate) notes: Vec<String>,
}

#[derive(Serialize)]
pub(crate) struct HeapRowView {
    #[serde(flatten)]
    pub(crate) label: RowLabelView,
    pub(crate) objects: u64,
    pub(crate) bytes: u64,
    /// This row's part of the total, from 0 to 1.
    pub(crate) share: f64,
    #[serde(flatten)]
    pub(crate) estimate: EstimateView,
    /// For a route's row (`group=route`): the sites that hold most of its
    /// bytes, most first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) holds: Vec<HeldBy>,
    /// For the `(no request)` row: what is allocated outside any request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) about: Option<&'static str>,
    /// The interval's half-width, for the text and HTML.
    #[serde(skip)]
    pub(crate) bytes_error: f64,
}

#[derive(Serialize)]
pub(crate) struct HeldBy {
    pub(crate) site: String,
    pub(crate) bytes: u64,
}

/// What the `(no request)` row holds, in words.
const NO_REQUEST_ABOUT: &str = "allocated outside any request's polls: at start-up, by background work, by tasks a handler spawned without memscope::tagged, and by hyper reading a request's body into its connection's buffer before the handler polls it; the growth page fits what grows here to the routes' requests";

#[derive(Serialize)]
pub(crate) struct Total {
    /// Summed over every row, including those past `limit`.
    pub(crate) objects: u64,
    pub(crate) bytes: u64,
    /// jemalloc's `stats.allocated`, for comparison.
    pub(crate) allocated: u64,
    /// jemalloc's `stats.resident`.
    pub(crate) resident: u64,
    /// The process's resident set size.
    pub(crate) rss: Option<u64>,
}

impl HeapTablePage {
    pub(crate) fn of(
        table: &HeapTable,
        spec: &TableSpec,
        prefix: &str,
        (stats, rss): (AllocatorStats, Option<u64>),
        snapshot: Option<&HeapSnapshot>,
        unwinder: Option<Unwinder>,
    ) -> Self {
        let rows = table
            .rows
            .iter()
            .map(|row| HeapRowView::of(row, table.share(row), spec.grouping, prefix))
            .collect();
        let notes = match snapshot {
            Some(snapshot) if spec.grouping == Some(Grouping::Route) || spec.route.is_some() => {
                let mut notes = estimate_notes(snapshot);
                notes.push(route_tag_note(unwinder));
                notes
            }
            Some(snapshot) => estimate_notes(snapshot),
            None => vec![
                "Exact: jemalloc counts every live object by size class; no sampling.".to_owned(),
                "An object's size is its size class: a 100-byte Vec occupies 112 bytes.".to_owned(),
            ],
        };
        let total = AmountView::from(table.total);
        Self {
            group: group_name(spec),
            filter: spec.filter.clone(),
            route: spec.route.clone(),
            rows,
            rows_omitted: table.rows_omitted,
            total: Total {
                objects: total.objects,
                bytes: total.bytes,
                allocated: stats.allocated,
                resident: stats.resident,
                rss,
            },
            memscope_own: table.memscope_own.map(AmountView::from),
            estimate: snapshot.is_some(),
            stacks: snapshot.map_or(0, |snapshot| snapshot.stacks.len()),
            notes,
        }
    }

    /// Every `group=` value, for the page's links.
    pub(crate) fn groups(&self) -> &'static [&'static str] {
        HEAP_GROUPS
    }

    pub(crate) fn group_title(&self) -> &'static str {
        group_title(self.group)
    }
}

impl HeapRowView {
    fn of(row: &HeapRow, share: f64, grouping: Option<Grouping>, prefix: &str) -> Self {
        Self {
            label: RowLabelView::of(&row.label, grouping, prefix),
            objects: row.amount.objects.round() as u64,
            bytes: row.amount.bytes.round() as u64,
            share,
            estimate: EstimateView::of(&row.amount, grouping),
            holds: row
                .holds
                .iter()
                .map(|(site, bytes)| HeldBy {
                    site: site.clone(),
                    bytes: bytes.round() as u64,
                })
                .collect(),
            about: (grouping == Some(Grouping::Route) && row.label.name == NO_REQUEST)
                .then_some(NO_REQUEST_ABOUT),
            bytes_error: row.amount.bytes_error(),
        }
    }

    /// `holds app::cache::store 1.2 MiB, hyper::proto::h1::io 64 KiB`, or
    /// nothing.
    pub(crate) fn holds_text(&self) -> String {
        if self.holds.is_empty() {
            return String::new();
        }
        let sites: Vec<String> = self
            .holds
            .iter()
            .map(|held| format!("{} {}", held.site, human_bytes(held.bytes)))
            .collect();
        format!("holds {}", sites.join(", "))
    }
}

impl Page for HeapTablePage {
    fn text(&self) -> String {
        let mut columns = vec![
            (self.group_title(), Align::Left),
            ("# objects", Align::Right),
            ("total size", Align::Right),
            ("share", Align::Right),
        ];
        if self.estimate {
            columns.push(("samples", Align::Right));
            columns.push((
                if self.group == "route" {
                    "what it holds"
                } else {
                    "file:line"
                },
                Align::Left,
            ));
        }
        let mut table = TextTable::new(&columns);
        for row in &self.rows {
            let mut cells = vec![
                row.label.name.clone(),
                grouped(row.objects),
                human_bytes_with_error(row.bytes as f64, row.bytes_error),
                crate::pages::kit::view::percent(&row.share),
            ];
            if self.estimate {
                cells.push(grouped(row.estimate.samples.unwrap_or(0)));
                cells.push(if self.group == "route" {
                    row.holds_text()
                } else {
                    row.label.location.clone().unwrap_or_default()
                });
            }
            table.row(cells);
        }
        table.omitted_rows(self.rows_omitted);
        let total_label = if self.estimate {
            "total (estimate)"
        } else {
            "total"
        };
        table.footer(vec![
            total_label.to_owned(),
            grouped(self.total.objects),
            human_bytes(self.total.bytes),
            String::new(),
        ]);
        if let Some(own) = &self.memscope_own {
            table.footer(vec![
                "memscope's own (not above)".to_owned(),
                grouped(own.objects),
                human_bytes(own.bytes),
                String::new(),
            ]);
        }
        let mut out = table.render();
        let rss = self.total.rss.map_or("unknown".to_owned(), human_bytes);
        out.push_str(&if HeapSource::get().knows_allocator_figures() {
            format!(
                "\njemalloc allocated {} · resident {} · process RSS {rss}\n",
                human_bytes(self.total.allocated),
                human_bytes(self.total.resident),
            )
        } else {
            format!(
                "\nallocated {} (memscope's sampling allocator) · process RSS {rss}\n",
                human_bytes(self.total.allocated),
            )
        });
        if let Some(about) = self.rows.iter().find_map(|row| row.about) {
            out.push_str(&format!("{NO_REQUEST}: {about}.\n"));
        }
        for note in &self.notes {
            out.push_str(note);
            out.push('\n');
        }
        out
    }
}

/// What the route rows are, and where they cannot be had.
fn route_tag_note(unwinder: Option<Unwinder>) -> String {
    if unwinder == Some(Unwinder::Memscope) {
        "Routes: each sampled allocation carries the route of the request whose future, \
         body or handed-off task (`memscope::tagged`) was polled when it was made, or the \
         name of its `memscope::scope`; \"(no request)\" is what was allocated outside any."
            .to_owned()
    } else {
        format!(
            "Routes: samples are unwound by {}, not memscope's walker, and carry no route: \
             every stack is \"(no request)\". memscope's walker runs on x86-64 Linux, in \
             layers built without keep_jemalloc_unwinder().",
            unwinder_name(unwinder)
        )
    }
}
