//! `GET /_debug/timeline`: memory over time, as a chart and as points.

use bytes::Bytes;
use http::Response;
use serde::Serialize;

use super::chart::memory_chart;
use crate::error::PageError;
use crate::query::Query;
use crate::render::{Chrome, Page, respond};
use crate::routes::PageRequest;
use crate::text::{Align, TextTable, grouped, human_bytes};
use crate::timeline::TimelinePoint;

#[derive(Serialize)]
struct TimelinePage {
    interval_ms: u64,
    /// Points kept at most.
    capacity: usize,
    /// Oldest first.
    points: Vec<TimelinePoint>,
    #[serde(skip)]
    chart: Option<String>,
}

impl Page for TimelinePage {
    fn text(&self) -> String {
        let mut table = TextTable::new(&[
            ("unix ms", Align::Right),
            ("allocated", Align::Right),
            ("resident", Align::Right),
            ("rss", Align::Right),
            ("requests", Align::Right),
        ]);
        for point in &self.points {
            table.row(vec![
                point.unix_ms.to_string(),
                human_bytes(point.allocated),
                human_bytes(point.resident),
                point.rss.map_or("unknown".to_owned(), human_bytes),
                grouped(point.requests),
            ]);
        }
        format!(
            "One point every {} ms, the last {} kept.\n\n{}",
            self.interval_ms,
            self.capacity,
            table.render()
        )
    }

    fn html(&self, chrome: &Chrome) -> askama::Result<String> {
        askama::Template::render(&TimelineTemplate {
            chrome,
            page: self,
            newest: self.points.iter().rev().take(60).collect(),
        })
    }
}

#[derive(askama::Template)]
#[template(path = "timeline.html")]
struct TimelineTemplate<'a> {
    chrome: &'a Chrome,
    page: &'a TimelinePage,
    newest: Vec<&'a TimelinePoint>,
}

pub(crate) fn page(request: &PageRequest<'_>) -> Result<Response<Bytes>, PageError> {
    let query = Query::parse(request.raw_query(), &["limit"])?;
    let timeline = &request.shared.timeline;
    let limit = query.number("limit", 1..=timeline.capacity() as u64)?;
    let mut points = timeline.points();
    if let Some(limit) = limit {
        points.drain(..points.len().saturating_sub(limit as usize));
    }
    let page = TimelinePage {
        interval_ms: timeline.interval.as_millis() as u64,
        capacity: timeline.capacity(),
        chart: memory_chart(&points),
        points,
    };
    Ok(respond(&page, request.format, request.chrome))
}
