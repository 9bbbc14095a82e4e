//! What the heap tables share between pages (the heap dump, the diff, a
//! site's page): names of groupings, amounts as shown, links to sites, and
//! the notes on how far to trust a sampled profile.

use serde::Serialize;

use crate::model::heap::{Grouping, HeapSnapshot};
use crate::model::table::{Amount, TableSpec};
use crate::units::human_bytes;

/// `site`, `function`, `crate`, `stack` or `size`.
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

/// The link to a site's page, for site rows.
pub(crate) fn site_link(prefix: &str, grouping: Option<Grouping>, id: &str) -> Option<String> {
    (grouping == Some(Grouping::Site)).then(|| format!("{prefix}/heapdump/{id}"))
}

/// How far to trust figures from a sampled heap profile.
pub(crate) fn estimate_notes(snapshot: &HeapSnapshot) -> Vec<String> {
    let mut notes = vec![format!(
        "Estimates: jemalloc samples one allocation per {} allocated on average, and each \
         sample is scaled up by the chance of its size being sampled; ± is three standard \
         errors of what sampling leaves unknown (an estimate from n samples of small objects \
         is known to about ±3√n samples), and growth beyond it is significant. jemalloc's allocated figure is exact but under-reports while sampling; \
         compare resident and RSS.",
        human_bytes(snapshot.sample_interval)
    )];
    notes.push(format!(
        "This profile: {} sampled stacks; jemalloc's dump and its parse took {:.1} ms, \
         resolving addresses {:.1} ms.",
        snapshot.stacks.len(),
        snapshot.dump_time.as_secs_f64() * 1e3,
        snapshot.symbolize_time.as_secs_f64() * 1e3
    ));
    if snapshot.paused {
        notes.push(
            "Sampling is paused: the profile holds only what was sampled while it ran.".to_owned(),
        );
    }
    notes
}
