//! The frames between a thread's start and the app's code: the async
//! runtime's, the HTTP server's, the router's and the middleware's polls,
//! memscope's own layer, the C runtime's start. A flamegraph of a web
//! service stacks dozens of them under a handful of the app's frames; the
//! flamegraphs fold each run of them into one frame that names what it
//! folds ("tokio, hyper, axum, tower: 41 frames"). The rule is data: the
//! crates below, the ones a user adds ([`crate::DebugLayer::framework_crates`]),
//! and two shapes (memscope's own frames, and C symbols without a module
//! path). The pprof profiles keep every frame: tools fold on their side.

use std::collections::HashSet;
use std::sync::Arc;

use super::frames::{FrameKind, crate_of};
use super::symbolize::Frame;

/// The crates whose frames only poll futures and services on the way to
/// the app's code: the async runtime, the HTTP server and client, routing
/// and middleware, futures' combinators and tracing's instrumentation.
pub(crate) const DEFAULT_FRAMEWORK_CRATES: &[&str] = &[
    "tokio",
    "tokio_util",
    "tokio_stream",
    "hyper",
    "hyper_util",
    "h2",
    "http_body",
    "http_body_util",
    "axum",
    "axum_core",
    "tower",
    "tower_http",
    "tower_layer",
    "tower_service",
    "futures",
    "futures_core",
    "futures_util",
    "futures_executor",
    "tracing",
    "tracing_futures",
    "tonic",
    "actix_rt",
    "actix_web",
    "actix_server",
    "actix_http",
    "warp",
];

/// The name a run gives to C symbols without a module path (`_start`,
/// `__libc_start_main`, `start_thread`, `clone3`, the `main` shim).
const C_RUNTIME: &str = "C runtime";

/// Crates whose frames join a run without making one: the standard
/// library's glue between two framework frames (`catch_unwind`,
/// `LocalKey::with`, `Pin::poll`).
const GLUE_CRATES: &[&str] = &["std", "core", "alloc"];

/// The crates folded in flamegraphs.
#[derive(Clone, Debug)]
pub(crate) struct Frameworks {
    crates: Arc<HashSet<Box<str>>>,
}

impl Default for Frameworks {
    fn default() -> Self {
        Self::with(std::iter::empty::<&str>())
    }
}

impl Frameworks {
    /// The default crates and `more`.
    pub(crate) fn with<S: AsRef<str>>(more: impl IntoIterator<Item = S>) -> Self {
        let crates = DEFAULT_FRAMEWORK_CRATES
            .iter()
            .map(|name| Box::from(*name))
            .chain(more.into_iter().map(|name| Box::from(name.as_ref())))
            .collect();
        Self {
            crates: Arc::new(crates),
        }
    }

    /// What `frame` is to a run: the framework it belongs to, glue, or the
    /// app's (or another library's) own code, which ends a run.
    fn role(&self, frame: &Frame) -> Role {
        if frame.kind == FrameKind::Memscope {
            return Role::Framework("memscope".into());
        }
        let owner = owning_crate(&frame.function);
        if self.crates.contains(owner) {
            Role::Framework(owner.into())
        } else if GLUE_CRATES.contains(&owner) {
            Role::Glue
        } else if frame.kind == FrameKind::Library && is_c_symbol(&frame.function) {
            Role::Framework(C_RUNTIME.into())
        } else {
            Role::Own
        }
    }

    /// The labels of `frames` (outermost first) as a flamegraph draws
    /// them: each run of framework frames (glue between them included)
    /// folded into one label, but for the run's innermost frame where the
    /// run ends the stack (what allocated, or what the thread waits in).
    pub(crate) fn fold(&self, frames: &[&Frame], labels: &mut RunLabels) -> Vec<Arc<str>> {
        // Each distinct frame's role once a drawing: tens of thousands of
        // stacks share a few thousand frames.
        let roles: Vec<Role> = frames
            .iter()
            .map(|frame| labels.role_of(frame, |frame| self.role(frame)))
            .collect();
        let mut out = Vec::with_capacity(frames.len());
        let mut start = 0;
        while start < frames.len() {
            if roles[start] == Role::Own {
                out.push(frames[start].function.clone());
                start += 1;
                continue;
            }
            let end = start
                + roles[start..]
                    .iter()
                    .position(|role| *role == Role::Own)
                    .unwrap_or(frames.len() - start);
            // A run that ends the stack keeps its innermost frame.
            let folded_end = if end == frames.len() { end - 1 } else { end };
            let run = &roles[start..folded_end];
            let frameworks = run.iter().any(|role| matches!(role, Role::Framework(_)));
            // Every run is folded, however short: a run of one frame in one
            // stack and of three in another must be one frame, or what
            // follows them is split in two.
            if frameworks {
                out.push(labels.label(run));
            } else {
                out.extend(frames[start..folded_end].iter().map(|f| f.function.clone()));
            }
            out.extend(frames[folded_end..end].iter().map(|f| f.function.clone()));
            start = end;
        }
        out
    }
}

/// A frame's part in a run.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Role {
    Framework(Arc<str>),
    Glue,
    Own,
}

/// The labels of folded runs. A run is known by the frameworks it passes
/// through, so that stacks whose runs differ only in length (a deeper
/// poll in one) are one frame in the flamegraph, and what follows them is
/// merged too; the frame counts are written into the labels at the end
/// ([`Self::shown`]), as the range the runs had.
#[derive(Default)]
pub(crate) struct RunLabels {
    /// By key (`⟨tokio, hyper, axum, tower⟩`), the fewest and the most
    /// frames its runs had.
    made: std::collections::HashMap<Arc<str>, (usize, usize)>,
    /// Each frame's role, by its name's address and its kind; the name is
    /// held, so that the address stays its own.
    roles: rustc_hash::FxHashMap<(usize, u8), (Arc<str>, Role)>,
}

impl RunLabels {
    /// `frame`'s role, found by `find` the first time its name is seen.
    fn role_of(&mut self, frame: &Frame, find: impl FnOnce(&Frame) -> Role) -> Role {
        let key = (
            Arc::as_ptr(&frame.function) as *const u8 as usize,
            frame.kind as u8,
        );
        self.roles
            .entry(key)
            .or_insert_with(|| (frame.function.clone(), find(frame)))
            .1
            .clone()
    }

    /// The key of a run: the frameworks in the order the stack enters
    /// them, at most four named.
    fn label(&mut self, run: &[Role]) -> Arc<str> {
        let mut names: Vec<&str> = Vec::new();
        for role in run {
            if let Role::Framework(name) = role
                && !names.contains(&&**name)
            {
                names.push(name);
            }
        }
        let shown = names.len().min(4);
        let more = if names.len() > shown { ", …" } else { "" };
        let key = format!("⟨{}{more}⟩", names[..shown].join(", "));
        let frames = run.len();
        match self.made.get_mut(key.as_str()) {
            Some((fewest, most)) => {
                *fewest = (*fewest).min(frames);
                *most = (*most).max(frames);
                self.made.get_key_value(key.as_str()).unwrap().0.clone()
            }
            None => {
                let key: Arc<str> = key.into();
                self.made.insert(key.clone(), (frames, frames));
                key
            }
        }
    }

    /// The label drawn for `name` where it is a run's key: "tokio, hyper,
    /// axum, tower: 41 frames" (or "38–41 frames" where runs differ).
    pub(crate) fn shown(&self, name: &str) -> Option<String> {
        let &(fewest, most) = self.made.get(name)?;
        let crates = name.trim_start_matches('⟨').trim_end_matches('⟩');
        Some(if fewest == most {
            let frames = if most == 1 { "frame" } else { "frames" };
            format!("{crates}: {most} {frames}")
        } else {
            format!("{crates}: {fewest}–{most} frames")
        })
    }
}

/// The crate a function belongs to: its path's first segment, or for a
/// trait method on a type without a path (`<&mut F as
/// core::future::TryFuture>::try_poll`, `<[T] as …>`), the trait's.
fn owning_crate(function: &str) -> &str {
    let mut self_type = function.trim_start_matches(['<', '&', '*', ' ']);
    while let Some(rest) = ["mut ", "const ", "dyn "]
        .iter()
        .find_map(|prefix| self_type.strip_prefix(prefix))
    {
        self_type = rest;
    }
    let end = self_type
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(self_type.len());
    if self_type[end..].starts_with("::") {
        return &self_type[..end];
    }
    match function.split_once(" as ") {
        Some((_, trait_path)) => crate_of(trait_path),
        None => &self_type[..end],
    }
}

/// A C symbol: no module path (`clone3`, `__libc_start_main`, `main`), or
/// an address in an object without symbols (`libc.so.6+0x2a1c0`, `0x7f…`).
fn is_c_symbol(function: &str) -> bool {
    !function.contains("::")
}

#[cfg(test)]
mod tests;
