//! Where the pages of one mount are and what they serve from: the prefix,
//! the access policy, the request log and the baseline.

use std::sync::Arc;

use super::access::AccessPolicy;
use crate::model::black_box::BlackBox;
use crate::model::heap::baseline::BaselineSlot;
use crate::model::symbols::Frameworks;
use crate::record::RequestLog;

/// What the pages of one layer serve from.
#[derive(Debug)]
pub(crate) struct Mount {
    /// Where the pages are: `/_debug` by default.
    pub(crate) prefix: String,
    /// Who may see them.
    pub(crate) access: AccessPolicy,
    /// The requests the layer passed to the app.
    pub(crate) requests: Arc<RequestLog>,
    /// What the memory diff compares against.
    pub(crate) baseline: Arc<BaselineSlot>,
    /// The limit the builder set for the time-to-limit forecast.
    pub(crate) memory_limit: Option<u64>,
    /// The crates the flamegraphs fold into one frame.
    pub(crate) frameworks: Frameworks,
    /// Where captures are kept before an OOM kill, and read after it.
    pub(crate) black_box: Option<BlackBox>,
}

impl Mount {
    /// Whether `path` is the prefix itself or below it (`/_debug/x`, not
    /// `/_debugger`).
    pub(crate) fn is_debug_path(&self, path: &str) -> bool {
        self.page_path(path).is_some()
    }

    /// The part of `path` after the prefix, starting with `/` (the overview
    /// is `/`), or `None` when `path` is not a debug path.
    pub(crate) fn page_path<'a>(&self, path: &'a str) -> Option<&'a str> {
        let rest = path.strip_prefix(self.prefix.as_str())?;
        match rest {
            "" => Some("/"),
            rest if rest.starts_with('/') => Some(rest),
            _ => None,
        }
    }
}
