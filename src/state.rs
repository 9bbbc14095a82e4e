//! The configuration and the state shared by every clone of the service.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::access::AccessPolicy;
use crate::heap::HeapSnapshot;
use crate::layer::DEFAULT_PREFIX;

/// What the builder on [`DebugLayer`](crate::DebugLayer) sets.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) prefix: String,
    pub(crate) access: AccessPolicy,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_PREFIX.to_owned(),
            access: AccessPolicy::default(),
        }
    }
}

/// The heap the memory diff compares against.
#[derive(Debug)]
pub(crate) struct Baseline {
    pub(crate) snapshot: Arc<HeapSnapshot>,
    /// The layer's request count when the baseline was taken.
    pub(crate) requests: u64,
}

/// Built once per layer and shared behind an `Arc` by all its services.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: Config,
    /// Requests the layer passed to the inner service.
    requests: AtomicU64,
    /// One stored snapshot at most.
    baseline: Mutex<Option<Baseline>>,
}

impl Shared {
    pub(crate) fn new(config: Config) -> Self {
        Self {
            config,
            requests: AtomicU64::new(0),
            baseline: Mutex::new(None),
        }
    }

    pub(crate) fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub(crate) fn baseline(&self) -> MutexGuard<'_, Option<Baseline>> {
        self.baseline.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `path` is the prefix itself or below it (`/_debug/x`, not
    /// `/_debugger`).
    pub(crate) fn is_debug_path(&self, path: &str) -> bool {
        self.page_path(path).is_some()
    }

    /// The part of `path` after the prefix, starting with `/` (the overview
    /// is `/`), or `None` when `path` is not a debug path.
    pub(crate) fn page_path<'a>(&self, path: &'a str) -> Option<&'a str> {
        let rest = path.strip_prefix(self.config.prefix.as_str())?;
        match rest {
            "" => Some("/"),
            rest if rest.starts_with('/') => Some(rest),
            _ => None,
        }
    }
}
