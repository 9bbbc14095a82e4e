//! The verdict ("is it a leak?") and the time to the memory limit, as the
//! overview shows them.

use serde::Serialize;

use super::suspects::{SuspectView, significant_views};
use crate::model::growth::GrowthReport;
use crate::model::verdict::{Evidence, Verdict, VerdictKind};
use crate::units::human_bytes;

/// The verdict, its sentence and the figures it rests on.
#[derive(Serialize)]
pub(crate) struct VerdictView {
    /// `leak`, `retention`, `fragmentation`, `outside_heap`, `steady` or
    /// `too_early`; over another allocator than jemalloc,
    /// `beyond_live_heap` in place of the three it cannot tell apart.
    pub(crate) kind: VerdictKind,
    pub(crate) summary: String,
    pub(crate) evidence: EvidenceView,
}

#[derive(Serialize)]
pub(crate) struct EvidenceView {
    #[serde(flatten)]
    pub(crate) figures: Evidence,
    /// For a leak: the sites that grow steadily, fastest first.
    pub(crate) suspects: Vec<SuspectView>,
    /// The routes that go with them, once each.
    pub(crate) routes: Vec<String>,
}

impl VerdictView {
    pub(crate) fn of(verdict: Verdict, growth: Option<&GrowthReport>, prefix: &str) -> Self {
        let suspects = match growth {
            Some(report) if verdict.kind == VerdictKind::Leak => significant_views(report, prefix),
            _ => Vec::new(),
        };
        let mut routes: Vec<String> = Vec::new();
        for route in suspects.iter().filter_map(|suspect| suspect.route.as_ref()) {
            if !routes.contains(&route.route) {
                routes.push(route.route.clone());
            }
        }
        Self {
            kind: verdict.kind,
            summary: verdict.summary,
            evidence: EvidenceView {
                figures: verdict.evidence,
                suspects,
                routes,
            },
        }
    }

    /// `leak`, as the page's style names it.
    pub(crate) fn kind_name(&self) -> &'static str {
        match self.kind {
            VerdictKind::Leak => "leak",
            VerdictKind::Retention => "retention",
            VerdictKind::Fragmentation => "fragmentation",
            VerdictKind::OutsideHeap => "outside_heap",
            VerdictKind::BeyondLiveHeap => "beyond_live_heap",
            VerdictKind::Steady => "steady",
            VerdictKind::TooEarly => "too_early",
        }
    }

    /// Whether a purge would give back what grew.
    pub(crate) fn offers_purge(&self) -> bool {
        self.kind == VerdictKind::Retention
    }

    /// `over 10 min, 61 timeline points, 11 heap snapshots; growth below
    /// 4.00 MiB is noise`.
    pub(crate) fn window_text(&self) -> String {
        let figures = &self.evidence.figures;
        format!(
            "over {}, {} timeline points, {} heap snapshots; growth below {} is noise",
            crate::units::duration_text(figures.window_seconds.round() as u64),
            figures.timeline_points,
            figures.heap_snapshots,
            human_bytes(figures.noise_bytes)
        )
    }
}
