//! `GET /_debug/memory/diff`: what grew since the baseline, by site, with
//! bytes per request; `POST /_debug/memory/diff/baseline` takes a new
//! baseline; `?seconds=N` compares two snapshots N seconds apart instead,
//! and `?since=10m` compares with the heap history's snapshot nearest to
//! ten minutes ago.

pub(crate) mod flamegraph;
#[cfg(test)]
mod tests;
mod view;

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use crate::model::heap::baseline::Baseline;
use crate::model::heap::table::TableSpec;
use crate::model::heap::{self, HeapSnapshot};
use crate::model::over_time::read::snapshot_since;
use crate::pages::kit::{
    Answer, Format, PageError, PageRequest, Query, heap_table_spec, respond, see_other,
};
use view::{BaselineTaken, HistoryAsked, MemoryDiff};

/// `seconds=` accepted, so that a page never waits more than five minutes.
const MAX_SECONDS: u64 = 300;
/// `since=` accepted: a day, longer than any history keeps by default.
const MAX_SINCE: Duration = Duration::from_secs(86_400);

pub(crate) async fn page(request: &PageRequest<'_>) -> Answer {
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
    let past = snapshot_since(since).await?;
    let now = heap::snapshot().await?;
    let asked = HistoryAsked {
        ago: since,
        when: past.asked,
        interval: past.interval,
    };
    Ok(MemoryDiff::since_history(
        &past.snapshot,
        &now,
        past.requests_since(),
        asked,
        spec,
        prefix,
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
pub(crate) async fn new_baseline(request: &PageRequest<'_>) -> Answer {
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
