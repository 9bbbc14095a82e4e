//! One model, three forms: every page is a serializable model that also
//! knows its text table and its askama template, drawn in the common
//! layout.

pub(crate) mod capture_summary;
pub(crate) mod chart;
pub(crate) mod heap_view;
pub(crate) mod suspects;
pub(crate) mod text;
pub(crate) mod verdict;
pub(crate) mod view;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, VARY};
use http::{HeaderValue, Response, StatusCode};
use serde::Serialize;

use super::error::PageError;
use super::format::Format;
use super::links::{PageLink, page_links};
use crate::model::allocator::ProfilingState;
use crate::model::cpu::{SamplingHold, sampling_hold};

/// A page's model.
pub(crate) trait Page: Serialize {
    /// The aligned plain-text form.
    fn text(&self) -> String;
    /// The HTML form, in the common layout.
    fn html(&self, layout: &Layout) -> askama::Result<String>;
}

/// What every HTML page shows around its content: the navigation, and the
/// state of heap profiling with what to change when it is off.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub(crate) prefix: String,
    pub(crate) profiling: ProfilingState,
    /// A CPU capture holding heap sampling off.
    pub(crate) sampling_hold: Option<SamplingHold>,
}

impl Layout {
    pub(crate) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            profiling: ProfilingState::read(),
            sampling_hold: sampling_hold(),
        }
    }

    /// The navigation bar's links, from the table of pages.
    pub(crate) fn nav(&self) -> impl Iterator<Item = &'static PageLink> {
        page_links()
    }

    /// A sentence on the state of heap profiling.
    pub(crate) fn profiling_summary(&self) -> String {
        sampling_summary(&self.profiling, self.sampling_hold)
    }

    /// What to change, where something is off.
    pub(crate) fn profiling_hint(&self) -> Option<&'static str> {
        self.profiling.hint()
    }
}

/// A sentence on the state of heap profiling, with what a running CPU
/// capture does to it.
pub(crate) fn sampling_summary(state: &ProfilingState, hold: Option<SamplingHold>) -> String {
    let summary = state.summary();
    match hold {
        None => summary,
        Some(hold) => format!(
            "{summary}; paused for a CPU capture that ends in {} s, {}",
            hold.ends_in.as_secs_f64().ceil() as u64,
            if hold.resumes {
                "and sampling resumes then"
            } else {
                "and stays paused after it, as asked"
            }
        ),
    }
}

/// Renders `page` in `format` as a 200.
pub(crate) fn respond<P: Page>(page: &P, format: Format, layout: &Layout) -> Response<Bytes> {
    let body = match format {
        Format::Json => serde_json::to_vec_pretty(page)
            .map(Bytes::from)
            .map_err(|e| e.to_string()),
        Format::Text => Ok(Bytes::from(page.text())),
        Format::Html => page
            .html(layout)
            .map(Bytes::from)
            .map_err(|e| e.to_string()),
    };
    match body {
        Ok(body) => response(StatusCode::OK, format, body),
        Err(error) => respond_error(
            &PageError::internal(format!("rendering the page failed: {error}")),
            Format::Text,
            layout,
        ),
    }
}

/// Renders an error in `format`, with its status and headers.
pub(crate) fn respond_error(error: &PageError, format: Format, layout: &Layout) -> Response<Bytes> {
    let page = ErrorPage {
        status: error.status().as_u16(),
        reason: error.status().canonical_reason().unwrap_or(""),
        error: error.message(),
    };
    let body = match format {
        Format::Json => serde_json::to_vec_pretty(&page).map(Bytes::from).ok(),
        Format::Html => page.html(layout).map(Bytes::from).ok(),
        Format::Text => None,
    };
    let (format, body) = match body {
        Some(body) => (format, body),
        None => (Format::Text, Bytes::from(page.text())),
    };
    let mut response = response(error.status(), format, body);
    for (name, value) in error.headers() {
        if let Ok(value) = HeaderValue::from_str(value) {
            response.headers_mut().append(name.clone(), value);
        }
    }
    response
}

/// A 303 to `location`: where a browser goes after a form's POST.
pub(crate) fn see_other(location: &str) -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(location) = HeaderValue::from_str(location) {
        response
            .headers_mut()
            .insert(http::header::LOCATION, location);
    }
    response
}

/// A file: a flamegraph or a profile to download.
pub(crate) fn download(
    content_type: &'static str,
    filename: Option<&str>,
    body: Bytes,
) -> Response<Bytes> {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(filename) = filename
        && let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
    {
        headers.insert(http::header::CONTENT_DISPOSITION, value);
    }
    response
}

fn response(status: StatusCode, format: Format, body: Bytes) -> Response<Bytes> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    headers.insert(VARY, HeaderValue::from_static("Accept"));
    // Every figure is live: a cached page would show an old heap.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[derive(Serialize)]
struct ErrorPage<'a> {
    status: u16,
    reason: &'a str,
    error: &'a str,
}

#[derive(askama::Template)]
#[template(path = "error.html")]
struct ErrorTemplate<'a> {
    layout: &'a Layout,
    page: &'a ErrorPage<'a>,
}

impl Page for ErrorPage<'_> {
    fn text(&self) -> String {
        format!("{} {}: {}\n", self.status, self.reason, self.error)
    }

    fn html(&self, layout: &Layout) -> askama::Result<String> {
        askama::Template::render(&ErrorTemplate { layout, page: self })
    }
}
