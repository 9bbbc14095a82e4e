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

use super::config::{Config, HistorySettings};
use crate::model::allocator::{ProfilingState, use_memscope_unwinder};
use crate::model::heap::baseline::BaselineSlot;
use crate::model::over_time::history;
use crate::model::over_time::timeline;
use crate::model::symbols::Frameworks;
use crate::pages::Mount;
use crate::record::RequestLog;

/// The settings that decide which state a layer shares. The access policy
/// is not among them: each layer checks its own.
#[derive(Clone, Debug, PartialEq, Eq)]
struct StateKey {
    prefix: String,
    request_history: usize,
    timeline_interval: Duration,
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
    // The live tasks the timeline counts are those of the runtime the
    // layer is built on, where it is built on one; else of the one that
    // serves its first page.
    crate::model::over_time::reading::watch_current_runtime();
    let key = StateKey {
        prefix: config.prefix.clone(),
        request_history: config.request_history,
        timeline_interval: config.timeline_interval,
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
                _timeline: timeline::subscribe(config.timeline_interval, config.timeline_points),
                _history: config
                    .heap_history
                    .map(|wish| history::subscribe(wish.interval, wish.snapshots)),
            };
            states.push((key, state));
            states.len() - 1
        }
    };
    let state = &states[index].1;
    if let Some(black_box) = &config.black_box {
        crate::model::black_box::watch(black_box, config.memory_limit);
    }
    Mount {
        prefix: config.prefix.clone(),
        access: config.access.clone(),
        requests: state.requests.clone(),
        baseline: state.baseline.clone(),
        memory_limit: config.memory_limit,
        frameworks: Frameworks::with(&config.framework_crates),
        black_box: config.black_box.clone(),
    }
}
