//! The live heap by size class, from jemalloc's own per-bin and per-extent
//! counters. Exact (every allocation counts, not a sample) and available
//! whether or not heap profiling is on.

#![allow(unsafe_code)]

use tikv_jemalloc_ctl::raw;

/// `MALLCTL_ARENAS_ALL`: the pseudo-arena whose statistics merge all arenas.
const ALL_ARENAS: u32 = 4096;

/// One jemalloc size class and what currently lives in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SizeClass {
    /// The size every object of this class occupies.
    pub(crate) size: u64,
    /// Live objects of this class.
    pub(crate) objects: u64,
    /// Whether the class is a small bin (slab-allocated) rather than a large extent.
    pub(crate) small: bool,
}

impl SizeClass {
    pub(crate) fn bytes(&self) -> u64 {
        self.size * self.objects
    }

    /// `448 B (small)`.
    pub(crate) fn name(&self) -> String {
        let kind = if self.small { "small" } else { "large" };
        format!("{} ({kind})", crate::units::human_bytes(self.size))
    }
}

/// The size classes that hold at least one live object. The caller advances
/// the epoch first.
pub(crate) fn size_classes() -> Vec<SizeClass> {
    let mut classes = Vec::new();
    let bins = read_u32("arenas.nbins").unwrap_or(0);
    for bin in 0..bins {
        let size = read_usize(&format!("arenas.bin.{bin}.size"));
        let objects = read_usize(&format!("stats.arenas.{ALL_ARENAS}.bins.{bin}.curregs"));
        push_class(&mut classes, size, objects, true);
    }
    let extents = read_u32("arenas.nlextents").unwrap_or(0);
    for extent in 0..extents {
        let size = read_usize(&format!("arenas.lextent.{extent}.size"));
        let objects = read_usize(&format!(
            "stats.arenas.{ALL_ARENAS}.lextents.{extent}.curlextents"
        ));
        push_class(&mut classes, size, objects, false);
    }
    classes
}

fn push_class(classes: &mut Vec<SizeClass>, size: Option<u64>, objects: Option<u64>, small: bool) {
    if let (Some(size), Some(objects)) = (size, objects)
        && objects > 0
    {
        classes.push(SizeClass {
            size,
            objects,
            small,
        });
    }
}

fn control_name(name: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(name.len() + 1);
    bytes.extend_from_slice(name.as_bytes());
    bytes.push(0);
    bytes
}

fn read_u32(name: &str) -> Option<u32> {
    // SAFETY: the controls read through this (`arenas.nbins`,
    // `arenas.nlextents`) are `unsigned`.
    unsafe { raw::read::<u32>(&control_name(name)) }.ok()
}

fn read_usize(name: &str) -> Option<u64> {
    // SAFETY: the controls read through this (bin and extent sizes, `curregs`,
    // `curlextents`) are `size_t`.
    unsafe { raw::read::<usize>(&control_name(name)) }
        .ok()
        .map(|value| value as u64)
}
