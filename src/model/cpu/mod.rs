//! CPU profiles captured on demand: the capture and its bookkeeping
//! (`capture`: one at a time, heap sampling paused meanwhile, the last
//! few kept), the sampler it runs (`backend`: memscope's own on x86-64
//! Linux, `sampler`, or pprof's), the samples a sampler hands over
//! (`samples`), and the capture resolved and drawn (`encode`). The parts
//! import one way: capture → backend → sampler → samples, and capture →
//! encode.

mod backend;
mod capture;
mod encode;
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod sampler;
mod samples;

pub(crate) use backend::cpu_profiler_bytes;
pub(crate) use capture::{
    CPU_CAPTURES, CpuCapture, KEPT_CAPTURES, SamplingHold, SamplingSwitch, capture, sampling_hold,
    switch_heap_sampling,
};
pub(crate) use samples::FREQUENCY_HZ;
