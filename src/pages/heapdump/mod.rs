//! `GET /_debug/heapdump`: the live heap as a table, largest first, by
//! allocation site (the default), function, crate, whole stack, or exact
//! size class; one site's stacks (`site`: `/heapdump/{site}`) and the
//! live heap as a flamegraph (`flamegraph`: `/heapdump/flamegraph.svg`).

pub(crate) mod flamegraph;
pub(crate) mod site;

use http::StatusCode;
use serde::Serialize;

use crate::model::allocator::{AllocatorStats, HeapSource, Unwinder};
use crate::model::heap::table::{HeapRow, HeapTable, TableSpec};
use crate::model::heap::{self, Grouping, HeapSnapshot, NO_REQUEST};
use crate::model::process::resident_set_size;
use crate::pages::kit::heap_view::{
    AmountView, EstimateView, RowLabelView, estimate_notes, group_name, group_title,
};
use crate::pages::kit::profiling::unwinder_name;
use crate::pages::kit::text::{Align, TextTable};
use crate::pages::kit::{
    Answer, HEAP_GROUPS, Page, PageError, PageRequest, Query, heap_table_spec, html_form, respond,
};
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
    /// For a route's row (`group=route`): the sites that hold most of its
    /// bytes, most first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    holds: Vec<HeldBy>,
    /// For the `(no request)` row: what is allocated outside any request.
    #[serde(skip_serializing_if = "Option::is_none")]
    about: Option<&'static str>,
    /// The interval's half-width, for the text and HTML.
    #[serde(skip)]
    bytes_error: f64,
}

#[derive(Serialize)]
struct HeldBy {
    site: String,
    bytes: u64,
}

/// What the `(no request)` row holds, in words.
const NO_REQUEST_ABOUT: &str = "allocated outside any request's polls: at start-up, by background work, by tasks a handler spawned without memscope::tagged, and by hyper reading a request's body into its connection's buffer before the handler polls it; the growth page fits what grows here to the routes' requests";

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
    fn groups(&self) -> &'static [&'static str] {
        HEAP_GROUPS
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
    fn holds_text(&self) -> String {
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

html_form!(HeapTablePage => "heapdump.html");

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

pub(crate) async fn page(request: &PageRequest<'_>) -> Answer {
    let query = Query::parse(request.raw_query(), &["group", "limit", "filter", "route"])?;
    let spec = heap_table_spec(&query)?;
    let page = match spec.grouping {
        None if !HeapSource::get().knows_allocator_figures() => {
            return Err(PageError::new(
                StatusCode::CONFLICT,
                "group=size lists jemalloc's size classes, and this program's global allocator \
                 is memscope's sampling allocator over another allocator; group=site, function, \
                 crate, stack and route work here",
            ));
        }
        None => {
            let source = HeapSource::get();
            let stats = source.figures();
            let table = HeapTable::of_size_classes(&source.size_classes(), spec.limit);
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
