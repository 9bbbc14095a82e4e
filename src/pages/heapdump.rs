//! `GET /_debug/heapdump`: the live heap as a table, largest first.

use bytes::Bytes;
use http::Response;
use serde::Serialize;

use crate::allocator::{AllocatorStats, size_classes};
use crate::error::PageError;
use crate::query::Query;
use crate::render::{Chrome, Page, respond};
use crate::routes::PageRequest;
use crate::text::{Align, TextTable, grouped, human_bytes};

/// The largest `limit=` accepted; more rows than this is no longer a table
/// anyone reads.
pub(crate) const MAX_LIMIT: u64 = 10_000;
const DEFAULT_LIMIT: u64 = 100;

/// The heap as rows of `name · # objects · total size`.
#[derive(Serialize)]
pub(crate) struct HeapTable {
    /// How rows are grouped: `size`.
    group: &'static str,
    rows: Vec<HeapRow>,
    /// Rows beyond `limit`, counted but not listed.
    rows_omitted: usize,
    total: Total,
    /// What the figures are and how far to trust them.
    notes: Vec<String>,
}

#[derive(Serialize)]
pub(crate) struct HeapRow {
    name: String,
    objects: u64,
    bytes: u64,
    /// This row's part of the total, from 0 to 1.
    share: f64,
    /// The size of every object in the row, for `group=size`.
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
}

#[derive(Serialize)]
struct Total {
    objects: u64,
    bytes: u64,
    /// jemalloc's `stats.allocated`, for comparison.
    allocated: u64,
}

impl HeapTable {
    /// The exact table from jemalloc's per-size-class counters.
    fn by_size_class(limit: usize) -> Self {
        let stats = AllocatorStats::read();
        let mut classes = size_classes();
        classes.sort_by(|a, b| b.bytes().cmp(&a.bytes()).then(b.size.cmp(&a.size)));
        let total_bytes: u64 = classes.iter().map(|class| class.bytes()).sum();
        let total_objects: u64 = classes.iter().map(|class| class.objects).sum();
        let rows_omitted = classes.len().saturating_sub(limit);
        let rows = classes
            .iter()
            .take(limit)
            .map(|class| HeapRow {
                name: format!(
                    "{} ({})",
                    human_bytes(class.size),
                    if class.small { "small" } else { "large" }
                ),
                objects: class.objects,
                bytes: class.bytes(),
                share: share(class.bytes(), total_bytes),
                size: Some(class.size),
            })
            .collect();
        Self {
            group: "size",
            rows,
            rows_omitted,
            total: Total {
                objects: total_objects,
                bytes: total_bytes,
                allocated: stats.allocated,
            },
            notes: vec![
                "Exact: jemalloc counts every live object by size class; no sampling.".to_owned(),
                "An object's size is its size class: a 100-byte Vec occupies 112 bytes.".to_owned(),
            ],
        }
    }
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn percent(share: f64) -> String {
    format!("{:.1} %", share * 100.0)
}

impl Page for HeapTable {
    fn text(&self) -> String {
        let mut table = TextTable::new(&[
            (self.group_title(), Align::Left),
            ("# objects", Align::Right),
            ("total size", Align::Right),
            ("share", Align::Right),
        ]);
        for row in &self.rows {
            table.row(vec![
                row.name.clone(),
                grouped(row.objects),
                human_bytes(row.bytes),
                percent(row.share),
            ]);
        }
        if self.rows_omitted > 0 {
            table.row(vec![format!(
                "({} more rows: raise limit=)",
                self.rows_omitted
            )]);
        }
        table.footer(vec![
            "total".to_owned(),
            grouped(self.total.objects),
            human_bytes(self.total.bytes),
            String::new(),
        ]);
        let mut out = table.render();
        out.push_str(&format!(
            "\njemalloc allocated: {}\n",
            human_bytes(self.total.allocated)
        ));
        for note in &self.notes {
            out.push_str(note);
            out.push('\n');
        }
        out
    }

    fn html(&self, chrome: &Chrome) -> askama::Result<String> {
        askama::Template::render(&HeapTableTemplate { chrome, page: self })
    }
}

impl HeapTable {
    fn group_title(&self) -> &'static str {
        match self.group {
            "size" => "size class",
            other => other,
        }
    }
}

#[derive(askama::Template)]
#[template(path = "heapdump.html")]
struct HeapTableTemplate<'a> {
    chrome: &'a Chrome,
    page: &'a HeapTable,
}

impl HeapTableTemplate<'_> {
    fn size(&self, bytes: &u64) -> String {
        human_bytes(*bytes)
    }

    fn count(&self, number: &u64) -> String {
        grouped(*number)
    }

    fn percent(&self, share: &f64) -> String {
        percent(*share)
    }
}

pub(crate) async fn page(request: &PageRequest<'_>) -> Result<Response<Bytes>, PageError> {
    let query = Query::parse(request.raw_query(), &["group", "limit"])?;
    query.choice("group", &["size"])?;
    let limit = query
        .number("limit", 1..=MAX_LIMIT)?
        .unwrap_or(DEFAULT_LIMIT) as usize;
    let table = HeapTable::by_size_class(limit);
    Ok(respond(&table, request.format, request.chrome))
}
