//! Reading one object file's symbol table and DWARF to resolve addresses,
//! keeping nothing of the DWARF but what the addresses asked for.
//!
//! The file is memory-mapped: its pages are the kernel's to drop and read
//! again. For a batch of addresses, `.debug_aranges` says which
//! compilation units hold them; each such unit's line program is run once,
//! row by row, noting the row of each address, and its tree of functions is
//! walked once, going into a function only if it holds one of the
//! addresses, noting the inlined calls that do. Nothing parsed is kept past
//! the unit, so memory follows the addresses resolved, not the size of the
//! debug info (a parsed line table of a large unit runs to megabytes).

#![allow(unsafe_code)]

use std::collections::HashMap;

use gimli::{AttributeValue, EndianSlice, RunTimeEndian};
use object::{Object, ObjectSection};

use super::symbol_extents::SymbolExtents;
use crate::model::process::objects::ObjectFile;

pub(super) type Reader = EndianSlice<'static, RunTimeEndian>;
pub(super) type Unit = gimli::Unit<Reader>;

/// One frame as the debug info writes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct WrittenFrame {
    /// As DWARF names it (in release builds with line tables only, the last
    /// path segment and its generic arguments).
    pub(crate) name: String,
    pub(crate) file: Option<String>,
    pub(crate) line: Option<u32>,
}

/// An opened object file.
pub(crate) struct DebugInfo {
    // Borrows from `map`: declared first, so dropped first.
    pub(super) dwarf: gimli::Dwarf<Reader>,
    /// Function symbols with their extents, by address.
    pub(super) symbols: SymbolExtents,
    text_symbols: Vec<&'static str>,
    file: ObjectFile,
}

impl DebugInfo {
    /// Where the file is mapped: its resident pages count in the
    /// process's file-backed RSS as memscope's.
    pub(crate) fn mapped_range(&self) -> std::ops::Range<u64> {
        let bytes = self.file.bytes();
        bytes.as_ptr() as u64..bytes.as_ptr() as u64 + bytes.len() as u64
    }

    /// Opens `file`'s symbols and debug info; `None` where it cannot be
    /// read as an object file.
    pub(crate) fn of(file: ObjectFile) -> Option<Self> {
        let mapped = file.bytes();
        // SAFETY: the bytes live in the file's mapping, which `Self` owns
        // and drops after everything that borrows from it; the mapping's
        // address does not change when `Self` moves.
        let bytes: &'static [u8] =
            unsafe { std::slice::from_raw_parts(mapped.as_ptr(), mapped.len()) };
        let object = object::File::parse(bytes).ok()?;
        let endian = if object.is_little_endian() {
            RunTimeEndian::Little
        } else {
            RunTimeEndian::Big
        };
        let dwarf = gimli::Dwarf::load(|id| -> Result<Reader, gimli::Error> {
            // Compressed sections would have to be inflated into memory:
            // left out, their frames named from the symbol table alone.
            let data = object
                .section_by_name(id.name())
                .filter(|section| {
                    matches!(
                        section.compressed_file_range().map(|range| range.format),
                        Ok(object::CompressionFormat::None)
                    )
                })
                .and_then(|section| section.data().ok())
                .unwrap_or(&[]);
            Ok(EndianSlice::new(data, endian))
        })
        .ok()?;
        let symbols = SymbolExtents::of(&object);
        let text_symbols = text_symbol_names(&object);
        Some(Self {
            dwarf,
            symbols,
            text_symbols,
            file,
        })
    }

    /// Drops the pages of the file read so far from the resident set (see
    /// `ObjectFile::release_pages`).
    pub(crate) fn release_pages(&self) {
        self.file.release_pages();
    }

    /// The (mangled) name of the function symbol holding `probe`: one
    /// whose extent it lies in, not merely the nearest below it (in a
    /// stripped library that is an exported function that happens to come
    /// before an internal one).
    pub(crate) fn symbol(&self, probe: u64) -> Option<&str> {
        self.symbols.holding(probe)
    }

    /// The (mangled) names of the file's function symbols.
    pub(crate) fn text_symbols(&self) -> &[&'static str] {
        &self.text_symbols
    }

    /// The frames at each of `probes` (addresses in the file's own terms,
    /// sorted, each once), innermost first; an address the debug info does
    /// not cover has none.
    pub(crate) fn frames(&self, probes: &[u64]) -> HashMap<u64, Vec<WrittenFrame>> {
        let mut found = HashMap::new();
        for (unit, unit_probes) in self.units_holding(probes) {
            let Ok(unit) = self.unit(unit) else { continue };
            let rows = self.rows_of(&unit, &unit_probes);
            let calls = self.calls_of(&unit, &unit_probes);
            for probe in unit_probes {
                let frames = frames_at(rows.get(&probe), calls.get(&probe));
                if !frames.is_empty() {
                    found.insert(probe, frames);
                }
            }
            // A unit's line program and functions are read once: their
            // pages leave the resident set before the next unit's come in,
            // so that a first page holds one unit's at a time, not the
            // debug info's.
            self.release_pages();
        }
        found
    }

    /// The units that hold `probes`, from `.debug_aranges`, each with its
    /// probes (sorted).
    fn units_holding(&self, probes: &[u64]) -> HashMap<gimli::DebugInfoOffset, Vec<u64>> {
        let mut units: HashMap<gimli::DebugInfoOffset, Vec<u64>> = HashMap::new();
        let mut headers = self.dwarf.debug_aranges.headers();
        while let Ok(Some(header)) = headers.next() {
            let offset = header.debug_info_offset();
            let mut entries = header.entries();
            while let Ok(Some(entry)) = entries.next() {
                let range = entry.range();
                for &probe in within(probes, range.begin, range.end) {
                    units.entry(offset).or_default().push(probe);
                }
            }
        }
        for probes in units.values_mut() {
            probes.sort_unstable();
            probes.dedup();
        }
        units
    }

    pub(super) fn unit(&self, offset: gimli::DebugInfoOffset) -> gimli::Result<Unit> {
        let header = self.dwarf.debug_info.header_from_offset(offset)?;
        self.dwarf.unit(header)
    }

    /// The line table row of each probe: its file and line.
    fn rows_of(&self, unit: &Unit, probes: &[u64]) -> HashMap<u64, (Option<String>, Option<u32>)> {
        let mut rows_found = HashMap::new();
        let Some(program) = unit.line_program.clone() else {
            return rows_found;
        };
        let mut files: HashMap<u64, Option<String>> = HashMap::new();
        let mut rows = program.rows();
        // The row in force, until the next one's address.
        let mut current: Option<(u64, u64, Option<u32>)> = None;
        while let Ok(Some((header, row))) = rows.next_row() {
            if let Some((start, file, line)) = current.take()
                && row.address() > start
            {
                for &probe in within(probes, start, row.address()) {
                    let name = files
                        .entry(file)
                        .or_insert_with(|| self.file_name(unit, header, file))
                        .clone();
                    rows_found.insert(probe, (name, line));
                }
            }
            if !row.end_sequence() {
                let line = row.line().map(|line| line.get() as u32);
                current = Some((row.address(), row.file_index(), line));
            }
        }
        rows_found
    }

    /// The functions and inlined calls holding each probe, outermost first:
    /// (name, the file and line of the call made from it, if inlined).
    fn calls_of(&self, unit: &Unit, probes: &[u64]) -> HashMap<u64, Vec<Call>> {
        let mut calls: HashMap<u64, Vec<Call>> = HashMap::new();
        let Ok(mut tree) = unit.entries_tree(None) else {
            return calls;
        };
        if let Ok(root) = tree.root() {
            let _ = self.walk(unit, root, probes, 0, &mut calls);
        }
        calls
    }

    fn walk(
        &self,
        unit: &Unit,
        node: gimli::EntriesTreeNode<'_, '_, '_, Reader>,
        probes: &[u64],
        depth: u32,
        calls: &mut HashMap<u64, Vec<Call>>,
    ) -> gimli::Result<()> {
        let entry = node.entry();
        let tag = entry.tag();
        let is_function =
            tag == gimli::DW_TAG_subprogram || tag == gimli::DW_TAG_inlined_subroutine;
        if is_function {
            let mut held = Vec::new();
            let mut ranges = self.dwarf.die_ranges(unit, entry)?;
            while let Some(range) = ranges.next()? {
                held.extend_from_slice(within(probes, range.begin, range.end));
            }
            // A function that holds none of the probes: nothing inside it
            // can either.
            if held.is_empty() {
                return Ok(());
            }
            let call = Call {
                depth,
                name: self.function_name(unit, entry).unwrap_or_default(),
                call_file: self.call_file(unit, entry),
                call_line: entry
                    .attr_value(gimli::DW_AT_call_line)?
                    .and_then(|value| value.udata_value())
                    .map(|line| line as u32),
            };
            for probe in held {
                calls.entry(probe).or_default().push(call.clone());
            }
        } else if ![
            gimli::DW_TAG_compile_unit,
            gimli::DW_TAG_namespace,
            gimli::DW_TAG_lexical_block,
        ]
        .contains(&tag)
        {
            // Types, variables and the like hold no code.
            return Ok(());
        }
        let mut children = node.children();
        while let Some(child) = children.next()? {
            self.walk(unit, child, probes, depth + 1, calls)?;
        }
        Ok(())
    }

    /// A function's name, from its entry or the one it is an instance or
    /// the definition of: the linkage name, demangled, where the build has
    /// it (full debug info), else the name as written.
    fn function_name(
        &self,
        unit: &Unit,
        entry: &gimli::DebuggingInformationEntry<'_, '_, Reader>,
    ) -> Option<String> {
        for linkage in [gimli::DW_AT_linkage_name, gimli::DW_AT_MIPS_linkage_name] {
            if let Some(name) = entry.attr_value(linkage).ok().flatten()
                && let Ok(name) = self.dwarf.attr_string(unit, name)
            {
                let mangled = name.to_string_lossy();
                return Some(format!("{:#}", rustc_demangle::demangle(&mangled)));
            }
        }
        if let Some(name) = entry.attr_value(gimli::DW_AT_name).ok().flatten()
            && let Ok(name) = self.dwarf.attr_string(unit, name)
        {
            return Some(name.to_string_lossy().into_owned());
        }
        for origin in [gimli::DW_AT_abstract_origin, gimli::DW_AT_specification] {
            if let Some(AttributeValue::UnitRef(offset)) = entry.attr_value(origin).ok().flatten()
                && let Ok(origin) = unit.entry(offset)
                && let Some(name) = self.function_name(unit, &origin)
            {
                return Some(name);
            }
        }
        None
    }

    fn call_file(
        &self,
        unit: &Unit,
        entry: &gimli::DebuggingInformationEntry<'_, '_, Reader>,
    ) -> Option<String> {
        let index = match entry.attr_value(gimli::DW_AT_call_file).ok()?? {
            AttributeValue::FileIndex(index) => index,
            value => value.udata_value()?,
        };
        let header = unit.line_program.as_ref()?.header();
        self.file_name(unit, header, index)
    }

    /// The path of file `index` of a line program, with its directory and
    /// the unit's compilation directory where it is relative.
    pub(super) fn file_name(
        &self,
        unit: &Unit,
        header: &gimli::LineProgramHeader<Reader>,
        index: u64,
    ) -> Option<String> {
        let file = header.file(index)?;
        let text = |value| {
            self.dwarf
                .attr_string(unit, value)
                .ok()
                .map(|text| text.to_string_lossy().into_owned())
        };
        let name = text(file.path_name())?;
        if name.starts_with('/') {
            return Some(name);
        }
        let mut path = String::new();
        if let Some(directory) = file.directory(header).and_then(text) {
            if !directory.starts_with('/')
                && let Some(comp_dir) = &unit.comp_dir
            {
                path.push_str(&comp_dir.to_string_lossy());
                path.push('/');
            }
            path.push_str(&directory);
            path.push('/');
        }
        path.push_str(&name);
        Some(path)
    }
}

/// A function or an inlined call that holds an address.
#[derive(Clone, Debug)]
struct Call {
    depth: u32,
    name: String,
    /// Where the inlined call was made, in the function around it.
    call_file: Option<String>,
    call_line: Option<u32>,
}

/// The frames at a probe, innermost first: each inlined call's location
/// is where the next inner one was called from, and the innermost's is
/// the line table's.
fn frames_at(
    row: Option<&(Option<String>, Option<u32>)>,
    calls: Option<&Vec<Call>>,
) -> Vec<WrittenFrame> {
    let mut calls: Vec<&Call> = calls
        .map(|calls| calls.iter().collect())
        .unwrap_or_default();
    calls.sort_by_key(|call| std::cmp::Reverse(call.depth));
    let (mut file, mut line) = row.cloned().unwrap_or((None, None));
    let mut frames = Vec::with_capacity(calls.len().max(1));
    for call in calls {
        frames.push(WrittenFrame {
            name: call.name.clone(),
            file: file.take(),
            line: line.take(),
        });
        file = call.call_file.clone();
        line = call.call_line;
    }
    if frames.is_empty() && (file.is_some() || line.is_some()) {
        frames.push(WrittenFrame {
            name: String::new(),
            file,
            line,
        });
    }
    frames
}

/// The probes in `[begin, end)`, from a sorted slice.
fn within(probes: &[u64], begin: u64, end: u64) -> &[u64] {
    let start = probes.partition_point(|&probe| probe < begin);
    let stop = probes.partition_point(|&probe| probe < end);
    &probes[start..stop.max(start)]
}

fn text_symbol_names(object: &object::File<'static>) -> Vec<&'static str> {
    use object::{ObjectSymbol, SymbolKind};
    object
        .symbols()
        .filter(|symbol| symbol.kind() == SymbolKind::Text && symbol.size() > 0)
        .filter_map(|symbol| symbol.name().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn a_function_of_this_test() -> u64 {
        std::hint::black_box(a_function_of_this_test as *const () as usize as u64)
    }

    #[test]
    fn resolves_an_address_of_this_test_binary() {
        let objects = crate::model::process::objects::LoadedObjects::read().objects;
        let address = a_function_of_this_test() + 4;
        let object = objects
            .iter()
            .find(|object| object.contains(address))
            .unwrap();
        let info = DebugInfo::of(object.open_file().unwrap()).expect("the test binary opens");
        let probe = address - object.bias;
        let symbol = info.symbol(probe).unwrap();
        assert!(
            format!("{:#}", rustc_demangle::demangle(symbol)).ends_with("a_function_of_this_test"),
            "{symbol}"
        );
        let frames = info.frames(&[probe]);
        let frames = &frames[&probe];
        // Full debug info has its linkage name; line tables alone, its name.
        assert!(
            frames
                .last()
                .unwrap()
                .name
                .ends_with("a_function_of_this_test"),
            "{frames:?}"
        );
        // Its own line (inlined calls, if any, come before it).
        let own = frames.last().unwrap();
        assert!(
            own.file
                .as_deref()
                .is_some_and(|file| file.ends_with("dwarf.rs")),
            "{frames:?}"
        );
        assert!(own.line.is_some());
    }

    #[test]
    fn probes_in_a_range() {
        let probes = [1, 5, 9, 12];
        assert_eq!(within(&probes, 5, 12), &[5, 9]);
        assert_eq!(within(&probes, 13, 20), &[] as &[u64]);
        assert_eq!(within(&probes, 0, 100), &probes);
    }
}
