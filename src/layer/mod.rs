//! The request path: the layer, the service it wraps around the app, the
//! response future and body that measure each request, and the wrapped
//! router. Requests under the prefix go to the pages; every other request
//! goes to the app, measured (`crate::record`).

mod body;
mod config;
mod future;
mod pages_service;
mod service;
mod state;
mod tagged;
#[cfg(feature = "axum")]
mod wrapped_router;

pub use body::ResponseBody;
pub use config::DEFAULT_PREFIX;
pub use future::ResponseFuture;
pub use pages_service::{DebugPages, DebugPagesFuture};
pub use service::DebugService;
pub use tagged::{Tagged, scope, tagged};
#[cfg(feature = "axum")]
pub use wrapped_router::{WrappedRouter, WrappedRouterFuture};

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tower_layer::Layer;

use crate::model::over_time::{history, timeline};
use crate::pages::{AccessPolicy, Mount};
use config::{Config, HistorySettings};

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
    /// Where the pages are mounted: `/_debug`.
    pub const DEFAULT_PREFIX: &'static str = config::DEFAULT_PREFIX;
    /// Requests the request history keeps: 1,000.
    pub const DEFAULT_REQUEST_HISTORY: usize = config::DEFAULT_REQUEST_HISTORY;
    /// How often the timeline records memory: every second.
    pub const DEFAULT_TIMELINE_INTERVAL: Duration = config::DEFAULT_TIMELINE_INTERVAL;
    /// The shortest interval the timeline takes: 10 ms.
    pub const MIN_TIMELINE_INTERVAL: Duration = timeline::MIN_INTERVAL;
    /// The first name of [`DEFAULT_TIMELINE_INTERVAL`](Self::DEFAULT_TIMELINE_INTERVAL).
    #[deprecated(since = "0.1.1", note = "renamed `DEFAULT_TIMELINE_INTERVAL`")]
    pub const DEFAULT_SAMPLER_INTERVAL: Duration = Self::DEFAULT_TIMELINE_INTERVAL;
    /// The first name of [`MIN_TIMELINE_INTERVAL`](Self::MIN_TIMELINE_INTERVAL).
    #[deprecated(since = "0.1.1", note = "renamed `MIN_TIMELINE_INTERVAL`")]
    pub const MIN_SAMPLER_INTERVAL: Duration = Self::MIN_TIMELINE_INTERVAL;
    /// Points the timeline keeps: 3,600, an hour at the default interval.
    pub const DEFAULT_TIMELINE_POINTS: usize = config::DEFAULT_TIMELINE_POINTS;
    /// The fewest points the timeline keeps: 2, the fewest that draw a line.
    pub const MIN_TIMELINE_POINTS: usize = timeline::MIN_POINTS;
    /// How often the heap history takes a heap profile: every minute.
    pub const DEFAULT_HEAP_HISTORY_INTERVAL: Duration = config::DEFAULT_HEAP_HISTORY.interval;
    /// Heap profiles the heap history keeps: 60, an hour at the default
    /// interval.
    pub const DEFAULT_HEAP_HISTORY_SNAPSHOTS: usize = config::DEFAULT_HEAP_HISTORY.snapshots;
    /// The shortest interval the heap history takes: 50 ms.
    pub const MIN_HEAP_HISTORY_INTERVAL: Duration = history::MIN_INTERVAL;
    /// The fewest heap profiles the heap history keeps: 2, the fewest that
    /// show growth.
    pub const MIN_HEAP_HISTORY_SNAPSHOTS: usize = history::MIN_SNAPSHOTS;
    /// The crates the flamegraphs fold by default: the async runtime, the
    /// HTTP server and client, routing and middleware, futures'
    /// combinators and tracing's instrumentation (tokio, hyper, axum,
    /// tower, tower-http, futures, tracing, tonic, actix, warp and their
    /// parts). memscope's own frames and C symbols without a module path
    /// are folded with them.
    pub const DEFAULT_FRAMEWORK_CRATES: &'static [&'static str] =
        crate::model::symbols::DEFAULT_FRAMEWORK_CRATES;

    /// The layer with its defaults: prefix [`DEFAULT_PREFIX`](Self::DEFAULT_PREFIX),
    /// loopback peers only.
    pub fn new() -> Self {
        Self {
            config: Config::default(),
            mount: Arc::default(),
        }
    }

    /// Mounts the pages under `prefix`. A trailing `/` is ignored; a missing
    /// leading `/` is added. By default, this is
    /// [`DEFAULT_PREFIX`](Self::DEFAULT_PREFIX).
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

    /// How many requests the history keeps (at least 1); totals per route
    /// count every request. By default, this is
    /// [`DEFAULT_REQUEST_HISTORY`](Self::DEFAULT_REQUEST_HISTORY). Each thread that ends requests
    /// writes them into a ring of its own of this size (64 bytes a request),
    /// so that recording a request takes no lock; the pages show the newest
    /// `requests` of all the threads' together. Rings are reused when their
    /// threads exit, so there are never more than threads at once.
    #[must_use]
    pub fn request_history(mut self, requests: usize) -> Self {
        self.config.request_history = requests.max(1);
        self.reconfigured()
    }

    /// How often the timeline records memory, at least every
    /// [`MIN_TIMELINE_INTERVAL`](Self::MIN_TIMELINE_INTERVAL). The timeline
    /// is the process's: it runs at the shortest interval any layer asks
    /// for. By default, this is
    /// [`DEFAULT_TIMELINE_INTERVAL`](Self::DEFAULT_TIMELINE_INTERVAL).
    #[must_use]
    pub fn timeline_interval(mut self, interval: Duration) -> Self {
        self.config.timeline_interval = interval.max(Self::MIN_TIMELINE_INTERVAL);
        self.reconfigured()
    }

    /// The first name of [`timeline_interval`](Self::timeline_interval).
    #[deprecated(since = "0.1.1", note = "renamed `timeline_interval`")]
    #[must_use]
    pub fn sampler_interval(self, interval: Duration) -> Self {
        self.timeline_interval(interval)
    }

    /// How many points the timeline keeps, at least
    /// [`MIN_TIMELINE_POINTS`](Self::MIN_TIMELINE_POINTS). The timeline
    /// keeps the most points any layer asks for. By default, this is
    /// [`DEFAULT_TIMELINE_POINTS`](Self::DEFAULT_TIMELINE_POINTS).
    #[must_use]
    pub fn timeline_points(mut self, points: usize) -> Self {
        self.config.timeline_points = points.max(Self::MIN_TIMELINE_POINTS);
        self.reconfigured()
    }

    /// How often the heap history takes a heap profile (at least every
    /// [`MIN_HEAP_HISTORY_INTERVAL`](Self::MIN_HEAP_HISTORY_INTERVAL)) and
    /// how many it keeps (at least
    /// [`MIN_HEAP_HISTORY_SNAPSHOTS`](Self::MIN_HEAP_HISTORY_SNAPSHOTS)).
    /// The growth page ranks the sites that grew across them, and
    /// `memory/diff?since=` compares against them. The history is the
    /// process's: it runs at the shortest interval and keeps the most
    /// snapshots any layer asks for. It takes nothing while heap profiling
    /// is off. By default, this is
    /// [`DEFAULT_HEAP_HISTORY_INTERVAL`](Self::DEFAULT_HEAP_HISTORY_INTERVAL)
    /// and [`DEFAULT_HEAP_HISTORY_SNAPSHOTS`](Self::DEFAULT_HEAP_HISTORY_SNAPSHOTS).
    #[must_use]
    pub fn heap_history(mut self, interval: Duration, snapshots: usize) -> Self {
        self.config.heap_history = Some(HistorySettings {
            interval: interval.max(Self::MIN_HEAP_HISTORY_INTERVAL),
            snapshots: snapshots.max(Self::MIN_HEAP_HISTORY_SNAPSHOTS),
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

    /// The memory the process may use, in bytes of RSS: the overview
    /// forecasts when the RSS reaches it at the rate it grows
    /// (`time_to_limit`), and `/metrics` exports the forecast as
    /// `memscope_time_to_limit_seconds`. Set it where the limit is not the
    /// container's (a VM, a supervisor's `RLIMIT`, a budget of your own):
    /// the cgroup's limit, where there is one, is read without it, and the
    /// nearer of the two is forecast.
    #[must_use]
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.config.memory_limit = Some(bytes);
        self.reconfigured()
    }

    /// Keeps what memory looked like before an OOM kill in `black_box`'s
    /// directory, for the pages of the process that runs next:
    /// `/_debug/memory/postmortem` lists the captures of earlier processes
    /// and opens each with the pages people know (the heap by site and by
    /// route, the verdict, the RSS in parts, the timeline, the growth
    /// suspects, a flamegraph, pprof). Captures are taken on their own as
    /// memory nears the limit (see [`BlackBox`](crate::BlackBox)), by
    /// `POST /_debug/memory/postmortem/capture`, and by
    /// [`BlackBox::capture`](crate::BlackBox::capture) from a panic or
    /// signal hook.
    #[must_use]
    pub fn black_box(mut self, black_box: crate::BlackBox) -> Self {
        self.config.black_box = Some(black_box);
        self.reconfigured()
    }

    /// Adds crates whose frames the flamegraphs fold, as they fold the
    /// async runtime's, the HTTP server's, the router's and the
    /// middleware's ([`DEFAULT_FRAMEWORK_CRATES`](Self::DEFAULT_FRAMEWORK_CRATES)):
    /// each run of such frames on the way to the app's code is drawn as
    /// one frame that names what it folds ("tokio, hyper, axum, tower: 41
    /// frames"). Give the crate names as they start a function's path
    /// (`my_framework`, not `my-framework`). `frames=all` on a flamegraph
    /// draws every frame; the pprof profiles always keep them all.
    #[must_use]
    pub fn framework_crates<S: Into<String>>(
        mut self,
        crates: impl IntoIterator<Item = S>,
    ) -> Self {
        self.config
            .framework_crates
            .extend(crates.into_iter().map(Into::into));
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

    /// Splits the layer in two that share one state: a layer for the app,
    /// which measures every request and answers none of memscope's paths
    /// (they go to the app like any other), and a service that answers the
    /// pages, for a listener of their own:
    ///
    /// ```rust,no_run
    /// use std::net::SocketAddr;
    /// use axum::{Router, routing::get};
    ///
    /// # async fn run() {
    /// let (layer, pages) = memscope::DebugLayer::new().split();
    /// let app = Router::new().route("/", get(|| async { "hello" })).layer(layer);
    /// let admin = Router::new().fallback_service(pages);
    ///
    /// let public = tokio::net::TcpListener::bind("0.0.0.0:8080").await.unwrap();
    /// let internal = tokio::net::TcpListener::bind("127.0.0.1:6060").await.unwrap();
    /// tokio::spawn(async move {
    ///     axum::serve(internal, admin.into_make_service_with_connect_info::<SocketAddr>())
    ///         .await
    ///         .unwrap();
    /// });
    /// axum::serve(public, app).await.unwrap();
    /// # }
    /// ```
    ///
    /// The pages stay under the prefix on their listener
    /// (`127.0.0.1:6060/_debug/`), so that scrape configurations read the
    /// same paths either way, and keep the access policy: loopback peers
    /// only by default.
    pub fn split(mut self) -> (DebugLayer, DebugPages) {
        self.config.answers_pages = false;
        let pages = DebugPages::new(self.mount());
        (self, pages)
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
        DebugService::new(inner, self.mount(), self.config.answers_pages)
    }
}
