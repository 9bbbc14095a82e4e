//! The requests-cache leak, in Rust, on the system allocator, sampled by memscope's sampling allocator:
//! the service is `leaky_cache/service.rs`.
//!
//! ```text
//! cargo run --example leaky_cache_system   # leaky, on 127.0.0.1:3000
//! cargo run --example leaky_cache_system -- --fixed   # the fix
//! ```

#[global_allocator]
// One sample per 16 KiB allocated, as the jemalloc demo: each request
// leaves only ~700 bytes in the cache.
static ALLOC: memscope::Sampled<std::alloc::System> =
    memscope::Sampled::with_lg_sample(std::alloc::System, 14);

include!("leaky_cache/service.rs");
