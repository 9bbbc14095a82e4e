//! `GET /_debug/memory/growth`: the sites that grew steadily across the
//! heap history, ranked, each with the route that goes with its growth; no
//! baseline needed. `window=` (`10m`, `1h`, seconds) keeps the newest
//! snapshots only.

use std::time::Duration;

use serde::Serialize;

use crate::model::over_time::growth::{GrowthReport, GrowthSpec};
use crate::model::over_time::history;
use crate::model::over_time::read::growth_with_routes;
use crate::model::over_time::route_heap::RouteHeap;
use crate::pages::kit::suspects::SuspectView;
use crate::pages::kit::text::{Align, TextTable};
use crate::pages::kit::view::signed_with_error_or_empty;
use crate::pages::kit::{Answer, MAX_LIMIT, Page, PageRequest, Query, html_form, respond};
use crate::units::duration_text;
use crate::units::{grouped, human_bytes, human_bytes_signed_with_error};

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
    /// What each route's (and scope's) live heap did over the window, from
    /// the samples taken while its requests were polled: the most growth
    /// first. Empty without route tags.
    routes: Vec<RouteGrowthView>,
}

/// One route's live heap over the window.
#[derive(Serialize)]
struct RouteGrowthView {
    route: String,
    /// At the window's last snapshot.
    live_bytes: u64,
    /// From the window's first snapshot to its last, with three standard
    /// errors.
    growth: i64,
    growth_error: u64,
    /// The route's requests in the window, and the growth per request.
    requests: u64,
    kept_per_request: Option<f64>,
    kept_per_request_error: Option<f64>,
}

impl RouteGrowthView {
    fn of(heap: &RouteHeap) -> Self {
        let kept = heap.kept_per_request();
        Self {
            route: heap.route.to_string(),
            live_bytes: heap.live_bytes.max(0.0).round() as u64,
            growth: heap.growth.round() as i64,
            growth_error: heap.growth_error.round() as u64,
            requests: heap.requests,
            kept_per_request: kept.map(|(kept, _)| kept),
            kept_per_request_error: kept.map(|(_, error)| error),
        }
    }

    fn growth_text(&self) -> String {
        human_bytes_signed_with_error(self.growth as f64, self.growth_error as f64)
    }

    fn kept_text(&self) -> String {
        signed_with_error_or_empty(self.kept_per_request.zip(self.kept_per_request_error))
    }
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
    /// How long ago the newest snapshot was taken: the figures are as of
    /// then.
    newest_age_seconds: Option<f64>,
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
                newest_age_seconds: history::newest_age().map(|age| age.as_secs_f64()),
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
            routes: Vec::new(),
        }
    }

    fn heading(&self) -> String {
        if let Some(waiting) = &self.waiting {
            return waiting.clone();
        }
        let significant = self.suspects.iter().filter(|s| s.significant).count();
        let newest = self
            .history
            .as_ref()
            .and_then(|history| history.newest_age_seconds)
            .map_or_else(String::new, |age| {
                format!(" (the newest {} old)", duration_text(age.round() as u64))
            });
        format!(
            "{} snapshots over {}{newest}: {} site{} grew by more than sampling explains.",
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
        if !self.routes.is_empty() {
            let mut routes = TextTable::new(&[
                ("route", Align::Left),
                ("size now", Align::Right),
                ("growth", Align::Right),
                ("requests", Align::Right),
                ("kept a request", Align::Right),
            ]);
            for route in &self.routes {
                routes.row(vec![
                    route.route.clone(),
                    human_bytes(route.live_bytes),
                    route.growth_text(),
                    grouped(route.requests),
                    route.kept_text(),
                ]);
            }
            out.push_str("\nBy route, from the samples taken in each route's requests\n");
            out.push_str(&routes.render());
        }
        out
    }
}

html_form!(GrowthPage => "growth.html");

pub(crate) async fn page(request: &PageRequest<'_>) -> Answer {
    let query = Query::parse(request.raw_query(), &["window", "limit", "filter"])?;
    let window = query.duration("window", MAX_WINDOW)?;
    let filter = query.filter()?;
    let limit = query
        .number("limit", 1..=MAX_LIMIT)?
        .unwrap_or(DEFAULT_LIMIT) as usize;
    let spec = GrowthSpec {
        filter: filter.clone(),
        limit,
    };
    let tagged = request.layout.profiling.tags_routes();
    let (report, routes) = growth_with_routes(window, spec, tagged).await?;
    let mut page = GrowthPage::of(&report, window, filter, request.prefix());
    if report.snapshots >= 2 {
        page.routes = routes.iter().map(RouteGrowthView::of).collect();
    }
    Ok(respond(&page, request.format, request.layout))
}
