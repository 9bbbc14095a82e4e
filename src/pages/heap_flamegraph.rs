//! `GET /_debug/heapdump/flamegraph.svg`: the live heap as a flamegraph;
//! `GET /_debug/memory/diff/flamegraph.svg`: what grew since the baseline
//! (or over `seconds=N`) as a differential one. Both take `filter=` as the
//! tables do, and are shown on their pages.

use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode};

use super::error::PageError;
use super::query::{MAX_FILTER_LEN, Query};
use super::render::download;
use super::request::{Answer, PageRequest, Pending};
use crate::model::flamegraph::{diff_flamegraph, heap_flamegraph};
use crate::model::heap;

/// The longest `seconds=`, as on the memory diff.
const MAX_SECONDS: u64 = 300;

pub(super) fn answer_heap<'a>(request: &'a PageRequest<'a>) -> Pending<'a> {
    Box::pin(live(request))
}

pub(super) fn answer_diff<'a>(request: &'a PageRequest<'a>) -> Pending<'a> {
    Box::pin(growth(request))
}

fn filter_of(query: &Query) -> Result<Option<String>, PageError> {
    Ok(query
        .text("filter", MAX_FILTER_LEN)?
        .map(|filter| filter.to_lowercase()))
}

async fn live(request: &PageRequest<'_>) -> Answer {
    let query = Query::parse(request.raw_query(), &["filter"])?;
    let filter = filter_of(&query)?;
    // The flamegraph lets the snapshot go before it draws.
    let drawn = heap::with_snapshot("heap flamegraph", move |snapshot| {
        heap_flamegraph(snapshot, filter.as_deref())
    })
    .await?;
    Ok(svg(drawn))
}

async fn growth(request: &PageRequest<'_>) -> Answer {
    let query = Query::parse(request.raw_query(), &["filter", "seconds"])?;
    let filter = filter_of(&query)?;
    let (then, now) = match query.number("seconds", 1..=MAX_SECONDS)? {
        Some(seconds) => {
            let then = heap::snapshot().await?;
            tokio::time::sleep(Duration::from_secs(seconds)).await;
            (then, heap::snapshot().await?)
        }
        None => {
            let baseline = request.mount.baseline.get().ok_or_else(|| {
                PageError::new(
                    StatusCode::CONFLICT,
                    format!(
                        "no baseline yet to compare with: visit {prefix}/memory/diff (its first visit takes one) \
                         or POST {prefix}/memory/diff/baseline, or ask for ?seconds=N",
                        prefix = request.prefix()
                    ),
                )
            })?;
            (baseline.snapshot, heap::snapshot().await?)
        }
    };
    Ok(svg(diff_flamegraph(&then, &now, filter.as_deref())?))
}

fn svg(svg: Vec<u8>) -> Response<Bytes> {
    download("image/svg+xml", None, Bytes::from(svg))
}
