//! Which page answers which path under the prefix: one table, from which
//! dispatch and the methods each page allows come. The links to the pages
//! (navigation, the overview's list) are in `links`; a test here checks
//! that each reaches a page.

use crate::model::allocator::purge_own_arena;
use std::sync::Arc;

use http::Method;
use http::request::Parts;

use super::{heapdump, memory, metrics, overview, pprof, profiles, profiling, tasks, timeline};
use crate::pages::kit::{
    Answer, Format, Layout, Mount, PageError, PageFuture, PageRequest, Pending, check_same_origin,
    respond_error,
};

/// How a page is found from the path under the prefix.
#[derive(Clone, Copy, Debug)]
enum PagePath {
    /// A page read with GET: the path, with or without a trailing `/`.
    Page(&'static str),
    /// An action taken with POST: exactly the path.
    Action(&'static str),
    /// Pages of one item: the path is a prefix ending in `/`, and what
    /// follows it is the item.
    Item(&'static str),
}

impl PagePath {
    /// The rest of `path` if this entry answers it.
    fn rest_of(self, path: &str) -> Option<&str> {
        match self {
            Self::Page(page) => {
                (path == page || path.strip_suffix('/') == Some(page)).then_some("")
            }
            Self::Action(action) => (path == action).then_some(""),
            Self::Item(below) => path.strip_prefix(below),
        }
    }

    fn allowed(self) -> &'static str {
        match self {
            Self::Page(_) | Self::Item(_) => "GET, HEAD",
            Self::Action(_) => "POST",
        }
    }

    fn allows(self, method: &Method) -> bool {
        match self {
            Self::Page(_) | Self::Item(_) => method == Method::GET || method == Method::HEAD,
            Self::Action(_) => method == Method::POST,
        }
    }
}

/// How a page answers.
#[derive(Clone, Copy)]
enum Handler {
    /// At once.
    Now(fn(&PageRequest<'_>) -> Answer),
    /// After waiting: on a heap profile, a CPU capture, a timer.
    Later(for<'a> fn(&'a PageRequest<'a>) -> Pending<'a>),
}

/// A page's `async fn page(request: &PageRequest<'_>) -> Answer` as a
/// [`Handler::Later`]: its future boxed, since the table holds one type.
macro_rules! later {
    ($page:path) => {
        Handler::Later(|request| Box::pin($page(request)))
    };
}

struct PageEntry {
    path: PagePath,
    handler: Handler,
}

/// Every page, in the order paths are matched: an action or an item page
/// comes before a shorter path it starts with.
const PAGES: &[PageEntry] = &[
    PageEntry {
        path: PagePath::Page("/"),
        handler: later!(overview::page),
    },
    PageEntry {
        path: PagePath::Page("/heapdump"),
        handler: later!(heapdump::page),
    },
    PageEntry {
        path: PagePath::Page("/memory/diff"),
        handler: later!(memory::diff::page),
    },
    PageEntry {
        path: PagePath::Page("/memory/growth"),
        handler: later!(memory::growth::page),
    },
    PageEntry {
        path: PagePath::Page("/memory/diff/flamegraph.svg"),
        handler: later!(memory::diff::flamegraph::page),
    },
    PageEntry {
        path: PagePath::Action("/memory/purge"),
        handler: Handler::Now(memory::purge::purge),
    },
    PageEntry {
        path: PagePath::Action("/memory/diff/baseline"),
        handler: later!(memory::diff::new_baseline),
    },
    PageEntry {
        path: PagePath::Page("/memory/postmortem"),
        handler: later!(memory::postmortem::page),
    },
    PageEntry {
        path: PagePath::Action("/memory/postmortem/capture"),
        handler: later!(memory::postmortem::take),
    },
    PageEntry {
        path: PagePath::Item("/memory/postmortem/"),
        handler: later!(memory::postmortem::capture::page),
    },
    PageEntry {
        path: PagePath::Page("/profiles"),
        handler: later!(profiles::page),
    },
    PageEntry {
        path: PagePath::Action("/profiles/cpu"),
        handler: later!(profiles::cpu::capture),
    },
    PageEntry {
        path: PagePath::Item("/profiles/cpu/"),
        handler: Handler::Now(profiles::cpu::page),
    },
    PageEntry {
        path: PagePath::Item("/profiles/"),
        handler: Handler::Now(profiles::request::page),
    },
    PageEntry {
        path: PagePath::Page("/tasks"),
        handler: later!(tasks::page),
    },
    PageEntry {
        path: PagePath::Page("/timeline"),
        handler: Handler::Now(timeline::page),
    },
    PageEntry {
        path: PagePath::Action("/profiling"),
        handler: Handler::Now(profiling::switch),
    },
    PageEntry {
        path: PagePath::Page("/pprof/heap"),
        handler: later!(pprof::heap),
    },
    PageEntry {
        path: PagePath::Page("/pprof/allocs"),
        handler: later!(pprof::allocs),
    },
    PageEntry {
        path: PagePath::Page("/pprof/profile"),
        handler: later!(pprof::profile),
    },
    PageEntry {
        path: PagePath::Page("/metrics"),
        handler: Handler::Now(metrics::page),
    },
    PageEntry {
        path: PagePath::Page("/heapdump/flamegraph.svg"),
        handler: later!(heapdump::flamegraph::page),
    },
    PageEntry {
        path: PagePath::Item("/heapdump/"),
        handler: later!(heapdump::site::page),
    },
];

/// Answers a request under the prefix. Never fails: an error is a page.
pub(crate) fn answer(mount: Arc<Mount>, parts: Parts) -> PageFuture {
    Box::pin(async move {
        crate::model::over_time::reading::watch_current_runtime();
        let layout = Layout::new(&mount.prefix);
        // Access first: a peer that may not see the pages learns nothing of
        // them, not even which query values they take.
        if let Err(error) = mount.access.check(&parts, &mount.prefix) {
            let format = requested_format(&parts).unwrap_or(Format::Text);
            return respond_error(&error, format, &layout);
        }
        let format = match requested_format(&parts) {
            Ok(format) => format,
            Err(error) => return respond_error(&error, Format::Text, &layout),
        };
        if parts.method == Method::POST
            && let Err(error) = check_same_origin(&parts)
        {
            return respond_error(&error, format, &layout);
        }
        let answer = dispatch(&mount, &parts, format, &layout).await;
        // What the page's work left in memscope's arena (its snapshot,
        // freed with the page) goes back to the system now.
        purge_own_arena();
        match answer {
            Ok(response) => response,
            Err(error) => respond_error(&error, format, &layout),
        }
    })
}

async fn dispatch(mount: &Arc<Mount>, parts: &Parts, format: Format, layout: &Layout) -> Answer {
    let path = mount.page_path(parts.uri.path()).unwrap_or("/");
    let found = PAGES
        .iter()
        .find_map(|page| page.path.rest_of(path).map(|rest| (page, rest)));
    let Some((page, rest)) = found else {
        return Err(PageError::not_found(format!(
            "no page at {}{path}; the overview at {}/ links to every page",
            mount.prefix, mount.prefix
        )));
    };
    if !page.path.allows(&parts.method) {
        return Err(PageError::method_not_allowed(page.path.allowed()));
    }
    let request = PageRequest {
        mount,
        parts,
        format,
        layout,
        rest,
    };
    match page.handler {
        Handler::Now(handler) => handler(&request),
        Handler::Later(handler) => handler(&request).await,
    }
}

/// `?format=` wins over `Accept`. A bad value is reported before anything
/// else, in text, since the form asked for is unknown.
fn requested_format(parts: &Parts) -> Result<Format, PageError> {
    let requested = form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
        .filter(|(name, _)| name == "format")
        .last()
        .map(|(_, value)| value.into_owned());
    match requested {
        None => Ok(Format::from_accept(&parts.headers)),
        Some(name) => Format::from_name(&name).ok_or_else(|| {
            PageError::bad_request(format!(
                "invalid value `{name}` for `format`: expected one of {}",
                Format::NAMES.join(", ")
            ))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::kit::page_links;

    fn page_for(path: &str) -> Option<(usize, &str)> {
        PAGES
            .iter()
            .enumerate()
            .find_map(|(index, page)| page.path.rest_of(path).map(|rest| (index, rest)))
    }

    #[test]
    fn paths_find_their_pages_in_table_order() {
        fn path_of(path: &str) -> Option<(PagePath, &str)> {
            page_for(path).map(|(index, rest)| (PAGES[index].path, rest))
        }
        assert!(matches!(path_of("/"), Some((PagePath::Page("/"), ""))));
        assert!(matches!(
            path_of("/heapdump/"),
            Some((PagePath::Page("/heapdump"), ""))
        ));
        assert!(matches!(
            path_of("/heapdump/0123456789abcdef"),
            Some((PagePath::Item("/heapdump/"), "0123456789abcdef"))
        ));
        assert!(matches!(
            path_of("/profiles/cpu"),
            Some((PagePath::Action("/profiles/cpu"), ""))
        ));
        assert!(matches!(
            path_of("/profiles/cpu/3/flamegraph.svg"),
            Some((PagePath::Item("/profiles/cpu/"), "3/flamegraph.svg"))
        ));
        assert!(matches!(
            path_of("/profiles/12"),
            Some((PagePath::Item("/profiles/"), "12"))
        ));
        assert!(
            path_of("/profiling/").is_none(),
            "actions take their exact path"
        );
        assert!(path_of("/nothing").is_none());
    }

    #[test]
    fn every_listed_page_is_in_the_navigation_and_reachable() {
        let links: Vec<_> = page_links().collect();
        assert_eq!(
            links.iter().filter_map(|link| link.nav).collect::<Vec<_>>(),
            [
                "Overview",
                "Heap",
                "Size classes",
                "Diff",
                "Growth",
                "Requests",
                "Tasks",
                "Timeline"
            ]
        );
        for link in links {
            let path = link.href.split('?').next().unwrap();
            let (index, _) = page_for(path).unwrap_or_else(|| panic!("{} has no page", link.href));
            assert!(PAGES[index].path.allows(&Method::GET), "{}", link.href);
        }
    }
}
