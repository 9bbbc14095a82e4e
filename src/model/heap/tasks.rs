//! The async runtime's tasks in a heap snapshot. Each task tokio spawns is
//! one allocation, its cell (the task's header with its future and
//! scheduler inline), made inside `spawn` and so sampled with the stack
//! that spawned it. Grouped by the first frame outside the runtime, the
//! cells count the live tasks by where they were spawned; their route
//! tags say which route was being served when they were.

use std::collections::HashMap;
use std::sync::Arc;

use super::site::route_of_tag;
use super::stack::Stack;
use super::table::Z_INTERVAL;
use crate::model::symbols::{Frame, FrameKind, crate_of, enclosing_function};

/// Live tasks spawned at one place.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TaskSite {
    /// The function that spawned them, and the line it did it at.
    pub(crate) name: String,
    pub(crate) location: String,
    /// Estimated live tasks, and three standard errors of the estimate.
    pub(crate) tasks: f64,
    pub(crate) tasks_error: f64,
    /// Estimated bytes of their cells (each task's future, inline).
    pub(crate) bytes: f64,
    /// The route (or scope) most of them were spawned under, where one
    /// holds most; `None` where most were spawned outside any request.
    pub(crate) route: Option<Arc<str>>,
}

/// The place the task whose cell `stack` allocated was spawned at: the
/// first frame outside the runtime after the cell's constructor. `None`
/// where the stack is not a task cell's.
pub(crate) fn spawn_site(stack: &Stack) -> Option<&Frame> {
    let mut frames = stack.frames();
    frames.find(|frame| is_task_cell(&frame.function))?;
    frames.find(|frame| !is_runtime(frame))
}

/// `tokio::runtime::task::core::Cell<T,S>::new`, with its generic
/// arguments written out or not.
fn is_task_cell(function: &str) -> bool {
    // Named with its generic arguments where the symbol table names it
    // (`…::Cell<T,S>::new<app::handler::{async_block_env#0}, …>`).
    let function = enclosing_function(function);
    function.starts_with("tokio::runtime::task::core::Cell") && function.ends_with("::new")
}

/// tokio's own frames and its companions' (`tokio_util`'s task trackers),
/// and the standard library's glue between them.
fn is_runtime(frame: &Frame) -> bool {
    frame.kind == FrameKind::Allocator
        || matches!(
            crate_of(&frame.function),
            "tokio" | "tokio_util" | "tokio_stream"
        )
}

/// The key a spawn site's tasks are grouped by, and its name and location.
pub(crate) fn spawn_key(stack: &Stack) -> Option<(String, String, String)> {
    let frame = spawn_site(stack)?;
    let name = enclosing_function(&frame.function).to_owned();
    let location = frame.location();
    Some((format!("{name} at {location}"), name, location))
}

/// The live tasks of `stacks` by spawn site, most tasks first.
pub(crate) fn task_sites(stacks: &[Stack]) -> Vec<TaskSite> {
    struct Gathered {
        site: TaskSite,
        variance: f64,
        by_tag: HashMap<u32, f64>,
    }
    let mut sites: HashMap<String, Gathered> = HashMap::new();
    for stack in stacks {
        let Some((key, name, location)) = spawn_key(stack) else {
            continue;
        };
        let gathered = sites.entry(key).or_insert_with(|| Gathered {
            site: TaskSite {
                name,
                location,
                tasks: 0.0,
                tasks_error: 0.0,
                bytes: 0.0,
                route: None,
            },
            variance: 0.0,
            by_tag: HashMap::new(),
        });
        gathered.site.tasks += stack.objects;
        gathered.site.bytes += stack.bytes;
        gathered.variance += count_variance(stack.objects, stack.samples);
        *gathered.by_tag.entry(stack.tag).or_default() += stack.objects;
    }
    let mut sites: Vec<TaskSite> = sites
        .into_values()
        .map(|mut gathered| {
            gathered.site.tasks_error = Z_INTERVAL * gathered.variance.sqrt();
            gathered.site.route = gathered
                .by_tag
                .iter()
                .filter(|(tag, _)| **tag != 0)
                .max_by(|a, b| a.1.total_cmp(b.1))
                .filter(|(_, tasks)| **tasks * 2.0 > gathered.site.tasks)
                .map(|(tag, _)| route_of_tag(*tag));
            gathered.site
        })
        .collect();
    sites.sort_by(|a, b| {
        b.tasks
            .total_cmp(&a.tasks)
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.location.cmp(&b.location))
    });
    sites
}

/// The variance of an estimated count from `samples` sampled objects:
/// each object was sampled with the chance `samples / objects`, so the
/// count of samples is binomial, and the estimate that count scaled up.
pub(crate) fn count_variance(objects: f64, samples: u64) -> f64 {
    if samples == 0 || objects <= 0.0 {
        return 0.0;
    }
    let chance = (samples as f64 / objects).min(1.0);
    objects * (1.0 - chance) / chance
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::symbols::AddressFrames;

    fn frame(function: &str, kind: FrameKind, line: u32) -> Frame {
        Frame {
            function: function.into(),
            file: Some("src/app.rs".into()),
            line: Some(line),
            kind,
        }
    }

    /// A task cell's stack, spawned by `spawner` at `line`, under `tag`.
    fn cell(spawner: &str, line: u32, objects: f64, samples: u64, tag: u32) -> Stack {
        let frames: Vec<AddressFrames> = vec![
            Arc::from(vec![frame("alloc::alloc::alloc", FrameKind::Allocator, 1)]),
            Arc::from(vec![
                frame(
                    "tokio::runtime::task::core::Cell<app::watch::{{closure}}, alloc::sync::Arc<tokio::runtime::scheduler::multi_thread::handle::Handle>>::new",
                    FrameKind::Library,
                    2,
                ),
                frame(
                    "tokio::runtime::task::raw::RawTask::new",
                    FrameKind::Library,
                    3,
                ),
            ]),
            Arc::from(vec![
                frame("tokio::task::spawn::spawn_inner", FrameKind::Library, 4),
                frame(
                    "core::ops::function::FnOnce::call_once",
                    FrameKind::Allocator,
                    5,
                ),
                frame(spawner, FrameKind::App, line),
            ]),
            Arc::from(vec![frame("app::main", FrameKind::App, 9)]),
        ];
        Stack {
            objects,
            bytes: objects * 256.0,
            samples,
            tag,
            ..Stack::of(vec![1, 2, 3, 4], frames)
        }
    }

    #[test]
    fn tasks_are_counted_where_they_were_spawned() {
        let other = Stack::of(
            vec![7],
            vec![Arc::from(vec![frame(
                "app::cache::store",
                FrameKind::App,
                7,
            )])],
        );
        let sites = task_sites(&[
            cell("app::watch::spawn_watchers", 20, 1000.0, 500, 0),
            cell("app::watch::spawn_watchers", 20, 500.0, 250, 0),
            cell("app::jobs::{{closure}}", 40, 10.0, 10, 0),
            other,
        ]);
        assert_eq!(sites.len(), 2, "{sites:?}");
        assert_eq!(sites[0].name, "app::watch::spawn_watchers");
        assert_eq!(sites[0].location, "src/app.rs:20");
        assert_eq!(sites[0].tasks, 1500.0);
        assert_eq!(sites[0].bytes, 1500.0 * 256.0);
        // Half of each stack's tasks were sampled: 1500 × ½ ÷ ½, three
        // standard errors of it.
        assert!((sites[0].tasks_error - 3.0 * 1500f64.sqrt()).abs() < 1e-9);
        // The closure is named by the function it is written in, and every
        // task of it was sampled: its count is exact.
        assert_eq!(sites[1].name, "app::jobs");
        assert_eq!(sites[1].tasks_error, 0.0);
    }

    #[test]
    fn the_route_is_the_tag_most_of_a_site_s_tasks_carry() {
        let tag = crate::record::scope_tag("job:watch");
        let sites = task_sites(&[
            cell("app::watch::spawn_watchers", 20, 900.0, 900, tag),
            cell("app::watch::spawn_watchers", 20, 100.0, 100, 0),
            cell("app::jobs::run", 40, 100.0, 100, tag),
            cell("app::jobs::run", 40, 300.0, 300, 0),
        ]);
        assert_eq!(sites[0].route.as_deref(), Some("job:watch"));
        // Most of its tasks were spawned outside any request.
        assert_eq!(sites[1].route, None);
    }

    #[test]
    fn a_task_cell_is_known_with_or_without_its_generic_arguments() {
        assert!(is_task_cell("tokio::runtime::task::core::Cell<T,S>::new"));
        assert!(is_task_cell(
            "tokio::runtime::task::core::Cell<T,S>::new<app::spawn::{async_block_env#0}, \
             alloc::sync::Arc<tokio::runtime::scheduler::multi_thread::handle::Handle, \
             alloc::alloc::Global>>"
        ));
        assert!(!is_task_cell(
            "tokio::runtime::task::core::Trailer::new_header"
        ));
        assert!(!is_task_cell("tokio::runtime::task::raw::RawTask::new"));
    }
}
