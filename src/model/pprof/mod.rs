//! pprof profiles: the encoder that heap and CPU profiles share
//! (`encode`), and the live heap as Go's runtime writes it for
//! `/debug/pprof/heap` and `/debug/pprof/allocs` (`heap`).

mod encode;
mod heap;

pub(crate) use encode::{ProfileBuilder, gzipped};
pub(crate) use heap::{HeapProfileKind, heap_profile, heap_profile_delta};
