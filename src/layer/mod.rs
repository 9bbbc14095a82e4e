//! The request path: the layer, the service it wraps around the app, the
//! response future and body that measure each request, and the wrapped
//! router. Requests under the prefix go to the pages; every other request
//! goes to the app, measured (`crate::record`).

mod body;
mod future;
mod service;
mod state;
#[cfg(feature = "axum")]
mod wrapped_router;

pub use body::ResponseBody;
pub use future::ResponseFuture;
pub use service::DebugService;
#[cfg(feature = "axum")]
pub use wrapped_router::{WrappedRouter, WrappedRouterFuture};

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tower_layer::Layer;

use crate::pages::{AccessPolicy, Mount};
use state::Config;

/// Where the pages are mounted unless [`DebugLayer::prefix`] says otherwise.
pub const DEFAULT_PREFIX: &str = "/_debug";

/// Mounts memscope's pages under a prefix (default [`DEFAULT_PREFIX`]) in
/// front of any `tower::Service<http::Request<B>>`, and passes every other
/// request to that service untouched.
///
/// ```rust
/// use axum::{Router, routing::get};
///
/// let app: Router = Router::new()
///     .route("/", get(|| async { "hello" }))
///     .layer(memscope::DebugLayer::new());
/// ```
///
/// axum clones the layer for every route; all clones share one state (one
/// baseline, one request history), found or built when the layer is first
/// applied. Layers built apart with the same settings share it too, so a
/// server that builds one for every connection still has one set of pages.
#[derive(Clone, Debug)]
pub struct DebugLayer {
    config: Config,
    mount: Arc<OnceLock<Arc<Mount>>>,
}

impl DebugLayer {
    /// The layer with its defaults: prefix `/_debug`, loopback peers only.
    pub fn new() -> Self {
        Self {
            config: Config::default(),
            mount: Arc::default(),
        }
    }

    /// Mounts the pages under `prefix` instead of `/_debug`. A trailing `/`
    /// is ignored; a missing leading `/` is added.
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        let trimmed = prefix.trim_end_matches('/');
        self.config.prefix = if trimmed.starts_with('/') {
            trimmed.to_owned()
        } else {
            format!("/{trimmed}")
        };
        self.reconfigured()
    }

    /// Chooses who may read the pages. The default is
    /// [`AccessPolicy::loopback_only`].
    #[must_use]
    pub fn access(mut self, policy: AccessPolicy) -> Self {
        self.config.access = policy;
        self.reconfigured()
    }

    /// How many requests the history keeps (default 1,000, at least 1);
    /// totals per route count every request. Each thread that ends requests
    /// writes them into a ring of its own of this size (64 bytes a request),
    /// so that recording a request takes no lock; the pages show the newest
    /// `requests` of all the threads' together. Rings are reused when their
    /// threads exit, so there are never more than threads at once.
    #[must_use]
    pub fn request_history(mut self, requests: usize) -> Self {
        self.config.request_history = requests.max(1);
        self.reconfigured()
    }

    /// How often the timeline records memory (default every second; at
    /// least every 10 ms). The timeline is the process's: it runs at the
    /// shortest interval any layer asks for.
    #[must_use]
    pub fn sampler_interval(mut self, interval: Duration) -> Self {
        self.config.sampler_interval = interval.max(Duration::from_millis(10));
        self.reconfigured()
    }

    /// How many points the timeline keeps (default 3,600: an hour at the
    /// default interval; at least 2). The timeline keeps the most points
    /// any layer asks for.
    #[must_use]
    pub fn timeline_points(mut self, points: usize) -> Self {
        self.config.timeline_points = points.max(2);
        self.reconfigured()
    }

    /// How often the heap history takes a heap profile (default every
    /// minute; at least every 50 ms) and how many it keeps (default 60: an
    /// hour; at least 2). The growth page ranks the sites that grew across
    /// them, and `memory/diff?since=` compares against them. The history is
    /// the process's: it runs at the shortest interval and keeps the most
    /// snapshots any layer asks for. It takes nothing while heap profiling
    /// is off.
    #[must_use]
    pub fn heap_history(mut self, interval: Duration, snapshots: usize) -> Self {
        self.config.heap_history = Some(state::HistorySettings {
            interval: interval.max(Duration::from_millis(50)),
            snapshots: snapshots.max(2),
        });
        self.reconfigured()
    }

    /// Takes no heap history for this layer: no background heap profiles,
    /// no growth page, no `memory/diff?since=` (another layer may still
    /// keep one for the process).
    #[must_use]
    pub fn without_heap_history(mut self) -> Self {
        self.config.heap_history = None;
        self.reconfigured()
    }

    /// Leaves the unwinding of sampled allocations' stacks to jemalloc
    /// (libgcc, or libunwind under the `libunwind` feature) instead of
    /// memscope's own walker, which reads the same unwind tables but keeps
    /// what it read per return address, and is installed (once per process,
    /// on x86-64 Linux, when heap profiling is on) by the first layer built
    /// without this. The walker stops at frames it cannot follow (signal
    /// handlers' trampolines, code without unwind tables) where libgcc goes
    /// on, and reads tables of libraries loaded at the time of the sample:
    /// keep jemalloc's unwinder for an app that unloads libraries (`dlclose`)
    /// while it runs.
    #[must_use]
    pub fn keep_jemalloc_unwinder(mut self) -> Self {
        self.config.keep_jemalloc_unwinder = true;
        self.reconfigured()
    }

    /// A mount found afresh for a changed configuration, so that a layer
    /// configured after being cloned never shares state with settings it
    /// no longer has.
    fn reconfigured(mut self) -> Self {
        self.mount = Arc::default();
        self
    }

    pub(crate) fn mount(&self) -> Arc<Mount> {
        self.mount
            .get_or_init(|| Arc::new(state::mount(&self.config)))
            .clone()
    }
}

impl Default for DebugLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for DebugLayer {
    type Service = DebugService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DebugService::new(inner, self.mount())
    }
}
