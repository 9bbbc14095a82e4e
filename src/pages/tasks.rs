//! `GET /_debug/tasks`: the async runtime's live tasks, and where they
//! were spawned: each task's cell is one allocation made inside `spawn`,
//! so the heap samples count the tasks by the first frame outside the
//! runtime, with the route they were spawned under and how the count grew
//! across the heap history. Tasks that never end show as a spawn site
//! whose count only grows.

use serde::Serialize;

use crate::model::ModelErrorKind;
use crate::model::heap::tasks::{TaskSite, task_sites};
use crate::model::heap::with_snapshot;
use crate::model::over_time::read::tasks_over_history;
use crate::model::over_time::reading::alive_tasks;
use crate::model::over_time::tasks::TaskGrowth;
use crate::pages::kit::text::{Align, TextTable};
use crate::pages::kit::{Answer, MAX_LIMIT, Page, PageRequest, Query, html_form, respond};
use crate::units::{grouped, human_bytes_f64};

const DEFAULT_LIMIT: u64 = 50;

#[derive(Serialize)]
struct TasksPage {
    /// The runtime's live tasks (`RuntimeMetrics::num_alive_tasks`): every
    /// task spawned and not yet ended; `null` where no layer was built or
    /// served a page on a tokio runtime.
    alive: Option<u64>,
    /// Live tasks by spawn site, most first; `null` where there are no heap
    /// samples (`sites_unavailable` says why).
    sites: Option<Vec<TaskSiteView>>,
    sites_omitted: usize,
    sites_unavailable: Option<String>,
    /// The heap history the growth is over, in minutes; `null` without a
    /// history of two snapshots.
    history_minutes: Option<f64>,
}

#[derive(Serialize)]
struct TaskSiteView {
    /// The function that spawned the tasks, and the line it did it at.
    name: String,
    location: String,
    /// Estimated live tasks, and three standard errors of the estimate.
    tasks: f64,
    tasks_error: f64,
    /// Estimated bytes of their cells: each task's future, inline.
    bytes: f64,
    /// Their change in count across the heap history, and its rate; `null`
    /// without a history.
    growth: Option<f64>,
    tasks_per_minute: Option<f64>,
    /// Whether the count grows beyond its error, in most intervals: tasks
    /// that are spawned and never end.
    piles_up: bool,
    /// The route (or scope) most of them were spawned under; `null` where
    /// most were spawned outside any request.
    route: Option<String>,
}

impl TaskSiteView {
    fn of(site: TaskSite, grown: Option<&TaskGrowth>) -> Self {
        Self {
            growth: grown.map(|grown| grown.growth),
            tasks_per_minute: grown.map(|grown| grown.tasks_per_minute),
            piles_up: grown.is_some_and(|grown| grown.piles_up),
            route: site.route.map(|route| route.to_string()),
            name: site.name,
            location: site.location,
            tasks: site.tasks,
            tasks_error: site.tasks_error,
            bytes: site.bytes,
        }
    }

    /// `2,000 ± 54`.
    fn tasks_text(&self) -> String {
        format!(
            "{} ± {}",
            grouped(self.tasks.round() as u64),
            grouped(self.tasks_error.round() as u64)
        )
    }

    /// `+1,980 (+2,000/min)`, or nothing without a history.
    fn growth_text(&self) -> String {
        match (self.growth, self.tasks_per_minute) {
            (Some(growth), Some(rate)) => format!(
                "{}{} ({}{}/min)",
                if growth < 0.0 { "-" } else { "+" },
                grouped(growth.abs().round() as u64),
                if rate < 0.0 { "-" } else { "+" },
                grouped(rate.abs().round() as u64)
            ),
            _ => String::new(),
        }
    }

    fn bytes_text(&self) -> String {
        human_bytes_f64(self.bytes)
    }

    fn route_text(&self) -> &str {
        self.route.as_deref().unwrap_or("")
    }
}

impl TasksPage {
    fn alive_text(&self) -> String {
        match self.alive {
            Some(alive) => format!("{} live tasks in the runtime.", grouped(alive)),
            None => "The runtime's live tasks are unknown: no layer was built, and no page served, on a tokio runtime.".to_owned(),
        }
    }
}

impl Page for TasksPage {
    fn text(&self) -> String {
        let mut out = format!("{}\n", self.alive_text());
        match (&self.sites, &self.sites_unavailable) {
            (Some(sites), _) if !sites.is_empty() => {
                let mut table = TextTable::new(&[
                    ("spawned at", Align::Left),
                    ("tasks", Align::Right),
                    ("bytes", Align::Right),
                    ("growth", Align::Right),
                    ("route", Align::Left),
                    ("location", Align::Left),
                ]);
                for site in sites {
                    table.row(vec![
                        format!(
                            "{}{}",
                            site.name,
                            if site.piles_up { " (piles up)" } else { "" }
                        ),
                        site.tasks_text(),
                        site.bytes_text(),
                        site.growth_text(),
                        site.route_text().to_owned(),
                        site.location.clone(),
                    ]);
                }
                out.push('\n');
                out.push_str(&table.render());
                if self.sites_omitted > 0 {
                    out.push_str(&format!(
                        "{} more sites: raise limit=\n",
                        self.sites_omitted
                    ));
                }
            }
            (Some(_), _) => out.push_str("No task's cell is in the heap samples.\n"),
            (None, Some(why)) => out.push_str(&format!("Spawn sites unknown: {why}\n")),
            (None, None) => {}
        }
        out
    }
}

html_form!(TasksPage => "tasks.html");

pub(super) async fn page(request: &PageRequest<'_>) -> Answer {
    let query = Query::parse(request.raw_query(), &["limit"])?;
    let limit = query
        .number("limit", 1..=MAX_LIMIT)?
        .unwrap_or(DEFAULT_LIMIT) as usize;
    let alive = alive_tasks();
    let (sites, sites_unavailable) =
        match with_snapshot("tasks", |snapshot| Ok(task_sites(&snapshot.stacks))).await {
            Ok(sites) => (Some(sites), None),
            Err(error) if *error.kind() == ModelErrorKind::ProfilingUnavailable => {
                (None, Some(error.message().to_owned()))
            }
            Err(error) => return Err(error.into()),
        };
    let grown = tasks_over_history().await;
    let growth_of = |site: &TaskSite| {
        grown.as_ref().and_then(|(grown, _)| {
            grown
                .iter()
                .find(|grown| grown.name == site.name && grown.location == site.location)
        })
    };
    let mut sites_omitted = 0;
    let sites = sites.map(|mut sites| {
        sites_omitted = sites.len().saturating_sub(limit);
        sites.truncate(limit);
        sites
            .into_iter()
            .map(|site| {
                let grown = growth_of(&site);
                TaskSiteView::of(site, grown)
            })
            .collect()
    });
    let page = TasksPage {
        alive,
        sites,
        sites_omitted,
        sites_unavailable,
        history_minutes: grown.map(|(_, minutes)| minutes),
    };
    Ok(respond(&page, request.format, request.layout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_site_reads_as_its_count_with_its_error_and_growth() {
        let site = TaskSiteView {
            name: "app::watch".to_owned(),
            location: "src/watch.rs:20".to_owned(),
            tasks: 2003.4,
            tasks_error: 54.2,
            bytes: 512_000.0,
            growth: Some(1980.0),
            tasks_per_minute: Some(-3.0),
            piles_up: true,
            route: None,
        };
        assert_eq!(site.tasks_text(), "2,003 ± 54");
        assert_eq!(site.growth_text(), "+1,980 (-3/min)");
    }
}
