//! Which page answers which path under the prefix.

use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::{Method, Response};

use crate::error::PageError;
use crate::format::Format;
use crate::future::PageFuture;
use crate::pages;
use crate::render::{Chrome, respond_error};
use crate::state::Shared;

/// Answers a request under the prefix. Never fails: an error is a page.
pub(crate) fn answer(shared: Arc<Shared>, parts: Parts) -> PageFuture {
    Box::pin(async move {
        let chrome = Chrome::new(&shared.config.prefix);
        let format = match requested_format(&parts) {
            Ok(format) => format,
            Err(error) => return respond_error(&error, Format::Text, &chrome),
        };
        if let Err(error) = shared.config.access.check(&parts, &shared.config.prefix) {
            return respond_error(&error, format, &chrome);
        }
        let request = PageRequest {
            shared: &shared,
            parts: &parts,
            format,
            chrome: &chrome,
        };
        match route(&request).await {
            Ok(response) => response,
            Err(error) => respond_error(&error, format, &chrome),
        }
    })
}

/// What a page handler gets.
pub(crate) struct PageRequest<'a> {
    pub(crate) shared: &'a Arc<Shared>,
    pub(crate) parts: &'a Parts,
    pub(crate) format: Format,
    pub(crate) chrome: &'a Chrome,
}

impl PageRequest<'_> {
    pub(crate) fn raw_query(&self) -> Option<&str> {
        self.parts.uri.query()
    }
}

async fn route(request: &PageRequest<'_>) -> Result<Response<Bytes>, PageError> {
    let path = request
        .shared
        .page_path(request.parts.uri.path())
        .unwrap_or("/");
    let method = &request.parts.method;
    let is_read = method == Method::GET || method == Method::HEAD;
    match path {
        "/" => {
            require(is_read, "GET, HEAD")?;
            pages::overview::page(request)
        }
        "/heapdump" | "/heapdump/" => {
            require(is_read, "GET, HEAD")?;
            pages::heapdump::page(request).await
        }
        "/memory/diff" | "/memory/diff/" => {
            require(is_read, "GET, HEAD")?;
            pages::diff::page(request).await
        }
        "/memory/diff/baseline" => {
            require(method == Method::POST, "POST")?;
            pages::diff::reset_baseline(request).await
        }
        "/profiles" | "/profiles/" => {
            require(is_read, "GET, HEAD")?;
            pages::profiles::page(request)
        }
        "/profiles/cpu" => {
            require(method == Method::POST, "POST")?;
            pages::cpu::capture(request).await
        }
        _ if path.starts_with("/profiles/cpu/") => {
            require(is_read, "GET, HEAD")?;
            pages::cpu::page(request, &path["/profiles/cpu/".len()..])
        }
        _ if path.starts_with("/profiles/") => {
            require(is_read, "GET, HEAD")?;
            pages::request::page(request, &path["/profiles/".len()..])
        }
        "/timeline" | "/timeline/" => {
            require(is_read, "GET, HEAD")?;
            pages::timeline::page(request)
        }
        "/profiling" => {
            require(method == Method::POST, "POST")?;
            pages::profiling::page(request)
        }
        _ if path.starts_with("/heapdump/") => {
            require(is_read, "GET, HEAD")?;
            pages::site::page(request, &path["/heapdump/".len()..]).await
        }
        _ => Err(PageError::not_found(format!(
            "no page at {}{path}; the overview at {}/ links to every page",
            request.shared.config.prefix, request.shared.config.prefix
        ))),
    }
}

fn require(allowed: bool, methods: &'static str) -> Result<(), PageError> {
    if allowed {
        Ok(())
    } else {
        Err(PageError::method_not_allowed(methods))
    }
}

/// `?format=` wins over `Accept`. A bad value is reported before anything
/// else, in text, since the form asked for is unknown.
fn requested_format(parts: &Parts) -> Result<Format, PageError> {
    let requested = form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
        .filter(|(name, _)| name == "format")
        .last()
        .map(|(_, value)| value.into_owned());
    match requested {
        None => Ok(Format::from_accept(&parts.headers)),
        Some(name) => Format::from_name(&name).ok_or_else(|| {
            PageError::bad_request(format!(
                "invalid value `{name}` for `format`: expected one of {}",
                Format::NAMES.join(", ")
            ))
        }),
    }
}
