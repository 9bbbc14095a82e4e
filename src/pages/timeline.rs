//! `GET /_debug/timeline`: memory over time, as a chart and as points.

use serde::Serialize;

use crate::model::over_time::timeline::{self, TimelinePoint};
use crate::pages::kit::chart::{chart_marks, memory_chart};
use crate::pages::kit::text::{Align, TextTable};
use crate::pages::kit::{Answer, Page, PageRequest, Query, html_form, respond};
use crate::units::{grouped, human_bytes};

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

impl TimelinePage {
    /// The newest points, newest first, for the page's table.
    fn newest(&self) -> Vec<&TimelinePoint> {
        self.points.iter().rev().take(60).collect()
    }
}

impl Page for TimelinePage {
    fn text(&self) -> String {
        let mut table = TextTable::new(&[
            ("unix ms", Align::Right),
            ("allocated", Align::Right),
            ("resident", Align::Right),
            ("rss", Align::Right),
            ("requests", Align::Right),
            ("threads", Align::Right),
            ("tasks", Align::Right),
        ]);
        for point in &self.points {
            table.row(vec![
                point.unix_ms.to_string(),
                human_bytes(point.allocated),
                human_bytes(point.resident),
                point.rss.map_or("unknown".to_owned(), human_bytes),
                grouped(point.requests),
                grouped(point.memory.threads.into()),
                point.memory.tasks.map_or_else(String::new, grouped),
            ]);
        }
        format!(
            "One point every {} ms, the last {} kept.\n\n{}",
            self.interval_ms,
            self.capacity,
            table.render()
        )
    }
}

html_form!(TimelinePage => "timeline.html");

pub(super) fn page(request: &PageRequest<'_>) -> Answer {
    let query = Query::parse(request.raw_query(), &["limit"])?;
    let (interval, capacity) = timeline::settings();
    let limit = query.number("limit", 1..=capacity as u64)?;
    let mut points = timeline::points();
    if let Some(limit) = limit {
        points.drain(..points.len().saturating_sub(limit as usize));
    }
    let page = TimelinePage {
        interval_ms: interval.as_millis() as u64,
        capacity,
        chart: memory_chart(&points, &chart_marks(request.mount)),
        points,
    };
    Ok(respond(&page, request.format, request.layout))
}
