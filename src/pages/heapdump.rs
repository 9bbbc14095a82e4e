//! `GET /_debug/heapdump`: the live heap as a table, largest first, by
//! allocation site (the default), function, crate, whole stack, or exact
//! size class.

use bytes::Bytes;
use http::Response;
use serde::Serialize;

use crate::allocator::{AllocatorStats, SizeClass, size_classes};
use crate::error::PageError;
use crate::heap::{self, Frame, GroupedHeap, Grouping, HeapSnapshot};
use crate::query::Query;
use crate::render::{Chrome, Page, respond};
use crate::routes::PageRequest;
use crate::text::{Align, TextTable, grouped, human_bytes};

/// The largest `limit=` accepted; more rows than this is no longer a table
/// anyone reads.
pub(crate) const MAX_LIMIT: u64 = 10_000;
const DEFAULT_LIMIT: u64 = 100;
/// The longest `filter=` accepted.
pub(crate) const MAX_FILTER_LEN: usize = 200;
pub(crate) const GROUPS: &[&str] = &["site", "function", "crate", "stack", "size"];

/// What the heap tables take from the query: `group`, `filter`, `limit`.
pub(crate) struct TableQuery {
    /// `None` for `group=size`.
    pub(crate) grouping: Option<Grouping>,
    /// Lower case.
    pub(crate) filter: Option<String>,
    pub(crate) limit: usize,
}

impl TableQuery {
    pub(crate) fn read(query: &Query) -> Result<Self, PageError> {
        let group = query.choice("group", GROUPS)?.unwrap_or("site");
        let filter = query
            .text("filter", MAX_FILTER_LEN)?
            .map(|filter| filter.to_lowercase());
        let grouping = Grouping::from_name(group);
        if grouping.is_none() && filter.is_some() {
            return Err(PageError::bad_request(
                "`filter` matches the frames of a stack, and `group=size` has none: \
                 use group=site, function, crate or stack with a filter",
            ));
        }
        Ok(Self {
            grouping,
            filter,
            limit: query
                .number("limit", 1..=MAX_LIMIT)?
                .unwrap_or(DEFAULT_LIMIT) as usize,
        })
    }

    pub(crate) fn group_name(&self) -> &'static str {
        self.grouping.map_or("size", Grouping::name)
    }
}

/// The heap as rows of `name · # objects · total size · share`.
#[derive(Serialize)]
pub(crate) struct HeapTable {
    /// How rows are grouped: `site`, `function`, `crate`, `stack` or `size`.
    group: &'static str,
    filter: Option<String>,
    rows: Vec<HeapRow>,
    /// Rows beyond `limit`, counted but not listed.
    rows_omitted: usize,
    total: Total,
    /// memscope's own allocations (symbolizer, pages), left out of the rows.
    memscope_own: Option<Amount>,
    /// Whether the figures are estimates from sampled stacks.
    estimate: bool,
    /// Sampled stacks in the heap profile (0 for `group=size`).
    stacks: usize,
    /// What the figures are and how far to trust them.
    notes: Vec<String>,
}

#[derive(Serialize)]
pub(crate) struct HeapRow {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    name: String,
    objects: u64,
    bytes: u64,
    /// This row's part of the total, from 0 to 1.
    share: f64,
    /// The frames of the row's largest stack, innermost first, allocator
    /// plumbing left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    frames: Option<Vec<Frame>>,
    /// `file:line` of the frame the row is named after.
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<String>,
    /// The page of this site's stacks.
    #[serde(skip_serializing_if = "Option::is_none")]
    link: Option<String>,
    /// The size of every object in the row, for `group=size`.
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
}

#[derive(Serialize)]
pub(crate) struct Amount {
    pub(crate) objects: u64,
    pub(crate) bytes: u64,
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

pub(crate) fn share(part: f64, whole: f64) -> f64 {
    if whole <= 0.0 { 0.0 } else { part / whole }
}

/// The link to a site's page, for site rows.
pub(crate) fn site_link(prefix: &str, grouping: Option<Grouping>, id: &str) -> Option<String> {
    (grouping == Some(Grouping::Site)).then(|| format!("{prefix}/heapdump/{id}"))
}

impl HeapTable {
    /// The exact table from jemalloc's per-size-class counters.
    fn by_size_class(
        classes: &[SizeClass],
        stats: &AllocatorStats,
        rss: Option<u64>,
        limit: usize,
    ) -> Self {
        let mut classes = classes.to_vec();
        classes.sort_by(|a, b| b.bytes().cmp(&a.bytes()).then(b.size.cmp(&a.size)));
        let total_bytes: u64 = classes.iter().map(SizeClass::bytes).sum();
        let total_objects: u64 = classes.iter().map(|class| class.objects).sum();
        let rows = classes
            .iter()
            .take(limit)
            .map(|class| HeapRow {
                id: None,
                name: class.name(),
                objects: class.objects,
                bytes: class.bytes(),
                share: share(class.bytes() as f64, total_bytes as f64),
                frames: None,
                location: None,
                link: None,
                size: Some(class.size),
            })
            .collect();
        Self {
            group: "size",
            filter: None,
            rows,
            rows_omitted: classes.len().saturating_sub(limit),
            total: Total {
                objects: total_objects,
                bytes: total_bytes,
                allocated: stats.allocated,
                resident: stats.resident,
                rss,
            },
            memscope_own: None,
            estimate: false,
            stacks: 0,
            notes: vec![
                "Exact: jemalloc counts every live object by size class; no sampling.".to_owned(),
                "An object's size is its size class: a 100-byte Vec occupies 112 bytes.".to_owned(),
            ],
        }
    }

    fn by_stacks(snapshot: &HeapSnapshot, query: &TableQuery, prefix: &str) -> Self {
        let grouping = query.grouping.unwrap_or(Grouping::Site);
        let grouped = GroupedHeap::build(snapshot, grouping, query.filter.as_deref());
        let own = Amount {
            objects: grouped.own_objects.round() as u64,
            bytes: grouped.own_bytes.round() as u64,
        };
        let groups = grouped.into_sorted();
        let total_bytes: f64 = groups.iter().map(|group| group.bytes).sum();
        let total_objects: f64 = groups.iter().map(|group| group.objects).sum();
        let rows_omitted = groups.len().saturating_sub(query.limit);
        let rows = groups
            .into_iter()
            .take(query.limit)
            .map(|group| {
                let id = group.id.to_string();
                HeapRow {
                    link: site_link(prefix, query.grouping, &id),
                    id: Some(id),
                    name: group.name,
                    objects: group.objects.round() as u64,
                    bytes: group.bytes.round() as u64,
                    share: share(group.bytes, total_bytes),
                    frames: Some(group.frames),
                    location: Some(group.location),
                    size: None,
                }
            })
            .collect();
        Self {
            group: grouping.name(),
            filter: query.filter.clone(),
            rows,
            rows_omitted,
            total: Total {
                objects: total_objects.round() as u64,
                bytes: total_bytes.round() as u64,
                allocated: snapshot.stats.allocated,
                resident: snapshot.stats.resident,
                rss: snapshot.rss,
            },
            memscope_own: Some(own),
            estimate: true,
            stacks: snapshot.stacks.len(),
            notes: estimate_notes(snapshot),
        }
    }

    pub(crate) fn group_title(&self) -> &'static str {
        group_title(self.group)
    }
}

/// The heading of the name column for a grouping.
pub(crate) fn group_title(group: &'static str) -> &'static str {
    match group {
        "size" => "size class",
        "site" => "allocation site",
        other => other,
    }
}

/// How far to trust figures from a sampled heap profile.
pub(crate) fn estimate_notes(snapshot: &HeapSnapshot) -> Vec<String> {
    let mut notes = vec![format!(
        "Estimates: jemalloc samples one allocation per {} allocated on average, and each \
         sample is scaled up by the chance of its size being sampled. jemalloc's allocated \
         figure is exact but under-reports while sampling; compare resident and RSS.",
        human_bytes(snapshot.sample_interval)
    )];
    notes.push(format!(
        "This profile: {} sampled stacks; jemalloc's dump and its parse took {:.1} ms, \
         resolving addresses {:.1} ms.",
        snapshot.stacks.len(),
        snapshot.dump_time.as_secs_f64() * 1e3,
        snapshot.symbolize_time.as_secs_f64() * 1e3
    ));
    if snapshot.paused {
        notes.push(
            "Sampling is paused: the profile holds only what was sampled while it ran.".to_owned(),
        );
    }
    notes
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
                crate::view::percent(&row.share),
            ]);
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
        out.push_str(&format!(
            "\njemalloc allocated {} · resident {} · process RSS {}\n",
            human_bytes(self.total.allocated),
            human_bytes(self.total.resident),
            self.total.rss.map_or("unknown".to_owned(), human_bytes),
        ));
        for note in &self.notes {
            out.push_str(note);
            out.push('\n');
        }
        out
    }

    fn html(&self, chrome: &Chrome) -> askama::Result<String> {
        askama::Template::render(&HeapTableTemplate {
            chrome,
            page: self,
            groups: GROUPS,
        })
    }
}

#[derive(askama::Template)]
#[template(path = "heapdump.html")]
struct HeapTableTemplate<'a> {
    chrome: &'a Chrome,
    page: &'a HeapTable,
    groups: &'static [&'static str],
}

pub(crate) async fn page(request: &PageRequest<'_>) -> Result<Response<Bytes>, PageError> {
    let query = Query::parse(request.raw_query(), &["group", "limit", "filter"])?;
    let table_query = TableQuery::read(&query)?;
    let table = match table_query.grouping {
        None => {
            let stats = AllocatorStats::read();
            let classes = size_classes();
            HeapTable::by_size_class(
                &classes,
                &stats,
                crate::process::resident_set_size(),
                table_query.limit,
            )
        }
        Some(_) => {
            let snapshot = heap::snapshot().await?;
            HeapTable::by_stacks(&snapshot, &table_query, &request.shared.config.prefix)
        }
    };
    Ok(respond(&table, request.format, request.chrome))
}
