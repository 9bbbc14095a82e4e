//! `GET /_debug/`: jemalloc's figures, RSS, the state of heap profiling and
//! links to every page.

use serde::Serialize;

use crate::model::allocator::{HeapSource, ProfilingState, Sampler, Unwinder};
use crate::model::cpu::{SamplingHold, cpu_profiler_bytes};
use crate::model::over_time::growth::GrowthReport;
use crate::model::over_time::read::whole_history_growth;
use crate::model::over_time::timeline;
use crate::model::process::cgroup::{self, CgroupMemory};
use crate::model::process::resident_set_size;
use crate::model::symbols::SYMBOLIZER;
use crate::model::verdict::{self, Verdict};
use crate::pages::kit::chart::{chart_marks, memory_chart};
use crate::pages::kit::profiling::{hint_text, sampling_summary};
use crate::pages::kit::rss_breakdown::{GROWTH_BY_DIFFERENCE, RssBreakdownJson};
use crate::pages::kit::suspects::{SuspectView, significant_views};
use crate::pages::kit::text::{Align, TextTable};
use crate::pages::kit::verdict::{TimeToLimitView, VerdictView, part_words};
use crate::pages::kit::{Answer, Mount, Page, PageRequest, Query, html_form, page_links, respond};
use crate::units::{count_of, human_bytes, human_bytes_signed};

#[derive(Serialize)]
pub(crate) struct Overview {
    /// Bytes in live allocations: jemalloc's count, or over another
    /// allocator memscope's sampling allocator's (exact).
    allocated: u64,
    /// jemalloc's figures; `null` over another allocator, whose pages
    /// memscope's sampling allocator cannot see.
    active: Option<u64>,
    resident: Option<u64>,
    mapped: Option<u64>,
    retained: Option<u64>,
    metadata: Option<u64>,
    /// Resident set size of the whole process; `null` without procfs.
    rss: Option<u64>,
    profiling: ProfilingJson,
    /// What to change, where jemalloc or heap profiling is off.
    hint: Option<&'static str>,
    /// Return addresses the symbolizer holds resolved; the cache and its
    /// debug info are given back after a minute unused.
    symbolizer_cached_addresses: usize,
    /// Bytes pprof keeps for the CPU profiler once a capture has run (its
    /// sample table), measured when it was allocated: memscope's own.
    cpu_profiler_bytes: u64,
    /// Where the RSS is, in parts that add up to it; `null` without procfs.
    rss_breakdown: Option<RssBreakdownJson>,
    /// The memory controller of the process's cgroup (v2 or v1): its limit,
    /// what it counts now, and its OOM kills; `null` where there is none.
    cgroup: Option<CgroupMemory>,
    /// Is it a leak? The answer from the figures over the heap history's
    /// window, and the figures it rests on.
    verdict: VerdictView,
    /// When the RSS reaches the nearest memory limit (the cgroup's, or the
    /// builder's `memory_limit`) at the rate it grows; `null` where nothing
    /// grows or there is no limit.
    time_to_limit: Option<TimeToLimitView>,
    /// Sites whose growth across the heap history is significant, fastest
    /// first (at most three): leaks named without a baseline.
    suspects: Vec<SuspectView>,
    /// The black box, where the layer has one: its directory, the
    /// captures it holds, the last one's time, and why captures cannot be
    /// written there, if they cannot.
    #[serde(skip_serializing_if = "Option::is_none")]
    black_box: Option<BlackBoxJson>,
    pages: Vec<PageLink>,
    #[serde(skip)]
    chart: Option<String>,
}

#[derive(Serialize)]
struct BlackBoxJson {
    dir: String,
    captures: usize,
    last_capture_unix_ms: Option<u64>,
    problem: Option<String>,
}

impl BlackBoxJson {
    fn of(black_box: &crate::BlackBox) -> Self {
        let status = crate::model::black_box::status(black_box);
        Self {
            dir: black_box.dir().display().to_string(),
            captures: status.captures,
            last_capture_unix_ms: status.last_taken_unix_ms,
            problem: status.problem,
        }
    }

    /// `Black box: 3 captures in /var/lib/app/memscope`, and its problem.
    fn line(&self) -> String {
        let mut line = format!(
            "Black box: {} in {}",
            count_of(self.captures as u64, "capture"),
            self.dir
        );
        if let Some(problem) = &self.problem {
            line.push_str(&format!(". Problem: {problem}"));
        }
        line
    }
}

impl ProfilingJson {
    fn of(state: &ProfilingState, hold: Option<SamplingHold>) -> Self {
        Self {
            enabled: state.enabled,
            active: state.active,
            lg_sample: state.lg_sample,
            sample_interval: state.sample_interval(),
            jemalloc_is_global: state.jemalloc_is_global,
            unwinder: state.unwinder,
            sampler: state.sampler,
            cpu_capture_hold: hold.map(|hold| CaptureHoldJson {
                ends_in_seconds: hold.ends_in.as_secs_f64().ceil() as u64,
                resumes: hold.resumes,
            }),
            summary: sampling_summary(state, hold),
        }
    }
}

/// The pages the overview lists, with what each is for.
fn listed_pages(prefix: &str, black_box: bool) -> Vec<PageLink> {
    page_links()
        .filter(|link| black_box || link.href != "/memory/postmortem")
        .filter_map(|link| {
            let (title, about) = link.listed?;
            Some(PageLink {
                path: format!("{prefix}{}", link.href),
                title,
                about,
            })
        })
        .collect()
}

#[derive(Serialize)]
struct ProfilingJson {
    enabled: bool,
    active: bool,
    lg_sample: Option<u32>,
    sample_interval: Option<u64>,
    jemalloc_is_global: bool,
    /// What unwinds sampled stacks: `memscope`, `libgcc` or `libunwind`.
    unwinder: Option<Unwinder>,
    /// What takes the heap samples: `jemalloc`, or `memscope` (the
    /// sampling allocator `memscope::Sampled`).
    sampler: Sampler,
    /// A CPU capture runs and holds sampling paused: when it ends, and
    /// whether sampling resumes then.
    cpu_capture_hold: Option<CaptureHoldJson>,
    summary: String,
}

#[derive(Serialize)]
struct CaptureHoldJson {
    ends_in_seconds: u64,
    resumes: bool,
}

#[derive(Serialize)]
struct PageLink {
    path: String,
    title: &'static str,
    about: &'static str,
}

/// One figure of the overview, with what it means.
struct Figure {
    name: &'static str,
    bytes: Option<u64>,
    about: &'static str,
}

impl Overview {
    fn build(
        mount: &Mount,
        state: &ProfilingState,
        hold: Option<SamplingHold>,
        (verdict, growth): (Verdict, Option<GrowthReport>),
        chart: Option<String>,
    ) -> Self {
        let prefix = mount.prefix.as_str();
        let source = HeapSource::get();
        let stats = source.figures();
        let jemalloc = source.knows_allocator_figures();
        let cgroup = cgroup::read();
        let suspects = growth.as_ref().map_or_else(Vec::new, |report| {
            let mut views = significant_views(report, prefix);
            views.truncate(LEADING_SUSPECTS);
            views
        });
        let rss_breakdown = RssBreakdownJson::of(&verdict);
        let time_to_limit =
            verdict::forecast(&verdict.evidence, mount.memory_limit, cgroup.as_ref())
                .map(TimeToLimitView::of);
        let verdict = VerdictView::of(verdict, growth.as_ref(), prefix);
        Self {
            allocated: stats.allocated,
            active: jemalloc.then_some(stats.active),
            resident: jemalloc.then_some(stats.resident),
            mapped: jemalloc.then_some(stats.mapped),
            retained: jemalloc.then_some(stats.retained),
            metadata: jemalloc.then_some(stats.metadata),
            rss: resident_set_size(),
            profiling: ProfilingJson::of(state, hold),
            hint: state.hint().map(hint_text),
            symbolizer_cached_addresses: SYMBOLIZER.cached_addresses(),
            cpu_profiler_bytes: cpu_profiler_bytes(),
            rss_breakdown,
            time_to_limit,
            cgroup,
            verdict,
            pages: listed_pages(prefix, mount.black_box.is_some()),
            black_box: mount.black_box.as_ref().map(BlackBoxJson::of),
            suspects,
            chart,
        }
    }

    /// `cgroup v2 /kubepods/pod1: 384.0 MiB of 512.0 MiB (75 %), page cache
    /// 80.0 MiB, tmpfs 4.0 MiB, kernel 12.0 MiB; 2 OOM kills so far`.
    pub(crate) fn cgroup_line(&self) -> Option<String> {
        let cgroup = self.cgroup.as_ref()?;
        let used = match cgroup.limit {
            Some(limit) => format!(
                "{} of {} ({:.0} %)",
                human_bytes(cgroup.usage),
                human_bytes(limit),
                cgroup.usage as f64 * 100.0 / limit.max(1) as f64
            ),
            None => format!("{}, no limit", human_bytes(cgroup.usage)),
        };
        let parts: Vec<String> = [
            ("page cache", cgroup.file),
            ("tmpfs", cgroup.shmem),
            ("kernel", cgroup.kernel),
        ]
        .iter()
        .filter_map(|(name, bytes)| bytes.map(|bytes| format!("{name} {}", human_bytes(bytes))))
        .collect();
        let kills = match cgroup.oom_kills {
            Some(0) | None => String::new(),
            Some(kills) => format!("; {} so far", count_of(kills, "OOM kill")),
        };
        Some(format!(
            "cgroup v{} {}: {used}{}{}{kills}",
            cgroup.version,
            cgroup.path,
            if parts.is_empty() { "" } else { ", " },
            parts.join(", ")
        ))
    }

    /// The RSS's growth over the verdict's window: the parts' added up.
    pub(crate) fn rss_growth_text(&self) -> String {
        self.rss_breakdown
            .as_ref()
            .and_then(|breakdown| breakdown.growth)
            .map_or_else(String::new, human_bytes_signed)
    }

    fn figures(&self) -> Vec<Figure> {
        let figure = |name, bytes, about| Figure { name, bytes, about };
        vec![
            figure(
                "allocated",
                Some(self.allocated),
                if self.active.is_some() {
                    "bytes in live allocations (under-reported while heap profiling samples: compare resident)"
                } else {
                    "bytes in live allocations, counted exactly by memscope's sampling allocator"
                },
            ),
            figure(
                "active",
                self.active,
                "bytes in pages holding live allocations",
            ),
            figure(
                "resident",
                self.resident,
                "allocator pages in physical memory, metadata included",
            ),
            figure(
                "mapped",
                self.mapped,
                "bytes in extents the allocator has mapped and in use",
            ),
            figure(
                "retained",
                self.retained,
                "virtual memory kept for reuse rather than returned to the system",
            ),
            figure("metadata", self.metadata, "the allocator's own bookkeeping"),
            figure(
                "rss",
                self.rss,
                "the whole process in physical memory, as the system sees it",
            ),
        ]
    }
}

impl Page for Overview {
    fn text(&self) -> String {
        let mut table = TextTable::new(&[
            ("figure", Align::Left),
            ("bytes", Align::Right),
            ("size", Align::Right),
            ("meaning", Align::Left),
        ]);
        for figure in self.figures() {
            table.row(vec![
                figure.name.to_owned(),
                figure.bytes.map_or("unknown".to_owned(), |b| b.to_string()),
                figure.bytes.map_or(String::new(), human_bytes),
                figure.about.to_owned(),
            ]);
        }
        let mut out = format!("Verdict: {}\n", self.verdict.summary);
        if let Some(forecast) = &self.time_to_limit {
            out.push_str(&format!("{}\n", forecast.summary));
        }
        out.push('\n');
        for suspect in &self.suspects {
            out.push_str(&format!("Growing: {}\n", suspect.sentence()));
        }
        if !self.suspects.is_empty() {
            out.push('\n');
        }
        out.push_str(&table.render());
        if let Some(breakdown) = &self.rss_breakdown {
            let mut parts = TextTable::new(&[
                ("where the RSS is", Align::Left),
                ("size", Align::Right),
                ("share", Align::Right),
                ("growth", Align::Right),
                ("what it is", Align::Left),
            ]);
            for part in &breakdown.parts {
                parts.row(vec![
                    part_words(part.part.part).to_owned(),
                    human_bytes(part.part.bytes),
                    format!("{:.1} %", part.share * 100.0),
                    part.growth_text(),
                    part.about_text(),
                ]);
            }
            parts.footer(vec![
                "RSS".to_owned(),
                human_bytes(breakdown.rss),
                String::new(),
                self.rss_growth_text(),
                self.verdict.window_text(),
            ]);
            out.push('\n');
            out.push_str(&parts.render());
            out.push_str(GROWTH_BY_DIFFERENCE);
            out.push('\n');
            for line in breakdown.outside_lines() {
                out.push_str(&line);
                out.push('\n');
            }
        }
        out.push_str(&format!("\n{}\n", self.profiling.summary));
        if let Some(hint) = self.hint {
            out.push_str(&format!("To change: {hint}\n"));
        }
        out.push_str(&format!(
            "Symbolizer: {} addresses cached (given back after a minute unused)\n",
            self.symbolizer_cached_addresses
        ));
        if self.cpu_profiler_bytes > 0 {
            out.push_str(&format!(
                "CPU profiler: {} kept by pprof for its sample table since the first capture\n",
                human_bytes(self.cpu_profiler_bytes)
            ));
        }
        if let Some(line) = self.cgroup_line() {
            out.push_str(&format!("{line}\n"));
        }
        if let Some(black_box) = &self.black_box {
            out.push_str(&format!("{}\n", black_box.line()));
        }
        out.push('\n');
        for page in &self.pages {
            out.push_str(&format!("{}  {}: {}\n", page.path, page.title, page.about));
        }
        out
    }
}

html_form!(Overview => "overview.html");

/// Suspects the overview leads with.
const LEADING_SUSPECTS: usize = 3;

/// Growing sites the verdict's evidence names at most.
const VERDICT_SUSPECTS: usize = 10;

pub(super) async fn page(request: &PageRequest<'_>) -> Answer {
    Query::parse(request.raw_query(), &[])?;
    let layout = request.layout;
    let growth = whole_history_growth(VERDICT_SUSPECTS).await;
    let points = timeline::points();
    let chart = memory_chart(&points, &chart_marks(request.mount));
    let verdict = verdict::now(&points, growth.as_ref());
    let overview = Overview::build(
        request.mount,
        &layout.profiling,
        layout.sampling_hold,
        (verdict, growth),
        chart,
    );
    Ok(respond(&overview, request.format, request.layout))
}
