//! What takes the heap's samples and whose figures the pages read, decided
//! once for the process: jemalloc (its profiler, where `heap_profiling!`
//! switched it on), memscope's sampling allocator over any allocator
//! (`memscope::Sampled`), or neither. Every question that depends on it
//! (the figures, profiling's state, the raw profile, sampling on or off,
//! the purge) is answered here, so that no page or model function asks
//! which allocator it runs on.

use std::sync::OnceLock;

use serde::Serialize;

use super::jemalloc::{
    AllocatorStats, JemallocProfiling, Unwinder, jemalloc_is_global_allocator, purge_unused_pages,
    sampled_stack_unwinder, set_prof_active,
};
use super::raw_profile::RawProfile;
use super::size_classes::{SizeClass, size_classes};
use super::{jemalloc_dump, sampled};
use crate::model::process::resident_set_size;
use crate::model::{ModelError, ModelErrorKind};

/// Where the heap's samples and the allocator's figures come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeapSource {
    /// jemalloc is the global allocator: its figures, and its profiler's
    /// samples where profiling was switched on at start-up.
    Jemalloc,
    /// memscope's sampling allocator wraps the global allocator and takes
    /// the samples; over jemalloc the figures are jemalloc's, over another
    /// allocator only the live bytes are known.
    Wrapper { over_jemalloc: bool },
    /// Another global allocator, not wrapped: nothing samples the heap and
    /// jemalloc's figures stay near zero.
    Other,
}

/// What takes the heap samples (`sampler` in JSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Sampler {
    /// jemalloc's profiler.
    Jemalloc,
    /// memscope's sampling allocator.
    Memscope,
}

/// What is missing for heap profiles, for the pages to say what to add.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProfilingHint {
    /// jemalloc is not the global allocator, and nothing wraps it.
    NotGlobalAllocator,
    /// jemalloc is, but heap profiling was not switched on at start-up.
    ProfilingOff,
}

/// Whether heap profiling is there, switched on and sampling now.
#[derive(Clone, Copy, Debug, Serialize)]
pub(crate) struct ProfilingState {
    /// Profiling was switched on at start-up (jemalloc's `opt.prof`), or
    /// the sampling allocator takes samples from the first allocation.
    pub(crate) enabled: bool,
    /// Samples are being taken now.
    pub(crate) active: bool,
    /// One sample per 2^lg_sample bytes allocated, on average.
    pub(crate) lg_sample: Option<u32>,
    /// What every sampled stack allocated is kept, freed or not, for the
    /// `alloc_*` sample types.
    pub(crate) accumulates: bool,
    /// Whether jemalloc is the process's global allocator at all.
    pub(crate) jemalloc_is_global: bool,
    /// What unwinds each sampled allocation's stack, when profiling is on.
    pub(crate) unwinder: Option<Unwinder>,
    /// What takes the heap samples.
    pub(crate) sampler: Sampler,
}

impl ProfilingState {
    /// The state now, of the process's heap source.
    pub(crate) fn read() -> Self {
        HeapSource::get().profiling()
    }

    /// Average bytes allocated between two samples.
    pub(crate) fn sample_interval(&self) -> Option<u64> {
        self.lg_sample.map(|lg| 1u64 << lg.min(63))
    }

    /// What is missing for heap profiles, if anything.
    pub(crate) fn hint(&self) -> Option<ProfilingHint> {
        match (self.sampler, self.jemalloc_is_global, self.enabled) {
            (Sampler::Memscope, _, _) => None,
            (Sampler::Jemalloc, false, _) => Some(ProfilingHint::NotGlobalAllocator),
            (Sampler::Jemalloc, true, false) => Some(ProfilingHint::ProfilingOff),
            (Sampler::Jemalloc, true, true) => None,
        }
    }

    /// Whether samples carry the route tag: only memscope's walker records
    /// it.
    pub(crate) fn tags_routes(&self) -> bool {
        self.unwinder == Some(Unwinder::Memscope)
    }
}

/// Why sampling could not be switched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SamplingRefused {
    /// There is no heap profiling to switch.
    Unavailable(ProfilingHint),
    /// jemalloc refused `prof.active`, with its error.
    Refused(String),
}

/// Resident memory before and after a purge.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Purged {
    pub(crate) resident_before: u64,
    pub(crate) resident_after: u64,
    pub(crate) rss_before: Option<u64>,
    pub(crate) rss_after: Option<u64>,
}

impl HeapSource {
    /// The process's heap source. The sampling allocator counts its first
    /// allocation before `main`, and jemalloc's probe runs once, so the
    /// answer never changes once asked.
    pub(crate) fn get() -> Self {
        static SOURCE: OnceLock<HeapSource> = OnceLock::new();
        *SOURCE.get_or_init(|| {
            let jemalloc = jemalloc_is_global_allocator();
            if sampled::in_use() {
                Self::Wrapper {
                    over_jemalloc: jemalloc,
                }
            } else if jemalloc {
                Self::Jemalloc
            } else {
                Self::Other
            }
        })
    }

    /// Whether the allocator's figures (active, resident, metadata, its
    /// size classes, the purge) are known: jemalloc's, alone or wrapped.
    pub(crate) fn knows_allocator_figures(self) -> bool {
        !matches!(
            self,
            Self::Wrapper {
                over_jemalloc: false
            }
        )
    }

    /// What takes the heap samples.
    pub(crate) fn sampler(self) -> Sampler {
        match self {
            Self::Wrapper { .. } => Sampler::Memscope,
            Self::Jemalloc | Self::Other => Sampler::Jemalloc,
        }
    }

    /// The allocator's figures now: jemalloc's, or over another
    /// allocator what the sampling allocator counts (the live bytes,
    /// exactly; the rest zero).
    pub(crate) fn figures(self) -> AllocatorStats {
        if self.knows_allocator_figures() {
            return AllocatorStats::of_jemalloc();
        }
        let (allocated, freed) = crate::record::wrapper_totals();
        AllocatorStats {
            allocated: allocated.saturating_sub(freed),
            ..AllocatorStats::default()
        }
    }

    /// The live heap by size class, exact: jemalloc's, empty elsewhere.
    pub(crate) fn size_classes(self) -> Vec<SizeClass> {
        if self.knows_allocator_figures() {
            size_classes()
        } else {
            Vec::new()
        }
    }

    /// Heap profiling's state now.
    pub(crate) fn profiling(self) -> ProfilingState {
        let jemalloc_is_global = jemalloc_is_global_allocator();
        if self.sampler() == Sampler::Memscope {
            return ProfilingState {
                enabled: true,
                active: sampled::is_active(),
                lg_sample: Some(sampled::lg_sample()),
                accumulates: true,
                jemalloc_is_global,
                unwinder: Some(Unwinder::Memscope),
                sampler: Sampler::Memscope,
            };
        }
        let jemalloc = JemallocProfiling::read();
        ProfilingState {
            enabled: jemalloc.enabled,
            active: jemalloc.active,
            lg_sample: jemalloc.lg_sample,
            accumulates: jemalloc.accumulates,
            jemalloc_is_global,
            unwinder: jemalloc.enabled.then(sampled_stack_unwinder),
            sampler: Sampler::Jemalloc,
        }
    }

    /// The heap profile now, its addresses unresolved. The caller holds
    /// the one-dump-at-a-time lock.
    pub(crate) fn raw_profile(self) -> Result<RawProfile, ModelError> {
        if self.profiling().hint().is_some() {
            // The pages say what to add, from the same state.
            return Err(ModelError::new(
                ModelErrorKind::ProfilingUnavailable,
                "no heap profile to read",
            ));
        }
        match self.sampler() {
            Sampler::Memscope => Ok(sampled::raw_profile()),
            Sampler::Jemalloc => jemalloc_dump::dump_heap_profile().map_err(|error| {
                ModelError::failed(format!("could not take a heap profile: {error}"))
            }),
        }
    }

    /// Switches heap sampling on or off; samples taken stay.
    pub(crate) fn set_sampling(self, active: bool) -> Result<(), SamplingRefused> {
        if self.sampler() == Sampler::Memscope {
            sampled::set_active(active);
            return Ok(());
        }
        if let Some(hint) = self.profiling().hint() {
            return Err(SamplingRefused::Unavailable(hint));
        }
        set_prof_active(active).map_err(SamplingRefused::Refused)
    }

    /// Gives the allocator's free pages back without measuring it: after
    /// memscope's own work freed much (the symbolizer's caches, a CPU
    /// capture). Only jemalloc is asked.
    pub(crate) fn release_free_pages(self) {
        if self.knows_allocator_figures() {
            purge_unused_pages();
        }
    }

    /// Has the allocator give its free pages back to the system now, and
    /// says what that did; `None` where the allocator is not jemalloc,
    /// whose purge memscope cannot ask another allocator for.
    pub(crate) fn purge(self) -> Option<Purged> {
        if !self.knows_allocator_figures() {
            return None;
        }
        let resident_before = self.figures().resident;
        let rss_before = resident_set_size();
        purge_unused_pages();
        Some(Purged {
            resident_before,
            resident_after: self.figures().resident,
            rss_before,
            rss_after: resident_set_size(),
        })
    }
}
