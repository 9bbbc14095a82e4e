//! The live heap as a `perftools.profiles.Profile`, as Go's runtime writes
//! it for `/debug/pprof/heap` and `/debug/pprof/allocs`, so that
//! `go tool pprof`, Parca and Grafana Pyroscope read it as they read a Go
//! server's.
//!
//! Values are the pages' estimates (each sampled stack scaled up by the
//! chance of its size being sampled), the period is the sample interval,
//! and locations keep their real return addresses inside mappings that
//! name their files and build ids. Functions are symbolized here, in the
//! process, since a profiler that scrapes the profile may have no access
//! to the binary: an address's inlined frames are lines of one location,
//! innermost first. memscope's own allocations are left out, as on the
//! pages. Each sample is labelled with what its route tag names:
//! `http.route` the request's route (`(no request)` where none), or
//! `memscope.scope` the name of a `memscope::scope`, so that Parca, Grafana
//! Pyroscope and `go tool pprof -tags` split the heap by route.

use std::collections::HashMap;

use pprof::protos::{Label, Profile, Sample};

use super::encode::ProfileBuilder;
use crate::model::heap::{Grouping, HeapSnapshot, Stack, key_of, route_of_tag};
use crate::model::symbols::{Frame, FrameKind};
use crate::record::is_scope_tag;

/// Which of Go's two heap endpoints a profile is for: the same profile,
/// with another sample type shown first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeapProfileKind {
    /// `/pprof/heap`: what is live (`inuse_space`).
    InUse,
    /// `/pprof/allocs`: what was allocated (`alloc_space`), where jemalloc
    /// accumulates it; else what is live.
    Allocations,
}

/// The snapshot as a profile.
pub(crate) fn heap_profile(snapshot: &HeapSnapshot, kind: HeapProfileKind) -> Profile {
    let stacks: Vec<(&Stack, [f64; 4])> = snapshot
        .stacks
        .iter()
        .filter(|stack| !is_memscopes(stack))
        .map(|stack| (stack, values_of(stack)))
        .collect();
    build(snapshot, kind, &stacks)
}

/// What grew from `then` to `now`, stack by stack, as Go answers
/// `?seconds=N`: `now`'s values less `then`'s.
pub(crate) fn heap_profile_delta(
    then: &HeapSnapshot,
    now: &HeapSnapshot,
    kind: HeapProfileKind,
) -> Profile {
    // Two snapshots number their addresses apart: stacks are matched by
    // their addresses.
    let addresses_of = |stack: &Stack| -> Vec<u64> { stack.addresses().collect() };
    let mut before: HashMap<Vec<u64>, [f64; 4]> = then
        .stacks
        .iter()
        .filter(|stack| !is_memscopes(stack))
        .map(|stack| (addresses_of(stack), values_of(stack)))
        .collect();
    let mut stacks: Vec<(&Stack, [f64; 4])> = now
        .stacks
        .iter()
        .filter(|stack| !is_memscopes(stack))
        .map(|stack| {
            let was = before.remove(&addresses_of(stack)).unwrap_or_default();
            let is = values_of(stack);
            (stack, std::array::from_fn(|index| is[index] - was[index]))
        })
        .collect();
    // Stacks that were there and are gone shrank to nothing.
    stacks.extend(then.stacks.iter().filter_map(|stack| {
        let was = before.get(&addresses_of(stack))?;
        Some((stack, was.map(|value| -value)))
    }));
    let mut profile = build(now, kind, &stacks);
    profile.duration_nanos = now
        .moment
        .instant
        .duration_since(then.moment.instant)
        .as_nanos() as i64;
    profile
}

/// A stack's addresses and frames from the function that allocated on:
/// the allocator's and the standard library's frames at the leaf are left
/// out, as Go's runtime leaves out its allocator's, so that a profile's
/// top entries name the code that allocated. An address whose frames are
/// partly the allocator's (a `Vec::with_capacity` inlined into the caller)
/// keeps the caller's.
fn allocating_frames(stack: &Stack) -> impl Iterator<Item = (u64, &[Frame])> {
    let plumbing = |frame: &Frame| frame.kind == FrameKind::Allocator;
    let first = stack
        .address_frames()
        .position(|frames| !frames.iter().all(plumbing))
        .unwrap_or(0);
    stack
        .addresses()
        .zip(stack.address_frames())
        .skip(first)
        .enumerate()
        .map(move |(index, (address, frames))| {
            let frames: &[Frame] = frames;
            let frames = if index == 0 {
                let own = frames
                    .iter()
                    .position(|frame| !plumbing(frame))
                    .unwrap_or(0);
                &frames[own..]
            } else {
                frames
            };
            (address, frames)
        })
}

/// memscope's own allocations are left out, as on the pages (`/metrics`
/// has them as `memscope_own_heap_bytes`): a profile is for finding the
/// application's leaks.
fn is_memscopes(stack: &Stack) -> bool {
    key_of(stack, Grouping::Site).is_none()
}

/// `[alloc_objects, alloc_space, inuse_objects, inuse_space]`.
fn values_of(stack: &Stack) -> [f64; 4] {
    [
        stack.allocated.objects,
        stack.allocated.bytes,
        stack.objects,
        stack.bytes,
    ]
}

fn build(snapshot: &HeapSnapshot, kind: HeapProfileKind, stacks: &[(&Stack, [f64; 4])]) -> Profile {
    // Without `prof_accum`, jemalloc keeps no allocation totals, and a
    // sample type of zeros would read as "nothing was allocated".
    let types: &[usize] = if snapshot.accumulates {
        &[0, 1, 2, 3]
    } else {
        &[2, 3]
    };
    const NAMES: [(&str, &str); 4] = [
        ("alloc_objects", "count"),
        ("alloc_space", "bytes"),
        ("inuse_objects", "count"),
        ("inuse_space", "bytes"),
    ];
    let mut builder = ProfileBuilder::new(&snapshot.mappings);
    if let Some(build_ids) = &snapshot.mapping_build_ids {
        builder = builder.with_build_ids(build_ids);
    }
    let sample_type = types
        .iter()
        .map(|&index| builder.value_type(NAMES[index]))
        .collect();
    builder.profile.sample_type = sample_type;
    builder.profile.period_type = Some(builder.value_type(("space", "bytes")));
    builder.profile.period = snapshot.moment.sample_interval as i64;
    let default = match kind {
        HeapProfileKind::Allocations if snapshot.accumulates => "alloc_space",
        _ => "inuse_space",
    };
    builder.profile.default_sample_type = builder.string(default);
    builder.profile.time_nanos = snapshot
        .moment
        .taken_at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as i64);
    for (stack, values) in stacks {
        let value: Vec<i64> = types
            .iter()
            .map(|&index| values[index].round() as i64)
            .collect();
        if value.iter().all(|value| *value == 0) {
            continue;
        }
        let location_id = allocating_frames(stack)
            .map(|(address, frames)| builder.location(address, frames))
            .collect();
        let label = vec![route_label(&mut builder, stack.tag)];
        builder.profile.sample.push(Sample {
            location_id,
            value,
            label,
        });
    }
    builder.finish()
}

/// The label of a sample taken under `tag`: its route, or its scope.
fn route_label(builder: &mut ProfileBuilder<'_>, tag: u32) -> Label {
    let key = if is_scope_tag(tag) {
        SCOPE_LABEL
    } else {
        ROUTE_LABEL
    };
    Label {
        key: builder.string(key),
        str: builder.string(&route_of_tag(tag)),
        num: 0,
        num_unit: 0,
    }
}

/// The label keys: OpenTelemetry's name for a route, and memscope's for a
/// scope.
const ROUTE_LABEL: &str = "http.route";
const SCOPE_LABEL: &str = "memscope.scope";

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::allocator::Counts;
    use crate::model::process::objects::MappedFile;

    fn frame(function: &str, line: u32) -> Frame {
        Frame {
            function: function.into(),
            file: Some("src/main.rs".into()),
            line: Some(line),
            kind: FrameKind::App,
        }
    }

    fn stack(addresses: &[u64], bytes: f64, allocated_bytes: f64) -> Stack {
        let frames = addresses
            .iter()
            .map(|address| {
                // The leaf address has an inlined frame in it.
                let frames = if *address == addresses[0] {
                    vec![
                        frame("app::inlined", 7),
                        frame(&format!("app::f{address:x}"), 3),
                    ]
                } else {
                    vec![frame(&format!("app::f{address:x}"), 3)]
                };
                Arc::from(frames)
            })
            .collect();
        with_values(
            Stack::of(addresses.to_vec(), frames),
            bytes,
            allocated_bytes,
        )
    }

    fn with_values(stack: Stack, bytes: f64, allocated_bytes: f64) -> Stack {
        Stack {
            objects: bytes / 100.0,
            bytes,
            samples: 1,
            bytes_variance: 0.0,
            allocated: Counts {
                sampled_objects: 1,
                sampled_bytes: 100,
                objects: allocated_bytes / 100.0,
                bytes: allocated_bytes,
                bytes_variance: 0.0,
            },
            ..stack
        }
    }

    fn snapshot(stacks: Vec<Stack>, accumulates: bool) -> HeapSnapshot {
        let mut snapshot = HeapSnapshot::of_stacks(stacks);
        snapshot.accumulates = accumulates;
        snapshot.mappings = vec![MappedFile {
            start: 0x1000,
            end: 0x9000,
            offset: 0,
            path: "/nonexistent/app".to_owned(),
        }];
        snapshot
    }

    fn names(profile: &Profile) -> Vec<&str> {
        profile
            .sample_type
            .iter()
            .map(|ty| profile.string_table[ty.ty as usize].as_str())
            .collect()
    }

    #[test]
    fn writes_go_s_heap_profile() {
        let profile = heap_profile(
            &snapshot(
                vec![
                    stack(&[0x1100, 0x1200], 1000.0, 5000.0),
                    stack(&[0x1300, 0x1200], 500.0, 500.0),
                ],
                true,
            ),
            HeapProfileKind::Allocations,
        );
        assert_eq!(
            names(&profile),
            [
                "alloc_objects",
                "alloc_space",
                "inuse_objects",
                "inuse_space"
            ]
        );
        assert_eq!(
            profile.string_table[profile.default_sample_type as usize],
            "alloc_space"
        );
        let period = profile.period_type.unwrap();
        assert_eq!(profile.string_table[period.ty as usize], "space");
        assert_eq!(profile.string_table[period.unit as usize], "bytes");
        assert_eq!(profile.period, 1 << 19);
        assert_eq!(profile.sample.len(), 2);
        assert_eq!(profile.sample[0].value, vec![50, 5000, 10, 1000]);
        // Three addresses, the shared caller once; each in the mapping.
        assert_eq!(profile.location.len(), 3);
        assert!(
            profile
                .location
                .iter()
                .all(|location| location.mapping_id == 1)
        );
        assert_eq!(profile.location[0].address, 0x1100);
        // The leaf's inlined frame first, then the function it is inlined in.
        let lines: Vec<&str> = profile.location[0]
            .line
            .iter()
            .map(|line| {
                let function = &profile.function[line.function_id as usize - 1];
                profile.string_table[function.name as usize].as_str()
            })
            .collect();
        assert_eq!(lines, ["app::inlined", "app::f1100"]);
        assert_eq!(
            profile.string_table[profile.mapping[0].filename as usize],
            "/nonexistent/app"
        );
    }

    #[test]
    fn samples_carry_their_route_or_scope() {
        let scope = crate::record::scope_tag("job:reindex");
        let tagged = Stack {
            tag: scope,
            ..stack(&[0x1300, 0x1200], 500.0, 500.0)
        };
        let profile = heap_profile(
            &snapshot(vec![stack(&[0x1100, 0x1200], 1000.0, 0.0), tagged], false),
            HeapProfileKind::InUse,
        );
        let labels: Vec<(&str, &str)> = profile
            .sample
            .iter()
            .flat_map(|sample| &sample.label)
            .map(|label| {
                (
                    profile.string_table[label.key as usize].as_str(),
                    profile.string_table[label.str as usize].as_str(),
                )
            })
            .collect();
        assert_eq!(
            labels,
            [
                ("http.route", "(no request)"),
                ("memscope.scope", "job:reindex")
            ]
        );
    }

    #[test]
    fn samples_start_at_the_code_that_allocated() {
        let alloc = Frame {
            function: "alloc::raw_vec::RawVecInner<A>::allocate_in".into(),
            file: Some("/rustc/x/library/alloc/src/raw_vec.rs".into()),
            line: Some(1),
            kind: FrameKind::Allocator,
        };
        // The leaf address is jemalloc's; the next has `Vec` inlined into
        // the caller.
        let allocating = with_values(
            Stack::of(
                vec![0x1100, 0x1200, 0x1300],
                vec![
                    Arc::from(vec![alloc.clone()]),
                    Arc::from(vec![alloc, frame("app::cache::store", 12)]),
                    Arc::from(vec![frame("app::f1300", 3)]),
                ],
            ),
            100.0,
            0.0,
        );
        let profile = heap_profile(&snapshot(vec![allocating], false), HeapProfileKind::InUse);
        let leaf = &profile.location[profile.sample[0].location_id[0] as usize - 1];
        assert_eq!(leaf.address, 0x1200);
        let function = &profile.function[leaf.line[0].function_id as usize - 1];
        assert_eq!(
            profile.string_table[function.name as usize],
            "app::cache::store"
        );
        assert_eq!(profile.sample[0].location_id.len(), 2);
    }

    #[test]
    fn without_accumulation_only_in_use_types() {
        let heap = snapshot(vec![stack(&[0x1100], 1000.0, 0.0)], false);
        let allocs = heap_profile(&heap, HeapProfileKind::Allocations);
        assert_eq!(names(&allocs), ["inuse_objects", "inuse_space"]);
        assert_eq!(
            allocs.string_table[allocs.default_sample_type as usize],
            "inuse_space"
        );
        assert_eq!(allocs.sample[0].value, vec![10, 1000]);
    }

    #[test]
    fn a_delta_is_now_less_then() {
        let then = snapshot(
            vec![stack(&[0x1100], 1000.0, 0.0), stack(&[0x1300], 300.0, 0.0)],
            false,
        );
        let now = snapshot(
            vec![stack(&[0x1100], 1500.0, 0.0), stack(&[0x1400], 200.0, 0.0)],
            false,
        );
        let delta = heap_profile_delta(&then, &now, HeapProfileKind::InUse);
        let mut values: Vec<(u64, i64)> = delta
            .sample
            .iter()
            .map(|sample| {
                let location = &delta.location[sample.location_id[0] as usize - 1];
                (location.address, sample.value[1])
            })
            .collect();
        values.sort();
        assert_eq!(values, [(0x1100, 500), (0x1300, -300), (0x1400, 200)]);
    }
}
