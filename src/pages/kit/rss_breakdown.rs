//! The overview's RSS breakdown as JSON, text and HTML: every part with
//! its share, growth and rate, the groups, and what is outside the heap
//! (threads, the C library's malloc, named maps, the largest anonymous
//! regions).

use serde::Serialize;

use crate::model::over_time::reading::MemoryReading;
use crate::model::process::MappedParts;
use crate::model::process::read_mappings;
use crate::model::verdict::Verdict;
use crate::model::verdict::rss::{self, Group, Part, RssPart};
use crate::pages::kit::verdict::part_about;
use crate::units::{count_of, human_bytes, human_bytes_signed};

#[derive(Serialize)]
pub(crate) struct RssBreakdownJson {
    pub(crate) rss: u64,
    /// The RSS's growth over the verdict's window: its last timeline point
    /// less its first, the sum of the parts' `growth`; `null` before the
    /// timeline has two points.
    pub(crate) growth: Option<i64>,
    /// How `growth` and `bytes_per_minute` are reckoned: `difference`, the
    /// window's last point less its first (and that over its minutes).
    pub(crate) growth_by: &'static str,
    /// Every part, in the pages' order: `live_heap`, `memscope_heap`,
    /// `allocator_overhead`, `kept_for_reuse`, `allocator_metadata`,
    /// `thread_stacks`, `libc_malloc`, `named_maps`, `other_anonymous`,
    /// `binary`, `memscope_debug_info`, `other_files`, `shared_memory`;
    /// over another allocator than jemalloc, `beyond_live_heap` in place
    /// of the allocator's three and `other_anonymous`.
    pub(crate) parts: Vec<RssPartJson>,
    /// The parts summed: `outside_jemalloc` (thread stacks, the C
    /// library's malloc, named and other anonymous maps) and `file_backed`
    /// (the binary, memscope's debug info, other files).
    pub(crate) groups: Vec<GroupJson>,
    /// The process's threads, and the stack mappings found (a thread's,
    /// its signal stack's, the main thread's).
    pub(crate) threads: u32,
    pub(crate) stack_mappings: u32,
    /// glibc's malloc (`mallinfo2`): bytes in use and kept free, mapped on
    /// their own, and its arenas; `null` where the C library is not glibc.
    pub(crate) libc_malloc: Option<LibcMallocJson>,
    /// Named anonymous maps, by name, largest first.
    pub(crate) named_maps: Vec<NamedMapJson>,
    /// The largest anonymous regions that are neither a thread's stack nor
    /// named, resident bytes first: the allocators' (jemalloc's extents,
    /// glibc's arenas) and whatever else maps memory.
    pub(crate) largest_anonymous_regions: Vec<RegionJson>,
}

#[derive(Serialize)]
pub(crate) struct RssPartJson {
    #[serde(flatten)]
    pub(crate) part: RssPart,
    /// The sum it is part of: `outside_jemalloc` or `file_backed` (once
    /// parts of their own, split since), where it is in one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) group: Option<Group>,
    /// Of the RSS, from 0 to 1.
    pub(crate) share: f64,
    /// Its change over the verdict's window (see `growth_by`), and that
    /// over the window's minutes; `null` before the timeline has two
    /// points.
    pub(crate) growth: Option<i64>,
    pub(crate) bytes_per_minute: Option<f64>,
    /// Where the part's source cannot be read here, what is missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) unread: Option<&'static str>,
    #[serde(skip)]
    pub(crate) about: &'static str,
}

#[derive(Serialize)]
pub(crate) struct GroupJson {
    pub(crate) group: Group,
    pub(crate) bytes: u64,
    pub(crate) growth: Option<i64>,
}

#[derive(Serialize)]
pub(crate) struct LibcMallocJson {
    pub(crate) in_use: u64,
    pub(crate) free: u64,
    pub(crate) mapped: u64,
    pub(crate) arenas: u32,
}

#[derive(Serialize)]
pub(crate) struct NamedMapJson {
    pub(crate) name: String,
    pub(crate) bytes: u64,
}

#[derive(Serialize)]
pub(crate) struct RegionJson {
    /// `0x7f3a20000000-0x7f3a24000000`, as `/proc/self/maps` writes it.
    pub(crate) range: String,
    pub(crate) size: u64,
    pub(crate) resident: u64,
}

/// How the parts' growth is reckoned, in words.
pub(crate) const GROWTH_BY_DIFFERENCE: &str =
    "Growth is the window's last timeline point less its first: the parts' add up to the RSS's.";

/// Anonymous regions listed at most.
const LISTED_REGIONS: usize = 5;

impl RssBreakdownJson {
    /// The RSS now in parts, each with its growth over the verdict's
    /// window; `None` without procfs.
    pub(crate) fn of(verdict: &Verdict) -> Option<Self> {
        let mapped = read_mappings(&[], LISTED_REGIONS);
        let readable = mapped.is_some();
        Self::of_reading(
            verdict,
            &MemoryReading::now(),
            mapped.unwrap_or_default(),
            readable,
        )
    }

    /// The RSS in parts as `reading` has it (a black box capture's last),
    /// with what `mapped` lists of the mappings (`readable`: whether they
    /// could be read).
    pub(crate) fn of_reading(
        verdict: &Verdict,
        reading: &MemoryReading,
        mapped: MappedParts,
        readable: bool,
    ) -> Option<Self> {
        let (rss, parts) = rss::breakdown(reading)?;
        let window = &verdict.evidence;
        let grew = window.timeline_points >= 2;
        let parts: Vec<RssPartJson> = parts
            .into_iter()
            .map(|part| {
                let trend = window.part(part.part).filter(|_| grew);
                RssPartJson {
                    group: part.part.group(),
                    share: part.bytes as f64 / rss.max(1) as f64,
                    about: part_about(part.part),
                    growth: trend.map(|trend| trend.growth),
                    bytes_per_minute: trend.map(|trend| trend.bytes_per_minute),
                    unread: unread(part.part, reading, readable),
                    part,
                }
            })
            .collect();
        let groups = [Group::OutsideJemalloc, Group::FileBacked]
            .into_iter()
            .map(|group| {
                let members = parts.iter().filter(|part| part.group == Some(group));
                GroupJson {
                    group,
                    bytes: members.clone().map(|part| part.part.bytes).sum(),
                    growth: grew.then(|| members.filter_map(|part| part.growth).sum()),
                }
            })
            .collect();
        let mut named_maps: Vec<NamedMapJson> = mapped
            .named
            .into_iter()
            .map(|(name, bytes)| NamedMapJson { name, bytes })
            .collect();
        named_maps.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.name.cmp(&b.name)));
        Some(Self {
            rss,
            growth: window.rss_growth.filter(|_| grew),
            growth_by: "difference",
            parts,
            groups,
            threads: reading.threads,
            stack_mappings: mapped.stacks,
            libc_malloc: reading.libc.map(|libc| LibcMallocJson {
                in_use: libc.in_use,
                free: libc.free,
                mapped: libc.mapped,
                arenas: libc.arenas,
            }),
            named_maps,
            largest_anonymous_regions: mapped
                .largest_anonymous
                .into_iter()
                .map(|region| RegionJson {
                    range: format!("{:x}-{:x}", region.range.start, region.range.end),
                    size: region.range.end - region.range.start,
                    resident: region.resident,
                })
                .collect(),
        })
    }
}

impl RssBreakdownJson {
    pub(crate) fn growth_words(&self) -> &'static str {
        GROWTH_BY_DIFFERENCE
    }

    /// What the parts outside jemalloc are made of, a line each: the
    /// threads, the C library's malloc, the named maps, the largest other
    /// regions.
    pub(crate) fn outside_lines(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "Threads: {} ({} stack mappings: each thread's, its signal stack's).",
            self.threads, self.stack_mappings
        )];
        lines.push(match &self.libc_malloc {
            Some(libc) => format!(
                "The C library's malloc (glibc): {} in use ({} of it mapped on its own), {} kept free, {}.",
                human_bytes(libc.in_use),
                human_bytes(libc.mapped),
                human_bytes(libc.free),
                count_of(libc.arenas.into(), "arena"),
            ),
            None => "The C library's malloc: not glibc, its figures cannot be read.".to_owned(),
        });
        if !self.named_maps.is_empty() {
            let named: Vec<String> = self
                .named_maps
                .iter()
                .map(|map| format!("{} {}", map.name, human_bytes(map.bytes)))
                .collect();
            lines.push(format!("Named maps: {}.", named.join(", ")));
        }
        if !self.largest_anonymous_regions.is_empty() {
            let regions: Vec<String> = self
                .largest_anonymous_regions
                .iter()
                .map(|region| {
                    format!(
                        "{} ({} of {} resident)",
                        region.range,
                        human_bytes(region.resident),
                        human_bytes(region.size)
                    )
                })
                .collect();
            lines.push(format!(
                "Largest other anonymous regions (the allocators' among them): {}.",
                regions.join("; ")
            ));
        }
        lines
    }
}

/// What cannot be read of `part`'s source here, if anything.
fn unread(part: Part, reading: &MemoryReading, mappings_read: bool) -> Option<&'static str> {
    match part {
        Part::ThreadStacks | Part::NamedMaps | Part::Binary | Part::MemscopeDebugInfo
            if !mappings_read =>
        {
            Some(
                "the mappings (/proc/self/maps) cannot be read: counted in the part that holds the rest",
            )
        }
        Part::LibcMalloc if reading.libc.is_none() => Some(
            "the C library is not glibc: its malloc's figures cannot be read, and what it holds is in the rest",
        ),
        _ => None,
    }
}

impl RssPartJson {
    /// `kept_for_reuse`, as JSON names the part.
    pub(crate) fn part_name(&self) -> &'static str {
        self.part.part.name()
    }

    /// `+12.00 MiB`, or nothing before the timeline has two points.
    pub(crate) fn growth_text(&self) -> String {
        self.growth.map_or_else(String::new, human_bytes_signed)
    }

    /// What the part is, and what of it could not be read or was cut.
    pub(crate) fn about_text(&self) -> String {
        let mut about = self.about.to_owned();
        if let Some(reported) = self.part.reported {
            about.push_str(&format!(
                " (its source reports {}: cut to what is resident)",
                human_bytes(reported)
            ));
        }
        if let Some(unread) = self.unread {
            about.push_str(&format!(" ({unread})"));
        }
        about
    }
}
