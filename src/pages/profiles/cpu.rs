//! `POST /_debug/profiles/cpu?seconds=N` captures a CPU profile;
//! `GET /_debug/profiles/cpu/{id}` shows it, with its flamegraph at
//! `…/flamegraph.svg` (`frames=all` for the frameworks' frames the default
//! folds) and the pprof protobuf at `…/profile.pb.gz`.

use serde::Serialize;

use crate::model::cpu::{self, CPU_CAPTURES, CpuCapture, KEPT_CAPTURES};
use crate::pages::kit::capture_summary::CaptureSummary;
use crate::pages::kit::{
    Answer, DEFAULT_CPU_SECONDS, Format, MAX_CPU_SECONDS, Page, PageError, PageRequest, Query,
    download, html_form, parse_id, respond, see_other,
};

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
}

html_form!(CapturePage => "cpu.html");

fn capture_page(capture: &CpuCapture, prefix: &str) -> CapturePage {
    CapturePage {
        summary: CaptureSummary::of(capture, prefix),
        paused_heap_sampling: capture.paused_heap_sampling,
    }
}

/// `POST /profiles/cpu`: blocks for the capture, then shows it.
pub(crate) async fn capture(request: &PageRequest<'_>) -> Answer {
    let query = Query::parse(request.raw_query(), &["seconds"])?;
    let seconds = query
        .number("seconds", 1..=MAX_CPU_SECONDS)?
        .unwrap_or(DEFAULT_CPU_SECONDS);
    let capture = cpu::capture(seconds, &request.mount.frameworks).await?;
    let prefix = request.prefix();
    if request.format == Format::Html {
        return Ok(see_other(&format!("{prefix}/profiles/cpu/{}", capture.id)));
    }
    Ok(respond(
        &capture_page(&capture, prefix),
        request.format,
        request.layout,
    ))
}

/// `GET /profiles/cpu/{id}`, `…/flamegraph.svg`, `…/profile.pb.gz`.
pub(crate) fn page(request: &PageRequest<'_>) -> Answer {
    let query = Query::parse(request.raw_query(), &["frames"])?;
    let rest = request.rest;
    let (raw_id, file) = rest.split_once('/').unwrap_or((rest, ""));
    let id = parse_id(raw_id, "capture")?;
    let capture = CPU_CAPTURES.get(id).ok_or_else(|| {
        PageError::not_found(format!(
            "no CPU profile {id}: the last {} captures are kept",
            KEPT_CAPTURES
        ))
    })?;
    match file {
        "" => Ok(respond(
            &capture_page(&capture, request.prefix()),
            request.format,
            request.layout,
        )),
        "flamegraph.svg" => Ok(download(
            "image/svg+xml",
            None,
            match query.folding(&request.mount.frameworks)? {
                Some(_) => capture.flamegraph_svg.clone(),
                None => capture.all_frames_svg.clone(),
            },
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
