use std::time::{Duration, SystemTime};

use super::rss::Part;
use super::*;
use crate::model::allocator::AllocatorStats;
use crate::model::heap::{Grouping, SiteId};
use crate::model::over_time::growth::{RouteMatch, Suspect};
use crate::model::process::ResidentByKind;

const MIB: u64 = 1 << 20;

/// A timeline of `n` points a second apart, each built by `at` from its
/// index: (allocated, active, resident, anonymous RSS outside jemalloc).
fn timeline(n: u64, at: impl Fn(u64) -> (u64, u64, u64, u64)) -> Vec<TimelinePoint> {
    (0..n)
        .map(|i| {
            let (allocated, active, resident, outside) = at(i);
            TimelinePoint {
                unix_ms: 1_000_000 + i * 1000,
                allocated,
                resident,
                rss: None,
                requests: i,
                stats: AllocatorStats {
                    allocated,
                    active,
                    resident,
                    mapped: resident,
                    retained: 0,
                    metadata: 4 * MIB,
                },
                kinds: Some(ResidentByKind {
                    anonymous: resident + outside,
                    file: 20 * MIB,
                    shared: 0,
                }),
                memscope_mapped: 0,
            }
        })
        .collect()
}

fn judge_timeline(points: &[TimelinePoint]) -> Verdict {
    judge(&Watch {
        timeline: points,
        timeline_interval: Duration::from_secs(1),
        history: None,
    })
}

/// 100 MiB live in 110 MiB of pages, 120 MiB resident, 10 MiB outside.
fn flat(_: u64) -> (u64, u64, u64, u64) {
    (100 * MIB, 110 * MIB, 120 * MIB, 10 * MIB)
}

#[test]
fn nothing_growing_is_steady() {
    let verdict = judge_timeline(&timeline(60, flat));
    assert_eq!(verdict.kind, VerdictKind::Steady, "{:?}", verdict.reason);
    assert_eq!(verdict.evidence.parts.len(), 7);
    assert_eq!(verdict.evidence.noise_bytes, 4 * MIB);
}

#[test]
fn freed_pages_kept_are_retention() {
    let points = timeline(60, |i| {
        let kept = if i >= 20 { 200 * MIB } else { 0 };
        (100 * MIB, 110 * MIB, 120 * MIB + kept, 10 * MIB)
    });
    let verdict = judge_timeline(&points);
    assert_eq!(verdict.kind, VerdictKind::Retention, "{:?}", verdict.reason);
    assert_eq!(verdict.evidence.grown_part, Some(Part::KeptForReuse));
    assert_eq!(verdict.evidence.purgeable_bytes, 206 * MIB);
}

#[test]
fn pages_filling_with_holes_are_fragmentation() {
    let points = timeline(60, |i| {
        let holes = i * MIB;
        (100 * MIB, 110 * MIB + holes, 120 * MIB + holes, 10 * MIB)
    });
    let verdict = judge_timeline(&points);
    assert_eq!(
        verdict.kind,
        VerdictKind::Fragmentation,
        "{:?}",
        verdict.reason
    );
}

#[test]
fn memory_jemalloc_does_not_hold_is_outside_the_heap() {
    let points = timeline(60, |i| {
        let threads = if i >= 30 { 64 * MIB } else { 0 };
        (100 * MIB, 110 * MIB, 120 * MIB, 10 * MIB + threads)
    });
    let verdict = judge_timeline(&points);
    assert_eq!(
        verdict.kind,
        VerdictKind::OutsideHeap,
        "{:?}",
        verdict.reason
    );
    assert_eq!(verdict.evidence.grown_part, Some(Part::OutsideJemalloc));
    assert!(
        matches!(verdict.reason, Reason::PartGrew { grown, .. } if grown.part == Part::OutsideJemalloc),
        "{:?}",
        verdict.reason
    );
}

#[test]
fn live_bytes_growing_all_along_are_a_leak_even_unnamed() {
    let points = timeline(60, |i| {
        let leaked = i * MIB;
        (
            100 * MIB + leaked,
            110 * MIB + leaked,
            120 * MIB + leaked,
            10 * MIB,
        )
    });
    let verdict = judge_timeline(&points);
    assert_eq!(verdict.kind, VerdictKind::Leak, "{:?}", verdict.reason);
    assert!(verdict.evidence.suspects.is_empty());
    // A cache that filled once is not.
    let points = timeline(60, |i| {
        let cache = if i >= 10 { 50 * MIB } else { 0 };
        (
            100 * MIB + cache,
            110 * MIB + cache,
            120 * MIB + cache,
            10 * MIB,
        )
    });
    let verdict = judge_timeline(&points);
    assert_eq!(verdict.kind, VerdictKind::Steady, "{:?}", verdict.reason);
    assert!(
        matches!(verdict.reason, Reason::LiveHeapRoseOnce { .. }),
        "{:?}",
        verdict.reason
    );
}

#[test]
fn memscope_s_own_debug_info_is_not_outside_the_heap() {
    let mut points = timeline(60, flat);
    for point in &mut points[30..] {
        point.kinds.as_mut().unwrap().file += 80 * MIB;
        point.memscope_mapped = 120 * MIB;
    }
    let verdict = judge_timeline(&points);
    assert_eq!(verdict.kind, VerdictKind::Steady, "{:?}", verdict.reason);
    assert_eq!(verdict.reason, Reason::NothingGrew);
    assert_eq!(verdict.evidence.rss.unwrap().growth, 80 * MIB as i64);
    // All the file-backed pages after it (20 + 80 MiB) are within what
    // memscope mapped.
    assert_eq!(
        verdict.evidence.memscope_debug_info.unwrap().growth,
        100 * MIB as i64
    );
}

fn suspect(significant: bool) -> Suspect {
    Suspect {
        id: SiteId::of(Grouping::Site, "app::cache::store"),
        name: "app::cache::store".to_owned(),
        location: "src/cache.rs:42".to_owned(),
        bytes: 3e6,
        growth: 2e6,
        growth_error: 2e5,
        bytes_per_minute: 1e6,
        bytes_per_minute_error: 1e5,
        steadiness: 1.0,
        significant,
        route: Some(RouteMatch {
            route: "/json".to_owned(),
            requests: 2000,
            bytes_per_request: 966.0,
            mean_net: 900.0,
            fit: 0.9,
            from_tags: true,
        }),
    }
}

fn with_history<'a>(
    points: &'a [TimelinePoint],
    growth: &'a GrowthReport,
    snapshots: usize,
) -> Watch<'a> {
    let at = |ms: u64| SystemTime::UNIX_EPOCH + Duration::from_millis(ms);
    Watch {
        timeline: points,
        timeline_interval: Duration::from_secs(1),
        history: Some(HistoryWatch {
            interval: Duration::from_secs(10),
            snapshots,
            first_taken: points.get(10).map(|point| at(point.unix_ms)),
            last_taken: Some(SystemTime::now()),
            growth,
        }),
    }
}

#[test]
fn significant_growth_suspects_are_a_leak_named_with_their_route() {
    let points = timeline(60, flat);
    let growth = GrowthReport {
        snapshots: 5,
        minutes: 0.8,
        suspects: vec![suspect(true), suspect(false)],
        omitted: 0,
    };
    let watch = with_history(&points, &growth, 5);
    assert_eq!(
        watch.window().len(),
        51,
        "from the history's first snapshot"
    );
    let verdict = judge(&watch);
    assert_eq!(verdict.kind, VerdictKind::Leak, "{:?}", verdict.reason);
    assert_eq!(verdict.evidence.suspects.len(), 1);
    let leading = &verdict.evidence.suspects[0];
    assert_eq!(leading.name, "app::cache::store");
    assert_eq!(leading.route.as_ref().unwrap().route, "/json");
    assert_eq!(verdict.reason, Reason::SitesGrow { minutes: 0.8 });
    assert_eq!(verdict.evidence.heap_snapshots, 5);

    let none = GrowthReport {
        suspects: vec![suspect(false)],
        ..GrowthReport::default()
    };
    let verdict = judge(&with_history(&points, &none, 5));
    assert_eq!(verdict.kind, VerdictKind::Steady, "{:?}", verdict.reason);
}

#[test]
fn a_short_history_is_too_early_and_says_when_it_will_know() {
    let points = timeline(60, flat);
    let growth = GrowthReport::default();
    let verdict = judge(&with_history(&points, &growth, 1));
    assert_eq!(verdict.kind, VerdictKind::TooEarly, "{:?}", verdict.reason);
    let knows_in = verdict.evidence.knows_in_seconds.unwrap();
    assert!((19..=20).contains(&knows_in), "{knows_in}");
    assert!(
        matches!(
            verdict.reason,
            Reason::TooEarly {
                history: Some((1, _)),
                ..
            }
        ),
        "{:?}",
        verdict.reason
    );
    let verdict = judge_timeline(&points[..2]);
    assert_eq!(verdict.kind, VerdictKind::TooEarly, "{:?}", verdict.reason);
}

#[test]
fn sites_growing_beyond_noise_are_a_leak_before_the_history_is_full() {
    // The growth page names a site after two snapshots: the verdict says
    // the same, not "too early".
    let points = timeline(60, flat);
    let growth = GrowthReport {
        snapshots: 2,
        minutes: 0.2,
        suspects: vec![suspect(true)],
        omitted: 0,
    };
    let verdict = judge(&with_history(&points, &growth, 2));
    assert_eq!(verdict.kind, VerdictKind::Leak, "{:?}", verdict.reason);
    assert_eq!(verdict.evidence.knows_in_seconds, None);
}
