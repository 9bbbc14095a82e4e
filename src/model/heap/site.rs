//! What a stack is charged to: its allocation site (or function, crate,
//! whole stack), the row's name under each grouping, and the row's id.

use std::fmt;

use super::stack::Stack;
use crate::model::symbols::{Frame, FrameKind, crate_of, enclosing_function};

/// How stacks are grouped into rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Grouping {
    /// The innermost frame of the application's own code, with the library
    /// frame it went through.
    Site,
    /// The innermost frame that is not allocator or standard-library plumbing.
    Function,
    /// The crate of that frame.
    Crate,
    /// The whole stack, plumbing left out.
    Stack,
    /// The route (or scope) of the request the stack's samples were taken
    /// in: its route tag.
    Route,
}

/// The row of memory allocated outside any request or scope.
pub(crate) const NO_REQUEST: &str = "(no request)";

/// The route (or scope) name of `tag`; [`NO_REQUEST`] for none.
pub(crate) fn route_of_tag(tag: u32) -> std::sync::Arc<str> {
    crate::record::tag_name(tag).unwrap_or_else(|| NO_REQUEST.into())
}

impl Grouping {
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        match name {
            "site" => Some(Self::Site),
            "function" => Some(Self::Function),
            "crate" => Some(Self::Crate),
            "stack" => Some(Self::Stack),
            "route" => Some(Self::Route),
            _ => None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Site => "site",
            Self::Function => "function",
            Self::Crate => "crate",
            Self::Stack => "stack",
            Self::Route => "route",
        }
    }
}

/// A stable id for a row: the same site has the same id in every dump of
/// the same binary, so links from one page to another keep working.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct SiteId(u64);

impl SiteId {
    pub(crate) fn of(grouping: Grouping, key: &str) -> Self {
        // FNV-1a: tiny, and stable across runs and platforms, unlike the
        // standard library's randomly seeded hasher.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in grouping.name().bytes().chain([b':']).chain(key.bytes()) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        Self(hash)
    }

    /// Parses the 16 hex digits of an id.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        if text.len() != 16 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u64::from_str_radix(text, 16).ok().map(Self)
    }
}

impl fmt::Display for SiteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Who a stack's memory is charged to.
pub(crate) enum Attribution<'a> {
    /// The application: its innermost frame, and the library frame just
    /// inside it, if the allocation went through a library.
    App {
        site: &'a Frame,
        via: Option<&'a Frame>,
    },
    /// memscope's own allocations (symbolizer, pages, rings).
    Own,
    /// No application frame: the innermost library frame.
    Library { site: &'a Frame },
    /// Plumbing only.
    Unknown,
}

pub(crate) fn attribute(stack: &Stack) -> Attribution<'_> {
    let mut innermost: Option<&Frame> = None;
    let mut previous: Option<&Frame> = None;
    // A closure or async body the symbolizer could name only by its crate
    // (inlined into another crate's code, which says nothing of where it
    // was written) is charged to the application's function that called
    // it, when there is one.
    let mut unplaced: Option<(&Frame, Option<&Frame>)> = None;
    for frame in stack.frames() {
        match frame.kind {
            FrameKind::Allocator => continue,
            FrameKind::Memscope => return Attribution::Own,
            FrameKind::App if is_unplaced(&frame.function) => {
                let via = previous.filter(|frame| frame.kind == FrameKind::Library);
                unplaced.get_or_insert((frame, via));
            }
            FrameKind::App => {
                let via = previous.filter(|frame| frame.kind == FrameKind::Library);
                let via = unplaced.map_or(via, |(_, first_via)| first_via);
                return Attribution::App { site: frame, via };
            }
            FrameKind::Library => {
                innermost.get_or_insert(frame);
            }
        }
        previous = Some(frame);
    }
    if let Some((site, via)) = unplaced {
        return Attribution::App { site, via };
    }
    match innermost {
        Some(site) => Attribution::Library { site },
        None => Attribution::Unknown,
    }
}

/// `my_app::{closure#0}`: an anonymous function whose path is its crate
/// alone.
fn is_unplaced(function: &str) -> bool {
    !enclosing_function(function).contains("::")
        && function
            .rsplit("::")
            .next()
            .is_some_and(|last| last.starts_with('{'))
}

/// The innermost frame that is not the allocator's or std's.
fn innermost_function(stack: &Stack) -> Option<&Frame> {
    stack
        .frames()
        .find(|frame| frame.kind != FrameKind::Allocator)
}

/// The frame a row is named after: the site, or the innermost function.
pub(crate) fn named_frame(stack: &Stack, grouping: Grouping) -> Option<&Frame> {
    match (grouping, attribute(stack)) {
        (Grouping::Site, Attribution::App { site, .. } | Attribution::Library { site }) => {
            Some(site)
        }
        _ => innermost_function(stack),
    }
}

/// The name of `stack`'s row under `grouping`; `None` for memscope's own.
pub(crate) fn key_of(stack: &Stack, grouping: Grouping) -> Option<String> {
    let attribution = attribute(stack);
    if matches!(attribution, Attribution::Own) {
        return None;
    }
    let unknown = || "[unknown: allocator frames only]".to_owned();
    Some(match grouping {
        Grouping::Site => match attribution {
            Attribution::App {
                site,
                via: Some(via),
            } => format!(
                "{} via {}",
                enclosing_function(&site.function),
                enclosing_function(&via.function)
            ),
            Attribution::App { site, via: None } | Attribution::Library { site } => {
                enclosing_function(&site.function).to_owned()
            }
            Attribution::Own | Attribution::Unknown => unknown(),
        },
        Grouping::Function => innermost_function(stack)
            .map_or_else(unknown, |f| enclosing_function(&f.function).to_owned()),
        Grouping::Crate => {
            innermost_function(stack).map_or_else(unknown, |f| crate_of(&f.function).to_owned())
        }
        Grouping::Route => route_of_tag(stack.tag).to_string(),
        Grouping::Stack => {
            let functions: Vec<&str> = stack
                .frames()
                .filter(|frame| frame.kind != FrameKind::Allocator)
                .map(|frame| &*frame.function)
                .collect();
            if functions.is_empty() {
                unknown()
            } else {
                functions.join(" ← ")
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_ids_are_stable_and_parse_back() {
        let id = SiteId::of(Grouping::Site, "app::cache::store");
        assert_eq!(id, SiteId::of(Grouping::Site, "app::cache::store"));
        assert_ne!(id, SiteId::of(Grouping::Function, "app::cache::store"));
        assert_eq!(SiteId::parse(&id.to_string()), Some(id));
        assert_eq!(SiteId::parse("xyz"), None);
        assert_eq!(SiteId::parse("0123456789abcdeg"), None);
    }
}
