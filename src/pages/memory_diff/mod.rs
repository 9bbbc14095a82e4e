//! `GET /_debug/memory/diff`: what grew since the baseline, by site, with
//! bytes per request; `POST /_debug/memory/diff/baseline` takes a new
//! baseline; `?seconds=N` compares two snapshots N seconds apart instead,
//! and `?since=10m` compares with the heap history's snapshot nearest to
//! ten minutes ago.

#[cfg(test)]
mod tests;
mod view;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::StatusCode;
use http::header::RETRY_AFTER;

use super::error::PageError;
use super::format::Format;
use super::query::{Query, heap_table_spec};
use super::render::{respond, see_other};
use super::request::{Answer, PageRequest, Pending};
use crate::model::baseline::Baseline;
use crate::model::heap::{self, HeapSnapshot};
use crate::model::table::TableSpec;
use crate::model::{history, off_executor};
use crate::record::routes_in_process;
use view::{BaselineTaken, HistoryAsked, MemoryDiff};

/// `seconds=` accepted, so that a page never waits more than five minutes.
const MAX_SECONDS: u64 = 300;
/// `since=` accepted: a day, longer than any history keeps by default.
const MAX_SINCE: Duration = Duration::from_secs(86_400);

pub(super) fn answer<'a>(request: &'a PageRequest<'a>) -> Pending<'a> {
    Box::pin(page(request))
}

pub(super) fn answer_new_baseline<'a>(request: &'a PageRequest<'a>) -> Pending<'a> {
    Box::pin(new_baseline(request))
}

async fn page(request: &PageRequest<'_>) -> Answer {
    let query = Query::parse(
        request.raw_query(),
        &["group", "limit", "filter", "route", "seconds", "since"],
    )?;
    let spec = heap_table_spec(&query)?;
    let seconds = query.number("seconds", 1..=MAX_SECONDS)?;
    let since = query.duration("since", MAX_SINCE)?;
    if seconds.is_some() && since.is_some() {
        return Err(PageError::bad_request(
            "`seconds` waits and compares two new snapshots, `since` compares with a stored one: give one of them",
        ));
    }
    let log = &request.mount.requests;
    let prefix = request.prefix();

    let diff = if let Some(since) = since {
        diff_since(since, &spec, prefix).await?
    } else if let Some(seconds) = seconds {
        let (then, requests_then) = (heap::snapshot().await?, log.count());
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        let now = heap::snapshot().await?;
        let requests = log.count() - requests_then;
        MemoryDiff::over_interval(&then, &now, requests, &spec, prefix)
    } else {
        match request.mount.baseline.get() {
            Some(baseline) => {
                let now = heap::snapshot().await?;
                let requests = log.count().saturating_sub(baseline.requests);
                MemoryDiff::build(&baseline.snapshot, &now, requests, &spec, prefix)
            }
            None => {
                let snapshot = take_baseline(request).await?;
                MemoryDiff::baseline_created(&snapshot, &spec, prefix)
            }
        }
    };
    Ok(respond(&diff, request.format, request.layout))
}

/// The diff against the heap history's snapshot nearest to `since` ago.
async fn diff_since(
    since: Duration,
    spec: &TableSpec,
    prefix: &str,
) -> Result<MemoryDiff, PageError> {
    let Some((interval, _)) = history::settings() else {
        return Err(PageError::not_found(
            "`since` compares with the heap history, and no layer keeps one: build the layer without `without_heap_history()`",
        ));
    };
    let asked = SystemTime::now().checked_sub(since).unwrap_or(UNIX_EPOCH);
    let window = history::window();
    let Some(nearest) = window.nearest(asked) else {
        let retry = interval.as_secs().max(1);
        return Err(PageError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the heap history has no snapshot yet: it takes one every {retry} s once heap profiling runs"
            ),
        )
        .with_header(RETRY_AFTER, retry.to_string()));
    };
    let requests_then: u64 = window.points()[nearest]
        .routes
        .iter()
        .map(|(_, totals)| totals.requests)
        .sum();
    let then = off_executor("symbolize", move || window.snapshot_at(nearest))
        .await?
        .ok_or_else(|| PageError::internal("the heap history's snapshot could not be read"))?;
    let now = heap::snapshot().await?;
    let requests_now: u64 = routes_in_process()
        .iter()
        .map(|(_, totals)| totals.requests)
        .sum();
    let requests = requests_now.saturating_sub(requests_then);
    let asked = HistoryAsked {
        ago: since,
        when: asked,
        interval,
    };
    Ok(MemoryDiff::since_history(
        &then, &now, requests, asked, spec, prefix,
    ))
}

/// Takes a snapshot and stores it as the baseline.
async fn take_baseline(request: &PageRequest<'_>) -> Result<Arc<HeapSnapshot>, PageError> {
    let requests = request.mount.requests.count();
    let snapshot = heap::snapshot().await?;
    request.mount.baseline.set(Baseline {
        snapshot: snapshot.clone(),
        requests,
    });
    Ok(snapshot)
}

/// `POST /_debug/memory/diff/baseline`.
async fn new_baseline(request: &PageRequest<'_>) -> Answer {
    Query::parse(request.raw_query(), &[])?;
    let snapshot = take_baseline(request).await?;
    if request.format == Format::Html {
        return Ok(see_other(&format!("{}/memory/diff", request.prefix())));
    }
    let taken = BaselineTaken {
        taken_at_unix: snapshot
            .moment
            .taken_at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs()),
        requests: request.mount.requests.count(),
        allocated: snapshot.moment.stats.allocated,
    };
    Ok(respond(&taken, request.format, request.layout))
}
