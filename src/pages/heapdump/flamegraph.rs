//! `GET /_debug/heapdump/flamegraph.svg`: the live heap as a flamegraph,
//! shown on the heap page; `filter=` as the tables take it.

use crate::model::heap;
use crate::model::heap::flamegraph::heap_flamegraph;
use crate::pages::kit::{Answer, PageRequest, Query, svg};

pub(crate) async fn page(request: &PageRequest<'_>) -> Answer {
    let query = Query::parse(request.raw_query(), &["filter"])?;
    let filter = query.filter()?;
    // The flamegraph lets the snapshot go before it draws.
    let drawn = heap::with_snapshot("heap flamegraph", move |snapshot| {
        heap_flamegraph(snapshot, filter.as_deref())
    })
    .await?;
    Ok(svg(drawn))
}
