//! memscope's own jemalloc arena, for the work behind its heap pages.
//!
//! A heap page at tens of thousands of stacks allocates tens of MiB for a
//! moment (the parsed dump, the resolved stacks) and frees them. Freed into
//! the app's arenas, those pages stay resident until jemalloc's decay
//! returns them, seconds later: each page raised the process's RSS and the
//! next page started higher. So that work runs on threads of memscope's
//! own, bound to an arena of memscope's own from their start and purged
//! when the work is done.
//!
//! Only memscope's threads are bound, never one the app shares: jemalloc
//! purges an arena whole when the last thread bound to it leaves, so
//! moving a tokio worker (often alone on its arena) to memscope's arena
//! and back purged the app's freed pages under it, and hid the very
//! retention the verdict looks for.

#![allow(unsafe_code)]

use std::sync::OnceLock;

use tikv_jemalloc_ctl::raw;

use super::jemalloc::jemalloc_is_global_allocator;
use crate::model::ModelError;

/// Runs `work`, which blocks (a heap dump, symbolizing, a CPU capture), off
/// the async executor, so that its threads go on serving the app: on a
/// thread of memscope's own where jemalloc is the global allocator, bound
/// to memscope's arena and its arena purged when the work is done, else
/// on the runtime's blocking threads; in place without a runtime.
pub(crate) async fn off_executor<T: Send + 'static>(
    what: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ModelError> {
    let failed = |error: &dyn std::fmt::Display| {
        ModelError::failed(format!("the {what} task failed: {error}"))
    };
    if has_own_arena() {
        let (done, result) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("memscope-work".to_owned())
            .spawn(move || {
                bind_to_own_arena();
                let result = work();
                // Given back before the answer goes, so that the page's
                // caller never sees memory memscope no longer uses; the
                // thread's cache of freed objects first, which its exit
                // would otherwise free into the arena after the purge.
                flush_thread_cache();
                purge_own_arena();
                let _ = done.send(result);
            })
            .map_err(|error| failed(&error))?;
        return result.await.map_err(|error| failed(&error));
    }
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => runtime
            .spawn_blocking(work)
            .await
            .map_err(|error| failed(&error)),
        Err(_) => Ok(work()),
    }
}

/// Binds the calling thread, one of memscope's own, to memscope's arena
/// for the rest of its life. Where jemalloc is not the global allocator or
/// refuses, the thread allocates where it would have.
pub(crate) fn bind_to_own_arena() {
    if let Some(own) = own_arena() {
        // SAFETY: `thread.arena` writes an `unsigned`, an arena jemalloc
        // created.
        let _ = unsafe { raw::write(b"thread.arena\0", own) };
    }
}

/// Gives back to the system the pages memscope's arena holds free: a
/// page's work done, what it freed is not kept for the next.
pub(crate) fn purge_own_arena() {
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

/// Returns the calling thread's cache of freed objects to its arena, so
/// that a purge after it finds their pages free.
fn flush_thread_cache() {
    // SAFETY: `thread.tcache.flush` takes and gives nothing: null pointers
    // and a zero length; the name is NUL-terminated.
    unsafe {
        tikv_jemalloc_sys::mallctl(
            c"thread.tcache.flush".as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        );
    }
}

/// Whether memscope has an arena of its own: jemalloc is the global
/// allocator and made one.
pub(crate) fn has_own_arena() -> bool {
    own_arena().is_some()
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
