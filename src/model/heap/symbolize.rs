//! Turning return addresses into functions, files and lines.
//!
//! Resolving costs time and memory on first use (parsed debug info;
//! BENCHMARKS.md has the figures), and little afterwards. So resolved frames are cached by address, and both this cache
//! and backtrace's debug-info cache are given back after a minute unused.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::frames::{FrameKind, classify};

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
    pub(crate) function: String,
    pub(crate) file: Option<String>,
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
            (Some(file), None) => file.clone(),
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

#[derive(Default)]
struct Cache {
    frames: HashMap<u64, AddressFrames>,
    last_used: Option<Instant>,
    releaser_running: bool,
}

/// The process's one symbolizer: backtrace's debug-info cache is global.
pub(crate) struct Symbolizer {
    cache: Mutex<Cache>,
}

pub(crate) static SYMBOLIZER: LazyLock<Symbolizer> = LazyLock::new(|| Symbolizer {
    cache: Mutex::new(Cache::default()),
});

impl Symbolizer {
    fn lock(&self) -> MutexGuard<'_, Cache> {
        crate::sync::lock(&self.cache)
    }

    /// Resolves every address of `stacks`, each once. Blocking: call it off
    /// the async executor.
    pub(crate) fn resolve_all<'a>(
        &'static self,
        stacks: impl Iterator<Item = &'a [u64]>,
    ) -> Vec<Vec<AddressFrames>> {
        let mut cache = self.lock();
        if cache.frames.len() > MAX_CACHED_ADDRESSES {
            cache.frames = HashMap::new();
        }
        let resolved = stacks
            .map(|addresses| {
                addresses
                    .iter()
                    .map(|&address| {
                        cache
                            .frames
                            .entry(address)
                            .or_insert_with(|| resolve(address))
                            .clone()
                    })
                    .collect()
            })
            .collect();
        cache.last_used = Some(Instant::now());
        if !cache.releaser_running {
            cache.releaser_running = self.start_releaser();
        }
        resolved
    }

    /// Addresses cached now.
    pub(crate) fn cached_addresses(&self) -> usize {
        self.lock().frames.len()
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
                        cache.frames = HashMap::new();
                        backtrace::clear_symbol_cache();
                        cache.releaser_running = false;
                        drop(cache);
                        crate::model::allocator::purge_unused_pages();
                        return;
                    }
                }
            })
            .is_ok()
    }
}

/// Resolves one return address. backtrace steps back one byte itself, so
/// the address is passed as the dump gives it.
fn resolve(address: u64) -> AddressFrames {
    let mut frames = Vec::new();
    backtrace::resolve(address as usize as *mut std::ffi::c_void, |symbol| {
        let function = symbol
            .name()
            .map(|name| format!("{name:#}"))
            .unwrap_or_else(|| format!("{address:#x}"));
        let file = symbol.filename().map(|path| path.display().to_string());
        let kind = classify(&function, file.as_deref());
        frames.push(Frame {
            function,
            file,
            line: symbol.lineno(),
            kind,
        });
    });
    if frames.is_empty() {
        frames.push(Frame {
            function: format!("{address:#x}"),
            file: None,
            line: None,
            kind: FrameKind::Library,
        });
    }
    frames.into()
}
