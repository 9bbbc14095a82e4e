//! A page's model as a response: in the form asked for, with the headers
//! every page sends; an error as a page of its own; a redirect after a
//! form's POST; a file to download.

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, VARY};
use http::{HeaderValue, Response, StatusCode};
use serde::Serialize;

use super::error::PageError;
use super::format::Format;
use super::page::{HtmlForm, Layout, Page, html_form};

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
        error: error.message().to_owned(),
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

/// An SVG drawing (a flamegraph), shown on its page.
pub(crate) fn svg(svg: Vec<u8>) -> Response<Bytes> {
    download("image/svg+xml", None, Bytes::from(svg))
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
struct ErrorPage {
    status: u16,
    reason: &'static str,
    error: String,
}

html_form!(ErrorPage => "error.html");

impl Page for ErrorPage {
    fn text(&self) -> String {
        format!("{} {}: {}\n", self.status, self.reason, self.error)
    }
}
