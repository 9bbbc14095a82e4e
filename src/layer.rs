//! The layer: a small configuration that builds the shared state once.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tower_layer::Layer;

use crate::access::AccessPolicy;
use crate::service::DebugService;
use crate::state::{Config, Shared};
use crate::timeline;

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
/// baseline, one request history), built when the layer is first applied.
#[derive(Clone, Debug)]
pub struct DebugLayer {
    config: Config,
    shared: Arc<OnceLock<Arc<Shared>>>,
}

impl DebugLayer {
    /// The layer with its defaults: prefix `/_debug`, loopback peers only.
    pub fn new() -> Self {
        Self {
            config: Config::default(),
            shared: Arc::default(),
        }
    }

    /// Mounts the pages under `prefix` instead of `/_debug`. A trailing `/`
    /// is ignored; a missing leading `/` is added.
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
    pub fn request_history(mut self, requests: usize) -> Self {
        self.config.request_history = requests.max(1);
        self.reconfigured()
    }

    /// How often the timeline records memory (default every second; at
    /// least every 10 ms).
    pub fn sampler_interval(mut self, interval: Duration) -> Self {
        self.config.sampler_interval = interval.max(Duration::from_millis(10));
        self.reconfigured()
    }

    /// How many points the timeline keeps (default 3,600: an hour at the
    /// default interval; at least 2).
    pub fn timeline_points(mut self, points: usize) -> Self {
        self.config.timeline_points = points.max(2);
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
    pub fn keep_jemalloc_unwinder(mut self) -> Self {
        self.config.keep_jemalloc_unwinder = true;
        self.reconfigured()
    }

    /// A fresh shared state for a changed configuration, so that a layer
    /// configured after being cloned never shares state built for another
    /// configuration.
    fn reconfigured(mut self) -> Self {
        self.shared = Arc::default();
        self
    }

    pub(crate) fn shared(&self) -> Arc<Shared> {
        self.shared
            .get_or_init(|| {
                let shared = Arc::new(Shared::new(self.config.clone()));
                timeline::start_sampler(&shared);
                shared
            })
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
        DebugService::new(inner, self.shared())
    }
}
