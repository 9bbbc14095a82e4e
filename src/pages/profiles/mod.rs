//! `GET /_debug/profiles`: the recent requests, newest first, and totals per
//! route since start, which answer which route goes with memory growth;
//! one request (`request`: `/profiles/{id}`) and the CPU captures (`cpu`:
//! `POST /profiles/cpu`, `/profiles/cpu/{id}`).

pub(crate) mod cpu;
pub(crate) mod request;

use serde::Serialize;

use crate::model::cpu::CPU_CAPTURES;
use crate::model::heap::table::Z_INTERVAL;
use crate::model::over_time::read::route_heaps_now;
use crate::model::over_time::route_heap::RouteHeap;
use crate::pages::kit::capture_summary::CaptureSummary;
use crate::pages::kit::text::{Align, TextTable};
use crate::pages::kit::view::{micros, signed_with_error_or_empty, status_text};
use crate::pages::kit::{
    Answer, MAX_FILTER_LEN, MAX_LIMIT, Page, PageRequest, Query, html_form, respond,
};
use crate::record::{RequestRecord, RouteTotals};
use crate::units::{duration_text, grouped, human_bytes, human_bytes_signed};

/// `cpu` is the name `busy` first had, kept for the links that use it.
const SORTS: &[&str] = &["time", "wall", "busy", "cpu", "allocated", "net"];
const DEFAULT_LIMIT: u64 = 100;

#[derive(Serialize)]
struct ProfilesPage {
    sort: &'static str,
    filter: Option<String>,
    /// Requests the ring holds at most.
    capacity: usize,
    /// Requests measured since start.
    recorded: u64,
    records: Vec<RecordRow>,
    /// Matching records past `limit`.
    records_omitted: usize,
    /// One row per route: its totals since start, and what it keeps from
    /// the heap history's tagged samples; the most kept over the window
    /// first where the tags say, else the largest total net first.
    routes: Vec<RouteRow>,
    /// The heap history's window the `kept` figures cover, in seconds;
    /// `null` where they cannot be had (fewer than two snapshots, or no
    /// route tags).
    kept_window_seconds: Option<f64>,
    /// CPU profiles captured with `POST /profiles/cpu`, newest first.
    captures: Vec<CaptureSummary>,
}

#[derive(Serialize)]
pub(crate) struct RecordRow {
    #[serde(flatten)]
    pub(crate) record: RequestRecord,
    pub(crate) link: String,
}

#[derive(Serialize)]
struct RouteRow {
    route: String,
    requests: u64,
    mean_wall_us: u64,
    /// Busy time a request, as `busy_us` of a request.
    mean_busy_us: u64,
    /// The same figure as `mean_busy_us`, under the name it first had.
    mean_cpu_us: u64,
    mean_allocated: u64,
    /// What the request's own polls allocated less what they freed: frees
    /// of memory allocated before (the request's head and body buffers,
    /// the connection's) count against it, so it reads low, often below
    /// zero, on kept-alive connections. The `kept` figures say what stays.
    mean_net: i64,
    total_net: i64,
    /// The route's live heap at the heap history's newest snapshot, from
    /// the samples taken while its requests were polled, with three
    /// standard errors.
    live_bytes: Option<u64>,
    live_bytes_error: Option<u64>,
    /// What the route's live heap grew over the history's window, and that
    /// growth per request of the route in the window: what a request
    /// keeps. Each with three standard errors.
    kept_bytes: Option<i64>,
    kept_bytes_error: Option<u64>,
    kept_per_request: Option<f64>,
    kept_per_request_error: Option<f64>,
    /// The route's requests in the history's window, which `kept a
    /// request` divides by.
    window_requests: Option<u64>,
}

impl RouteRow {
    fn of(route: String, totals: &RouteTotals) -> Self {
        let requests = totals.requests.max(1);
        Self {
            route,
            requests: totals.requests,
            mean_wall_us: totals.wall_us / requests,
            mean_busy_us: totals.busy_us / requests,
            mean_cpu_us: totals.busy_us / requests,
            mean_allocated: totals.allocated / requests,
            mean_net: totals.net / requests as i64,
            total_net: totals.net,
            live_bytes: None,
            live_bytes_error: None,
            kept_bytes: None,
            kept_bytes_error: None,
            kept_per_request: None,
            kept_per_request_error: None,
            window_requests: None,
        }
    }

    /// With what the tags say the route keeps.
    fn with_heap(mut self, heap: &RouteHeap) -> Self {
        self.live_bytes = Some(heap.live_bytes.max(0.0).round() as u64);
        self.live_bytes_error = Some((Z_INTERVAL * heap.live_variance.sqrt()).round() as u64);
        self.kept_bytes = Some(heap.growth.round() as i64);
        self.kept_bytes_error = Some(heap.growth_error.round() as u64);
        self.window_requests = Some(heap.requests);
        if let Some((kept, error)) = heap.kept_per_request() {
            self.kept_per_request = Some(kept);
            self.kept_per_request_error = Some(error);
        }
        self
    }

    /// `+2.00 KiB ± 0.12`, or nothing without tags.
    fn kept_per_request_text(&self) -> String {
        signed_with_error_or_empty(self.kept_per_request.zip(self.kept_per_request_error))
    }

    fn kept_text(&self) -> String {
        signed_with_error_or_empty(
            self.kept_bytes
                .zip(self.kept_bytes_error)
                .map(|(kept, error)| (kept as f64, error as f64)),
        )
    }
}

impl Page for ProfilesPage {
    fn text(&self) -> String {
        let mut out = format!(
            "{} requests measured; the last {} kept.\n\nBy route: {}\n",
            grouped(self.recorded),
            grouped(self.capacity as u64),
            self.routes_heading()
        );
        let mut routes = TextTable::new(&[
            ("route", Align::Left),
            ("requests", Align::Right),
            ("mean wall", Align::Right),
            ("mean cpu", Align::Right),
            ("mean allocated", Align::Right),
            ("mean net", Align::Right),
            ("kept", Align::Right),
            ("kept a request", Align::Right),
        ]);
        for route in &self.routes {
            routes.row(vec![
                route.route.clone(),
                grouped(route.requests),
                micros(&route.mean_wall_us),
                micros(&route.mean_busy_us),
                human_bytes(route.mean_allocated),
                human_bytes_signed(route.mean_net),
                route.kept_text(),
                route.kept_per_request_text(),
            ]);
        }
        out.push_str(&routes.render());
        out.push_str(&format!("\nRecent requests, by {}\n", self.sort));
        let mut records = TextTable::new(&[
            ("id", Align::Right),
            ("method", Align::Left),
            ("path", Align::Left),
            ("status", Align::Right),
            ("wall", Align::Right),
            ("busy", Align::Right),
            ("allocated", Align::Right),
            ("freed", Align::Right),
            ("net", Align::Right),
        ]);
        for row in &self.records {
            let record = &row.record;
            records.row(vec![
                record.id.to_string(),
                record.method.to_string(),
                record.path.to_string(),
                status_text(&record.status),
                micros(&record.wall_us),
                micros(&record.busy_us),
                human_bytes(record.allocated),
                human_bytes(record.freed),
                human_bytes_signed(record.net),
            ]);
        }
        out.push_str(&records.render());
        if self.records_omitted > 0 {
            out.push_str(&format!("({} more: raise limit=)\n", self.records_omitted));
        }
        if !self.captures.is_empty() {
            out.push_str("\nCPU profiles\n");
            for capture in &self.captures {
                out.push_str(&format!("{}  {}\n", capture.link, capture.summary()));
            }
        }
        out.push_str(&format!("\n{}\n", NOTE));
        out
    }
}

/// What the columns are.
const NOTE: &str = "busy (cpu) is the time spent inside the request's polls; allocated and freed \
    are counted on the threads that polled it (work on other tasks or spawn_blocking is not \
    included), and net is their difference: frees of memory allocated before the polls (the \
    request's head and body, the connection's buffers) count against it, so it reads low on \
    kept-alive connections. kept is measured instead: the growth of the live heap sampled while \
    the route's requests (and the tasks they hand work to with memscope::tagged) were polled, \
    over the heap history's window, with three standard errors; kept a request divides it by \
    the route's requests in the window.";

impl ProfilesPage {
    /// Every `sort=` value, for the page's form.
    fn sorts(&self) -> &'static [&'static str] {
        SORTS
    }

    /// `most kept over the last 10 min first (from tagged heap samples)`.
    fn routes_heading(&self) -> String {
        match self.kept_window_seconds {
            Some(seconds) => format!(
                "most kept over the last {} first (kept from tagged heap samples)",
                duration_text(seconds.round() as u64)
            ),
            None => {
                "since start, largest total net first (kept needs route tags, which memscope's \
                     walker records, and a heap history of two snapshots)"
                    .to_owned()
            }
        }
    }

    fn note(&self) -> &'static str {
        NOTE
    }
}

html_form!(ProfilesPage => "profiles.html");

pub(super) async fn page(request: &PageRequest<'_>) -> Answer {
    let query = Query::parse(request.raw_query(), &["sort", "filter", "limit"])?;
    let sort = query.choice("sort", SORTS)?.unwrap_or("time");
    let filter = query
        .text("filter", MAX_FILTER_LEN)?
        .map(|filter| filter.to_lowercase());
    let limit = query
        .number("limit", 1..=MAX_LIMIT)?
        .unwrap_or(DEFAULT_LIMIT) as usize;
    let log = &request.mount.requests;
    let prefix = request.prefix();
    let matches = |path: &str| {
        filter
            .as_deref()
            .is_none_or(|f| path.to_lowercase().contains(f))
    };

    let mut records: Vec<RequestRecord> = log
        .records()
        .into_iter()
        .filter(|r| matches(&r.path))
        .collect();
    match sort {
        "wall" => records.sort_by_key(|r| std::cmp::Reverse(r.wall_us)),
        "busy" | "cpu" => records.sort_by_key(|r| std::cmp::Reverse(r.busy_us)),
        "allocated" => records.sort_by_key(|r| std::cmp::Reverse(r.allocated)),
        "net" => records.sort_by_key(|r| std::cmp::Reverse(r.net)),
        _ => records.reverse(),
    }
    let records_omitted = records.len().saturating_sub(limit);
    let records = records
        .into_iter()
        .take(limit)
        .map(|record| RecordRow {
            link: format!("{prefix}/profiles/{}", record.id),
            record,
        })
        .collect();
    let (heaps, kept_window_seconds) =
        route_heaps_now(request.layout.profiling.tags_routes()).await;
    let mut routes: Vec<RouteRow> = log
        .routes()
        .into_iter()
        .filter(|(route, _)| matches(route))
        .map(|(route, totals)| {
            let row = RouteRow::of(route, &totals);
            match heaps.iter().find(|heap| *heap.route == *row.route) {
                Some(heap) => row.with_heap(heap),
                None => row,
            }
        })
        .collect();
    if kept_window_seconds.is_some() {
        routes.sort_by(|a, b| {
            b.kept_bytes
                .cmp(&a.kept_bytes)
                .then_with(|| a.route.cmp(&b.route))
        });
    } else {
        routes.sort_by(|a, b| {
            b.total_net
                .cmp(&a.total_net)
                .then_with(|| a.route.cmp(&b.route))
        });
    }
    let page = ProfilesPage {
        sort,
        filter,
        capacity: log.capacity(),
        recorded: log.count(),
        records,
        records_omitted,
        routes,
        kept_window_seconds,
        captures: CPU_CAPTURES
            .kept()
            .iter()
            .map(|capture| CaptureSummary::of(capture, prefix))
            .collect(),
    };
    Ok(respond(&page, request.format, request.layout))
}
