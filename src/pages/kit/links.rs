//! The links to the pages, in the navigation bar and on the overview: a
//! leaf the layout reads without knowing the pages (dispatch's tests check
//! that every link reaches a page that answers GET).

/// A link to a page, in the navigation bar and on the overview.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PageLink {
    /// Under the prefix, query included.
    pub(crate) href: &'static str,
    /// Its name in the navigation bar; `None` for pages listed on the
    /// overview only.
    pub(crate) nav: Option<&'static str>,
    /// Its title and what it shows, on the overview; `None` for the
    /// overview itself.
    pub(crate) listed: Option<(&'static str, &'static str)>,
}

/// Every link, in the order of the navigation bar and the overview's list.
const LINKS: &[PageLink] = &[
    PageLink {
        href: "/",
        nav: Some("Overview"),
        listed: None,
    },
    PageLink {
        href: "/heapdump",
        nav: Some("Heap"),
        listed: Some((
            "Heap by allocation site",
            "where the live heap was allocated: the application's own function, and the library it went through",
        )),
    },
    PageLink {
        href: "/heapdump?group=size",
        nav: Some("Size classes"),
        listed: Some((
            "Heap by size class",
            "live objects in each jemalloc size class; exact, needs no profiling",
        )),
    },
    PageLink {
        href: "/memory/diff",
        nav: Some("Diff"),
        listed: Some((
            "Memory diff",
            "what grew since the baseline, by site, with bytes per request",
        )),
    },
    PageLink {
        href: "/memory/growth",
        nav: Some("Growth"),
        listed: Some((
            "Growth over time",
            "the sites that grew steadily across the heap history, with the route that goes with each: no baseline needed",
        )),
    },
    PageLink {
        href: "/profiles",
        nav: Some("Requests"),
        listed: Some((
            "Requests",
            "every request's wall and busy time and bytes allocated, freed and kept; totals per route; CPU profiles",
        )),
    },
    PageLink {
        href: "/tasks",
        nav: Some("Tasks"),
        listed: Some((
            "Tasks",
            "the async runtime's live tasks by where they were spawned, with the route and how the count grows: tasks that never end",
        )),
    },
    PageLink {
        href: "/timeline",
        nav: Some("Timeline"),
        listed: Some(("Timeline", "allocated, resident and RSS over the last hour")),
    },
    PageLink {
        href: "/memory/postmortem",
        nav: None,
        listed: Some((
            "Black box",
            "what memory looked like before earlier processes were killed: captures taken near the memory limit, opened with these pages",
        )),
    },
    PageLink {
        href: "/pprof/heap",
        nav: None,
        listed: Some((
            "pprof: heap",
            "the live heap as a gzipped pprof profile, as Go serves it: for go tool pprof, Parca, Grafana Pyroscope; seconds=N for a delta",
        )),
    },
    PageLink {
        href: "/pprof/allocs",
        nav: None,
        listed: Some((
            "pprof: allocs",
            "the same profile with what was allocated first, where jemalloc accumulates it (prof_accum)",
        )),
    },
    PageLink {
        href: "/pprof/profile?seconds=10",
        nav: None,
        listed: Some((
            "pprof: CPU profile",
            "samples the CPU for seconds=N (default 10, at most 60) and answers the gzipped profile",
        )),
    },
    PageLink {
        href: "/metrics",
        nav: None,
        listed: Some((
            "Prometheus metrics",
            "jemalloc's figures, heap profiling, per-route requests and bytes, for Prometheus to scrape",
        )),
    },
];

/// Every page's links, in order.
pub(crate) fn page_links() -> impl Iterator<Item = &'static PageLink> {
    LINKS.iter()
}
