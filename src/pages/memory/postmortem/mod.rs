//! `GET /_debug/memory/postmortem`: the black box's captures, newest
//! first, each with why it was taken, the memory against the limit, the
//! verdict as the overview wrote it then, and whether the process ended in
//! an OOM kill; `POST /_debug/memory/postmortem/capture` takes one now;
//! `capture` opens one (`/memory/postmortem/{id}`).

pub(crate) mod capture;
mod view;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use http::StatusCode;
use serde::Serialize;

use crate::model::allocator::off_executor;
use crate::model::black_box::open::{self, OpenError};
use crate::model::black_box::{self, capture_for_request};
use crate::model::process::cgroup;
use crate::model::verdict::VerdictKind;
use crate::pages::kit::text::{Align, TextTable};
use crate::pages::kit::verdict::{VerdictView, kind_name};
use crate::pages::kit::{
    Answer, Format, Page, PageError, PageRequest, Query, html_form, respond, see_other,
};
use crate::units::human_bytes;
use view::{CaptureView, black_box_dir, capture_link, no_black_box};

#[derive(Serialize)]
struct PostmortemPage {
    dir: String,
    /// Why captures cannot be written there now, if they cannot.
    problem: Option<String>,
    captures: Vec<ListedCapture>,
    /// Files in the directory that are no capture this memscope reads,
    /// with why.
    unreadable: Vec<Unreadable>,
}

#[derive(Serialize)]
struct ListedCapture {
    #[serde(flatten)]
    capture: CaptureView,
    verdict: ListedVerdict,
}

/// The verdict as the overview wrote it: its kind and its sentence.
#[derive(Clone, Serialize)]
struct ListedVerdict {
    kind: VerdictKind,
    summary: String,
}

#[derive(Serialize)]
struct Unreadable {
    file: String,
    bytes: u64,
    reason: String,
}

impl Page for PostmortemPage {
    fn text(&self) -> String {
        let mut out = format!("Black box: {}\n", self.dir);
        if let Some(problem) = &self.problem {
            out.push_str(&format!("Problem: {problem}\n"));
        }
        if self.captures.is_empty() {
            out.push_str("No captures yet.\n");
        }
        let mut table = TextTable::new(&[
            ("capture", Align::Left),
            ("taken at", Align::Left),
            ("reason", Align::Left),
            ("pid", Align::Right),
            ("rss", Align::Right),
            ("verdict", Align::Left),
            ("oom kill", Align::Left),
        ]);
        for listed in &self.captures {
            let capture = &listed.capture;
            table.row(vec![
                capture.id.clone(),
                capture.taken_at.clone(),
                capture.reason_name().to_owned(),
                capture.pid.to_string(),
                capture.rss.map_or(String::new(), human_bytes),
                kind_name(listed.verdict.kind).to_owned(),
                match capture.oom_killed {
                    Some(true) => "yes".to_owned(),
                    Some(false) => "no".to_owned(),
                    None => "unknown".to_owned(),
                },
            ]);
        }
        if !self.captures.is_empty() {
            out.push('\n');
            out.push_str(&table.render());
            out.push('\n');
        }
        for listed in &self.captures {
            out.push_str(&format!(
                "{}: {} ({})\n  {}\n  {}\n",
                listed.capture.id,
                listed.capture.detail,
                listed.capture.memory_text(),
                listed.verdict.summary,
                listed.capture.link
            ));
        }
        for file in &self.unreadable {
            out.push_str(&format!(
                "Unreadable: {} ({}): {}\n",
                file.file,
                human_bytes(file.bytes),
                file.reason
            ));
        }
        out
    }
}

html_form!(PostmortemPage => "postmortem.html");

/// Each capture's verdict as the list shows it, by file: a capture never
/// changes, and judging one replays its heap history.
static VERDICTS: Mutex<Option<HashMap<PathBuf, ListedVerdict>>> = Mutex::new(None);

pub(crate) async fn page(request: &PageRequest<'_>) -> Answer {
    Query::parse(request.raw_query(), &[])?;
    let dir = black_box_dir(request.mount.black_box.as_ref())?.to_owned();
    let prefix = request.prefix().to_owned();
    let page = off_executor("black box", move || list(dir, &prefix)).await??;
    Ok(respond(&page, request.format, request.layout))
}

fn list(dir: PathBuf, prefix: &str) -> Result<PostmortemPage, PageError> {
    let listed = open::list(&dir).map_err(|error| {
        PageError::internal(format!("could not read {}: {error}", dir.display()))
    })?;
    let killed = open::oom_killed(&listed, cgroup::read().as_ref());
    let mut captures = Vec::new();
    let mut unreadable = Vec::new();
    let mut known = crate::sync::lock(&VERDICTS);
    let known = known.get_or_insert_with(HashMap::new);
    let mut seen = Vec::new();
    for (entry, oom_killed) in listed.into_iter().zip(killed) {
        let verdict = match (&entry.summary, &entry.id) {
            (Ok(_), Some(id)) => {
                let path = dir.join(&entry.name);
                seen.push(path.clone());
                match known.get(&path) {
                    Some(verdict) => Ok(verdict.clone()),
                    None => judged(&dir, id, prefix).inspect(|verdict| {
                        known.insert(path, verdict.clone());
                    }),
                }
            }
            (Err(reason), _) => Err(reason.clone()),
            (Ok(_), None) => Err("not a capture's name".to_owned()),
        };
        match (entry.summary, verdict) {
            (Ok(summary), Ok(verdict)) => captures.push(ListedCapture {
                capture: CaptureView::of(&summary, entry.bytes, oom_killed, prefix),
                verdict,
            }),
            (_, Err(reason)) | (Err(reason), _) => unreadable.push(Unreadable {
                file: entry.name,
                bytes: entry.bytes,
                reason,
            }),
        }
    }
    known.retain(|path, _| seen.contains(path));
    let problem = black_box::write_problem(&dir);
    Ok(PostmortemPage {
        dir: dir.display().to_string(),
        problem,
        captures,
        unreadable,
    })
}

/// The verdict of capture `id` as the overview would have written it.
fn judged(dir: &std::path::Path, id: &str, prefix: &str) -> Result<ListedVerdict, String> {
    match open::judgement(dir, id) {
        Ok((_, judgement)) => {
            let view = VerdictView::of(judgement.verdict, judgement.growth.as_ref(), prefix);
            Ok(ListedVerdict {
                kind: view.kind,
                summary: view.summary,
            })
        }
        Err(OpenError::NotFound) => Err("gone while it was read".to_owned()),
        Err(OpenError::Unreadable(reason)) => Err(reason),
    }
}

/// `POST /memory/postmortem/capture`: takes a capture now, then shows it.
pub(crate) async fn take(request: &PageRequest<'_>) -> Answer {
    Query::parse(request.raw_query(), &[])?;
    let black_box = request.mount.black_box.clone().ok_or_else(no_black_box)?;
    let captured = off_executor("black box capture", move || capture_for_request(&black_box))
        .await?
        .map_err(|error| {
            let full = matches!(
                error.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            ) || matches!(error.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT));
            let status = if full {
                StatusCode::INSUFFICIENT_STORAGE
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            PageError::new(status, format!("the capture could not be written: {error}"))
        })?;
    let link = capture_link(request.prefix(), &captured.id);
    if request.format == Format::Html {
        return Ok(see_other(&link));
    }
    let page = TakenPage {
        id: captured.id,
        link,
        path: captured.path.display().to_string(),
        bytes: captured.bytes,
        heap_stacks: captured.heap_stacks,
        took_ms: captured.took.as_secs_f64() * 1000.0,
    };
    Ok(respond(&page, request.format, request.layout))
}

/// A capture just taken.
#[derive(Serialize)]
struct TakenPage {
    id: String,
    link: String,
    path: String,
    bytes: u64,
    heap_stacks: usize,
    took_ms: f64,
}

impl Page for TakenPage {
    fn text(&self) -> String {
        format!(
            "Capture {} written to {} ({}, {} heap stacks) in {:.0} ms\n{}\n",
            self.id,
            self.path,
            human_bytes(self.bytes),
            self.heap_stacks,
            self.took_ms,
            self.link
        )
    }
}

html_form!(TakenPage => "postmortem_taken.html");
