//! Grouping the stacks of a snapshot into rows: by site, function, crate or
//! whole stack.

use std::collections::HashMap;
use std::fmt;

use super::frames::{FrameKind, crate_of, enclosing_function};
use super::{Frame, HeapSnapshot, Stack};

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
}

impl Grouping {
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        match name {
            "site" => Some(Self::Site),
            "function" => Some(Self::Function),
            "crate" => Some(Self::Crate),
            "stack" => Some(Self::Stack),
            _ => None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Site => "site",
            Self::Function => "function",
            Self::Crate => "crate",
            Self::Stack => "stack",
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
    for frame in stack.frames() {
        match frame.kind {
            FrameKind::Plumbing => continue,
            FrameKind::Own => return Attribution::Own,
            FrameKind::App => {
                let via = previous.filter(|frame| frame.kind == FrameKind::Library);
                return Attribution::App { site: frame, via };
            }
            FrameKind::Library => {
                innermost.get_or_insert(frame);
            }
        }
        previous = Some(frame);
    }
    match innermost {
        Some(site) => Attribution::Library { site },
        None => Attribution::Unknown,
    }
}

/// The innermost frame that is not plumbing.
fn innermost_function(stack: &Stack) -> Option<&Frame> {
    stack
        .frames()
        .find(|frame| frame.kind != FrameKind::Plumbing)
}

/// The frame a row is named after: the site, or the innermost function.
fn named_frame(stack: &Stack, grouping: Grouping) -> Option<&Frame> {
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
        Grouping::Stack => {
            let functions: Vec<&str> = stack
                .frames()
                .filter(|frame| frame.kind != FrameKind::Plumbing)
                .map(|frame| frame.function.as_str())
                .collect();
            if functions.is_empty() {
                unknown()
            } else {
                functions.join(" ← ")
            }
        }
    })
}

/// One row: the stacks that share a key.
#[derive(Debug)]
pub(crate) struct HeapGroup {
    pub(crate) id: SiteId,
    pub(crate) name: String,
    pub(crate) objects: f64,
    pub(crate) bytes: f64,
    /// The frames of the group's largest stack, plumbing left out.
    pub(crate) frames: Vec<Frame>,
    /// `file:line` of the frame the row is named after, in its largest stack.
    pub(crate) location: String,
    largest_stack: f64,
}

/// A snapshot's stacks grouped, filtered, memscope's own counted apart.
#[derive(Debug, Default)]
pub(crate) struct GroupedHeap {
    pub(crate) groups: HashMap<SiteId, HeapGroup>,
    pub(crate) own_objects: f64,
    pub(crate) own_bytes: f64,
}

/// Frames listed on a row, innermost first; enough to see the way in.
const FRAMES_PER_ROW: usize = 12;

impl GroupedHeap {
    /// Groups `snapshot`'s stacks. `filter` (lower case) keeps the stacks
    /// with a frame whose function or file contains it.
    pub(crate) fn build(snapshot: &HeapSnapshot, grouping: Grouping, filter: Option<&str>) -> Self {
        let mut grouped = Self::default();
        for stack in &snapshot.stacks {
            if let Some(needle) = filter
                && !stack.frames().any(|frame| frame.matches(needle))
            {
                continue;
            }
            let Some(key) = key_of(stack, grouping) else {
                grouped.own_objects += stack.objects;
                grouped.own_bytes += stack.bytes;
                continue;
            };
            let id = SiteId::of(grouping, &key);
            let group = grouped.groups.entry(id).or_insert_with(|| HeapGroup {
                id,
                name: key,
                objects: 0.0,
                bytes: 0.0,
                frames: Vec::new(),
                location: String::new(),
                largest_stack: -1.0,
            });
            group.objects += stack.objects;
            group.bytes += stack.bytes;
            if stack.bytes > group.largest_stack {
                group.largest_stack = stack.bytes;
                group.location =
                    named_frame(stack, grouping).map_or_else(String::new, Frame::location);
                group.frames = stack
                    .frames()
                    .filter(|frame| frame.kind != FrameKind::Plumbing)
                    .take(FRAMES_PER_ROW)
                    .cloned()
                    .collect();
            }
        }
        grouped
    }

    /// The groups, largest first.
    pub(crate) fn into_sorted(self) -> Vec<HeapGroup> {
        let mut groups: Vec<HeapGroup> = self.groups.into_values().collect();
        groups.sort_by(|a, b| {
            b.bytes
                .total_cmp(&a.bytes)
                .then_with(|| a.name.cmp(&b.name))
        });
        groups
    }
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
