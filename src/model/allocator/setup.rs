//! The start-up configuration that switches heap profiling on.
//!
//! jemalloc reads its configuration from a symbol named `_rjem_malloc_conf`
//! (the prefixed build that tikv-jemallocator uses). The symbol has to be
//! defined in the user's binary: a static defined here, in a library the
//! binary never calls into, is dropped by the linker and jemalloc's weak
//! default wins. Hence a macro that expands in the user's crate.

/// Switches jemalloc heap profiling on from the first allocation.
///
/// Put it once in the binary crate, next to the global allocator:
///
/// ```rust
/// #[global_allocator]
/// static ALLOC: memscope::Jemalloc = memscope::Jemalloc;
/// memscope::heap_profiling!();
/// # fn main() {}
/// ```
///
/// `heap_profiling!()` samples one allocation per 512 KiB allocated on average
/// (`lg_sample = 19`): a few percent of a request that allocates tens of
/// kilobytes, more in a loop that does nothing but allocate (BENCHMARKS.md).
/// Choose another rate with
/// `heap_profiling!(lg_sample = 17)` (finer, costlier), or start with sampling
/// paused with `heap_profiling!(lg_sample = 19, active = false)` and switch it
/// on later with `POST /_debug/profiling?active=true`.
///
/// `heap_profiling!(lg_sample = 19, active = true, accumulate = true)` also
/// has jemalloc keep, for every sampled stack, what it allocated since the
/// start, freed or not (`prof_accum`): the `alloc_objects` and
/// `alloc_space` sample types of `GET /_debug/pprof/allocs`, which
/// continuous profilers turn into allocation rates. It costs a counter
/// record per distinct sampled stack, kept for the life of the process.
///
/// The environment variable `_RJEM_MALLOC_CONF` overrides this at start-up.
#[macro_export]
macro_rules! heap_profiling {
    () => {
        $crate::heap_profiling!(lg_sample = 19);
    };
    (lg_sample = $lg:literal) => {
        $crate::heap_profiling!(lg_sample = $lg, active = true);
    };
    (lg_sample = $lg:literal, active = $active:literal) => {
        $crate::heap_profiling!(lg_sample = $lg, active = $active, accumulate = false);
    };
    (lg_sample = $lg:literal, active = $active:literal, accumulate = $accumulate:literal) => {
        const _: () = {
            const CONF: &str = concat!(
                "prof:true,prof_active:",
                stringify!($active),
                ",lg_prof_sample:",
                stringify!($lg),
                ",prof_accum:",
                stringify!($accumulate),
                "\0"
            );
            // jemalloc reads a `const char *`: a thin pointer to NUL-terminated
            // bytes, hence `&[u8; N]` rather than a fat `&[u8]`.
            #[allow(unsafe_code)]
            #[unsafe(export_name = "_rjem_malloc_conf")]
            #[used]
            static MALLOC_CONF: &[u8; CONF.len()] =
                &$crate::__private::nul_terminated_conf::<{ CONF.len() }>(CONF);
        };
    };
}

/// Copies the configuration string into a fixed-size array at compile time.
#[doc(hidden)]
pub const fn nul_terminated_conf<const N: usize>(conf: &str) -> [u8; N] {
    let bytes = conf.as_bytes();
    assert!(bytes.len() == N && N > 0 && bytes[N - 1] == 0);
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = bytes[i];
        i += 1;
    }
    out
}
