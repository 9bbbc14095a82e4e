//! `GET /_debug/heapdump/{site}`: the stacks of one allocation site,
//! largest first, every frame with its file and line.

use serde::Serialize;

use crate::model::heap::table::share;
use crate::model::heap::{self, Grouping, SiteId, Stack, key_of};
use crate::model::symbols::Frame;
use crate::pages::kit::heap_view::estimate_notes;
use crate::pages::kit::text::{Align, TextTable};
use crate::pages::kit::{
    Answer, MAX_LIMIT, Page, PageError, PageRequest, Query, html_form, respond,
};
use crate::units::{grouped, human_bytes};

const DEFAULT_STACKS: u64 = 20;
/// Frames shown per stack; deeper ones are runtime start-up.
const FRAMES_PER_STACK: usize = 64;

#[derive(Serialize)]
struct SitePage {
    id: String,
    name: String,
    objects: u64,
    bytes: u64,
    stacks: Vec<SiteStack>,
    stacks_omitted: usize,
    notes: Vec<String>,
}

#[derive(Serialize)]
struct SiteStack {
    objects: u64,
    bytes: u64,
    /// This stack's part of the site, from 0 to 1.
    share: f64,
    frames: Vec<Frame>,
}

impl SiteStack {
    fn of(stack: &Stack, site_bytes: f64) -> Self {
        Self {
            objects: stack.objects.round() as u64,
            bytes: stack.bytes.round() as u64,
            share: share(stack.bytes, site_bytes),
            frames: stack.frames().take(FRAMES_PER_STACK).cloned().collect(),
        }
    }
}

impl Page for SitePage {
    fn text(&self) -> String {
        let mut out = format!(
            "{}\n{} objects, {} (estimate), in {} stacks\n",
            self.name,
            grouped(self.objects),
            human_bytes(self.bytes),
            self.stacks.len() + self.stacks_omitted
        );
        for (index, stack) in self.stacks.iter().enumerate() {
            out.push_str(&format!(
                "\nstack {} · {} objects · {} · {}\n",
                index + 1,
                grouped(stack.objects),
                human_bytes(stack.bytes),
                crate::pages::kit::view::percent(&stack.share)
            ));
            let mut table = TextTable::new(&[
                ("kind", Align::Left),
                ("function", Align::Left),
                ("file:line", Align::Left),
            ]);
            for frame in &stack.frames {
                table.row(vec![
                    frame.kind.name().to_owned(),
                    frame.function.to_string(),
                    frame.location(),
                ]);
            }
            out.push_str(&table.render());
        }
        if self.stacks_omitted > 0 {
            out.push_str(&format!(
                "\n({} more stacks: raise limit=)\n",
                self.stacks_omitted
            ));
        }
        for note in &self.notes {
            out.push_str(note);
            out.push('\n');
        }
        out
    }
}

html_form!(SitePage => "site.html");

pub(crate) async fn page(request: &PageRequest<'_>) -> Answer {
    let raw_id = request.rest;
    let query = Query::parse(request.raw_query(), &["limit"])?;
    let limit = query
        .number("limit", 1..=MAX_LIMIT)?
        .unwrap_or(DEFAULT_STACKS) as usize;
    let id = SiteId::parse(raw_id).ok_or_else(|| {
        PageError::bad_request(format!(
            "malformed site id `{raw_id}`: a site id is 16 hexadecimal digits, as linked from the heapdump and the diff"
        ))
    })?;
    let snapshot = heap::snapshot().await?;
    let mut name = None;
    let mut stacks: Vec<&Stack> = Vec::new();
    // Freed stacks are in the profile only for what they allocated.
    for stack in snapshot.stacks.iter().filter(|stack| stack.objects > 0.0) {
        if let Some(key) = key_of(stack, Grouping::Site)
            && SiteId::of(Grouping::Site, &key) == id
        {
            name.get_or_insert(key);
            stacks.push(stack);
        }
    }
    let Some(name) = name else {
        return Err(PageError::not_found(format!(
            "no live allocations at site {id} in the current heap profile: it may have been freed, \
             or the id belongs to another build. See {}/heapdump for the sites there are now.",
            request.prefix()
        )));
    };
    stacks.sort_by(|a, b| b.bytes.total_cmp(&a.bytes));
    let bytes: f64 = stacks.iter().map(|stack| stack.bytes).sum();
    let objects: f64 = stacks.iter().map(|stack| stack.objects).sum();
    let page = SitePage {
        id: id.to_string(),
        name,
        objects: objects.round() as u64,
        bytes: bytes.round() as u64,
        stacks_omitted: stacks.len().saturating_sub(limit),
        stacks: stacks
            .iter()
            .take(limit)
            .map(|stack| SiteStack::of(stack, bytes))
            .collect(),
        notes: estimate_notes(&snapshot),
    };
    Ok(respond(&page, request.format, request.layout))
}
