//! `GET /_debug/memory/growth`: the sites that grew steadily across the
//! heap history, ranked, each with the route that goes with its growth; no
//! baseline needed. `window=` (`10m`, `1h`, seconds) keeps the newest
//! snapshots only.

use std::time::Duration;

use serde::Serialize;

use super::dispatch::{Answer, PageRequest, Pending};
use super::heapdump::{MAX_FILTER_LEN, MAX_LIMIT};
use super::query::Query;
use super::render::chart::duration_text;
use super::render::text::{Align, TextTable};
use super::render::{Layout, Page, respond};
use crate::model::growth::{GrowthReport, GrowthSpec, RouteMatch, Suspect, over_history};
use crate::model::{history, off_executor};
use crate::units::{grouped, human_bytes, human_bytes_f64, human_bytes_signed_with_error};

const DEFAULT_LIMIT: u64 = 20;
/// The longest `window=`: a day, more than any history keeps by default.
const MAX_WINDOW: Duration = Duration::from_secs(86_400);

#[derive(Serialize)]
struct GrowthPage {
    /// How the history is kept; `null` where every layer switched it off.
    history: Option<HistoryView>,
    /// The `window=` asked for, in seconds; `null` for the whole history.
    window_seconds: Option<u64>,
    filter: Option<String>,
    /// Snapshots in the window.
    snapshots: usize,
    /// From the window's first snapshot to its last.
    minutes: f64,
    /// Significant first, each group by rate.
    suspects: Vec<SuspectView>,
    suspects_omitted: usize,
    /// Why there is nothing to rank yet, where there is not.
    waiting: Option<String>,
}

#[derive(Serialize)]
struct HistoryView {
    interval_seconds: f64,
    /// Snapshots kept at most.
    capacity: usize,
    /// Snapshots stored now.
    stored: usize,
    /// What the stored snapshots take in memory (an estimate from their
    /// stacks and addresses): memscope's own.
    bytes: u64,
    /// What taking the newest snapshot took, in milliseconds.
    last_took_ms: Option<f64>,
}

/// One site that grew, as the pages show it.
#[derive(Serialize)]
pub(crate) struct SuspectView {
    pub(crate) id: String,
    pub(crate) name: String,
    /// `file:line` of the site.
    pub(crate) location: String,
    pub(crate) link: String,
    /// In the newest snapshot.
    pub(crate) bytes: u64,
    /// From the window's first snapshot to its last.
    pub(crate) growth: i64,
    /// Three standard errors of `growth` that sampling leaves.
    pub(crate) growth_error: u64,
    pub(crate) bytes_per_minute: f64,
    /// Three standard errors of the slope; 0 with two snapshots.
    pub(crate) bytes_per_minute_error: f64,
    /// The share of intervals in which it grew, from 0 to 1.
    pub(crate) steadiness: f64,
    pub(crate) significant: bool,
    pub(crate) route: Option<RouteView>,
    #[serde(skip)]
    pub(crate) minutes: f64,
}

#[derive(Serialize)]
pub(crate) struct RouteView {
    route: String,
    /// The route's requests in the window.
    requests: u64,
    /// The site's growth a request of the route, from the fit.
    bytes_per_request: f64,
    /// What the route's requests kept on average (allocated minus freed on
    /// the threads that served them), from the request log.
    mean_net_bytes: f64,
    /// How well the route's requests explain the growth, from 0 to 1.
    fit: f64,
}

impl SuspectView {
    fn of(suspect: &Suspect, minutes: f64, prefix: &str) -> Self {
        let id = suspect.id.to_string();
        Self {
            link: format!("{prefix}/heapdump/{id}"),
            id,
            name: suspect.name.clone(),
            location: suspect.location.clone(),
            bytes: suspect.bytes.max(0.0).round() as u64,
            growth: suspect.growth.round() as i64,
            growth_error: suspect.growth_error.round() as u64,
            bytes_per_minute: suspect.bytes_per_minute,
            bytes_per_minute_error: suspect.bytes_per_minute_error,
            steadiness: suspect.steadiness,
            significant: suspect.significant,
            route: suspect.route.as_ref().map(RouteView::of),
            minutes,
        }
    }

    /// `+58.0 KiB/min`.
    pub(crate) fn rate(&self) -> String {
        format!("+{}/min", human_bytes_f64(self.bytes_per_minute.max(0.0)))
    }

    pub(crate) fn growth_text(&self) -> String {
        human_bytes_signed_with_error(self.growth as f64, self.growth_error as f64)
    }

    pub(crate) fn verdict(&self) -> &'static str {
        if self.significant {
            "significant"
        } else {
            "within noise"
        }
    }

    /// `about 966 B per /json request`, where a route goes with it.
    pub(crate) fn route_text(&self) -> String {
        self.route.as_ref().map_or_else(String::new, |route| {
            format!(
                "about {} per {} request",
                human_bytes_f64(route.bytes_per_request),
                route.route
            )
        })
    }

    /// `leaky_cache::cache::store_response grew +58.0 KiB/min for 10 min,
    /// about 966 B per /json request`: what the overview leads with.
    pub(crate) fn sentence(&self) -> String {
        let route = self.route_text();
        format!(
            "{} grew {} for {}{}{route}",
            self.name,
            self.rate(),
            self.span(),
            if route.is_empty() { "" } else { ", " }
        )
    }

    /// How long it was watched growing: `10 min`.
    pub(crate) fn span(&self) -> String {
        duration_text((self.minutes * 60.0).round() as u64)
    }
}

impl RouteView {
    fn of(route: &RouteMatch) -> Self {
        Self {
            route: route.route.clone(),
            requests: route.requests,
            bytes_per_request: route.bytes_per_request,
            mean_net_bytes: route.mean_net,
            fit: route.fit,
        }
    }
}

/// The significant suspects over the whole history, at most `limit`, for
/// the overview: empty where there is no history or nothing grew.
pub(crate) async fn leading_suspects(prefix: &str, limit: usize) -> Vec<SuspectView> {
    if history::settings().is_none() {
        return Vec::new();
    }
    let spec = GrowthSpec {
        filter: None,
        limit,
    };
    let Ok(report) = off_executor("growth", move || over_history(None, &spec)).await else {
        return Vec::new();
    };
    report
        .suspects
        .iter()
        .filter(|suspect| suspect.significant)
        .map(|suspect| SuspectView::of(suspect, report.minutes, prefix))
        .collect()
}

impl GrowthPage {
    fn of(
        report: &GrowthReport,
        window: Option<Duration>,
        filter: Option<String>,
        prefix: &str,
    ) -> Self {
        let settings = history::settings();
        let points = history::points();
        let waiting = match settings {
            None => Some(
                "No heap history is kept: every layer was built with without_heap_history()."
                    .to_owned(),
            ),
            Some((interval, _)) if report.snapshots < 2 => Some(format!(
                "The history holds {} snapshot{} in this window; growth needs two. One is taken every {}.",
                report.snapshots,
                if report.snapshots == 1 { "" } else { "s" },
                duration_text(interval.as_secs().max(1))
            )),
            Some(_) => None,
        };
        Self {
            history: settings.map(|(interval, capacity)| HistoryView {
                interval_seconds: interval.as_secs_f64(),
                capacity,
                stored: points.len(),
                bytes: history::footprint(),
                last_took_ms: points.last().map(|point| point.took.as_secs_f64() * 1000.0),
            }),
            window_seconds: window.map(|window| window.as_secs()),
            filter,
            snapshots: report.snapshots,
            minutes: report.minutes,
            suspects: report
                .suspects
                .iter()
                .map(|suspect| SuspectView::of(suspect, report.minutes, prefix))
                .collect(),
            suspects_omitted: report.omitted,
            waiting,
        }
    }

    fn heading(&self) -> String {
        if let Some(waiting) = &self.waiting {
            return waiting.clone();
        }
        let significant = self.suspects.iter().filter(|s| s.significant).count();
        format!(
            "{} snapshots over {}: {} site{} grew by more than sampling explains.",
            self.snapshots,
            duration_text((self.minutes * 60.0).round() as u64),
            significant,
            if significant == 1 { "" } else { "s" }
        )
    }
}

impl Page for GrowthPage {
    fn text(&self) -> String {
        let mut out = format!("{}\n\n", self.heading());
        let mut table = TextTable::new(&[
            ("site", Align::Left),
            ("size now", Align::Right),
            ("growth", Align::Right),
            ("rate", Align::Right),
            ("steady", Align::Right),
            ("verdict", Align::Left),
            ("route", Align::Left),
            ("file:line", Align::Left),
        ]);
        for suspect in &self.suspects {
            table.row(vec![
                suspect.name.clone(),
                human_bytes(suspect.bytes),
                suspect.growth_text(),
                suspect.rate(),
                format!("{:.0} %", suspect.steadiness * 100.0),
                suspect.verdict().to_owned(),
                suspect.route.as_ref().map_or_else(String::new, |route| {
                    format!(
                        "{} ({} B/request over {} requests)",
                        route.route,
                        grouped(route.bytes_per_request.round().max(0.0) as u64),
                        grouped(route.requests)
                    )
                }),
                suspect.location.clone(),
            ]);
        }
        table.omitted_rows(self.suspects_omitted);
        if !self.suspects.is_empty() {
            out.push_str(&table.render());
        }
        out
    }

    fn html(&self, layout: &Layout) -> askama::Result<String> {
        askama::Template::render(&GrowthTemplate { layout, page: self })
    }
}

#[derive(askama::Template)]
#[template(path = "growth.html")]
struct GrowthTemplate<'a> {
    layout: &'a Layout,
    page: &'a GrowthPage,
}

pub(super) fn answer<'a>(request: &'a PageRequest<'a>) -> Pending<'a> {
    Box::pin(page(request))
}

async fn page(request: &PageRequest<'_>) -> Answer {
    let query = Query::parse(request.raw_query(), &["window", "limit", "filter"])?;
    let window = query.duration("window", MAX_WINDOW)?;
    let filter = query
        .text("filter", MAX_FILTER_LEN)?
        .map(|filter| filter.to_lowercase());
    let limit = query
        .number("limit", 1..=MAX_LIMIT)?
        .unwrap_or(DEFAULT_LIMIT) as usize;
    let spec = GrowthSpec {
        filter: filter.clone(),
        limit,
    };
    let report = off_executor("growth", move || over_history(window, &spec)).await?;
    let page = GrowthPage::of(&report, window, filter, request.prefix());
    Ok(respond(&page, request.format, request.layout))
}
