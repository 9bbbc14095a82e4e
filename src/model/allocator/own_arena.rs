//! memscope's own jemalloc arena, for the work behind its pages.
//!
//! A heap page at tens of thousands of stacks allocates tens of MiB for a
//! moment (the parsed dump, the resolved stacks) and frees them. Freed into
//! the app's arenas, those pages stay resident until jemalloc's decay
//! returns them, seconds later: each page raised the process's RSS and the
//! next page started higher. Run in an arena of memscope's own, purged when
//! a page or a snapshot is done, what the work freed goes back to the
//! system then, and the app's arenas, their decay and their caches are
//! left as the app had them. (Purging as each page is freed instead,
//! jemalloc's decay at 0, made pages 10 to 20 % slower: memory freed
//! within a page was faulted in again.)

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use tikv_jemalloc_ctl::raw;

use super::jemalloc_is_global_allocator;

/// Runs `work` with the calling thread's allocations served from
/// memscope's own arena, then binds the thread back to the arena it had.
/// Where jemalloc is not the global allocator or refuses, `work` simply
/// runs.
pub(crate) fn in_own_arena<T>(work: impl FnOnce() -> T) -> T {
    let Some(own) = own_arena() else {
        return work();
    };
    // SAFETY: `thread.arena` reads and writes an `unsigned`.
    let Ok(previous) = (unsafe { raw::read::<u32>(b"thread.arena\0") }) else {
        return work();
    };
    // SAFETY: as above; `own` is an arena jemalloc created.
    if unsafe { raw::write(b"thread.arena\0", own) }.is_err() {
        return work();
    }
    let _bound = BackTo(previous);
    work()
}

pin_project_lite::pin_project! {
    /// A future each poll of which allocates from memscope's own arena: a
    /// page, whose work between awaits (grouping, rendering) is as large
    /// as its snapshot's. Between polls the thread serves others from
    /// its own arena.
    #[derive(Debug)]
    pub(crate) struct InOwnArena<F> {
        #[pin]
        inner: F,
    }
}

impl<F> InOwnArena<F> {
    pub(crate) fn new(inner: F) -> Self {
        Self { inner }
    }
}

impl<F: Future> Future for InOwnArena<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<F::Output> {
        let inner = self.project().inner;
        let poll = in_own_arena(|| inner.poll(context));
        if poll.is_ready() {
            purge_own_arena();
        }
        poll
    }
}

/// Runs `work` in memscope's own arena, then gives back to the system the
/// pages it freed: for work done at once (a snapshot, a blocking task).
pub(crate) fn in_own_arena_then_purge<T>(work: impl FnOnce() -> T) -> T {
    let done = in_own_arena(work);
    purge_own_arena();
    done
}

/// Gives back the pages memscope's arena holds free, at once: a page's
/// work done, what it freed is not kept for the next. Freed pages are
/// kept while the work runs, which reuses them.
fn purge_own_arena() {
    let Some(own) = own_arena() else {
        return;
    };
    let name = format!("arena.{own}.purge\0");
    // SAFETY: `arena.<i>.purge` takes and gives nothing: null pointers and
    // a zero length; the name is NUL-terminated.
    unsafe {
        tikv_jemalloc_sys::mallctl(
            name.as_ptr().cast(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        );
    }
}

/// Binds the thread back to its arena when dropped, unwinding included.
struct BackTo(u32);

impl Drop for BackTo {
    fn drop(&mut self) {
        // SAFETY: `thread.arena` writes an `unsigned`, an arena the thread
        // was bound to.
        let _ = unsafe { raw::write(b"thread.arena\0", self.0) };
    }
}

/// The arena, made once: `None` where jemalloc is not the global
/// allocator or could not make it.
fn own_arena() -> Option<u32> {
    static OWN: OnceLock<Option<u32>> = OnceLock::new();
    *OWN.get_or_init(|| {
        if !jemalloc_is_global_allocator() {
            return None;
        }
        // SAFETY: `arenas.create` returns the new arena's index, an
        // `unsigned`.
        unsafe { raw::read::<u32>(b"arenas.create\0") }.ok()
    })
}
