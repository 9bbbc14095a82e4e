//! `POST /_debug/profiles/cpu?seconds=N` captures a CPU profile;
//! `GET /_debug/profiles/cpu/{id}` shows it, with its flamegraph at
//! `…/flamegraph.svg` and the pprof protobuf at `…/profile.pb.gz`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::RETRY_AFTER;
use http::{Response, StatusCode};
use serde::Serialize;

use crate::cpu::{CPU_CAPTURES, CaptureError, CaptureSummary, CpuCapture};
use crate::error::PageError;
use crate::format::Format;
use crate::query::{Query, parse_id};
use crate::render::{Chrome, Page, download, respond, see_other};
use crate::routes::PageRequest;

const DEFAULT_SECONDS: u64 = 10;
pub(crate) const MAX_SECONDS: u64 = 60;

#[derive(Serialize)]
struct CapturePage {
    #[serde(flatten)]
    summary: CaptureSummary,
    /// Heap sampling was paused for the capture (see the crate docs on why).
    paused_heap_sampling: bool,
}

impl Page for CapturePage {
    fn text(&self) -> String {
        format!(
            "CPU profile {}: {}\nflamegraph: {}\npprof:      {} (go tool pprof -http=: profile.pb.gz)\n{}",
            self.summary.id,
            self.summary.summary(),
            self.summary.flamegraph,
            self.summary.pprof,
            if self.paused_heap_sampling {
                "Heap sampling was paused while it ran.\n"
            } else {
                ""
            }
        )
    }

    fn html(&self, chrome: &Chrome) -> askama::Result<String> {
        askama::Template::render(&CaptureTemplate { chrome, page: self })
    }
}

#[derive(askama::Template)]
#[template(path = "cpu.html")]
struct CaptureTemplate<'a> {
    chrome: &'a Chrome,
    page: &'a CapturePage,
}

fn capture_page(capture: &CpuCapture, prefix: &str) -> CapturePage {
    CapturePage {
        summary: CaptureSummary::of(capture, prefix),
        paused_heap_sampling: capture.paused_heap_sampling,
    }
}

/// `POST /profiles/cpu`: blocks for the capture, then shows it.
pub(crate) async fn capture(request: &PageRequest<'_>) -> Result<Response<Bytes>, PageError> {
    let query = Query::parse(request.raw_query(), &["seconds"])?;
    let seconds = query
        .number("seconds", 1..=MAX_SECONDS)?
        .unwrap_or(DEFAULT_SECONDS);
    let captured = tokio::task::spawn_blocking(move || CPU_CAPTURES.capture(seconds))
        .await
        .map_err(|error| PageError::internal(format!("the CPU capture task failed: {error}")))?;
    let capture: Arc<CpuCapture> = match captured {
        Ok(capture) => capture,
        Err(CaptureError::Busy(remaining)) => {
            let retry = remaining.max(Duration::from_secs(1)).as_secs_f64().ceil() as u64;
            return Err(PageError::new(
                StatusCode::CONFLICT,
                format!("a CPU capture is already running (one at a time per process); it ends in {retry} s"),
            )
            .with_header(RETRY_AFTER, retry.to_string()));
        }
        Err(CaptureError::Failed(message)) => {
            return Err(PageError::internal(format!(
                "the CPU capture failed: {message}"
            )));
        }
    };
    let prefix = &request.shared.config.prefix;
    if request.format == Format::Html {
        return Ok(see_other(&format!("{prefix}/profiles/cpu/{}", capture.id)));
    }
    Ok(respond(
        &capture_page(&capture, prefix),
        request.format,
        request.chrome,
    ))
}

/// `GET /profiles/cpu/{id}`, `…/flamegraph.svg`, `…/profile.pb.gz`.
pub(crate) fn page(request: &PageRequest<'_>, rest: &str) -> Result<Response<Bytes>, PageError> {
    Query::parse(request.raw_query(), &[])?;
    let (raw_id, file) = rest.split_once('/').unwrap_or((rest, ""));
    let id = parse_id(raw_id, "capture")?;
    let capture = CPU_CAPTURES.get(id).ok_or_else(|| {
        PageError::not_found(format!(
            "no CPU profile {id}: the last {} captures are kept",
            crate::cpu::KEPT_CAPTURES
        ))
    })?;
    match file {
        "" => Ok(respond(
            &capture_page(&capture, &request.shared.config.prefix),
            request.format,
            request.chrome,
        )),
        "flamegraph.svg" => Ok(download(
            "image/svg+xml",
            None,
            capture.flamegraph_svg.clone(),
        )),
        "profile.pb.gz" => Ok(download(
            "application/octet-stream",
            Some(&format!("cpu-{id}.pb.gz")),
            capture.pprof_gzip.clone(),
        )),
        other => Err(PageError::not_found(format!(
            "no `{other}` for a CPU profile: there is flamegraph.svg and profile.pb.gz"
        ))),
    }
}
