//! A CPU capture as the pages list it: on its own page and in the request
//! list's table of captures.

use serde::Serialize;

use crate::model::cpu::{CpuCapture, FREQUENCY_HZ};
use crate::units::grouped;

/// What the pages list of a capture.
#[derive(Debug, Serialize)]
pub(crate) struct CaptureSummary {
    pub(crate) id: u64,
    pub(crate) started_unix: u64,
    pub(crate) seconds: u64,
    pub(crate) samples: u64,
    /// Samples the sampler had no room for.
    pub(crate) dropped_samples: u64,
    /// Samples skipped because their thread had too little stack left for
    /// the walk.
    pub(crate) skipped_for_stack: u64,
    pub(crate) link: String,
    pub(crate) flamegraph: String,
    pub(crate) pprof: String,
}

impl CaptureSummary {
    pub(crate) fn of(capture: &CpuCapture, prefix: &str) -> Self {
        let link = format!("{prefix}/profiles/cpu/{}", capture.id);
        Self {
            id: capture.id,
            started_unix: capture.started_unix,
            seconds: capture.seconds,
            samples: capture.samples,
            dropped_samples: capture.dropped_samples,
            skipped_for_stack: capture.skipped_for_stack,
            flamegraph: format!("{link}/flamegraph.svg"),
            pprof: format!("{link}/profile.pb.gz"),
            link,
        }
    }

    /// `10 s at 99 Hz, 1,980 samples (12 samples skipped: too little
    /// stack)`.
    pub(crate) fn summary(&self) -> String {
        let mut summary = format!(
            "{} s at {FREQUENCY_HZ} Hz, {} samples",
            self.seconds,
            grouped(self.samples)
        );
        if self.skipped_for_stack > 0 {
            summary.push_str(&format!(
                " ({} skipped: too little stack)",
                samples_text(self.skipped_for_stack)
            ));
        }
        if self.dropped_samples > 0 {
            summary.push_str(&format!(
                " ({} dropped: the sampler's table was full)",
                samples_text(self.dropped_samples)
            ));
        }
        summary
    }
}

/// `1 sample`, `12 samples`.
pub(crate) fn samples_text(count: u64) -> String {
    match count {
        1 => "1 sample".to_owned(),
        count => format!("{} samples", grouped(count)),
    }
}
