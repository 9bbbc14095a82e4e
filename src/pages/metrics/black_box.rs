//! The black box's series: captures written by reason, the last one's
//! time, and the captures that could not be written (a read-only or full
//! volume), present where the layer has a black box.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::model::black_box::reason::tally;

pub(super) fn register_black_box(registry: &mut Registry) {
    let tally = tally();
    let taken = Family::<Vec<(&'static str, &'static str)>, Counter<u64>>::default();
    for (reason, count) in &tally.taken {
        taken
            .get_or_create(&vec![("reason", reason.name())])
            .inc_by(*count);
    }
    registry.register(
        "black_box_captures",
        "Black box captures written, by why they were taken.",
        taken,
    );
    let failed = Counter::<u64>::default();
    failed.inc_by(tally.failed);
    registry.register(
        "black_box_write_failures",
        "Black box captures that could not be written, and directories found unwritable.",
        failed,
    );
    if let Some(unix_ms) = tally.last_taken_unix_ms {
        let last = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        last.set(unix_ms as f64 / 1000.0);
        registry.register(
            "black_box_last_capture_timestamp_seconds",
            "When the last black box capture was written, in seconds since the Unix epoch.",
            last,
        );
    }
}
