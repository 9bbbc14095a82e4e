//! The diff page's three comparisons, on hand-built snapshots.

use std::time::Instant;

use std::time::{Duration, SystemTime};

use super::view::{HistoryAsked, MemoryDiff};
use crate::model::heap::DumpMoment;
use crate::model::heap::Grouping;
use crate::model::heap::HeapSnapshot;
use crate::model::heap::table::TableSpec;
use crate::model::heap::table::tests::{alloc, app, stack};
use crate::pages::kit::Page;

/// A heap of `kept` bytes held by `remember` and 1,000 by `steady`, at
/// `instant`, taken `age` ago.
fn heap(kept: f64, instant: Instant, age: Duration) -> HeapSnapshot {
    let mut snapshot = HeapSnapshot::of_stacks(vec![
        stack(&[alloc(), app("app::remember", 10)], kept / 100.0, kept),
        stack(&[alloc(), app("app::steady", 20)], 10.0, 1_000.0),
    ]);
    snapshot.moment = DumpMoment::at(SystemTime::now() - age, instant, 1 << 19);
    snapshot.moment.stats.allocated = kept as u64;
    snapshot
}

fn spec() -> TableSpec {
    TableSpec {
        grouping: Some(Grouping::Site),
        filter: None,
        route: None,
        limit: 10,
    }
}

fn json(diff: &MemoryDiff) -> serde_json::Value {
    serde_json::to_value(diff).unwrap()
}

fn row<'a>(json: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {json}"))
}

fn pair(seconds: u64) -> (HeapSnapshot, HeapSnapshot) {
    let earlier = Instant::now();
    let then = heap(10_000.0, earlier, Duration::from_secs(seconds));
    let now = heap(
        2_010_000.0,
        earlier + Duration::from_secs(seconds),
        Duration::ZERO,
    );
    (then, now)
}

#[test]
fn against_the_baseline_growth_per_request() {
    let (then, now) = pair(30);
    let diff = MemoryDiff::build(&then, &now, 1_000, &spec(), "/_debug");
    let json = json(&diff);
    assert_eq!(json["compared_to"], "baseline");
    assert_eq!(json["baseline_created"], false);
    assert_eq!(json["requests"], 1_000);
    let grown = row(&json, "app::remember");
    assert_eq!(grown["bytes_delta"], 2_000_000);
    assert_eq!(grown["bytes_per_request"], 2_000.0);
    assert_eq!(grown["link"].as_str().unwrap()[..17], *"/_debug/heapdump/");
    assert_eq!(row(&json, "app::steady")["bytes_delta"], 0);
    assert_eq!(json["jemalloc"]["allocated_delta"], 2_000_000);
    assert!(
        diff.heading()
            .starts_with("Growth since the baseline, 30.0 s ago")
    );
    assert!(diff.against_baseline());
}

#[test]
fn over_an_interval() {
    let (then, now) = pair(5);
    let diff = MemoryDiff::over_interval(&then, &now, 0, &spec(), "/_debug");
    let json = json(&diff);
    assert_eq!(json["compared_to"], "interval");
    assert_eq!(
        row(&json, "app::remember")["bytes_per_request"],
        serde_json::Value::Null
    );
    assert!(
        diff.heading().starts_with("Growth over 5.0 s ago"),
        "{}",
        diff.heading()
    );
    assert!(!diff.against_baseline());
}

#[test]
fn since_a_stored_snapshot_says_when_it_is_far_from_what_was_asked() {
    let (then, now) = pair(600);
    let asked = |ago: u64| HistoryAsked {
        ago: Duration::from_secs(ago),
        when: SystemTime::now() - Duration::from_secs(ago),
        interval: Duration::from_secs(60),
    };
    let near = MemoryDiff::since_history(&then, &now, 7, asked(600), &spec(), "/_debug");
    let json = json(&near);
    assert_eq!(json["compared_to"], "history");
    assert_eq!(json["requests"], 7);
    assert!(
        near.heading()
            .starts_with("Growth since the history's snapshot of 600.0 s ago"),
        "{}",
        near.heading()
    );
    assert!(!near.notes[0].starts_with("Asked for"), "{:?}", near.notes);

    let far = MemoryDiff::since_history(&then, &now, 7, asked(3_600), &spec(), "/_debug");
    assert_eq!(
        far.notes[0],
        "Asked for 60 min ago; the nearest snapshot the history keeps is 10 min ago."
    );
}

#[test]
fn a_first_visit_takes_the_baseline_and_compares_nothing() {
    let snapshot = heap(10_000.0, Instant::now(), Duration::ZERO);
    let diff = MemoryDiff::baseline_created(&snapshot, &spec(), "/_debug");
    let json = json(&diff);
    assert_eq!(json["baseline_created"], true);
    assert_eq!(json["total"]["bytes_delta"], 0);
    assert!(diff.heading().starts_with("No baseline yet"));
    let text = diff.text();
    assert!(text.contains("No baseline yet"), "{text}");
}

#[test]
fn the_text_table_names_each_row_with_its_growth() {
    let (then, now) = pair(30);
    let text = MemoryDiff::build(&then, &now, 1_000, &spec(), "/_debug").text();
    let line = text
        .lines()
        .find(|line| line.starts_with("app::remember"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("+1.91 MiB"), "{line}");
    assert!(line.contains("src/main.rs:10"), "{line}");
}
