//! A capture as the black box's pages show it: who took it, when, why,
//! and its memory against its limit; links into it, not into the live
//! process's pages.

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;

use crate::model::black_box::{Reason, Summary};
use crate::model::verdict::LimitSource;
use crate::pages::kit::PageError;
use crate::units::human_bytes;

/// A capture's summary, as the list and its own page write it.
#[derive(Serialize)]
pub(crate) struct CaptureView {
    pub(crate) id: String,
    pub(crate) link: String,
    /// RFC 3339, UTC.
    pub(crate) taken_at: String,
    pub(crate) taken_at_unix_ms: u64,
    pub(crate) reason: Reason,
    pub(crate) detail: String,
    pub(crate) pid: u32,
    /// Whether this process took it (by hand, or on its way up).
    pub(crate) this_process: bool,
    pub(crate) started_at: Option<String>,
    pub(crate) executable: Option<String>,
    pub(crate) build_id: Option<String>,
    pub(crate) memscope_version: String,
    pub(crate) rss: Option<u64>,
    pub(crate) limit: Option<u64>,
    pub(crate) limit_source: Option<LimitSource>,
    pub(crate) used: Option<u64>,
    /// The file's size.
    pub(crate) bytes: u64,
    /// Whether the process that took it ended in an OOM kill, where the
    /// cgroup's count of kills says; `null` where it cannot tell.
    pub(crate) oom_killed: Option<bool>,
}

impl CaptureView {
    pub(crate) fn of(
        summary: &Summary,
        bytes: u64,
        oom_killed: Option<bool>,
        prefix: &str,
    ) -> Self {
        Self {
            id: summary.id.clone(),
            link: capture_link(prefix, &summary.id),
            taken_at: rfc3339(summary.taken_at_unix_ms),
            taken_at_unix_ms: summary.taken_at_unix_ms,
            reason: summary.reason,
            detail: summary.detail.clone(),
            pid: summary.pid,
            this_process: summary.is_this_process(),
            started_at: summary.started_at_unix_ms.map(rfc3339),
            executable: summary.executable.clone(),
            build_id: summary.build_id.clone(),
            memscope_version: summary.memscope_version.clone(),
            rss: summary.rss,
            limit: summary.limit,
            limit_source: summary.limit_source,
            used: summary.used,
            bytes,
            oom_killed,
        }
    }

    /// `RSS 172.4 MiB of the 200.0 MiB limit (set on the layer)`.
    pub(crate) fn memory_text(&self) -> String {
        let rss = self.rss.map_or("unknown".to_owned(), human_bytes);
        match (self.limit, self.used, self.limit_source) {
            (Some(limit), Some(used), Some(source)) => format!(
                "RSS {rss}; {} of the {} limit ({})",
                human_bytes(used),
                human_bytes(limit),
                source.whose()
            ),
            _ => format!("RSS {rss}; no limit known"),
        }
    }

    /// `killed for memory`, `not killed by the cgroup`, or nothing known.
    pub(crate) fn end_text(&self) -> &'static str {
        match self.oom_killed {
            Some(true) => "The cgroup counted an OOM kill after it.",
            Some(false) => "The cgroup counted no OOM kill after it.",
            None => "",
        }
    }

    pub(crate) fn reason_name(&self) -> &'static str {
        self.reason.name()
    }
}

/// The page of capture `id`.
pub(crate) fn capture_link(prefix: &str, id: &str) -> String {
    format!("{prefix}/memory/postmortem/{id}")
}

/// The capture's page, its heap filtered to `name`: where a site of the
/// capture links to (the live heap's site pages know other stacks).
pub(crate) fn filter_link(prefix: &str, id: &str, name: &str) -> String {
    let name: String = form_urlencoded::byte_serialize(name.as_bytes()).collect();
    format!("{}?filter={name}", capture_link(prefix, id))
}

/// `2026-12-06T08:57:10Z`.
pub(crate) fn rfc3339(unix_ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(unix_ms)).to_string()
}

/// The black box's directory, or the 404 that says how to give the
/// layer one.
pub(crate) fn black_box_dir(black_box: Option<&crate::BlackBox>) -> Result<&Path, PageError> {
    black_box
        .map(|black_box| black_box.dir())
        .ok_or_else(no_black_box)
}

/// What the black box's pages answer where the layer has none.
pub(crate) fn no_black_box() -> PageError {
    PageError::not_found(
        "no black box: give the layer one with DebugLayer::black_box(BlackBox::new(dir)), \
         on a volume that outlives the process",
    )
}
