//! What the heap tables share between pages (the heap dump, the diff, a
//! site's page): names of groupings, amounts as shown, links to sites, and
//! the notes on how far to trust a sampled profile.

use serde::Serialize;

use super::capture_summary::samples_text;
use super::profiling::sampler_name;
use crate::model::allocator::{HeapSource, Sampler};
use crate::model::heap::table::{Amount, RowLabel, TableSpec};
use crate::model::heap::{Grouping, HeapSnapshot};
use crate::model::symbols::{Frame, NOT_WALKED};
use crate::units::human_bytes;

/// `site`, `function`, `crate`, `stack`, `route` or `size`.
pub(crate) fn group_name(spec: &TableSpec) -> &'static str {
    spec.grouping.map_or("size", Grouping::name)
}

/// The heading of the name column for a grouping.
pub(crate) fn group_title(group: &'static str) -> &'static str {
    match group {
        "size" => "size class",
        "site" => "allocation site",
        other => other,
    }
}

/// Objects and bytes, rounded, as the pages show them.
#[derive(Serialize)]
pub(crate) struct AmountView {
    pub(crate) objects: u64,
    pub(crate) bytes: u64,
}

impl From<Amount> for AmountView {
    fn from(amount: Amount) -> Self {
        Self {
            objects: amount.objects.round() as u64,
            bytes: amount.bytes.round() as u64,
        }
    }
}

/// Where a row leads: a site's page for site rows; the route's sites for
/// route rows.
pub(crate) fn row_link(
    prefix: &str,
    grouping: Option<Grouping>,
    id: &str,
    name: &str,
) -> Option<String> {
    match grouping? {
        Grouping::Site => Some(format!("{prefix}/heapdump/{id}")),
        Grouping::Route => Some(format!(
            "{prefix}/heapdump?{}",
            form_urlencoded::Serializer::new(String::new())
                .append_pair("route", name)
                .finish()
        )),
        _ => None,
    }
}

/// How far to trust figures from a sampled heap profile.
pub(crate) fn estimate_notes(snapshot: &HeapSnapshot) -> Vec<String> {
    let source = HeapSource::get();
    let sampler = sampler_name(source.sampler());
    let allocated = if source.knows_allocator_figures() {
        "jemalloc's allocated figure is exact but under-reports while sampling; compare \
         resident and RSS."
    } else {
        "The allocated figure is exact: memscope's sampling allocator counts every allocation."
    };
    let mut notes = vec![format!(
        "Estimates: {sampler} samples one allocation per {} allocated on average, and each \
         sample is scaled up by the chance of its size being sampled; ± is three standard \
         errors of what sampling leaves unknown (an estimate from n samples of small objects \
         is known to about ±3√n samples), and growth beyond it is significant. {allocated}",
        human_bytes(snapshot.moment.sample_interval)
    )];
    let dump = if source.sampler() == Sampler::Jemalloc {
        "jemalloc's dump and its parse"
    } else {
        "copying the samples"
    };
    notes.push(if snapshot.is_earlier_process() {
        format!(
            "This capture's profile: {} sampled stacks; naming its addresses took {:.1} ms.",
            snapshot.stacks.len(),
            snapshot.symbolize_time.as_secs_f64() * 1e3
        )
    } else {
        format!(
            "This profile: {} sampled stacks; {dump} took {:.1} ms, resolving addresses {:.1} ms.",
            snapshot.stacks.len(),
            snapshot.dump_time.as_secs_f64() * 1e3,
            snapshot.symbolize_time.as_secs_f64() * 1e3
        )
    });
    if snapshot.paused {
        notes.push(
            "Sampling is paused: the profile holds only what was sampled while it ran.".to_owned(),
        );
    }
    if snapshot.moment.skipped_for_stack > 0 {
        notes.push(format!(
            "{} skipped since start: too little stack. Their threads had too little stack \
             left for the walk; what they hold is counted under \"{NOT_WALKED}\".",
            samples_text(snapshot.moment.skipped_for_stack)
        ));
    }
    notes
}

/// What names a heap row, on every page with heap rows: its id, name and
/// place, and the link to its site's page.
#[derive(Serialize)]
pub(crate) struct RowLabelView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<String>,
    pub(crate) name: String,
    /// The frames of the row's largest stack, innermost first, allocator
    /// frames left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) frames: Option<Vec<Frame>>,
    /// `file:line` of the frame the row is named after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) location: Option<String>,
    /// The page of this site's stacks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) link: Option<String>,
    /// The size of every object in the row, for `group=size`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) size: Option<u64>,
}

impl RowLabelView {
    pub(crate) fn of(label: &RowLabel, grouping: Option<Grouping>, prefix: &str) -> Self {
        let id = label.id.map(|id| id.to_string());
        Self {
            link: id
                .as_deref()
                .and_then(|id| row_link(prefix, grouping, id, &label.name)),
            id,
            name: label.name.clone(),
            frames: label.frames.clone(),
            location: label.location.clone(),
            size: label.size,
        }
    }
}

/// The samples behind an estimate and its interval (three standard
/// errors), for rows of sampled groupings; nothing for `group=size`, which
/// is exact.
#[derive(Serialize)]
pub(crate) struct EstimateView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) samples: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) bytes_low: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) bytes_high: Option<u64>,
}

impl EstimateView {
    pub(crate) fn of(amount: &Amount, grouping: Option<Grouping>) -> Self {
        let estimated = grouping.is_some();
        let (low, high) = amount.bytes_interval();
        Self {
            samples: estimated.then_some(amount.samples),
            bytes_low: estimated.then(|| low.round() as u64),
            bytes_high: estimated.then(|| high.round() as u64),
        }
    }
}
