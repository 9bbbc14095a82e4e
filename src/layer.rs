//! The layer: a small configuration that builds the shared state once.

use std::sync::{Arc, OnceLock};

use tower_layer::Layer;

use crate::access::AccessPolicy;
use crate::service::DebugService;
use crate::state::{Config, Shared};

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

    /// A fresh shared state for a changed configuration, so that a layer
    /// configured after being cloned never shares state built for another
    /// configuration.
    fn reconfigured(mut self) -> Self {
        self.shared = Arc::default();
        self
    }

    pub(crate) fn shared(&self) -> Arc<Shared> {
        self.shared
            .get_or_init(|| Arc::new(Shared::new(self.config.clone())))
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
