//! `POST /_debug/memory/purge`: jemalloc gives the pages of freed memory
//! back to the system now, rather than as its decay gets to them; the
//! answer shows resident memory and RSS before and after.

use http::StatusCode;
use serde::Serialize;

use crate::model::allocator::{HeapSource, Purged};
use crate::pages::kit::{Answer, Page, PageError, PageRequest, Query, html_form, respond};
use crate::units::{human_bytes, human_bytes_signed};

#[derive(Serialize)]
struct PurgePage {
    resident_before: u64,
    resident_after: u64,
    rss_before: Option<u64>,
    rss_after: Option<u64>,
    #[serde(skip)]
    prefix: String,
}

impl PurgePage {
    fn lines(&self) -> Vec<String> {
        let change = |before: u64, after: u64| {
            format!(
                "{} → {} ({})",
                human_bytes(before),
                human_bytes(after),
                human_bytes_signed(after as i64 - before as i64)
            )
        };
        let mut lines = vec![format!(
            "jemalloc resident: {}",
            change(self.resident_before, self.resident_after)
        )];
        match (self.rss_before, self.rss_after) {
            (Some(before), Some(after)) => {
                lines.push(format!("process RSS: {}", change(before, after)))
            }
            _ => lines.push("process RSS: unknown (no procfs)".to_owned()),
        }
        lines
    }
}

impl Page for PurgePage {
    fn text(&self) -> String {
        let mut out = "Unused pages given back to the system.\n".to_owned();
        for line in self.lines() {
            out.push_str(&line);
            out.push('\n');
        }
        out
    }
}

html_form!(PurgePage => "purge.html");

pub(crate) fn purge(request: &PageRequest<'_>) -> Answer {
    Query::parse(request.raw_query(), &[])?;
    let Some(Purged {
        resident_before,
        resident_after,
        rss_before,
        rss_after,
    }) = HeapSource::get().purge()
    else {
        return Err(PageError::new(
            StatusCode::CONFLICT,
            "the purge asks jemalloc to give its freed pages back, and this program's global \
             allocator is memscope's sampling allocator over another allocator, whose freed \
             pages memscope cannot reach",
        ));
    };
    let page = PurgePage {
        resident_before,
        resident_after,
        rss_before,
        rss_after,
        prefix: request.prefix().to_owned(),
    };
    Ok(respond(&page, request.format, request.layout))
}
