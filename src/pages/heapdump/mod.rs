//! `GET /_debug/heapdump`: the live heap as a table, largest first, by
//! allocation site (the default), function, crate, whole stack, or exact
//! size class; one site's stacks (`site`: `/heapdump/{site}`) and the
//! live heap as a flamegraph (`flamegraph`: `/heapdump/flamegraph.svg`).

pub(crate) mod flamegraph;
pub(crate) mod site;

use http::StatusCode;

use crate::model::allocator::HeapSource;
use crate::model::heap::table::HeapTable;
use crate::model::heap::{self};
use crate::model::process::resident_set_size;
use crate::pages::kit::heap_table::HeapTablePage;
use crate::pages::kit::{
    Answer, PageError, PageRequest, Query, heap_table_spec, html_form, respond,
};

html_form!(HeapTablePage => "heapdump.html");

pub(crate) async fn page(request: &PageRequest<'_>) -> Answer {
    let query = Query::parse(request.raw_query(), &["group", "limit", "filter", "route"])?;
    let spec = heap_table_spec(&query)?;
    let page = match spec.grouping {
        None if !HeapSource::get().knows_allocator_figures() => {
            return Err(PageError::new(
                StatusCode::CONFLICT,
                "group=size lists jemalloc's size classes, and this program's global allocator \
                 is memscope's sampling allocator over another allocator; group=site, function, \
                 crate, stack and route work here",
            ));
        }
        None => {
            let source = HeapSource::get();
            let stats = source.figures();
            let table = HeapTable::of_size_classes(&source.size_classes(), spec.limit);
            let figures = (stats, resident_set_size());
            HeapTablePage::of(&table, &spec, request.prefix(), figures, None, None)
        }
        Some(grouping) => {
            let snapshot = heap::snapshot().await?;
            let table = HeapTable::of_stacks(&snapshot, grouping, &spec);
            let figures = (snapshot.moment.stats, snapshot.moment.rss);
            let unwinder = request.layout.profiling.unwinder;
            HeapTablePage::of(
                &table,
                &spec,
                request.prefix(),
                figures,
                Some(&snapshot),
                unwinder,
            )
        }
    };
    Ok(respond(&page, request.format, request.layout))
}
