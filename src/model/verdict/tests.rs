use std::time::{Duration, SystemTime};

use super::rss::Part;
use super::*;
use crate::model::allocator::AllocatorStats;
use crate::model::heap::{Grouping, SiteId};
use crate::model::over_time::growth::{RouteMatch, Suspect};
use crate::model::over_time::reading::MemoryReading;
use crate::model::over_time::tasks::TaskGrowth;
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
                memory: MemoryReading {
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
                    allocator_figures: true,
                    ..MemoryReading::default()
                },
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
    assert_eq!(verdict.evidence.parts.len(), 13);
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
fn memory_jemalloc_does_not_hold_is_outside_the_heap_and_named() {
    let stacks = |i| if i >= 30 { 64 * MIB } else { MIB };
    let mut points = timeline(60, |i| {
        (100 * MIB, 110 * MIB, 120 * MIB, 10 * MIB + stacks(i))
    });
    for (i, point) in points.iter_mut().enumerate() {
        point.memory.thread_stacks = stacks(i as u64);
    }
    let verdict = judge_timeline(&points);
    assert_eq!(
        verdict.kind,
        VerdictKind::OutsideHeap,
        "{:?}",
        verdict.reason
    );
    assert_eq!(verdict.evidence.grown_part, Some(Part::ThreadStacks));
    assert!(
        matches!(verdict.reason, Reason::PartGrew { grown, .. } if grown.part == Part::ThreadStacks && grown.growth == 63 * MIB as i64),
        "{:?}",
        verdict.reason
    );
}

#[test]
fn a_small_live_heap_rise_beside_a_larger_growth_elsewhere_is_that_growth() {
    // The threads' stacks grow 200 MiB, and with each thread its allocator
    // cache: the live heap rises too, steadily, by 6 MiB.
    let mut points = timeline(60, |i| {
        let caches = i * MIB / 10;
        (
            100 * MIB + caches,
            110 * MIB + caches,
            120 * MIB + caches,
            10 * MIB,
        )
    });
    for (i, point) in points.iter_mut().enumerate() {
        let stacks = i as u64 * 200 * MIB / 60;
        point.memory.thread_stacks = stacks;
        point.memory.kinds.as_mut().unwrap().anonymous += stacks;
    }
    let verdict = judge_timeline(&points);
    assert_eq!(
        verdict.kind,
        VerdictKind::OutsideHeap,
        "{:?}",
        verdict.reason
    );
    assert_eq!(verdict.evidence.grown_part, Some(Part::ThreadStacks));
}

#[test]
fn the_parts_growth_adds_up_to_the_rss_s_with_rates_of_its_sign() {
    // Parts that jitter every point: the fitted rate and the ends' means
    // may disagree in sign, the difference and its rate do not.
    let points = timeline(60, |i| {
        let jitter = (i * 7919 % 13) * MIB / 4;
        (
            100 * MIB,
            110 * MIB + jitter,
            150 * MIB - jitter,
            10 * MIB + jitter,
        )
    });
    let verdict = judge_timeline(&points);
    let evidence = &verdict.evidence;
    let parts_growth: i64 = evidence.parts.iter().map(|part| part.growth).sum();
    assert_eq!(Some(parts_growth), evidence.rss_growth);
    for part in &evidence.parts {
        assert_eq!(
            part.growth.signum() as f64,
            part.bytes_per_minute.signum() * (part.growth != 0) as i64 as f64,
            "{part:?}"
        );
        assert_eq!(
            part.last as i64 - part.first as i64,
            part.growth,
            "{part:?}"
        );
    }
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
        point.memory.kinds.as_mut().unwrap().file += 80 * MIB;
        point.memory.memscope_debug_info = 120 * MIB;
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
        ..GrowthReport::default()
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
        ..GrowthReport::default()
    };
    let verdict = judge(&with_history(&points, &growth, 2));
    assert_eq!(verdict.kind, VerdictKind::Leak, "{:?}", verdict.reason);
    assert_eq!(verdict.evidence.knows_in_seconds, None);
}

fn task_site(piles_up: bool) -> TaskGrowth {
    TaskGrowth {
        name: "app::watch::spawn_watchers".to_owned(),
        location: "src/watch.rs:20".to_owned(),
        first: 10.0,
        last: 2010.0,
        growth: 2000.0,
        growth_error: 60.0,
        tasks_per_minute: 2400.0,
        bytes: 2010.0 * 320.0,
        steadiness: 1.0,
        piles_up,
    }
}

#[test]
fn tasks_that_pile_up_are_judged_before_the_sites_they_make_grow() {
    let mut points = timeline(60, flat);
    for (i, point) in points.iter_mut().enumerate() {
        point.memory.tasks = Some(10 + 40 * i as u64);
    }
    let growth = GrowthReport {
        snapshots: 5,
        minutes: 0.8,
        suspects: vec![suspect(true)],
        tasks: vec![task_site(true)],
        ..GrowthReport::default()
    };
    let verdict = judge(&with_history(&points, &growth, 5));
    assert_eq!(verdict.kind, VerdictKind::Tasks, "{:?}", verdict.reason);
    assert!(matches!(
        verdict.reason,
        Reason::TasksPileUp { alive: Some(_) }
    ));
    assert_eq!(
        verdict
            .evidence
            .task_site
            .as_ref()
            .map(|site| site.name.as_str()),
        Some("app::watch::spawn_watchers")
    );
    // Without heap profiles, the count alone.
    let verdict = judge_timeline(&points);
    assert_eq!(verdict.kind, VerdictKind::Tasks, "{:?}", verdict.reason);
    assert_eq!(verdict.evidence.task_site, None);
}

#[test]
fn tasks_that_come_and_go_are_not_piling_up() {
    let mut points = timeline(60, flat);
    for (i, point) in points.iter_mut().enumerate() {
        // Up and down by hundreds, back where they started.
        point.memory.tasks = Some(500 + (i as u64 % 10) * 50);
    }
    let growth = GrowthReport {
        snapshots: 5,
        minutes: 0.8,
        tasks: vec![task_site(false)],
        ..GrowthReport::default()
    };
    let verdict = judge(&with_history(&points, &growth, 5));
    assert_eq!(verdict.kind, VerdictKind::Steady, "{:?}", verdict.reason);
}
