//! Sites that grew across the heap history, as the growth page and the
//! overview show them.

use serde::Serialize;

use crate::model::over_time::growth::{GrowthReport, RouteMatch, Suspect};
use crate::units::duration_text;
use crate::units::{human_bytes_f64, human_bytes_signed_with_error};

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
    pub(crate) route: String,
    /// The route's requests in the window.
    pub(crate) requests: u64,
    /// The site's growth a request of the route, from the fit.
    pub(crate) bytes_per_request: f64,
    /// What the route's requests kept on average (allocated minus freed on
    /// the threads that served them), from the request log.
    pub(crate) mean_net_bytes: f64,
    /// How well the route's requests explain the growth, from 0 to 1.
    pub(crate) fit: f64,
    /// `tags` where the route is the one whose requests' samples hold most
    /// of the growth; `request_fit` where it was fitted to the routes'
    /// request counts (samples without tags).
    pub(crate) evidence: &'static str,
}

impl SuspectView {
    pub(crate) fn of(suspect: &Suspect, minutes: f64, prefix: &str) -> Self {
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
            evidence: if route.from_tags {
                "tags"
            } else {
                "request_fit"
            },
        }
    }
}

/// The significant suspects of `report`, as the pages show them.
pub(crate) fn significant_views(report: &GrowthReport, prefix: &str) -> Vec<SuspectView> {
    report
        .suspects
        .iter()
        .filter(|suspect| suspect.significant)
        .map(|suspect| SuspectView::of(suspect, report.minutes, prefix))
        .collect()
}
