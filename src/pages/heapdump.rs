//! `GET /_debug/heapdump`: the live heap as a table, largest first, by
//! allocation site (the default), function, crate, whole stack, or exact
//! size class.

use http::StatusCode;
use serde::Serialize;

use super::error::PageError;
use super::query::{HEAP_GROUPS, Query, heap_table_spec};
use super::render::heap_view::{
    AmountView, EstimateView, RowLabelView, estimate_notes, group_name, group_title,
};
use super::render::text::{Align, TextTable};
use super::render::{Layout, Page, respond};
use super::request::{Answer, PageRequest, Pending};
use crate::model::allocator::{AllocatorStats, figures_are_jemalloc, size_classes};
use crate::model::heap::{self, Grouping, HeapSnapshot};
use crate::model::process::resident_set_size;
use crate::model::table::{HeapRow, HeapTable, TableSpec};
use crate::units::{grouped, human_bytes, human_bytes_with_error};

/// The heap as rows of `name · # objects · total size · share`.
#[derive(Serialize)]
struct HeapTablePage {
    /// How rows are grouped: `site`, `function`, `crate`, `stack`, `route`
    /// or `size`.
    group: &'static str,
    filter: Option<String>,
    /// The route (or scope) whose stacks are shown, where `route=` asks.
    route: Option<String>,
    rows: Vec<HeapRowView>,
    /// Rows beyond `limit`, counted but not listed.
    rows_omitted: usize,
    total: Total,
    /// memscope's own allocations (symbolizer, pages), left out of the rows.
    memscope_own: Option<AmountView>,
    /// Whether the figures are estimates from sampled stacks.
    estimate: bool,
    /// Sampled stacks in the heap profile (0 for `group=size`).
    stacks: usize,
    /// What the figures are and how far to trust them.
    notes: Vec<String>,
}

#[derive(Serialize)]
struct HeapRowView {
    #[serde(flatten)]
    label: RowLabelView,
    objects: u64,
    bytes: u64,
    /// This row's part of the total, from 0 to 1.
    share: f64,
    #[serde(flatten)]
    estimate: EstimateView,
    /// The interval's half-width, for the text and HTML.
    #[serde(skip)]
    bytes_error: f64,
}

#[derive(Serialize)]
struct Total {
    /// Summed over every row, including those past `limit`.
    objects: u64,
    bytes: u64,
    /// jemalloc's `stats.allocated`, for comparison.
    allocated: u64,
    /// jemalloc's `stats.resident`.
    resident: u64,
    /// The process's resident set size.
    rss: Option<u64>,
}

impl HeapTablePage {
    fn of(
        table: &HeapTable,
        spec: &TableSpec,
        prefix: &str,
        (stats, rss): (AllocatorStats, Option<u64>),
        snapshot: Option<&HeapSnapshot>,
        unwinder: Option<&str>,
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

    fn group_title(&self) -> &'static str {
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
            bytes_error: row.amount.bytes_error(),
        }
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
            columns.push(("file:line", Align::Left));
        }
        let mut table = TextTable::new(&columns);
        for row in &self.rows {
            let mut cells = vec![
                row.label.name.clone(),
                grouped(row.objects),
                human_bytes_with_error(row.bytes as f64, row.bytes_error),
                super::render::view::percent(&row.share),
            ];
            if self.estimate {
                cells.push(grouped(row.estimate.samples.unwrap_or(0)));
                cells.push(row.label.location.clone().unwrap_or_default());
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
        out.push_str(&if figures_are_jemalloc() {
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
        for note in &self.notes {
            out.push_str(note);
            out.push('\n');
        }
        out
    }

    fn html(&self, layout: &Layout) -> askama::Result<String> {
        askama::Template::render(&HeapTableTemplate {
            layout,
            page: self,
            groups: HEAP_GROUPS,
        })
    }
}

#[derive(askama::Template)]
#[template(path = "heapdump.html")]
struct HeapTableTemplate<'a> {
    layout: &'a Layout,
    page: &'a HeapTablePage,
    groups: &'static [&'static str],
}

/// What the route rows are, and where they cannot be had.
fn route_tag_note(unwinder: Option<&str>) -> String {
    if unwinder == Some("memscope") {
        "Routes: each sampled allocation carries the route of the request whose future, \
         body or handed-off task (`memscope::tagged`) was polled when it was made, or the \
         name of its `memscope::scope`; \"(no request)\" is what was allocated outside any."
            .to_owned()
    } else {
        format!(
            "Routes: samples are unwound by {}, not memscope's walker, and carry no route: \
             every stack is \"(no request)\". memscope's walker runs on x86-64 Linux, in \
             layers built without keep_jemalloc_unwinder().",
            unwinder.unwrap_or("jemalloc's own unwinder")
        )
    }
}

pub(super) fn answer<'a>(request: &'a PageRequest<'a>) -> Pending<'a> {
    Box::pin(page(request))
}

async fn page(request: &PageRequest<'_>) -> Answer {
    let query = Query::parse(request.raw_query(), &["group", "limit", "filter", "route"])?;
    let spec = heap_table_spec(&query)?;
    let page = match spec.grouping {
        None if !figures_are_jemalloc() => {
            return Err(PageError::new(
                StatusCode::CONFLICT,
                "group=size lists jemalloc's size classes, and this program's global allocator \
                 is memscope's sampling allocator over another allocator; group=site, function, \
                 crate, stack and route work here",
            ));
        }
        None => {
            let stats = AllocatorStats::read();
            let table = HeapTable::of_size_classes(&size_classes(), spec.limit);
            let figures = (stats, resident_set_size());
            HeapTablePage::of(&table, &spec, request.prefix(), figures, None, None)
        }
        Some(grouping) => {
            let snapshot = heap::snapshot().await?;
            let table = HeapTable::of_stacks(&snapshot, grouping, &spec);
            let figures = (snapshot.moment.stats, snapshot.moment.rss);
            let unwinder = request.layout.profiling.unwinder;
            HeapTablePage::of(
                &table,
                &spec,
                request.prefix(),
                figures,
                Some(&snapshot),
                unwinder,
            )
        }
    };
    Ok(respond(&page, request.format, request.layout))
}
