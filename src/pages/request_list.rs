//! `GET /_debug/profiles`: the recent requests, newest first, and totals per
//! route since start, which answer which route goes with memory growth.

use serde::Serialize;

use super::query::{MAX_FILTER_LEN, MAX_LIMIT, Query};
use super::render::capture_summary::CaptureSummary;
use super::render::text::{Align, TextTable};
use super::render::view::{micros, status_text};
use super::render::{Layout, Page, respond};
use super::request::{Answer, PageRequest};
use crate::model::cpu::CPU_CAPTURES;
use crate::record::{RequestRecord, RouteTotals};
use crate::units::{grouped, human_bytes, human_bytes_signed};

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
    /// Since start, one row per route, largest total net first.
    routes: Vec<RouteRow>,
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
    mean_net: i64,
    total_net: i64,
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
        }
    }
}

impl Page for ProfilesPage {
    fn text(&self) -> String {
        let mut out = format!(
            "{} requests measured; the last {} kept.\n\nBy route, since start (largest total net first)\n",
            grouped(self.recorded),
            grouped(self.capacity as u64)
        );
        let mut routes = TextTable::new(&[
            ("route", Align::Left),
            ("requests", Align::Right),
            ("mean wall", Align::Right),
            ("mean cpu", Align::Right),
            ("mean allocated", Align::Right),
            ("mean net", Align::Right),
            ("total net", Align::Right),
        ]);
        for route in &self.routes {
            routes.row(vec![
                route.route.clone(),
                grouped(route.requests),
                micros(&route.mean_wall_us),
                micros(&route.mean_busy_us),
                human_bytes(route.mean_allocated),
                human_bytes_signed(route.mean_net),
                human_bytes_signed(route.total_net),
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
        out.push_str(
            "\ncpu is the time spent inside the request's polls; allocated and freed are counted on \
             the threads that polled it (work on other tasks or spawn_blocking is not included).\n",
        );
        out
    }

    fn html(&self, layout: &Layout) -> askama::Result<String> {
        askama::Template::render(&ProfilesTemplate {
            layout,
            page: self,
            sorts: SORTS,
        })
    }
}

#[derive(askama::Template)]
#[template(path = "profiles.html")]
struct ProfilesTemplate<'a> {
    layout: &'a Layout,
    page: &'a ProfilesPage,
    sorts: &'static [&'static str],
}

pub(super) fn page(request: &PageRequest<'_>) -> Answer {
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
    let mut routes: Vec<RouteRow> = log
        .routes()
        .into_iter()
        .filter(|(route, _)| matches(route))
        .map(|(route, totals)| RouteRow::of(route, &totals))
        .collect();
    routes.sort_by(|a, b| {
        b.total_net
            .cmp(&a.total_net)
            .then_with(|| a.route.cmp(&b.route))
    });
    let page = ProfilesPage {
        sort,
        filter,
        capacity: log.capacity(),
        recorded: log.count(),
        records,
        records_omitted,
        routes,
        captures: CPU_CAPTURES
            .kept()
            .iter()
            .map(|capture| CaptureSummary::of(capture, prefix))
            .collect(),
    };
    Ok(respond(&page, request.format, request.layout))
}
