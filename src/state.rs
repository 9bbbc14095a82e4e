//! The configuration and the state shared by every clone of the service.

use crate::access::AccessPolicy;
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

/// Built once per layer and shared behind an `Arc` by all its services.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: Config,
}

impl Shared {
    pub(crate) fn new(config: Config) -> Self {
        Self { config }
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
