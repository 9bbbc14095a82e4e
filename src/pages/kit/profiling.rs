//! What the pages say about heap profiling: its state in a sentence, what
//! to add where it is missing, and the names of what samples and unwinds.

use crate::model::allocator::{ProfilingHint, ProfilingState, Sampler, Unwinder};
use crate::model::cpu::SamplingHold;
use crate::units::human_bytes;

/// What to add when jemalloc is not the global allocator.
const NOT_GLOBAL_HINT: &str = "jemalloc is not this program's global allocator, so \
    its figures stay near zero. Add to the binary's main.rs: \
    `#[global_allocator] static ALLOC: memscope::Jemalloc = memscope::Jemalloc;`";

/// What to add when heap profiling is off.
const PROFILING_OFF_HINT: &str = "heap profiling is off. Add `memscope::heap_profiling!();` \
    to the binary's main.rs (next to the global allocator), or start the program with \
    `_RJEM_MALLOC_CONF=prof:true,prof_active:true,lg_prof_sample:19`.";

/// What to change, in a sentence.
pub(crate) fn hint_text(hint: ProfilingHint) -> &'static str {
    match hint {
        ProfilingHint::NotGlobalAllocator => NOT_GLOBAL_HINT,
        ProfilingHint::ProfilingOff => PROFILING_OFF_HINT,
    }
}

/// What takes the heap samples, as a sentence names it.
pub(crate) fn sampler_name(sampler: Sampler) -> &'static str {
    match sampler {
        Sampler::Jemalloc => "jemalloc",
        Sampler::Memscope => "memscope's sampling allocator",
    }
}

/// What unwinds sampled stacks, as a sentence names it.
pub(crate) fn unwinder_name(unwinder: Option<Unwinder>) -> &'static str {
    match unwinder {
        Some(Unwinder::Memscope) => "memscope",
        Some(Unwinder::Libgcc) => "libgcc",
        Some(Unwinder::Libunwind) => "libunwind",
        None => "jemalloc's own unwinder",
    }
}

/// A sentence on the state of heap profiling.
pub(crate) fn profiling_summary(state: &ProfilingState) -> String {
    let interval = human_bytes(state.sample_interval().unwrap_or(0));
    let on = if state.active { "active" } else { "paused" };
    if state.sampler == Sampler::Memscope {
        return format!(
            "heap profiling by memscope's sampling allocator {on}, one sample per {interval} allocated"
        );
    }
    match state.hint() {
        Some(ProfilingHint::NotGlobalAllocator) => {
            "jemalloc is not the global allocator".to_owned()
        }
        Some(ProfilingHint::ProfilingOff) => "heap profiling off".to_owned(),
        None => format!(
            "heap profiling {on}, one sample per {interval} allocated, stacks unwound by {}",
            unwinder_name(state.unwinder)
        ),
    }
}

/// A sentence on the state of heap profiling, with what a running CPU
/// capture does to it.
pub(crate) fn sampling_summary(state: &ProfilingState, hold: Option<SamplingHold>) -> String {
    let summary = profiling_summary(state);
    match hold {
        None => summary,
        Some(hold) => format!(
            "{summary}; paused for a CPU capture that ends in {} s, {}",
            hold.ends_in.as_secs_f64().ceil() as u64,
            if hold.resumes {
                "and sampling resumes then"
            } else {
                "and stays paused after it, as asked"
            }
        ),
    }
}
