//! `GET /_debug/memory/diff/flamegraph.svg`: what grew since the baseline
//! (or over `seconds=N`) as a differential flamegraph, shown on the diff
//! page; `filter=` as the tables take it; `frames=all` draws the
//! frameworks' frames the default folds.

use std::time::Duration;

use http::StatusCode;

use super::MAX_SECONDS;
use crate::model::heap;
use crate::model::heap::flamegraph::diff_flamegraph;
use crate::pages::kit::{Answer, PageError, PageRequest, Query, svg};

pub(crate) async fn page(request: &PageRequest<'_>) -> Answer {
    let query = Query::parse(request.raw_query(), &["filter", "seconds", "frames"])?;
    let filter = query.filter()?;
    let fold = query.folding(&request.mount.frameworks)?;
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
    Ok(svg(diff_flamegraph(&then, &now, filter.as_deref(), fold)?))
}
