//! `GET /_debug/heapdump/flamegraph.svg`: the live heap as a flamegraph,
//! shown on the heap page; `filter=` as the tables take it; `frames=all`
//! draws the frameworks' frames the default folds.

use crate::model::heap;
use crate::model::heap::flamegraph::heap_flamegraph;
use crate::pages::kit::{Answer, PageRequest, Query, svg};

pub(crate) async fn page(request: &PageRequest<'_>) -> Answer {
    let query = Query::parse(request.raw_query(), &["filter", "frames"])?;
    let filter = query.filter()?;
    let fold = query.folding(&request.mount.frameworks)?.cloned();
    // The flamegraph lets the snapshot go before it draws.
    let drawn = heap::with_snapshot("heap flamegraph", move |snapshot| {
        heap_flamegraph(snapshot, filter.as_deref(), fold.as_ref())
    })
    .await?;
    Ok(svg(drawn))
}
