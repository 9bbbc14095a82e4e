//! `GET /_debug/metrics`: memscope's figures for Prometheus, written with
//! `prometheus-client`: the Prometheus text format (0.0.4) by default, and
//! OpenMetrics when `Accept` asks for it, as Prometheus itself does.
//!
//! Every figure is read when the scrape comes, as the pages read them; the
//! per-route counters are the request log's totals since start, with at
//! most [`routes::MAX_ROUTE_LABELS`] routes as labels (the busiest), the rest added
//! up under `(other routes)`.

mod black_box;
mod routes;

use bytes::Bytes;
use http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Response};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use crate::model::allocator::{AllocatorStats, HeapSource, ProfilingState};
use crate::model::cpu::cpu_profiler_bytes;
use crate::model::heap::{last_own_bytes, snapshots_taken};
use crate::model::over_time::reading::MemoryReading;
use crate::model::process::cgroup::{self, CgroupMemory};
use crate::model::process::resident_set_size;
use crate::model::verdict::{self, rss};
use crate::pages::kit::{Answer, PageError, PageRequest, Query};
use crate::record::RouteTotals;
use black_box::register_black_box;
use routes::{register_route_heaps, register_routes};

const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
const OPENMETRICS_TEXT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub(super) fn page(request: &PageRequest<'_>) -> Answer {
    Query::parse(request.raw_query(), &[])?;
    let mut registry = registry(request.mount.requests.routes(), request.mount.memory_limit);
    if request.mount.black_box.is_some() {
        register_black_box(&mut registry);
    }
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)
        .map_err(|error| PageError::internal(format!("could not write the metrics: {error}")))?;
    let openmetrics = asks_for_openmetrics(request);
    let (body, content_type) = if openmetrics {
        (text, OPENMETRICS_TEXT)
    } else {
        (prometheus_text(&text), PROMETHEUS_TEXT)
    };
    let mut response = Response::new(Bytes::from(body));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Whether `Accept` names OpenMetrics (Prometheus sends it first when it
/// scrapes).
fn asks_for_openmetrics(request: &PageRequest<'_>) -> bool {
    request
        .parts
        .headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|range| {
            let media = range.split(';').next().unwrap_or("").trim();
            let zero = range
                .split(';')
                .any(|param| matches!(param.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            media.eq_ignore_ascii_case("application/openmetrics-text") && !zero
        })
}

fn registry(routes: Vec<(String, RouteTotals)>, memory_limit: Option<u64>) -> Registry {
    let mut registry = Registry::with_prefix("memscope");
    register_allocator(&mut registry);
    register_rss_parts(&mut registry);
    let cgroup = cgroup::read();
    register_cgroup(&mut registry, cgroup.as_ref());
    register_forecast(&mut registry, memory_limit, cgroup.as_ref());
    register_own(&mut registry);
    register_profiling(&mut registry);
    register_routes(&mut registry, routes);
    register_route_heaps(&mut registry);
    registry
}

/// A gauge of bytes: its name, its help, and how to read it.
type BytesGauge<T> = (&'static str, &'static str, fn(&T) -> u64);

/// jemalloc's figures.
const JEMALLOC_GAUGES: &[BytesGauge<AllocatorStats>] = &[
    (
        "jemalloc_allocated",
        "Bytes in live allocations, as jemalloc counts them (under-reported while heap profiling samples).",
        |stats| stats.allocated,
    ),
    (
        "jemalloc_active",
        "Bytes in pages that hold live allocations.",
        |stats| stats.active,
    ),
    (
        "jemalloc_resident",
        "Bytes of the allocator's pages in physical memory, metadata included.",
        |stats| stats.resident,
    ),
    (
        "jemalloc_mapped",
        "Bytes in extents the allocator has mapped and in use.",
        |stats| stats.mapped,
    ),
    (
        "jemalloc_retained",
        "Bytes of virtual memory kept for reuse rather than returned to the system.",
        |stats| stats.retained,
    ),
    (
        "jemalloc_metadata",
        "Bytes of the allocator's own bookkeeping.",
        |stats| stats.metadata,
    ),
];

fn register_bytes(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let gauge = Gauge::<i64>::default();
    gauge.set(value as i64);
    registry.register_with_unit(name, help, Unit::Bytes, gauge);
}

fn register_count(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let gauge = Gauge::<i64>::default();
    gauge.set(value as i64);
    registry.register(name, help, gauge);
}

fn register_flag(registry: &mut Registry, name: &str, help: &str, on: bool) {
    register_count(registry, name, help, u64::from(on));
}

/// jemalloc's figures and the process's resident set.
/// jemalloc's figures; over another allocator, the live bytes memscope's
/// sampling allocator counts, and none of the figures it cannot know.
fn register_allocator(registry: &mut Registry) {
    let source = HeapSource::get();
    let stats = source.figures();
    if source.knows_allocator_figures() {
        for (name, help, read) in JEMALLOC_GAUGES {
            register_bytes(registry, name, help, read(&stats));
        }
    } else {
        register_bytes(
            registry,
            "allocated",
            "Bytes in live allocations, counted exactly by memscope's sampling allocator.",
            stats.allocated,
        );
    }
    if let Some(rss) = resident_set_size() {
        register_bytes(
            registry,
            "process_resident_memory",
            "The process's resident set size.",
            rss,
        );
    }
}

/// The RSS in the overview's parts, the threads, the C library's malloc
/// arenas and the async runtime's live tasks.
fn register_rss_parts(registry: &mut Registry) {
    let reading = MemoryReading::now();
    if let Some((_, parts)) = rss::breakdown(&reading) {
        let family = Family::<Vec<(&'static str, &'static str)>, Gauge>::default();
        for part in parts {
            family
                .get_or_create(&vec![("part", part.part.name())])
                .set(part.bytes as i64);
        }
        registry.register_with_unit(
            "rss_part",
            "The process's resident memory in parts that add up to it: live_heap, memscope_heap, allocator_overhead, kept_for_reuse, allocator_metadata (or beyond_live_heap over another allocator), thread_stacks, libc_malloc, named_maps, other_anonymous, binary, memscope_debug_info, other_files, shared_memory.",
            Unit::Bytes,
            family,
        );
    }
    if reading.threads > 0 {
        register_count(
            registry,
            "threads",
            "The process's threads.",
            u64::from(reading.threads),
        );
    }
    if let Some(libc) = reading.libc {
        register_count(
            registry,
            "libc_malloc_arenas",
            "Arenas of the C library's malloc (glibc): the main one and one for each thread contention made.",
            u64::from(libc.arenas),
        );
    }
    if let Some(tasks) = reading.tasks {
        register_count(
            registry,
            "tasks_alive",
            "Live tasks of the tokio runtime the layer runs on: spawned and not yet ended.",
            tasks,
        );
    }
}

/// The container's memory: its cgroup's limit (where there is one), usage,
/// the page cache counted there, and the OOM kills so far.
fn register_cgroup(registry: &mut Registry, cgroup: Option<&CgroupMemory>) {
    let Some(cgroup) = cgroup else {
        return;
    };
    if let Some(limit) = cgroup.limit {
        register_bytes(
            registry,
            "cgroup_memory_limit",
            "The memory limit of the process's cgroup: the kernel kills a process of it past this.",
            limit,
        );
    }
    register_bytes(
        registry,
        "cgroup_memory_usage",
        "What the kernel counts against the process's cgroup now: its processes' memory, page cache, tmpfs, kernel memory.",
        cgroup.usage,
    );
    if let Some(file) = cgroup.file {
        register_bytes(
            registry,
            "cgroup_memory_page_cache",
            "Page cache counted to the process's cgroup, which the kernel reclaims before an OOM kill.",
            file,
        );
    }
    if let Some(kills) = cgroup.oom_kills {
        let counter = Counter::<u64>::default();
        counter.inc_by(kills);
        registry.register(
            "cgroup_oom_kills",
            "Processes the kernel killed for memory in the process's cgroup.",
            counter,
        );
    }
}

/// When the RSS reaches the nearest memory limit at the rate it grows: a
/// gauge present only while memory grows and there is a limit, for an
/// alert such as `memscope_time_to_limit_seconds < 3600`.
fn register_forecast(
    registry: &mut Registry,
    memory_limit: Option<u64>,
    cgroup: Option<&CgroupMemory>,
) {
    let Some(forecast) = verdict::time_to_limit_now(memory_limit, cgroup) else {
        return;
    };
    let seconds = Gauge::<i64>::default();
    seconds.set(forecast.seconds as i64);
    registry.register_with_unit(
        "time_to_limit",
        "Time until the RSS reaches the nearest memory limit (the cgroup's, or the one set on the layer) at the rate it grew over the heap history's window; absent while it does not grow beyond noise or there is no limit.",
        Unit::Seconds,
        seconds,
    );
    register_bytes(
        registry,
        "memory_limit",
        "The memory limit the time-to-limit forecast is for.",
        forecast.limit,
    );
}

/// What memscope itself keeps.
fn register_own(registry: &mut Registry) {
    register_bytes(
        registry,
        "own_cpu_profiler",
        "Bytes the CPU profiler keeps between captures: memscope's own. 0 where memscope's own sampler runs (x86-64 Linux: its table is freed after each capture); elsewhere pprof's sample table, kept once a capture has run.",
        cpu_profiler_bytes(),
    );
    if let Some(own) = last_own_bytes() {
        register_bytes(
            registry,
            "own_heap",
            "memscope's own live heap, estimated from the last heap snapshot's sampled stacks.",
            own.round() as u64,
        );
    }
}

/// Heap profiling's state, and the snapshots taken.
fn register_profiling(registry: &mut Registry) {
    let state = ProfilingState::read();
    register_flag(
        registry,
        "heap_profiling_enabled",
        "1 when jemalloc's heap profiling was switched on at start-up.",
        state.enabled,
    );
    register_flag(
        registry,
        "heap_profiling_active",
        "1 while heap sampling runs.",
        state.active,
    );
    if let Some(interval) = state.sample_interval() {
        register_bytes(
            registry,
            "heap_profiling_sample_interval",
            "Mean bytes allocated between two sampled allocations.",
            interval,
        );
    }
    let (taken, took) = snapshots_taken();
    let dumps = Counter::<u64>::default();
    dumps.inc_by(taken);
    registry.register(
        "heap_dumps",
        "Heap snapshots taken (jemalloc's dump, parsed and symbolized).",
        dumps,
    );
    let dump_time = Counter::<f64, std::sync::atomic::AtomicU64>::default();
    dump_time.inc_by(took.as_secs_f64());
    registry.register_with_unit(
        "heap_dump",
        "Time spent taking heap snapshots.",
        Unit::Seconds,
        dump_time,
    );
}

/// `prometheus-client` writes OpenMetrics; the Prometheus text format it
/// descends from differs in three ways this undoes: no `# EOF` and no
/// `# UNIT` lines, and a counter's family is named with its samples'
/// `_total` suffix.
fn prometheus_text(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    let mut help: Option<&str> = None;
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if line.starts_with("# HELP ") {
            // Held until its TYPE line says whether it is a counter's.
            if let Some(help) = help.replace(line) {
                out.push_str(help);
                out.push('\n');
            }
            continue;
        }
        if let Some(declared) = line.strip_prefix("# TYPE ")
            && let Some(name) = declared.strip_suffix(" counter")
        {
            if let Some(help) = help.take() {
                out.push_str(&help.replacen(
                    &format!("# HELP {name} "),
                    &format!("# HELP {name}_total "),
                    1,
                ));
                out.push('\n');
            }
            out.push_str(&format!("# TYPE {name}_total counter\n"));
            continue;
        }
        if let Some(help) = help.take() {
            out.push_str(help);
            out.push('\n');
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::routes::{MAX_ROUTE_LABELS, OTHER_ROUTES, bounded_routes};
    use super::*;

    fn totals(requests: u64) -> RouteTotals {
        RouteTotals {
            requests,
            allocated: requests * 10,
            ..RouteTotals::default()
        }
    }

    #[test]
    fn counters_are_renamed_for_the_prometheus_format() {
        let openmetrics = "# HELP memscope_requests Requests.\n# TYPE memscope_requests counter\n\
            memscope_requests_total{route=\"/\"} 3\n# HELP memscope_jemalloc_allocated_bytes Bytes.\n\
            # TYPE memscope_jemalloc_allocated_bytes gauge\n# UNIT memscope_jemalloc_allocated_bytes bytes\n\
            memscope_jemalloc_allocated_bytes 7\n# EOF\n";
        assert_eq!(
            prometheus_text(openmetrics),
            "# HELP memscope_requests_total Requests.\n# TYPE memscope_requests_total counter\n\
             memscope_requests_total{route=\"/\"} 3\n# HELP memscope_jemalloc_allocated_bytes Bytes.\n\
             # TYPE memscope_jemalloc_allocated_bytes gauge\nmemscope_jemalloc_allocated_bytes 7\n"
        );
    }

    #[test]
    fn routes_past_the_bound_share_one_label() {
        let routes: Vec<(String, RouteTotals)> = (0..MAX_ROUTE_LABELS as u64 + 50)
            .map(|index| (format!("/r{index}"), totals(index + 1)))
            .collect();
        let bounded = bounded_routes(routes);
        assert_eq!(bounded.len(), MAX_ROUTE_LABELS);
        let other = bounded
            .iter()
            .find(|(route, _)| route == OTHER_ROUTES)
            .unwrap();
        // The 51 least busy: 1 + 2 + ... + 51 requests.
        assert_eq!(other.1.requests, (1..=51).sum::<u64>());
        let all: u64 = bounded.iter().map(|(_, totals)| totals.requests).sum();
        assert_eq!(all, (1..=MAX_ROUTE_LABELS as u64 + 50).sum::<u64>());
    }
}
