//! `GET /_debug/memory/postmortem/{id}`: one capture of an earlier
//! process, with the pages people know: its verdict and time to the limit,
//! the sites that grew, the RSS in parts, the timeline, the routes' kept
//! bytes, and the heap by site (`rows` as `/heapdump` writes them, with
//! `group=`, `filter=`, `route=`, `limit=`); `…/{id}/flamegraph.svg`
//! draws its heap (`filter=`, `frames=all`), `…/{id}/pprof` is its heap
//! profile for `go tool pprof`.

use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;

use super::view::{CaptureView, black_box_dir, filter_link};
use crate::model::allocator::off_executor;
use crate::model::black_box::open::{self, OpenError, Opened};
use crate::model::heap::flamegraph::heap_flamegraph;
use crate::model::heap::table::HeapTable;
use crate::model::pprof::{HeapProfileKind, gzipped, heap_profile};
use crate::model::process::MappedParts;
use crate::pages::kit::chart::memory_chart;
use crate::pages::kit::heap_table::HeapTablePage;
use crate::pages::kit::rss_breakdown::RssBreakdownJson;
use crate::pages::kit::suspects::{SuspectView, significant_views};
use crate::pages::kit::text::{Align, TextTable};
use crate::pages::kit::verdict::{TimeToLimitView, VerdictView, part_words};
use crate::pages::kit::{
    Answer, Page, PageError, PageRequest, Query, download, heap_table_spec, html_form, respond, svg,
};
use crate::units::{human_bytes, human_bytes_f64, human_bytes_signed};

#[derive(Serialize)]
struct CapturePage {
    capture: CaptureView,
    verdict: VerdictView,
    time_to_limit: Option<TimeToLimitView>,
    /// Sites that grew across the capture's heap history, fastest first.
    suspects: Vec<SuspectView>,
    rss_breakdown: Option<RssBreakdownJson>,
    /// What each route's requests kept over the capture's heap history.
    routes: Vec<RouteKept>,
    /// How the objects the stacks lie in were named.
    names: Vec<NameView>,
    timeline_points: usize,
    /// The heap by site, as `/heapdump` writes it; absent where the
    /// process had no heap profiling.
    #[serde(flatten)]
    heap: Option<HeapTablePage>,
    flamegraph: String,
    pprof: String,
    #[serde(skip)]
    chart: Option<String>,
}

#[derive(Serialize)]
struct RouteKept {
    route: String,
    live_bytes: u64,
    growth: i64,
    requests: u64,
    kept_per_request: Option<f64>,
}

#[derive(Serialize)]
struct NameView {
    object: String,
    how: String,
}

impl CapturePage {
    fn of(
        opened: &Opened,
        heap: Option<HeapTablePage>,
        oom_killed: Option<bool>,
        prefix: &str,
    ) -> Self {
        let summary = &opened.summary;
        let judgement = &opened.judgement;
        let id = summary.id.as_str();
        let capture = CaptureView::of(summary, opened.file_bytes, oom_killed, prefix);
        let mut verdict =
            VerdictView::of(judgement.verdict.clone(), judgement.growth.as_ref(), prefix);
        verdict.evidence.newest_snapshot_age_seconds =
            judgement.newest_snapshot_age.map(|age| age.as_secs_f64());
        let mut suspects = judgement
            .growth
            .as_ref()
            .map_or_else(Vec::new, |report| significant_views(report, prefix));
        // A site links to the capture filtered to it, not to the live heap.
        for suspect in verdict.evidence.suspects.iter_mut().chain(&mut suspects) {
            suspect.link = filter_link(prefix, id, &suspect.name);
        }
        let reading = judgement.timeline.last().map(|point| point.memory);
        let rss_breakdown = reading.and_then(|reading| {
            RssBreakdownJson::of_reading(&judgement.verdict, &reading, MappedParts::default(), true)
        });
        Self {
            verdict,
            time_to_limit: judgement.time_to_limit.clone().map(TimeToLimitView::of),
            suspects,
            rss_breakdown,
            routes: judgement
                .routes
                .iter()
                .map(|route| RouteKept {
                    route: route.route.to_string(),
                    live_bytes: route.live_bytes.round() as u64,
                    growth: route.growth.round() as i64,
                    requests: route.requests,
                    kept_per_request: route.kept_per_request().map(|(bytes, _)| bytes),
                })
                .collect(),
            names: opened
                .names
                .iter()
                .map(|(object, how)| NameView {
                    object: object.clone(),
                    how: how.clone(),
                })
                .collect(),
            timeline_points: judgement.timeline.len(),
            heap,
            flamegraph: format!("{}/flamegraph.svg", capture.link),
            pprof: format!("{}/pprof", capture.link),
            chart: memory_chart(&judgement.timeline, &[]),
            capture,
        }
    }

    fn routes_text(route: &RouteKept) -> String {
        format!(
            "{}: {} live, {} over the history, {} requests{}",
            route.route,
            human_bytes(route.live_bytes),
            human_bytes_signed(route.growth),
            route.requests,
            route
                .kept_per_request
                .map_or(String::new(), |bytes| format!(
                    ", {} kept a request",
                    human_bytes_f64(bytes)
                ))
        )
    }
}

impl Page for CapturePage {
    fn text(&self) -> String {
        let capture = &self.capture;
        let mut out = format!(
            "Capture {} of pid {}, taken {} ({}): {}\n{}\n",
            capture.id,
            capture.pid,
            capture.taken_at,
            capture.reason_name(),
            capture.detail,
            capture.memory_text(),
        );
        if !capture.end_text().is_empty() {
            out.push_str(&format!("{}\n", capture.end_text()));
        }
        out.push_str(&format!("\nVerdict: {}\n", self.verdict.summary));
        if let Some(forecast) = &self.time_to_limit {
            out.push_str(&format!("{}\n", forecast.summary));
        }
        for suspect in &self.suspects {
            out.push_str(&format!("Growing: {}\n", suspect.sentence()));
        }
        if let Some(breakdown) = &self.rss_breakdown {
            let mut parts = TextTable::new(&[
                ("where the RSS was", Align::Left),
                ("size", Align::Right),
                ("growth", Align::Right),
            ]);
            for part in &breakdown.parts {
                parts.row(vec![
                    part_words(part.part.part).to_owned(),
                    human_bytes(part.part.bytes),
                    part.growth_text(),
                ]);
            }
            out.push('\n');
            out.push_str(&parts.render());
        }
        if !self.routes.is_empty() {
            out.push_str("\nWhat the routes kept:\n");
            for route in &self.routes {
                out.push_str(&format!("  {}\n", Self::routes_text(route)));
            }
        }
        if let Some(heap) = &self.heap {
            out.push('\n');
            out.push_str(&heap.text());
        }
        out.push('\n');
        for name in &self.names {
            out.push_str(&format!("{}: {}\n", name.object, name.how));
        }
        out.push_str(&format!(
            "flamegraph: {}\npprof:      {} (go tool pprof -http=: heap.pb.gz)\n",
            self.flamegraph, self.pprof
        ));
        out
    }
}

html_form!(CapturePage => "postmortem_capture.html");

/// `GET /memory/postmortem/{id}`, `…/flamegraph.svg`, `…/pprof`.
pub(crate) async fn page(request: &PageRequest<'_>) -> Answer {
    let dir = black_box_dir(request.mount.black_box.as_ref())?.to_owned();
    let (id, file) = request.rest.split_once('/').unwrap_or((request.rest, ""));
    let id = id.to_owned();
    let opened = {
        let (dir, id) = (dir.clone(), id.clone());
        off_executor("black box capture", move || open::open(&dir, &id)).await?
    };
    let opened = opened.map_err(|error| match error {
        OpenError::NotFound => PageError::not_found(format!(
            "no capture `{id}` in the black box: {}/memory/postmortem lists them",
            request.prefix()
        )),
        OpenError::Unreadable(reason) => PageError::new(
            http::StatusCode::UNPROCESSABLE_ENTITY,
            format!("capture {id} cannot be read: {reason}"),
        ),
    })?;
    match file {
        "" => capture_page(request, dir, opened).await,
        "flamegraph.svg" => flamegraph(request, opened).await,
        "pprof" => pprof(request, opened, &id).await,
        other => Err(PageError::not_found(format!(
            "no `{other}` for a capture: there is flamegraph.svg and pprof"
        ))),
    }
}

async fn capture_page(
    request: &PageRequest<'_>,
    dir: std::path::PathBuf,
    opened: Arc<Opened>,
) -> Answer {
    let query = Query::parse(request.raw_query(), &["group", "limit", "filter", "route"])?;
    let spec = heap_table_spec(&query)?;
    let Some(grouping) = spec.grouping else {
        return Err(PageError::bad_request(
            "group=size lists jemalloc's size classes now, which a capture does not keep; \
             group=site, function, crate, stack and route work here",
        ));
    };
    let prefix = request.prefix().to_owned();
    let unwinder = request.layout.profiling.unwinder;
    let page = off_executor("black box capture", move || {
        let heap = opened.snapshot.as_ref().map(|snapshot| {
            let table = HeapTable::of_stacks(snapshot, grouping, &spec);
            let figures = (snapshot.moment.stats, snapshot.moment.rss);
            let mut heap =
                HeapTablePage::of(&table, &spec, &prefix, figures, Some(snapshot), unwinder);
            for row in &mut heap.rows {
                if row.label.link.is_some() {
                    row.label.link =
                        Some(filter_link(&prefix, &opened.summary.id, &row.label.name));
                }
            }
            heap
        });
        let oom_killed = open::oom_killed_for(&dir, &opened.summary.id);
        CapturePage::of(&opened, heap, oom_killed, &prefix)
    })
    .await?;
    Ok(respond(&page, request.format, request.layout))
}

async fn flamegraph(request: &PageRequest<'_>, opened: Arc<Opened>) -> Answer {
    let query = Query::parse(request.raw_query(), &["filter", "frames"])?;
    let filter = query.filter()?;
    let fold = query.folding(&request.mount.frameworks)?.cloned();
    let snapshot = heap_of(&opened)?;
    let drawn = off_executor("black box flamegraph", move || {
        heap_flamegraph(snapshot, filter.as_deref(), fold.as_ref())
    })
    .await??;
    Ok(svg(drawn))
}

async fn pprof(request: &PageRequest<'_>, opened: Arc<Opened>, id: &str) -> Answer {
    Query::parse(request.raw_query(), &[])?;
    let snapshot = heap_of(&opened)?;
    let gzipped = off_executor("black box pprof", move || {
        gzipped(&heap_profile(&snapshot, HeapProfileKind::InUse))
    })
    .await??;
    Ok(download(
        "application/octet-stream",
        Some(&format!("heap-{id}.pb.gz")),
        Bytes::from(gzipped),
    ))
}

/// The capture's heap, or why it has none.
fn heap_of(opened: &Opened) -> Result<Arc<crate::model::heap::HeapSnapshot>, PageError> {
    opened.snapshot.clone().ok_or_else(|| {
        PageError::not_found(
            "this capture has no heap profile: heap profiling was off in the process that took it",
        )
    })
}
