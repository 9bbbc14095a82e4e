//! `POST /_debug/profiling?active=true|false`: pauses or resumes heap
//! sampling without a restart.

use bytes::Bytes;
use http::{Response, StatusCode};
use serde::Serialize;

use crate::allocator::{ProfilingState, set_profiling_active};
use crate::error::PageError;
use crate::format::Format;
use crate::query::Query;
use crate::render::{Chrome, Page, profiling_summary, respond, see_other};
use crate::routes::PageRequest;

#[derive(Serialize)]
struct ProfilingSwitched {
    enabled: bool,
    active: bool,
    lg_sample: Option<u32>,
    summary: String,
}

impl Page for ProfilingSwitched {
    fn text(&self) -> String {
        format!("{}\n", self.summary)
    }

    fn html(&self, _chrome: &Chrome) -> askama::Result<String> {
        // Browsers are sent back to the overview instead; see `page`.
        Ok(format!(
            "<p>{}</p>",
            askama::filters::escape(&self.summary, askama::filters::Html)?
        ))
    }
}

pub(crate) fn page(request: &PageRequest<'_>) -> Result<Response<Bytes>, PageError> {
    let query = Query::parse(request.raw_query(), &["active"])?;
    let active = query.boolean("active")?.ok_or_else(|| {
        PageError::bad_request(
            "missing `active`: POST ?active=true to sample, ?active=false to pause",
        )
    })?;
    set_profiling_active(active)
        .map_err(|message| PageError::new(StatusCode::CONFLICT, message))?;
    if request.format == Format::Html {
        // A form's POST: back to the overview, which shows the new state.
        return Ok(see_other(&format!("{}/", request.shared.config.prefix)));
    }
    let state = ProfilingState::read();
    let switched = ProfilingSwitched {
        enabled: state.enabled,
        active: state.active,
        lg_sample: state.lg_sample,
        summary: profiling_summary(&state),
    };
    Ok(respond(&switched, request.format, request.chrome))
}
