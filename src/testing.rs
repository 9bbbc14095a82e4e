//! Leak checks for tests: drive a service in process and learn what each
//! request kept.
//!
//! [`drive`] sends a service requests one after another, polls each
//! response to its body's end and drops it, and measures what the threads
//! that polled allocated and freed meanwhile, as the layer does for the
//! requests it serves. With heap profiling on, it also compares heap
//! profiles taken before and after, and names the sites that grew beyond
//! sampling noise. [`LeakReport::assert_kept_at_most`] fails a test with a
//! report a person can act on.
//!
//! ```no_run
//! # #[global_allocator]
//! # static ALLOC: memscope::Jemalloc = memscope::Jemalloc;
//! # memscope::heap_profiling!(lg_sample = 14);
//! use axum::{Router, body::Body, routing::get};
//! use http::Request;
//!
//! # async fn check() {
//! let mut app = Router::new().route("/json", get(|| async { "{}" }));
//! // A few requests first, so that lazy statics and pools are made.
//! memscope::testing::drive(&mut app, 10, |_| Request::get("/json").body(Body::empty()).unwrap())
//!     .await
//!     .unwrap();
//! let report = memscope::testing::drive(&mut app, 1_000, |i| {
//!     Request::get(format!("/json?page={i}")).body(Body::empty()).unwrap()
//! })
//! .await
//! .unwrap();
//! // Panics with, for example: "/json kept 966 B per request over 1,000
//! // requests (943 KiB in all); top site my_app::cache::store (+1.2 MiB ± 0.3)".
//! report.assert_kept_at_most(64);
//! # }
//! ```
//!
//! What is counted is what the driving thread allocated and freed from each
//! request's start to its end, whatever task ran on it meanwhile. On a
//! current-thread runtime (`#[tokio::test]`'s default) that is everything
//! the requests set going: the app's tasks, an HTTP client's connection
//! tasks, a server on loopback the app calls. On a multi-thread runtime
//! the tasks other workers run are not counted, and a request that frees
//! buffers they allocated may show a negative figure: drive leak checks on
//! a current-thread runtime. Threads of their own (`spawn_blocking`, a
//! cache's housekeeping thread) are never counted. Mean bytes kept a
//! request is the figure to check: one request may grow a map, the next
//! may not.

use std::fmt;
use std::future::poll_fn;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use crate::model::allocator::ProfilingState;
use crate::model::heap::diff::HeapDiff;
use crate::model::heap::table::TableSpec;
use crate::model::heap::{self, Grouping, HeapSnapshot};
use crate::record::{collapse_identifiers, thread_allocation_totals};
use crate::units::{grouped, human_bytes_f64, human_bytes_signed, human_bytes_signed_with_error};

/// Growing sites a report lists at most.
const SITES_LISTED: usize = 5;

/// What [`drive`] measured.
#[derive(Debug, Clone)]
pub struct LeakReport {
    label: String,
    kept_per_request: Vec<i64>,
    allocated: u64,
    freed: u64,
    body_errors: usize,
    growing_sites: Vec<GrowingSite>,
    heap_profiled: bool,
}

/// A heap site that grew between the profiles taken before and after the
/// requests, beyond what sampling explains.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct GrowingSite {
    /// The site's name, as the heap pages show it.
    pub name: String,
    /// `file:line` of the site, where debug info has it.
    pub location: Option<String>,
    /// Its growth in bytes (an estimate).
    pub bytes_delta: i64,
    /// The growth's interval half-width: three standard errors.
    pub bytes_delta_error: u64,
}

/// Gives back the symbolizer's caches now (the names it resolved and the
/// object files it opened), as it does by itself after a minute idle: the
/// next page that names sites reads the object files again. For tests of
/// what happens then, such as a binary replaced on disk while it runs.
pub fn release_symbol_caches() {
    crate::model::symbols::SYMBOLIZER.release_now();
}

/// Sends `service` `requests` requests, made by `make_request` from their
/// index, one after another; reads each response's body to its end and
/// drops it; and measures what each request kept.
///
/// With heap profiling on and active, heap profiles taken before and after
/// name the sites that grew. An error of the service ends the run and is
/// returned; a body that fails is counted (see [`LeakReport::body_errors`])
/// and the run goes on.
pub async fn drive<S, ReqBody, ResBody, F>(
    mut service: S,
    requests: usize,
    mut make_request: F,
) -> Result<LeakReport, S::Error>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Body,
    F: FnMut(usize) -> Request<ReqBody>,
{
    let heap_profiled = ProfilingState::read().hint().is_none();
    let before = if heap_profiled {
        heap::snapshot().await.ok()
    } else {
        None
    };
    let mut report = LeakReport {
        label: String::new(),
        kept_per_request: Vec::with_capacity(requests),
        allocated: 0,
        freed: 0,
        body_errors: 0,
        growing_sites: Vec::new(),
        heap_profiled: before.is_some(),
    };
    let mut paths: Vec<String> = Vec::new();
    for index in 0..requests {
        let mut window = Window::open();
        let mut polls = Tally::default();
        // Made inside the tally: what the service frees of the request
        // (its URI, its headers) was allocated here.
        let request = polls.measured(|| make_request(index));
        window.excluding(|| {
            let path = request.uri().path();
            if paths.len() < 2 && !paths.iter().any(|known| known == path) {
                paths.push(path.to_owned());
            }
        });
        let response = {
            let mut exchange = pin!(async {
                poll_fn(|cx| service.poll_ready(cx)).await?;
                service.call(request).await
            });
            poll_fn(|cx| polls.measured(|| exchange.as_mut().poll(cx))).await?
        };
        report.body_errors += usize::from(drain(response, &mut polls).await);
        let tally = window.close().unwrap_or(polls);
        report.allocated += tally.allocated;
        report.freed += tally.freed;
        report.kept_per_request.push(tally.kept());
    }
    report.label = label_of(&paths);
    if let Some(before) = before
        && let Ok(after) = heap::snapshot().await
    {
        report.growing_sites = growing_sites(&before, &after);
    }
    Ok(report)
}

/// The requests' path, or their path with identifiers collapsed where
/// only identifiers differ (of the first two paths seen).
fn label_of(paths: &[String]) -> String {
    match paths {
        [] => "no request".to_owned(),
        [one] => one.clone(),
        [first, second, ..] if collapse_identifiers(first) == collapse_identifiers(second) => {
            collapse_identifiers(first).into_owned()
        }
        [first, ..] => format!("{first} and other paths"),
    }
}

/// What the driving thread allocated and freed from a request's start to
/// its end, whichever task did it, as long as the driving future stayed on
/// one thread (it does under `block_on`, as in `#[tokio::test]`).
struct Window {
    thread: std::thread::ThreadId,
    start: (u64, u64),
    /// memscope's own bookkeeping inside the window, taken out at its close.
    excluded: Tally,
}

impl Window {
    fn open() -> Self {
        Self {
            thread: std::thread::current().id(),
            start: thread_allocation_totals(),
            excluded: Tally::default(),
        }
    }

    fn excluding<R>(&mut self, work: impl FnOnce() -> R) -> R {
        self.excluded.measured(work)
    }

    /// `None` where the driving future moved to another thread meanwhile.
    fn close(&mut self) -> Option<Tally> {
        if std::thread::current().id() != self.thread {
            return None;
        }
        let (allocated, freed) = thread_allocation_totals();
        Some(Tally {
            allocated: allocated
                .wrapping_sub(self.start.0)
                .saturating_sub(self.excluded.allocated),
            freed: freed
                .wrapping_sub(self.start.1)
                .saturating_sub(self.excluded.freed),
        })
    }
}

/// What the threads that polled allocated and freed.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    allocated: u64,
    freed: u64,
}

impl Tally {
    fn kept(&self) -> i64 {
        self.allocated as i64 - self.freed as i64
    }

    /// Measures `work`, on the thread that runs it.
    fn measured<R>(&mut self, work: impl FnOnce() -> R) -> R {
        let (allocated, freed) = thread_allocation_totals();
        let result = work();
        let (allocated_after, freed_after) = thread_allocation_totals();
        self.allocated += allocated_after.wrapping_sub(allocated);
        self.freed += freed_after.wrapping_sub(freed);
        result
    }
}

/// Reads `response`'s body to its end and drops it, measuring each step;
/// `true` where the body failed.
async fn drain<B: Body>(response: Response<B>, tally: &mut Tally) -> bool {
    // The response's head freed and its body boxed inside the tally, so
    // that the box's allocation and its free are both counted.
    let mut body = tally.measured(|| Box::pin(response.into_body()));
    let mut failed = false;
    loop {
        let frame = poll_fn(|cx: &mut Context<'_>| {
            tally.measured(|| match body.as_mut().poll_frame(cx) {
                // Each frame dropped where it is measured.
                Poll::Ready(Some(Ok(_frame))) => Poll::Ready(Some(true)),
                Poll::Ready(Some(Err(_error))) => Poll::Ready(Some(false)),
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            })
        })
        .await;
        match frame {
            Some(true) => {}
            Some(false) => {
                failed = true;
                break;
            }
            None => break,
        }
    }
    tally.measured(|| drop(body));
    failed
}

fn growing_sites(before: &Arc<HeapSnapshot>, after: &Arc<HeapSnapshot>) -> Vec<GrowingSite> {
    let spec = TableSpec {
        grouping: Some(Grouping::Site),
        filter: None,
        route: None,
        limit: SITES_LISTED,
    };
    HeapDiff::between(before, after, &spec)
        .rows
        .into_iter()
        .filter(|row| row.grew_significantly())
        .map(|row| GrowingSite {
            bytes_delta: row.bytes_delta(),
            bytes_delta_error: row.bytes_delta_error().round() as u64,
            name: row.label.name,
            location: row.label.location,
        })
        .collect()
}

impl LeakReport {
    /// Requests driven.
    pub fn requests(&self) -> usize {
        self.kept_per_request.len()
    }

    /// What each request kept, allocated minus freed, in bytes, in order.
    pub fn kept_per_request(&self) -> &[i64] {
        &self.kept_per_request
    }

    /// What all the requests kept, in bytes.
    pub fn kept(&self) -> i64 {
        self.allocated as i64 - self.freed as i64
    }

    /// What a request kept on average, in bytes; 0 for no request.
    pub fn mean_kept(&self) -> f64 {
        if self.kept_per_request.is_empty() {
            return 0.0;
        }
        self.kept() as f64 / self.kept_per_request.len() as f64
    }

    /// What all the requests allocated, in bytes.
    pub fn allocated(&self) -> u64 {
        self.allocated
    }

    /// What all the requests freed, in bytes.
    pub fn freed(&self) -> u64 {
        self.freed
    }

    /// Response bodies that ended in an error.
    pub fn body_errors(&self) -> usize {
        self.body_errors
    }

    /// The heap sites that grew beyond sampling noise, growing most first;
    /// empty where heap profiling is off (see [`LeakReport::heap_profiled`]).
    pub fn growing_sites(&self) -> &[GrowingSite] {
        &self.growing_sites
    }

    /// Whether heap profiles were compared.
    pub fn heap_profiled(&self) -> bool {
        self.heap_profiled
    }

    /// Panics with this report where a request kept more than
    /// `bytes_per_request` on average.
    #[track_caller]
    pub fn assert_kept_at_most(&self, bytes_per_request: u64) {
        if self.mean_kept() > bytes_per_request as f64 {
            panic!(
                "{self}\n(at most {} per request allowed)",
                human_bytes_f64(bytes_per_request as f64)
            );
        }
    }
}

impl fmt::Display for LeakReport {
    /// `/json kept 966 B per request over 1,000 requests (943 KiB in all);
    /// top site leaky_cache::cache::store_response (+1.2 MiB ± 0.3, src/cache.rs:42)`,
    /// then the other growing sites, one a line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} kept {} per request over {} requests ({} in all",
            self.label,
            human_bytes_f64(self.mean_kept()),
            grouped(self.requests() as u64),
            human_bytes_signed(self.kept()),
        )?;
        if self.body_errors > 0 {
            write!(f, "; {} bodies failed", grouped(self.body_errors as u64))?;
        }
        write!(f, ")")?;
        let site_text = |site: &GrowingSite| {
            let location = site
                .location
                .as_deref()
                .map_or(String::new(), |location| format!(", {location}"));
            format!(
                "{} ({}{location})",
                site.name,
                human_bytes_signed_with_error(
                    site.bytes_delta as f64,
                    site.bytes_delta_error as f64
                )
            )
        };
        match (self.heap_profiled, self.growing_sites.split_first()) {
            (false, _) => write!(f, "; heap profiling is off, so no site is named"),
            (true, None) => write!(f, "; no heap site grew beyond sampling noise"),
            (true, Some((top, rest))) => {
                write!(f, "; top site {}", site_text(top))?;
                for site in rest {
                    write!(f, "\n  also grew: {}", site_text(site))?;
                }
                Ok(())
            }
        }
    }
}
