//! `POST /_debug/profiling?active=true|false`: the heap sampling switch,
//! which pauses or resumes jemalloc's sampling without a restart.

use http::StatusCode;
use serde::Serialize;

use crate::model::allocator::ProfilingState;
use crate::model::cpu::{SamplingSwitch, sampling_hold, switch_heap_sampling};
use crate::pages::kit::profiling::sampling_summary;
use crate::pages::kit::{
    Answer, Format, HtmlForm, Layout, Page, PageError, PageRequest, Query, respond, see_other,
};

#[derive(Serialize)]
struct ProfilingSwitched {
    enabled: bool,
    active: bool,
    lg_sample: Option<u32>,
    /// A CPU capture runs: sampling stays paused until it ends, then is as
    /// asked (`active`, the request's, is not yet in effect).
    deferred_until_cpu_capture_ends: bool,
    summary: String,
}

impl Page for ProfilingSwitched {
    fn text(&self) -> String {
        format!("{}\n", self.summary)
    }
}

impl HtmlForm for ProfilingSwitched {
    fn html(&self, _layout: &Layout) -> askama::Result<String> {
        // Browsers are sent back to the overview instead; see `page`.
        Ok(format!(
            "<p>{}</p>",
            askama::filters::escape(&self.summary, askama::filters::Html)?
        ))
    }
}

pub(super) fn switch(request: &PageRequest<'_>) -> Answer {
    let query = Query::parse(request.raw_query(), &["active"])?;
    let active = query.boolean("active")?.ok_or_else(|| {
        PageError::bad_request(
            "missing `active`: POST ?active=true to sample, ?active=false to pause",
        )
    })?;
    let switch = switch_heap_sampling(active)?;
    if request.format == Format::Html {
        // A form's POST: back to the overview, which shows the new state.
        return Ok(see_other(&format!("{}/", request.prefix())));
    }
    let state = ProfilingState::read();
    let switched = ProfilingSwitched {
        enabled: state.enabled,
        active: state.active,
        lg_sample: state.lg_sample,
        deferred_until_cpu_capture_ends: matches!(switch, SamplingSwitch::Deferred(_)),
        summary: sampling_summary(&state, sampling_hold()),
    };
    let mut response = respond(&switched, request.format, request.layout);
    if matches!(switch, SamplingSwitch::Deferred(_)) && response.status() == StatusCode::OK {
        // Taken, to be carried out when the capture ends.
        *response.status_mut() = StatusCode::ACCEPTED;
    }
    Ok(response)
}
