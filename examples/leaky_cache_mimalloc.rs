//! The requests-cache leak, in Rust, on mimalloc, sampled by memscope's sampling allocator:
//! the service is `leaky_cache/service.rs`.
//!
//! ```text
//! cargo run --example leaky_cache_mimalloc # leaky, on 127.0.0.1:3000
//! cargo run --example leaky_cache_mimalloc -- --fixed   # the fix
//! ```

#[global_allocator]
// One sample per 16 KiB allocated, as the jemalloc demo: each request
// leaves only ~700 bytes in the cache.
static ALLOC: memscope::Sampled<mimalloc::MiMalloc> =
    memscope::Sampled::with_lg_sample(mimalloc::MiMalloc, 14);

include!("leaky_cache/service.rs");
