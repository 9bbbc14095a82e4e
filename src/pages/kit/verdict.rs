//! The verdict ("is it a leak?") and the time to the memory limit, as the
//! overview shows them.

use serde::Serialize;

use super::suspects::{SuspectView, significant_views};
use crate::model::over_time::growth::{GrowthReport, Suspect};
use crate::model::over_time::trend::Trend;
use crate::model::verdict::rss::Part;
use crate::model::verdict::{
    Evidence, LimitSource, MIN_SNAPSHOTS, MIN_TIMELINE_POINTS, PartTrend, Reason, TimeToLimit,
    Verdict, VerdictKind,
};
use crate::units::{
    count_of, duration_text, grouped, grouped_signed, human_bytes, human_bytes_f64,
    human_bytes_signed,
};

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
    /// How old the heap history's newest snapshot is: the suspects are
    /// as of then.
    pub(crate) newest_snapshot_age_seconds: Option<f64>,
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
            summary: summary(&verdict),
            evidence: EvidenceView {
                figures: verdict.evidence,
                suspects,
                routes,
                newest_snapshot_age_seconds: crate::model::over_time::history::newest_age()
                    .map(|age| age.as_secs_f64()),
            },
        }
    }

    /// `leak`, as the page's style names it.
    pub(crate) fn kind_name(&self) -> &'static str {
        kind_name(self.kind)
    }

    /// Whether a purge would give back what grew.
    pub(crate) fn offers_purge(&self) -> bool {
        self.kind == VerdictKind::Retention
    }

    /// `over 10 min, 61 timeline points, 11 heap snapshots; growth below
    /// 4.00 MiB is noise`.
    pub(crate) fn window_text(&self) -> String {
        let figures = &self.evidence.figures;
        let newest = self
            .evidence
            .newest_snapshot_age_seconds
            .map_or_else(String::new, |age| {
                format!(
                    " (the newest {} old)",
                    crate::units::duration_text(age.round() as u64)
                )
            });
        format!(
            "over {}, {} timeline points, {} heap snapshots{newest}; growth below {} is noise",
            crate::units::duration_text(figures.window_seconds.round() as u64),
            figures.timeline_points,
            figures.heap_snapshots,
            human_bytes(figures.noise_bytes)
        )
    }
}

/// The time to the limit, with its sentence.
#[derive(Serialize)]
pub(crate) struct TimeToLimitView {
    #[serde(flatten)]
    pub(crate) figures: TimeToLimit,
    /// `At +1.16 GiB/min, the 246.12 MiB limit is reached in about 8 s.`
    pub(crate) summary: String,
}

impl TimeToLimitView {
    pub(crate) fn of(figures: TimeToLimit) -> Self {
        Self {
            summary: forecast_summary(&figures),
            figures,
        }
    }
}

/// `At +1.16 GiB/min, the 246.12 MiB limit of the container is reached in
/// about 5 h 10 min (4 h 20 min to 6 h 30 min).`
fn forecast_summary(forecast: &TimeToLimit) -> String {
    let about = duration_text(forecast.seconds);
    let low = duration_text(forecast.seconds_low);
    let range = match forecast.seconds_high.map(duration_text) {
        Some(high) if high == about && low == about => String::new(),
        Some(high) => format!(" ({low} to {high})"),
        None => format!(" ({low} or more)"),
    };
    format!(
        "At +{}/min, the {} limit{} is reached in about {about}{range}.",
        human_bytes_f64(forecast.bytes_per_minute),
        human_bytes(forecast.limit),
        match forecast.limit_source {
            LimitSource::Cgroup => " of the container",
            LimitSource::Builder => "",
        },
    )
}

/// What a part of the RSS is, and what to do about it.
pub(crate) fn part_about(part: Part) -> &'static str {
    match part {
        Part::LiveHeap => "live allocations of the app, as the allocator counts them",
        Part::MemscopeHeap => "memscope's own live heap (its last heap snapshot's estimate)",
        Part::AllocatorOverhead => {
            "room inside jemalloc's pages that live allocations do not use: fragmentation and size-class rounding"
        }
        Part::KeptForReuse => "freed pages jemalloc keeps to reuse: what a purge gives back",
        Part::AllocatorMetadata => "jemalloc's own bookkeeping",
        Part::BeyondLiveHeap => {
            "anonymous memory beyond the live heap: the allocator's free room, the freed pages it keeps and its bookkeeping, and anonymous maps; over this allocator they cannot be told apart"
        }
        Part::ThreadStacks => "the threads' stacks, as far as each has been used",
        Part::LibcMalloc => {
            "what the C library's malloc holds: C code's allocations (most -sys crates, OpenSSL, RocksDB) and the freed memory its arenas keep"
        }
        Part::NamedMaps => {
            "anonymous maps named with PR_SET_VMA_ANON_NAME ([anon:…] in /proc/self/maps)"
        }
        Part::OtherAnonymous => {
            "anonymous memory no other part explains: maps made with mmap, another allocator's memory"
        }
        Part::Binary => "the running binary's pages; the kernel can drop them",
        Part::MemscopeDebugInfo => {
            "the debug info memscope maps to name stacks, given back a minute after its last use"
        }
        Part::OtherFiles => {
            "pages of other mapped files: libraries, data files; the kernel can drop them"
        }
        Part::SharedMemory => "tmpfs and memfd files mapped, shared anonymous memory",
    }
}

/// `kept for reuse`: a part as a sentence names it.
pub(crate) fn part_words(part: Part) -> &'static str {
    match part {
        Part::LiveHeap => "live heap",
        Part::MemscopeHeap => "memscope's heap",
        Part::AllocatorOverhead => "allocator overhead",
        Part::KeptForReuse => "kept for reuse",
        Part::AllocatorMetadata => "allocator metadata",
        Part::BeyondLiveHeap => "beyond live heap",
        Part::ThreadStacks => "thread stacks",
        Part::LibcMalloc => "the C library's malloc",
        Part::NamedMaps => "named maps",
        Part::OtherAnonymous => "other anonymous memory",
        Part::Binary => "the binary's pages",
        Part::MemscopeDebugInfo => "memscope's debug info",
        Part::OtherFiles => "other files' pages",
        Part::SharedMemory => "shared memory",
    }
}

/// `leak`: a verdict's kind as its JSON and the page's style name it.
pub(crate) fn kind_name(kind: VerdictKind) -> &'static str {
    match kind {
        VerdictKind::Tasks => "tasks",
        VerdictKind::Leak => "leak",
        VerdictKind::Retention => "retention",
        VerdictKind::Fragmentation => "fragmentation",
        VerdictKind::OutsideHeap => "outside_heap",
        VerdictKind::BeyondLiveHeap => "beyond_live_heap",
        VerdictKind::Steady => "steady",
        VerdictKind::TooEarly => "too_early",
    }
}

/// The verdict in a sentence.
pub(crate) fn summary(verdict: &Verdict) -> String {
    let evidence = &verdict.evidence;
    let span = duration_text(evidence.window_seconds.round() as u64);
    match verdict.reason {
        Reason::TooEarly { history, points } => {
            // A capture of an earlier process will know no more: it says
            // no time.
            let knows_in = evidence.knows_in_seconds.map_or_else(String::new, |seconds| {
                format!("; it will know in about {}", duration_text(seconds))
            });
            match history {
                Some((snapshots, interval)) => format!(
                    "Too early to tell: the heap history has {snapshots} of the {MIN_SNAPSHOTS} snapshots a verdict needs (one every {}){knows_in}.",
                    duration_text(interval.as_secs().max(1)),
                ),
                None => format!(
                    "Too early to tell: the timeline has {points} of the {MIN_TIMELINE_POINTS} points a verdict needs{knows_in}."
                ),
            }
        }
        Reason::TasksPileUp { alive } => tasks_summary(evidence, alive, &span),
        Reason::SitesGrow { minutes } => match evidence.suspects.first() {
            Some(leading) => leak_with_sites(leading, evidence.suspects.len(), minutes),
            None => "A leak: sites grow steadily; see the growth page.".to_owned(),
        },
        Reason::LiveHeapGrows { live, history } => format!(
            "A leak: the live heap grew {} over {span} ({}/min), all along the window; {}",
            human_bytes_signed(live.growth),
            human_bytes_f64(live.bytes_per_minute),
            if history {
                "no one site grows steadily enough to name. Look where growth spreads or hides: the growth page's routes, the heap by crate (/heapdump?group=crate: growth spread over many sites), the route table's (no request) row (work spawned without memscope::tagged), and the tasks page (tasks that never end)."
            } else {
                "with heap profiling and its history on, the sites would be named."
            }
        ),
        Reason::PartGrew { grown, live } => grown_part_summary(evidence, grown, live, &span),
        Reason::LiveHeapRoseOnce { live } => format!(
            "Steady: the live heap rose {} over {span} and stays there without growing all along (a cache that filled, work that keeps its memory), and nothing else grew beyond {}.",
            human_bytes_signed(live.growth),
            human_bytes(evidence.noise_bytes)
        ),
        Reason::NothingGrew => format!(
            "Steady: nothing grew beyond {} over {span}{}{}.",
            human_bytes(evidence.noise_bytes),
            evidence.rss.map_or_else(String::new, |rss| format!(
                " (RSS {} to {})",
                human_bytes(rss.first),
                human_bytes(rss.last)
            )),
            evidence
                .memscope_debug_info
                .filter(|info| info.grew_beyond(evidence.noise_bytes))
                .map_or_else(String::new, |info| format!(
                    "; the RSS rose {} with the debug info memscope maps to name stacks, given back a minute after its last use",
                    human_bytes_signed(info.growth)
                ))
        ),
    }
}

/// `Tasks pile up: tasks spawned at app::watch::spawn_watchers
/// (src/watch.rs:20) grow by 2,000 a minute, 3.1 KiB each; the runtime
/// has 12,010 live tasks, +12,000 over 6 min.`
fn tasks_summary(evidence: &Evidence, alive: Option<Trend>, span: &str) -> String {
    let alive_text = |alive: Trend| {
        format!(
            "the runtime has {} live tasks, {} over {span}",
            grouped(alive.last),
            grouped_signed(alive.growth)
        )
    };
    match (&evidence.task_site, alive) {
        (Some(site), alive) => format!(
            "Tasks pile up: tasks spawned at {} ({}) grow by {} a minute, {} each{}: tasks that are spawned and never end.",
            site.name,
            site.location,
            grouped(site.tasks_per_minute.max(0.0).round() as u64),
            human_bytes_f64(site.bytes_per_task()),
            alive.map_or_else(String::new, |alive| format!("; {}", alive_text(alive))),
        ),
        (None, Some(alive)) => format!(
            "Tasks pile up: {}, {} a minute all along the window: tasks that are spawned and never end. {}",
            alive_text(alive),
            grouped(alive.bytes_per_minute.max(0.0).round() as u64),
            if evidence.heap_snapshots > 0 {
                "No spawn site's tasks grow in the heap samples yet: see the tasks page."
            } else {
                "With heap profiling and its history on, the tasks page names where they are spawned."
            }
        ),
        (None, None) => "Tasks pile up: see the tasks page.".to_owned(),
    }
}

/// `A leak: app::cache::store grows steadily, +58.0 KiB/min for 10 min,
/// about 966 B per /json request (and 2 other sites).`
fn leak_with_sites(leading: &Suspect, sites: usize, minutes: f64) -> String {
    let route = leading.route.as_ref().map_or_else(String::new, |route| {
        format!(
            ", about {} per {} request",
            human_bytes_f64(route.bytes_per_request),
            route.route
        )
    });
    let others = match sites.saturating_sub(1) {
        0 => String::new(),
        1 => " (and 1 other site)".to_owned(),
        more => format!(" (and {more} other sites)"),
    };
    format!(
        "A leak: {} grows steadily, +{}/min for {}{route}{others}.",
        leading.name,
        human_bytes_f64(leading.bytes_per_minute.max(0.0)),
        duration_text((minutes * 60.0).round() as u64)
    )
}

/// The sentence where `grown`, a part outside the live heap, grew most.
fn grown_part_summary(
    evidence: &Evidence,
    grown: PartTrend,
    live: Option<Trend>,
    span: &str,
) -> String {
    let rss_growth = human_bytes_signed(evidence.app_rss.map_or(0, |rss| rss.growth));
    let live_text = live.map_or_else(String::new, |live| {
        format!(
            "the live heap went from {} to {}",
            human_bytes(live.first),
            human_bytes(live.last)
        )
    });
    let grown_text = human_bytes_signed(grown.growth);
    match grown.part {
        Part::KeptForReuse | Part::AllocatorMetadata => format!(
            "Retention, not a leak: the RSS grew {rss_growth} over {span} while {live_text}; the allocator keeps freed pages ({grown_text} in {}), and a purge gives back {} now.",
            part_words(grown.part),
            human_bytes(evidence.purgeable_bytes)
        ),
        Part::BeyondLiveHeap => format!(
            "Not the live heap: the RSS grew {rss_growth} over {span} while {live_text}; what grew is anonymous memory beyond it ({grown_text}): the allocator's kept pages and fragmentation, or thread stacks and anonymous maps. Over this allocator memscope cannot tell them apart; over jemalloc (memscope::Jemalloc, or memscope::Sampled<Jemalloc>) it can."
        ),
        Part::AllocatorOverhead => format!(
            "Fragmentation: room in jemalloc's pages that live allocations do not use grew {grown_text} over {span}, to {}, while {live_text}.",
            human_bytes(grown.last)
        ),
        Part::ThreadStacks => format!(
            "Outside the heap: {} threads hold {} of stack, {grown_text} in {span} (the RSS grew {rss_growth} while {live_text}): threads that are started and never end, or stacks that go deep.",
            evidence.threads.1,
            human_bytes(grown.last),
        ),
        Part::LibcMalloc => format!(
            "Outside the heap: the C library's malloc (glibc) holds {}, {grown_text} in {span}, in {} (the RSS grew {rss_growth} while {live_text}): C code's allocations (a -sys crate, OpenSSL, RocksDB), or glibc's arenas keeping freed memory; jemalloc's heap profile does not see them.",
            human_bytes(grown.last),
            count_of(evidence.libc_arenas.into(), "arena"),
        ),
        part => format!(
            "Outside the heap: the RSS grew {rss_growth} over {span} while {live_text}; what grew is {} ({grown_text}: {}).",
            part_words(part),
            part_about(part),
        ),
    }
}
