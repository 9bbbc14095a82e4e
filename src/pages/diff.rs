//! `GET /_debug/memory/diff`: what grew since the baseline, by site, with
//! bytes per request; `POST /_debug/memory/diff/baseline` takes a new
//! baseline; `?seconds=N` compares two snapshots N seconds apart instead.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http::Response;
use serde::Serialize;

use super::heapdump::{Amount, TableQuery, estimate_notes, site_link};
use crate::allocator::SizeClass;
use crate::error::PageError;
use crate::format::Format;
use crate::heap::{self, Frame, GroupedHeap, HeapSnapshot};
use crate::query::Query;
use crate::render::{Chrome, Page, respond, see_other};
use crate::routes::PageRequest;
use crate::state::Baseline;
use crate::text::{Align, TextTable, grouped, grouped_signed, human_bytes, human_bytes_signed};

/// `seconds=` accepted, so that a page never waits more than five minutes.
const MAX_SECONDS: u64 = 300;

#[derive(Serialize)]
pub(crate) struct MemoryDiff {
    group: &'static str,
    filter: Option<String>,
    /// `baseline` (against the stored baseline) or `interval` (`seconds=`).
    compared_to: &'static str,
    /// This visit found no baseline and took one: there is nothing to
    /// compare yet.
    baseline_created: bool,
    /// When the earlier snapshot was taken, in seconds since the Unix epoch.
    since_unix: u64,
    elapsed_seconds: f64,
    /// Requests the layer passed to the app in between.
    requests: u64,
    rows: Vec<DiffRow>,
    rows_omitted: usize,
    /// The change summed over every row, including those past `limit`.
    total: DiffTotal,
    jemalloc: JemallocDelta,
    /// memscope's own allocations now, left out of the rows.
    memscope_own: Option<Amount>,
    notes: Vec<String>,
}

#[derive(Serialize)]
pub(crate) struct DiffRow {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    name: String,
    objects: u64,
    objects_delta: i64,
    bytes: u64,
    bytes_delta: i64,
    /// `bytes_delta` over the requests in between; `null` without requests.
    bytes_per_request: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frames: Option<Vec<Frame>>,
    /// `file:line` of the frame the row is named after.
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    link: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
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

/// One row's figures before and now, whatever the grouping.
struct Change {
    id: Option<String>,
    name: String,
    objects: (f64, f64),
    bytes: (f64, f64),
    frames: Option<Vec<Frame>>,
    location: Option<String>,
    size: Option<u64>,
}

impl MemoryDiff {
    fn build(
        then: &HeapSnapshot,
        now: &HeapSnapshot,
        requests: u64,
        query: &TableQuery,
        prefix: &str,
    ) -> Self {
        let (changes, own) = match query.grouping {
            Some(grouping) => {
                let before = GroupedHeap::build(then, grouping, query.filter.as_deref());
                let after = GroupedHeap::build(now, grouping, query.filter.as_deref());
                let own = Amount {
                    objects: after.own_objects.round() as u64,
                    bytes: after.own_bytes.round() as u64,
                };
                (stack_changes(before, after), Some(own))
            }
            None => (
                size_class_changes(&then.size_classes, &now.size_classes),
                None,
            ),
        };
        let mut rows: Vec<DiffRow> = changes
            .into_iter()
            .map(|change| {
                let bytes_delta = (change.bytes.1 - change.bytes.0).round() as i64;
                DiffRow {
                    link: change
                        .id
                        .as_deref()
                        .and_then(|id| site_link(prefix, query.grouping, id)),
                    id: change.id,
                    name: change.name,
                    objects: change.objects.1.round() as u64,
                    objects_delta: (change.objects.1 - change.objects.0).round() as i64,
                    bytes: change.bytes.1.round() as u64,
                    bytes_delta,
                    bytes_per_request: per_request(bytes_delta, requests),
                    frames: change.frames,
                    location: change.location,
                    size: change.size,
                }
            })
            .collect();
        // Growing first; among equals, the larger now.
        rows.sort_by(|a, b| {
            b.bytes_delta
                .cmp(&a.bytes_delta)
                .then(b.bytes.cmp(&a.bytes))
                .then_with(|| a.name.cmp(&b.name))
        });
        let mut total = DiffTotal::default();
        for row in &rows {
            total.objects += row.objects;
            total.objects_delta += row.objects_delta;
            total.bytes += row.bytes;
            total.bytes_delta += row.bytes_delta;
        }
        total.bytes_per_request = per_request(total.bytes_delta, requests);
        let rows_omitted = rows.len().saturating_sub(query.limit);
        rows.truncate(query.limit);
        let mut notes = Vec::new();
        if query.grouping.is_some() {
            notes = estimate_notes(now);
        }
        Self {
            group: query.group_name(),
            filter: query.filter.clone(),
            compared_to: "baseline",
            baseline_created: false,
            since_unix: then
                .taken_at
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| since.as_secs()),
            elapsed_seconds: now.instant.duration_since(then.instant).as_secs_f64(),
            requests,
            rows,
            rows_omitted,
            total,
            jemalloc: JemallocDelta {
                allocated: now.stats.allocated,
                allocated_delta: delta(now.stats.allocated, then.stats.allocated),
                resident: now.stats.resident,
                resident_delta: delta(now.stats.resident, then.stats.resident),
                rss: now.rss,
                rss_delta: now.rss.zip(then.rss).map(|(now, then)| delta(now, then)),
            },
            memscope_own: own,
            notes,
        }
    }
}

fn stack_changes(before: GroupedHeap, after: GroupedHeap) -> Vec<Change> {
    let mut before = before.groups;
    let mut changes: Vec<Change> = after
        .groups
        .into_values()
        .map(|group| {
            let then = before.remove(&group.id);
            Change {
                id: Some(group.id.to_string()),
                name: group.name,
                objects: (then.as_ref().map_or(0.0, |g| g.objects), group.objects),
                bytes: (then.as_ref().map_or(0.0, |g| g.bytes), group.bytes),
                frames: Some(group.frames),
                location: Some(group.location),
                size: None,
            }
        })
        .collect();
    // What was there before and is gone now shrank to nothing.
    changes.extend(before.into_values().map(|group| Change {
        id: Some(group.id.to_string()),
        name: group.name,
        objects: (group.objects, 0.0),
        bytes: (group.bytes, 0.0),
        frames: Some(group.frames),
        location: Some(group.location),
        size: None,
    }));
    changes
}

fn size_class_changes(then: &[SizeClass], now: &[SizeClass]) -> Vec<Change> {
    let mut classes: HashMap<u64, (Option<&SizeClass>, Option<&SizeClass>)> = HashMap::new();
    for class in then {
        classes.entry(class.size).or_default().0 = Some(class);
    }
    for class in now {
        classes.entry(class.size).or_default().1 = Some(class);
    }
    classes
        .into_iter()
        .map(|(size, (then, now))| {
            let amount = |class: Option<&SizeClass>| {
                class.map_or((0.0, 0.0), |c| (c.objects as f64, c.bytes() as f64))
            };
            let (then_objects, then_bytes) = amount(then);
            let (now_objects, now_bytes) = amount(now);
            Change {
                id: None,
                name: now.or(then).map(SizeClass::name).unwrap_or_default(),
                objects: (then_objects, now_objects),
                bytes: (then_bytes, now_bytes),
                frames: None,
                location: None,
                size: Some(size),
            }
        })
        .collect()
}

impl MemoryDiff {
    fn heading(&self) -> String {
        if self.baseline_created {
            return "No baseline yet: one was taken now. Send some traffic, then load this page again."
                .to_owned();
        }
        let what = if self.compared_to == "interval" {
            "over"
        } else {
            "since the baseline,"
        };
        format!(
            "Growth {what} {:.1} s ago, across {} requests",
            self.elapsed_seconds,
            grouped(self.requests)
        )
    }

    fn group_title(&self) -> &'static str {
        super::heapdump::group_title(self.group)
    }
}

impl Page for MemoryDiff {
    fn text(&self) -> String {
        let mut out = format!("{}\n\n", self.heading());
        let mut table = TextTable::new(&[
            (self.group_title(), Align::Left),
            ("size", Align::Right),
            ("Δ size", Align::Right),
            ("# objects", Align::Right),
            ("Δ objects", Align::Right),
            ("per request", Align::Right),
        ]);
        for row in &self.rows {
            table.row(vec![
                row.name.clone(),
                human_bytes(row.bytes),
                human_bytes_signed(row.bytes_delta),
                grouped(row.objects),
                grouped_signed(row.objects_delta),
                crate::view::per_request(&row.bytes_per_request),
            ]);
        }
        table.omitted_rows(self.rows_omitted);
        table.footer(vec![
            "total".to_owned(),
            human_bytes(self.total.bytes),
            human_bytes_signed(self.total.bytes_delta),
            grouped(self.total.objects),
            grouped_signed(self.total.objects_delta),
            crate::view::per_request(&self.total.bytes_per_request),
        ]);
        if let Some(own) = &self.memscope_own {
            table.footer(vec![
                "memscope's own now (not above)".to_owned(),
                human_bytes(own.bytes),
                String::new(),
                grouped(own.objects),
            ]);
        }
        out.push_str(&table.render());
        out.push_str(&format!(
            "\njemalloc allocated {} ({}) · resident {} ({}) · process RSS {}\n",
            human_bytes(self.jemalloc.allocated),
            human_bytes_signed(self.jemalloc.allocated_delta),
            human_bytes(self.jemalloc.resident),
            human_bytes_signed(self.jemalloc.resident_delta),
            match (self.jemalloc.rss, self.jemalloc.rss_delta) {
                (Some(rss), Some(delta)) =>
                    format!("{} ({})", human_bytes(rss), human_bytes_signed(delta)),
                _ => "unknown".to_owned(),
            }
        ));
        for note in &self.notes {
            out.push_str(note);
            out.push('\n');
        }
        out
    }

    fn html(&self, chrome: &Chrome) -> askama::Result<String> {
        askama::Template::render(&DiffTemplate {
            chrome,
            page: self,
            groups: super::heapdump::GROUPS,
        })
    }
}

#[derive(askama::Template)]
#[template(path = "diff.html")]
struct DiffTemplate<'a> {
    chrome: &'a Chrome,
    page: &'a MemoryDiff,
    groups: &'static [&'static str],
}

pub(crate) async fn page(request: &PageRequest<'_>) -> Result<Response<Bytes>, PageError> {
    let query = Query::parse(
        request.raw_query(),
        &["group", "limit", "filter", "seconds"],
    )?;
    let table_query = TableQuery::read(&query)?;
    let seconds = query.number("seconds", 1..=MAX_SECONDS)?;
    let shared = request.shared;
    let prefix = &shared.config.prefix;

    let diff = if let Some(seconds) = seconds {
        let (then, requests_then) = (heap::snapshot().await?, shared.requests());
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        let now = heap::snapshot().await?;
        let requests = shared.requests() - requests_then;
        let mut diff = MemoryDiff::build(&then, &now, requests, &table_query, prefix);
        diff.compared_to = "interval";
        diff
    } else {
        let stored = shared
            .baseline()
            .as_ref()
            .map(|baseline| (baseline.snapshot.clone(), baseline.requests));
        match stored {
            Some((then, requests_then)) => {
                let now = heap::snapshot().await?;
                let requests = shared.requests().saturating_sub(requests_then);
                MemoryDiff::build(&then, &now, requests, &table_query, prefix)
            }
            None => {
                let snapshot = take_baseline(request).await?;
                let mut diff = MemoryDiff::build(&snapshot, &snapshot, 0, &table_query, prefix);
                diff.baseline_created = true;
                diff
            }
        }
    };
    Ok(respond(&diff, request.format, request.chrome))
}

/// Takes a snapshot and stores it as the baseline.
async fn take_baseline(request: &PageRequest<'_>) -> Result<Arc<HeapSnapshot>, PageError> {
    let requests = request.shared.requests();
    let snapshot = heap::snapshot().await?;
    *request.shared.baseline() = Some(Baseline {
        snapshot: snapshot.clone(),
        requests,
    });
    Ok(snapshot)
}

#[derive(Serialize)]
struct BaselineTaken {
    taken_at_unix: u64,
    requests: u64,
    allocated: u64,
}

impl Page for BaselineTaken {
    fn text(&self) -> String {
        format!(
            "New baseline taken: jemalloc allocated {}, {} requests so far.\n",
            human_bytes(self.allocated),
            grouped(self.requests)
        )
    }

    fn html(&self, _chrome: &Chrome) -> askama::Result<String> {
        // Browsers are sent to the diff page instead; see `reset_baseline`.
        Ok(self.text())
    }
}

/// `POST /_debug/memory/diff/baseline`.
pub(crate) async fn reset_baseline(
    request: &PageRequest<'_>,
) -> Result<Response<Bytes>, PageError> {
    Query::parse(request.raw_query(), &[])?;
    let snapshot = take_baseline(request).await?;
    if request.format == Format::Html {
        return Ok(see_other(&format!(
            "{}/memory/diff",
            request.shared.config.prefix
        )));
    }
    let taken = BaselineTaken {
        taken_at_unix: snapshot
            .taken_at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs()),
        requests: request.shared.requests(),
        allocated: snapshot.stats.allocated,
    };
    Ok(respond(&taken, request.format, request.chrome))
}
