//! The requests-cache leak, in Rust, on jemalloc, with its heap profiling switched on:
//! the service is `leaky_cache/service.rs`.
//!
//! ```text
//! cargo run --example leaky_cache          # leaky, on 127.0.0.1:3000
//! cargo run --example leaky_cache -- --fixed   # the fix
//! ```

#[global_allocator]
static ALLOC: memscope::Jemalloc = memscope::Jemalloc;
// One sample per 16 KiB allocated: each request leaves only ~700 bytes in
// the cache, and at the default 512 KiB a few thousand requests would give
// a handful of samples. A service with bigger leaks can keep the default.
memscope::heap_profiling!(lg_sample = 14);

include!("leaky_cache/service.rs");
