//! Why the model could not give what was asked of it.

use std::fmt;
use std::time::Duration;

/// What went wrong, in the terms a caller acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum ModelErrorKind {
    /// Heap profiling (or jemalloc as the global allocator) is missing:
    /// the message says what to add.
    ProfilingUnavailable,
    /// A one-at-a-time resource is in use; it is free again in this long.
    Busy(Duration),
    /// What was asked for is not kept at all (no heap history).
    Absent,
    /// What was asked for is not there yet; it may be in this long.
    NotYet(Duration),
    /// jemalloc, pprof or the system failed.
    Failed,
}

/// A failure of the model, with a sentence a user can act on.
#[derive(Clone, Debug)]
pub(crate) struct ModelError {
    kind: ModelErrorKind,
    message: String,
}

impl ModelError {
    pub(crate) fn new(kind: ModelErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn failed(message: impl Into<String>) -> Self {
        Self::new(ModelErrorKind::Failed, message)
    }

    pub(crate) fn kind(&self) -> &ModelErrorKind {
        &self.kind
    }

    pub(crate) fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ModelError {}
