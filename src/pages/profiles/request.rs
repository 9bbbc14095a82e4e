//! `GET /_debug/profiles/{id}`: one request's figures.

use serde::Serialize;

use crate::pages::kit::text::{Align, TextTable};
use crate::pages::kit::view::{micros, status_text};
use crate::pages::kit::{
    Answer, Page, PageError, PageRequest, Query, html_form, parse_id, respond,
};
use crate::record::RequestRecord;
use crate::units::{human_bytes, human_bytes_signed};

#[derive(Serialize)]
struct RequestPage {
    #[serde(flatten)]
    record: RequestRecord,
}

impl RequestPage {
    fn figures(&self) -> Vec<(&'static str, String)> {
        let record = &self.record;
        vec![
            ("id", record.id.to_string()),
            ("method", record.method.to_string()),
            ("path", record.path.to_string()),
            ("status", status_text(&record.status)),
            ("wall", micros(&record.wall_us)),
            ("busy", micros(&record.busy_us)),
            (
                "allocated",
                format!(
                    "{} ({} bytes)",
                    human_bytes(record.allocated),
                    record.allocated
                ),
            ),
            (
                "freed",
                format!("{} ({} bytes)", human_bytes(record.freed), record.freed),
            ),
            (
                "net",
                format!("{} ({} bytes)", human_bytes_signed(record.net), record.net),
            ),
            (
                "body read to its end",
                if record.completed {
                    "yes"
                } else {
                    "no: dropped early"
                }
                .to_owned(),
            ),
        ]
    }
}

impl Page for RequestPage {
    fn text(&self) -> String {
        let mut table = TextTable::new(&[("figure", Align::Left), ("value", Align::Left)]);
        for (name, value) in self.figures() {
            table.row(vec![name.to_owned(), value]);
        }
        table.render()
    }
}

html_form!(RequestPage => "request.html");

pub(crate) fn page(request: &PageRequest<'_>) -> Answer {
    let raw_id = request.rest;
    Query::parse(request.raw_query(), &[])?;
    let id = parse_id(raw_id, "request")?;
    let log = &request.mount.requests;
    let record = log.record(id).ok_or_else(|| {
        PageError::not_found(format!(
            "no request {id} in the history: ids run from 1 to {}, and only the last {} are kept",
            log.count(),
            log.capacity()
        ))
    })?;
    Ok(respond(
        &RequestPage { record },
        request.format,
        request.layout,
    ))
}
