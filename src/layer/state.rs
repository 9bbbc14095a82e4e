//! The state behind a layer, and the process's registry of it.
//!
//! Layers built with the same settings share one state (one request log,
//! one baseline), whether they are clones of one layer or built apart: a
//! server that builds a layer for every connection still has one set of
//! pages, which sees every request, and one timeline thread. The state of
//! a setting lives as long as the process, like the pages that show it.
//! What is the process's whatever the layers (the heap, the symbolizer,
//! the timeline, CPU captures) is listed in the model's docs.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::model::allocator::{ProfilingState, use_memscope_unwinder};
use crate::model::baseline::BaselineSlot;
use crate::model::history;
use crate::model::timeline;
use crate::pages::{AccessPolicy, Mount};
use crate::record::RequestLog;

/// Requests kept in the history unless the builder says otherwise.
pub(crate) const DEFAULT_REQUEST_HISTORY: usize = 1_000;
/// How often the timeline takes a point unless the builder says otherwise.
pub(crate) const DEFAULT_SAMPLER_INTERVAL: Duration = Duration::from_secs(1);
/// Points kept: an hour at one a second.
pub(crate) const DEFAULT_TIMELINE_POINTS: usize = 3_600;
/// The heap history unless the builder says otherwise: an hour, a snapshot
/// a minute.
pub(crate) const DEFAULT_HEAP_HISTORY: HistorySettings = HistorySettings {
    interval: Duration::from_secs(60),
    snapshots: 60,
};

/// How often the heap history takes a snapshot, and how many it keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HistorySettings {
    pub(crate) interval: Duration,
    pub(crate) snapshots: usize,
}

/// What the builder on [`DebugLayer`](crate::DebugLayer) sets.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) prefix: String,
    pub(crate) access: AccessPolicy,
    pub(crate) request_history: usize,
    pub(crate) sampler_interval: Duration,
    pub(crate) timeline_points: usize,
    /// `None` where the builder switched the heap history off.
    pub(crate) heap_history: Option<HistorySettings>,
    /// Leave jemalloc's own unwinder in place rather than memscope's walker.
    pub(crate) keep_jemalloc_unwinder: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            prefix: super::DEFAULT_PREFIX.to_owned(),
            access: AccessPolicy::default(),
            request_history: DEFAULT_REQUEST_HISTORY,
            sampler_interval: DEFAULT_SAMPLER_INTERVAL,
            timeline_points: DEFAULT_TIMELINE_POINTS,
            heap_history: Some(DEFAULT_HEAP_HISTORY),
            keep_jemalloc_unwinder: false,
        }
    }
}

/// The settings that decide which state a layer shares. The access policy
/// is not among them: each layer checks its own.
#[derive(Clone, Debug, PartialEq, Eq)]
struct StateKey {
    prefix: String,
    request_history: usize,
    sampler_interval: Duration,
    timeline_points: usize,
    heap_history: Option<HistorySettings>,
}

/// What layers with the same settings share.
#[derive(Debug)]
struct SharedState {
    requests: Arc<RequestLog>,
    baseline: Arc<BaselineSlot>,
    /// Keeps the process's timeline sampling at the interval asked for.
    _timeline: timeline::Subscription,
    /// Keeps the process's heap history, where the layer asked for one.
    _history: Option<history::Subscription>,
}

/// Every state made, by its settings, kept for the life of the process: a
/// layer built again for every connection (by mistake, or by a server
/// that builds its stack per connection) finds the same request log and
/// the same samplers rather than starting empty each time. Its samplers
/// (the timeline's, the heap history's) therefore run from the first layer
/// with those settings until the process ends.
static STATES: Mutex<Vec<(StateKey, SharedState)>> = Mutex::new(Vec::new());

/// The pages' mount for a layer configured as `config`: its own access
/// policy, and the state every layer with its settings shares.
pub(crate) fn mount(config: &Config) -> Mount {
    if !config.keep_jemalloc_unwinder && ProfilingState::read().enabled {
        // Once per process. Fails only off x86-64 Linux, where jemalloc's
        // unwinder stays; the overview names the unwinder in use either way.
        let _ = use_memscope_unwinder();
    }
    let key = StateKey {
        prefix: config.prefix.clone(),
        request_history: config.request_history,
        sampler_interval: config.sampler_interval,
        timeline_points: config.timeline_points,
        heap_history: config.heap_history,
    };
    let mut states = crate::sync::lock(&STATES);
    let index = match states.iter().position(|(known, _)| *known == key) {
        Some(index) => index,
        None => {
            let state = SharedState {
                requests: RequestLog::shared(config.request_history),
                baseline: Arc::default(),
                _timeline: timeline::subscribe(config.sampler_interval, config.timeline_points),
                _history: config
                    .heap_history
                    .map(|wish| history::subscribe(wish.interval, wish.snapshots)),
            };
            states.push((key, state));
            states.len() - 1
        }
    };
    let state = &states[index].1;
    Mount {
        prefix: config.prefix.clone(),
        access: config.access.clone(),
        requests: state.requests.clone(),
        baseline: state.baseline.clone(),
    }
}
