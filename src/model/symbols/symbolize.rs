//! Turning return addresses into functions, files and lines, with names
//! that carry their crate and module path in release builds too.
//!
//! Each loaded object file is memory-mapped (pages the kernel can drop and
//! read again) and read for just the addresses asked (`dwarf.rs`).
//! Resolved frames are kept by address; the open files are given back
//! after a minute unused, with the pages of memory they used.
//!
//! Names: with line tables only (`debug = "line-tables-only"`), DWARF
//! names inlined functions as they are written (`store_response`,
//! `{async_fn#0}`, `build<&str, Bytes>`), without their path, while the
//! symbol table names every function that was not inlined in full. So the
//! function that holds the address is named from the symbol table, and
//! each function inlined into it is given the path of the one symbol whose
//! last segment its name is, as told apart by the crate and module its file
//! lies in (`names.rs`); where none fits, the path its file gives
//! (`~/.cargo/registry/.../tokio-1.0/src/runtime/task.rs` gives
//! `tokio::runtime::task`). Closures and async bodies are named after the
//! function around them.

use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;
use serde::Serialize;

use super::crate_roots::CrateRoots;
use super::dwarf::{DebugInfo, WrittenFrame};
use super::frames::{FrameKind, classify};
use super::names::{LastSegmentIndex, full_name};
use crate::model::process::is_skipped_frame;
use crate::model::process::objects::{LoadedObject, LoadedObjects};

/// How long the caches are kept after their last use.
const IDLE_BEFORE_RELEASE: Duration = Duration::from_secs(60);
/// How often the releasing thread looks.
const IDLE_CHECK: Duration = Duration::from_secs(5);
/// Addresses kept at most; past that the cache starts again, so that a
/// program with very many distinct stacks cannot grow it without bound.
const MAX_CACHED_ADDRESSES: usize = 200_000;

/// One frame of a stack. An address yields several when calls were inlined.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub(crate) struct Frame {
    /// Names and files are shared by every frame that has them: a stack
    /// holds many frames of few functions and fewer files.
    pub(crate) function: Arc<str>,
    pub(crate) file: Option<Arc<str>>,
    pub(crate) line: Option<u32>,
    /// `app`, `library`, `memscope` or `allocator` (allocator and std).
    pub(crate) kind: FrameKind,
}

impl Frame {
    /// `src/cache.rs:42`, or the function name's crate where there is no
    /// line information.
    pub(crate) fn location(&self) -> String {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => format!("{file}:{line}"),
            (Some(file), None) => file.to_string(),
            _ => String::new(),
        }
    }

    /// Whether `needle` (lower case) occurs in the function or the file.
    pub(crate) fn matches(&self, needle: &str) -> bool {
        self.function.to_lowercase().contains(needle)
            || self
                .file
                .as_deref()
                .is_some_and(|file| file.to_lowercase().contains(needle))
    }
}

/// The frames of one address, innermost (inlined) first.
pub(crate) type AddressFrames = Arc<[Frame]>;

/// One object file, opened for resolving.
struct OpenObject {
    info: DebugInfo,
    /// Symbols by the last segment of their names, built when an inlined
    /// frame first needs it.
    names: Option<LastSegmentIndex>,
    /// The crates of source files, from the debug info's units.
    crate_roots: CrateRoots,
}

#[derive(Default)]
struct Cache {
    /// Looked up once for every frame of every stack of a page: a fast
    /// hash of the address, not SipHash (no one chooses these keys).
    frames: FxHashMap<u64, AddressFrames>,
    /// Every function name and file the frames hold, once.
    strings: std::collections::HashSet<Arc<str>>,
    /// Object files opened, by path; `None` for one that could not be read.
    open: HashMap<PathBuf, Option<OpenObject>>,
    last_used: Option<Instant>,
    releaser_running: bool,
}

/// The process's one symbolizer.
pub(crate) struct Symbolizer {
    cache: Mutex<Cache>,
    /// Where the object files open are mapped, read without waiting for
    /// a resolve that runs.
    mapped: Mutex<Vec<Range<u64>>>,
}

pub(crate) static SYMBOLIZER: LazyLock<Symbolizer> = LazyLock::new(|| Symbolizer {
    cache: Mutex::new(Cache::default()),
    mapped: Mutex::new(Vec::new()),
});

impl Symbolizer {
    fn lock(&self) -> MutexGuard<'_, Cache> {
        crate::sync::lock(&self.cache)
    }

    /// The frames of each of `addresses` (distinct), in their order.
    /// Blocking: call it off the async executor.
    pub(crate) fn resolve_addresses(&'static self, addresses: &[u64]) -> Vec<AddressFrames> {
        let mut cache = self.lock();
        if cache.frames.len() > MAX_CACHED_ADDRESSES {
            cache.frames = FxHashMap::default();
            cache.strings = Default::default();
        }
        let mut missing: Vec<u64> = addresses
            .iter()
            .copied()
            .filter(|address| !cache.frames.contains_key(address))
            .collect();
        if !missing.is_empty() {
            missing.sort_unstable();
            missing.dedup();
            let cache = &mut *cache;
            let found = resolve(
                &mut cache.open,
                &mut cache.strings,
                &LoadedObjects::read().objects,
                &missing,
            );
            cache.frames.extend(found);
            // What was read of the debug info is given back at once: its
            // pages were the kernel's to drop, but they counted in the
            // RSS while mapped.
            for opened in cache.open.values().flatten() {
                opened.info.release_pages();
            }
        }
        // Every address is cached now; one that were not would be named
        // as unknown rather than fail the page.
        let resolved = addresses
            .iter()
            .map(|address| {
                cache
                    .frames
                    .get(address)
                    .cloned()
                    .unwrap_or_else(|| unknown(*address))
            })
            .collect();
        cache.last_used = Some(Instant::now());
        if !cache.releaser_running {
            cache.releaser_running = self.start_releaser();
        }
        resolved
    }

    /// The frames of every address of `stacks`, each resolved once: for
    /// stacks that were not numbered as they were read (a CPU capture's).
    /// Blocking.
    pub(crate) fn resolve_stacks<'a>(
        &'static self,
        stacks: impl Iterator<Item = &'a [u64]> + Clone,
    ) -> Vec<Vec<AddressFrames>> {
        let mut distinct: Vec<u64> = stacks.clone().flatten().copied().collect();
        distinct.sort_unstable();
        distinct.dedup();
        let frames = self.resolve_addresses(&distinct);
        let frames_of = |address: &u64| {
            let at = distinct.binary_search(address).unwrap_or(0);
            frames[at].clone()
        };
        stacks
            .map(|addresses| addresses.iter().map(frames_of).collect())
            .collect()
    }

    /// The frames of each of `addresses` (distinct) in `objects`, the
    /// objects of another process (a black box capture's): read from their
    /// files with caches of their own, which this process's addresses
    /// never share, and given back when done. Blocking.
    pub(crate) fn resolve_elsewhere(
        &'static self,
        objects: &[LoadedObject],
        addresses: &[u64],
    ) -> Vec<AddressFrames> {
        let mut sorted = addresses.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let mut open = HashMap::new();
        let mut strings = std::collections::HashSet::new();
        let found: FxHashMap<u64, AddressFrames> =
            resolve(&mut open, &mut strings, objects, &sorted)
                .into_iter()
                .collect();
        for opened in open.values().flatten() {
            opened.info.release_pages();
        }
        let resolved = addresses
            .iter()
            .map(|address| {
                found
                    .get(address)
                    .cloned()
                    .unwrap_or_else(|| unknown(*address))
            })
            .collect();
        // The files were mapped for this alone: unmapped with `open`, and
        // no longer memscope's.
        drop(open);
        // The cache's lock before the ranges', as `OpenObject::open` takes
        // them.
        let open_now: Vec<Range<u64>> = self
            .lock()
            .open
            .values()
            .flatten()
            .map(|opened| opened.info.mapped_range())
            .collect();
        crate::sync::lock(&self.mapped).retain(|range| open_now.contains(range));
        resolved
    }

    /// Addresses cached now.
    pub(crate) fn cached_addresses(&self) -> usize {
        self.lock().frames.len()
    }

    /// Where the object files open for resolving are mapped, for the parts
    /// of the RSS to count what is resident of them as memscope's.
    pub(crate) fn mapped_ranges(&self) -> Vec<Range<u64>> {
        crate::sync::lock(&self.mapped).clone()
    }

    /// Gives the caches back now, as they are after a minute idle: the
    /// next addresses resolved open their files again.
    pub(crate) fn release_now(&self) {
        Self::release(self.lock());
    }

    fn release(mut cache: MutexGuard<'_, Cache>) {
        cache.frames = FxHashMap::default();
        cache.strings = Default::default();
        cache.open = HashMap::new();
        crate::sync::lock(&SYMBOLIZER.mapped).clear();
        drop(cache);
        crate::model::allocator::HeapSource::get().release_free_pages();
    }

    /// A thread that gives the caches back once they have been idle for a
    /// minute, then ends. Returns whether it started.
    fn start_releaser(&'static self) -> bool {
        std::thread::Builder::new()
            .name("memscope-symbols".to_owned())
            .spawn(move || {
                loop {
                    std::thread::sleep(IDLE_CHECK);
                    let mut cache = self.lock();
                    let idle = cache
                        .last_used
                        .is_none_or(|used| used.elapsed() >= IDLE_BEFORE_RELEASE);
                    if idle {
                        cache.releaser_running = false;
                        Self::release(cache);
                        return;
                    }
                }
            })
            .is_ok()
    }
}

/// Resolves return addresses (sorted, each once) against the objects
/// loaded now, a file at a time.
fn resolve(
    open: &mut HashMap<PathBuf, Option<OpenObject>>,
    strings: &mut std::collections::HashSet<Arc<str>>,
    objects: &[LoadedObject],
    addresses: &[u64],
) -> Vec<(u64, AddressFrames)> {
    let mut by_object: HashMap<usize, Vec<u64>> = HashMap::new();
    let mut resolved = Vec::with_capacity(addresses.len());
    for &address in addresses {
        match objects.iter().position(|object| object.contains(address)) {
            Some(index) => by_object.entry(index).or_default().push(address),
            None => resolved.push((address, unknown(address))),
        }
    }
    for (index, addresses) in by_object {
        let object = &objects[index];
        // An object with no file of its own (the vDSO) names nothing.
        let opened = object.file_path().and_then(|path| {
            open.entry(path)
                .or_insert_with(|| OpenObject::open(object))
                .as_mut()
        });
        let Some(opened) = opened else {
            resolved.extend(addresses.iter().map(|&address| (address, unknown(address))));
            continue;
        };
        // The call instruction, one byte before each return address.
        let probes: Vec<u64> = addresses
            .iter()
            .map(|address| address.wrapping_sub(object.bias).wrapping_sub(1))
            .collect();
        let mut written = opened.info.frames(&probes);
        for (&address, probe) in addresses.iter().zip(probes) {
            let frames = opened.name(probe, written.remove(&probe).unwrap_or_default(), strings);
            let frames = if frames.is_empty() {
                offset_in(object, address)
            } else {
                frames.into()
            };
            resolved.push((address, frames));
        }
    }
    resolved
}

/// `text`, shared with every frame that has it.
fn intern(strings: &mut std::collections::HashSet<Arc<str>>, text: String) -> Arc<str> {
    if let Some(known) = strings.get(text.as_str()) {
        return known.clone();
    }
    let shared: Arc<str> = text.into();
    strings.insert(shared.clone());
    shared
}

/// What a sample's stack holds where its thread had too little stack left
/// for the walk: the site its bytes are counted under.
pub(crate) const NOT_WALKED: &str = "(stack not walked: too little stack left)";

/// An address no object file explains; the frame of a sample that was not
/// walked is named for what it is.
fn unknown(address: u64) -> AddressFrames {
    let (function, kind) = if is_skipped_frame(address) {
        (NOT_WALKED.into(), FrameKind::App)
    } else {
        (format!("{address:#x}").into(), FrameKind::Library)
    };
    Arc::from(vec![Frame {
        function,
        file: None,
        line: None,
        kind,
    }])
}

/// An address in a file that names nothing there (a stripped library's
/// internal function): the file and the offset, `libc.so.6+0x2a1c0`, as
/// addr2line takes them, rather than the nearest symbol's name.
fn offset_in(object: &LoadedObject, address: u64) -> AddressFrames {
    let file = object.file_path().and_then(|path| {
        path.file_name()
            .map(|name| name.to_string_lossy().into_owned())
    });
    let Some(file) = file else {
        return unknown(address);
    };
    Arc::from(vec![Frame {
        function: format!("{file}+{:#x}", address.wrapping_sub(object.bias)).into(),
        file: None,
        line: None,
        kind: FrameKind::Library,
    }])
}

/// The C entry point of a Rust program, named `main` in the symbol table:
/// what it allocates is the runtime's start (std's, inlined into it)
/// before the program's own `fn main`.
const RUNTIME_START: &str = "main (the runtime's start, before fn main)";

impl OpenObject {
    /// The file `object` was loaded from, as it was loaded: see
    /// `LoadedObject::open_file`.
    fn open(object: &LoadedObject) -> Option<Self> {
        let info = DebugInfo::of(object.open_file()?)?;
        // Counted as soon as it is mapped: the timeline reads it while the
        // file's pages are being read, before the resolve ends.
        crate::sync::lock(&SYMBOLIZER.mapped).push(info.mapped_range());
        Some(Self {
            info,
            names: None,
            crate_roots: CrateRoots::default(),
        })
    }

    /// The frames at `probe`, innermost first, from what the debug info
    /// writes of them (`written`), each named in full where the file
    /// allows: the outermost from the symbol table, those inlined into it
    /// as `names.rs` finds.
    fn name(
        &mut self,
        probe: u64,
        mut written: Vec<WrittenFrame>,
        strings: &mut std::collections::HashSet<Arc<str>>,
    ) -> Vec<Frame> {
        // An inlined call the debug info gives no name (compiler-made
        // shims) says nothing to name a site by; the call site of the next
        // frame out keeps its place.
        let last = written.len().saturating_sub(1);
        let mut index = 0;
        written.retain(|frame| {
            let keep = index == last || !frame.name.is_empty();
            index += 1;
            keep
        });
        let symbol = self
            .info
            .symbol(probe)
            .map(|mangled| format!("{:#}", rustc_demangle::demangle(mangled)));
        if written.is_empty() {
            let Some(symbol) = &symbol else {
                return Vec::new();
            };
            written.push(WrittenFrame {
                name: symbol.clone(),
                ..WrittenFrame::default()
            });
        }
        let outermost = written.len() - 1;
        let mut named: Vec<String> = vec![String::new(); written.len()];
        for index in (0..written.len()).rev() {
            let frame = &written[index];
            named[index] = if index == outermost {
                symbol.clone().unwrap_or_else(|| frame.name.clone())
            } else {
                let info = &self.info;
                let names = &mut self.names;
                let roots = &mut self.crate_roots;
                let outer: Vec<(&str, Option<&str>)> = (index + 1..written.len())
                    .map(|outer| (named[outer].as_str(), written[outer].file.as_deref()))
                    .collect();
                full_name(
                    &frame.name,
                    frame.file.as_deref(),
                    frame.line,
                    &outer,
                    || names.get_or_insert_with(|| LastSegmentIndex::build(info.text_symbols())),
                    &mut |file| roots.crate_of_file(info, file),
                )
            };
        }
        written
            .into_iter()
            .zip(named)
            .map(|(written, function)| {
                let function = if function == "main" && written.file.is_none() {
                    RUNTIME_START.to_owned()
                } else {
                    function
                };
                let kind = classify(&function, written.file.as_deref());
                Frame {
                    function: intern(strings, function),
                    file: written.file.map(|file| intern(strings, file)),
                    line: written.line,
                    kind,
                }
            })
            .collect()
    }
}
