//! CPU profiles captured on demand: the capture and its bookkeeping
//! (`capture`: one at a time, heap sampling paused meanwhile, the last
//! few kept), the samples a sampler hands over (`samples`), and memscope's
//! own sampler on x86-64 Linux (`sampler`). The parts import one way:
//! capture → sampler → samples.

mod capture;
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod sampler;
mod samples;

pub(crate) use capture::{
    CPU_CAPTURES, CpuCapture, FREQUENCY_HZ, KEPT_CAPTURES, SamplingHold, SamplingSwitch,
    cpu_profiler_bytes, sampling_hold, switch_heap_sampling,
};
