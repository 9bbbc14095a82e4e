//! A CPU capture as the pages list it: on its own page and in the request
//! list's table of captures.

use serde::Serialize;

use crate::model::cpu::{CpuCapture, FREQUENCY_HZ};

/// What the pages list of a capture.
#[derive(Debug, Serialize)]
pub(crate) struct CaptureSummary {
    pub(crate) id: u64,
    pub(crate) started_unix: u64,
    pub(crate) seconds: u64,
    pub(crate) samples: u64,
    /// Samples the sampler had no room for.
    pub(crate) dropped_samples: u64,
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
            flamegraph: format!("{link}/flamegraph.svg"),
            pprof: format!("{link}/profile.pb.gz"),
            link,
        }
    }

    pub(crate) fn summary(&self) -> String {
        format!(
            "{} s at {FREQUENCY_HZ} Hz, {} samples",
            self.seconds, self.samples
        )
    }
}
