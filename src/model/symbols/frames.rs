//! Telling the application's own frames from the plumbing around them.
//!
//! The site of an allocation is the innermost frame of the application's
//! own code. Between it and jemalloc sit the allocator (jemalloc's C,
//! tikv-jemallocator, `__rust_alloc`), the standard library (`Vec`,
//! `RawVec`, `String`) and libraries (hyper, bytes, serde). Frames are told
//! apart by their file first, since inlined and generic frames can lose
//! their module path, and by their name where there is no line information.

/// What a frame is, for finding sites.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum FrameKind {
    /// The allocator, jemalloc's profiler, std, core and alloc, hashbrown:
    /// never a site.
    Allocator,
    /// A library the application calls: a site only when no application
    /// frame is on the stack.
    Library,
    /// memscope itself: its allocations are counted apart.
    Memscope,
    /// The application's own code.
    App,
}

/// memscope's own sources, as they appear in debug info.
const OWN_SOURCES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/");

/// memscope's sampling allocator (its table and walk, and the counters
/// of the request path it runs through), whose frames are an allocator's,
/// not memscope's own: by source and by name.
const SAMPLER_SOURCES: &[&str] = &[
    concat!(env!("CARGO_MANIFEST_DIR"), "/src/model/allocator/sampled/"),
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/record/wrapper_counters.rs"
    ),
];
const SAMPLER_FUNCTIONS: &[&str] = &[
    "memscope::model::allocator::sampled::",
    "memscope::record::wrapper_counters::",
];

const ALLOCATOR_FILES: &[&str] = &[
    "/library/alloc/",
    "/library/core/",
    "/library/std/",
    "/hashbrown-",
    "/tikv-jemallocator-",
    "/tikv-jemalloc-sys-",
    "/tikv-jemalloc-ctl-",
];

const ALLOCATOR_FUNCTIONS: &[&str] = &[
    "_rjem_",
    "je_",
    "prof_",
    "imalloc",
    "ialloc",
    "irealloc",
    "malloc_default",
    "__rust_alloc",
    "__rust_realloc",
    "__rust_alloc_zeroed",
    "__rustc::",
    "__rdl_",
    "__rg_",
    "alloc::",
    "core::",
    "std::",
    "hashbrown::",
    "tikv_jemallocator::",
];

/// Libraries recognised by name when there is no file to go by (a build
/// without debug info): otherwise every frame without a file would look
/// like the application's.
const KNOWN_LIBRARIES: &[&str] = &[
    "tokio",
    "hyper",
    "hyper_util",
    "h2",
    "http",
    "http_body",
    "http_body_util",
    "bytes",
    "tower",
    "tower_http",
    "tower_layer",
    "tower_service",
    "axum",
    "axum_core",
    "futures",
    "futures_util",
    "futures_core",
    "mio",
    "serde",
    "serde_json",
    "tracing",
    "tracing_core",
    "backtrace",
    "askama",
    "moka",
    "parking_lot",
    "crossbeam",
    "crossbeam_epoch",
    "reqwest",
    "rustls",
    "regex",
    "smallvec",
    "indexmap",
    "pprof",
    "tempfile",
    "form_urlencoded",
    "pin_project_lite",
    "gimli",
    "addr2line",
    "object",
    "miniz_oxide",
    "rustc_demangle",
];

impl FrameKind {
    /// The name shown on pages: `allocator`, `library`, `memscope`, `app`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Allocator => "allocator",
            Self::Library => "library",
            Self::Memscope => "memscope",
            Self::App => "app",
        }
    }
}

pub(crate) fn classify(function: &str, file: Option<&str>) -> FrameKind {
    let unbracketed = function.trim_start_matches('<');
    // memscope's sampling allocator is an allocator: the frames a sample
    // starts with, above the code that allocated.
    if SAMPLER_FUNCTIONS
        .iter()
        .any(|prefix| unbracketed.starts_with(prefix))
        || file.is_some_and(|file| SAMPLER_SOURCES.iter().any(|dir| file.starts_with(dir)))
    {
        return FrameKind::Allocator;
    }
    if let Some(file) = file {
        if file.starts_with(OWN_SOURCES) {
            return FrameKind::Memscope;
        }
        if ALLOCATOR_FILES.iter().any(|part| file.contains(part))
            || file.ends_with(".c")
            || file.ends_with(".h")
        {
            return FrameKind::Allocator;
        }
    }
    if unbracketed.starts_with("memscope::") {
        return FrameKind::Memscope;
    }
    if ALLOCATOR_FUNCTIONS
        .iter()
        .any(|prefix| unbracketed.starts_with(prefix))
    {
        return FrameKind::Allocator;
    }
    match file {
        Some(file) if is_library_file(file) => FrameKind::Library,
        Some(_) => FrameKind::App,
        None if KNOWN_LIBRARIES.contains(&crate_of(function)) || function.starts_with("0x") => {
            FrameKind::Library
        }
        // C and system symbols (`clone3`, `start_thread`, the `main` shim)
        // have no module path; every Rust function of the application has.
        None if !function.contains("::") => FrameKind::Library,
        None => FrameKind::App,
    }
}

/// Code that cargo fetched, or the toolchain's: not the application's.
fn is_library_file(file: &str) -> bool {
    file.contains("/.cargo/registry/")
        || file.contains("/.cargo/git/")
        || file.contains("/rustc/")
        || file.contains("/rustlib/")
        || file.starts_with("/usr/")
        || file.contains("/vendor/")
}

/// The function a frame belongs to for grouping, its generic arguments
/// left out: an async fn's body and a closure (`f::{{closure}}` in symbol
/// tables, `f::{async_fn#0}` and `f::{closure#1}` in DWARF) count as `f`,
/// and `keep<String>` and `keep<u8>` as `keep`.
pub(crate) fn enclosing_function(function: &str) -> &str {
    let mut name = function;
    loop {
        let outer = name
            .rsplit_once("::")
            .filter(|(_, last)| last.starts_with('{') && last.ends_with('}'))
            .map(|(outer, _)| outer);
        match outer {
            Some(outer) => name = outer,
            None => break,
        }
    }
    without_last_generics(name)
}

/// `a::keep<alloc::string::String>` → `a::keep`; `<A as B>::f` stays.
fn without_last_generics(name: &str) -> &str {
    if !name.ends_with('>') || name.starts_with('<') && !name.contains(">::") {
        return name;
    }
    let mut depth = 0;
    for (index, byte) in name.bytes().enumerate().rev() {
        match byte {
            b'>' => depth += 1,
            b'<' => {
                depth -= 1;
                if depth == 0 {
                    let before = &name[..index];
                    // Generics of the last segment only, not a whole
                    // `<T as Trait>` path.
                    return if before.is_empty() || before.ends_with("::") {
                        name
                    } else {
                        before
                    };
                }
            }
            _ => {}
        }
    }
    name
}

/// The crate a function belongs to: `hyper` for
/// `<hyper::proto::h1::Conn<I, B, T> as Foo>::poll`.
pub(crate) fn crate_of(function: &str) -> &str {
    let path = function.trim_start_matches(['<', '&', '*', ' ']);
    let path = path.strip_prefix("mut ").unwrap_or(path);
    let end = path
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(path.len());
    &path[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_plumbing_library_own_and_app_apart() {
        use FrameKind::{Allocator, App, Library, Memscope};
        let rustc =
            Some("/rustc/1159e78c4747b02ef996e55082b704c09b970588/library/alloc/src/raw_vec.rs");
        assert_eq!(
            classify("alloc::raw_vec::RawVecInner<A>::with_capacity_in", rustc),
            Allocator
        );
        assert_eq!(classify("allocate", rustc), Allocator);
        assert_eq!(classify("_rjem_malloc", None), Allocator);
        assert_eq!(
            classify(
                "prof_backtrace_impl",
                Some("/build/jemalloc/src/prof_sys.c")
            ),
            Allocator
        );
        assert_eq!(classify("__rustc::__rust_alloc", None), Allocator);
        let registry = Some(
            "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/bytes-1.11.0/src/bytes_mut.rs",
        );
        assert_eq!(
            classify("bytes::bytes_mut::BytesMut::with_capacity", registry),
            Library
        );
        assert_eq!(
            classify(
                "hyper::proto::h1::io::Buffered<T,B>::poll_read_from_io",
                None
            ),
            Library
        );
        let own = format!("{OWN_SOURCES}heap/symbolize.rs");
        assert_eq!(classify("resolve", Some(&own)), Memscope);
        assert_eq!(
            classify(
                "<memscope::future::ResponseFuture<F> as core::future::future::Future>::poll",
                None
            ),
            Memscope
        );
        assert_eq!(
            classify(
                "leaky_cache::cache::store_response",
                Some("examples/leaky_cache.rs")
            ),
            App
        );
        assert_eq!(classify("my_service::handlers::upload", None), App);
        assert_eq!(classify("clone3", None), Library);
        assert_eq!(classify("main", None), Library);
    }

    #[test]
    fn closures_count_as_their_function() {
        assert_eq!(
            enclosing_function("app::start::{{closure}}::{{closure}}"),
            "app::start"
        );
        assert_eq!(enclosing_function("app::start"), "app::start");
        assert_eq!(
            enclosing_function("my_app::handlers::upload::{async_fn#0}"),
            "my_app::handlers::upload"
        );
        assert_eq!(
            enclosing_function("my_app::keep<alloc::vec::Vec<u8>>"),
            "my_app::keep"
        );
        assert_eq!(
            enclosing_function("<alloc::vec::Vec<T> as core::ops::Drop>::drop"),
            "<alloc::vec::Vec<T> as core::ops::Drop>::drop"
        );
        assert_eq!(enclosing_function("<T as u::V>"), "<T as u::V>");
    }

    #[test]
    fn finds_the_crate_of_a_function() {
        assert_eq!(
            crate_of("hyper::proto::h1::dispatch::Dispatcher::poll"),
            "hyper"
        );
        assert_eq!(
            crate_of("<hyper::proto::h1::Conn<I> as Foo>::poll"),
            "hyper"
        );
        assert_eq!(
            crate_of("<&mut serde_json::de::Deserializer<R>>::parse"),
            "serde_json"
        );
        assert_eq!(crate_of("main"), "main");
    }
}
