//! `GET /_debug/pprof/heap`, `/pprof/allocs` and `/pprof/profile`: gzipped
//! `perftools.profiles.Profile`s, served as Go's `net/http/pprof` serves
//! them, so that `go tool pprof`, Parca and Grafana Alloy's
//! `pyroscope.scrape` read them as they read a Go server's.
//!
//! `seconds=N` answers what changed over the next N seconds (the heap) or
//! samples the CPU for N seconds. An error is never a 200: a scraper stores
//! whatever a 200 carries.

use std::time::Duration;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderName, HeaderValue, Response, StatusCode};

use crate::model::cpu;
use crate::model::pprof::{HeapProfileKind, gzipped, heap_profile, heap_profile_delta};
use crate::model::{ModelErrorKind, heap};
use crate::pages::kit::{
    Answer, DEFAULT_CPU_SECONDS, MAX_CPU_SECONDS, PageError, PageRequest, Query,
    retry_after_seconds,
};

/// The longest `seconds=` of a heap delta, as on the memory diff.
const MAX_HEAP_SECONDS: u64 = 300;

pub(super) async fn heap(request: &PageRequest<'_>) -> Answer {
    heap_profile_page(request, HeapProfileKind::InUse, "heap").await
}

pub(super) async fn allocs(request: &PageRequest<'_>) -> Answer {
    heap_profile_page(request, HeapProfileKind::Allocations, "allocs").await
}

async fn heap_profile_page(
    request: &PageRequest<'_>,
    kind: HeapProfileKind,
    name: &'static str,
) -> Answer {
    let query = Query::parse(request.raw_query(), &["seconds"])?;
    let seconds = query.number("seconds", 1..=MAX_HEAP_SECONDS)?;
    let gzipped = match seconds {
        // The snapshot given back before the profile is encoded: the two
        // are never held at once.
        None => {
            heap::with_snapshot("heap profile", move |snapshot| {
                let profile = heap_profile(&snapshot, kind);
                drop(snapshot);
                gzipped(&profile)
            })
            .await?
        }
        Some(seconds) => {
            let then = heap::snapshot().await?;
            tokio::time::sleep(Duration::from_secs(seconds)).await;
            let now = heap::snapshot().await?;
            gzipped(&heap_profile_delta(&then, &now, kind))?
        }
    };
    Ok(profile_response(name, gzipped))
}

/// As Go's `/debug/pprof/profile`: a GET that samples for `seconds`, one
/// at a time (a second caller gets 429 with `Retry-After`); the capture is
/// also kept among the CPU profiles.
pub(super) async fn profile(request: &PageRequest<'_>) -> Answer {
    let query = Query::parse(request.raw_query(), &["seconds"])?;
    let seconds = query
        .number("seconds", 1..=MAX_CPU_SECONDS)?
        .unwrap_or(DEFAULT_CPU_SECONDS);
    let capture = cpu::capture(seconds, &request.mount.frameworks)
        .await
        .map_err(|error| match error.kind() {
            ModelErrorKind::Busy(remaining) => {
                let retry = retry_after_seconds(*remaining);
                PageError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("{}; it ends in {retry} s", error.message()),
                )
                .with_header(RETRY_AFTER, retry.to_string())
            }
            _ => PageError::from(error),
        })?;
    Ok(profile_response("profile", capture.pprof_gzip.to_vec()))
}

/// The headers Go sends with a profile.
fn profile_response(name: &'static str, gzipped: Vec<u8>) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(gzipped));
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(disposition) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(CONTENT_DISPOSITION, disposition);
    }
    headers.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
