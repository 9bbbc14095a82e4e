//! memscope's stack walker under what a service can do to it: threads that
//! come and go, libraries loaded and unloaded, deep recursion, panics
//! unwinding while allocations are sampled, and threads with little stack
//! whose first samples miss every kept rule, a fork while other threads
//! sample, threads with 6 KiB of stack left; and a CPU capture running
//! through all of it, its signals walking the same stacks. Sampling every 256 bytes, so that nearly every
//! allocation runs the walker. A process of its own: the walker is the
//! process's.

use std::hint::black_box;

use crate::common::{get as http_get, serve};
use axum::Router;

/// Allocations at many distinct call sites, so that a fresh thread's walk
/// misses its rule cache at every frame.
trait Site {
    fn allocate(kept: &mut Vec<Vec<u8>>);
}
struct Leaf;
struct A<T>(T);
struct B<T>(T);
impl Site for Leaf {
    #[inline(never)]
    fn allocate(kept: &mut Vec<Vec<u8>>) {
        kept.push(black_box(vec![3u8; 1024]));
    }
}
impl<T: Site> Site for A<T> {
    #[inline(never)]
    fn allocate(kept: &mut Vec<Vec<u8>>) {
        T::allocate(black_box(kept));
    }
}
impl<T: Site> Site for B<T> {
    #[inline(never)]
    fn allocate(kept: &mut Vec<Vec<u8>>) {
        T::allocate(black_box(kept));
        black_box(());
    }
}
fn fan<T: Site>(kept: &mut Vec<Vec<u8>>) {
    A::<A<A<T>>>::allocate(kept);
    A::<A<B<T>>>::allocate(kept);
    A::<B<A<T>>>::allocate(kept);
    A::<B<B<T>>>::allocate(kept);
    B::<A<A<T>>>::allocate(kept);
    B::<A<B<T>>>::allocate(kept);
    B::<B<A<T>>>::allocate(kept);
    B::<B<B<T>>>::allocate(kept);
}
fn many_sites(kept: &mut Vec<Vec<u8>>) {
    fan::<A<Leaf>>(kept);
    fan::<B<Leaf>>(kept);
    fan::<A<A<Leaf>>>(kept);
    fan::<B<B<Leaf>>>(kept);
}

#[inline(never)]
fn recurse(depth: usize, kept: &mut Vec<Vec<u8>>) {
    if depth == 0 {
        many_sites(kept);
    } else {
        recurse(depth - 1, kept);
        black_box(());
    }
}

/// The smallest stack a thread can have (glibc's `PTHREAD_STACK_MIN`): a
/// fresh thread's first sampled allocations build the walker's state and
/// miss every rule here.
const SMALL_STACK: usize = 16 * 1024;

/// Stack left to a thread that allocates at the bottom of a deep call
/// chain: where libgcc's unwinder still unwinds (it fails at 4 KiB, as the
/// walker does), and where a walker that kept gimli's state in its frame
/// overflowed.
const HEADROOM: usize = 6 * 1024;

/// The lowest usable address of this thread's stack.
fn stack_low() -> usize {
    // SAFETY: `attr` is initialised by `pthread_getattr_np` before it is
    // read and destroyed once.
    unsafe {
        let mut attr = std::mem::MaybeUninit::<libc::pthread_attr_t>::uninit();
        assert_eq!(
            libc::pthread_getattr_np(libc::pthread_self(), attr.as_mut_ptr()),
            0
        );
        let mut attr = attr.assume_init();
        let (mut low, mut size) = (std::ptr::null_mut(), 0usize);
        assert_eq!(libc::pthread_attr_getstack(&attr, &mut low, &mut size), 0);
        libc::pthread_attr_destroy(&mut attr);
        low as usize
    }
}

/// Goes down in frames of about half a KiB until `HEADROOM` is left, then
/// allocates at sites this thread has never sampled.
#[inline(never)]
fn use_stack_down_to_headroom(low: usize, kept: &mut Vec<Vec<u8>>) {
    let padding = black_box([0u8; 512]);
    let here = &padding as *const _ as usize;
    if here > low + HEADROOM + 1024 {
        use_stack_down_to_headroom(low, kept);
    } else {
        many_sites(kept);
    }
    black_box(padding);
}

/// A child forked while other threads sample: it allocates (and samples)
/// at once, and exits; a lock held across the fork would hang it.
fn fork_while_sampling() {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                many_sites(&mut kept);
                kept.clear();
            }
        })
    };
    for _ in 0..50 {
        // SAFETY: the child allocates through the global allocator, which
        // (jemalloc, glibc's malloc, memscope's wrapper) is made safe to
        // use after a fork by its handlers, then leaves with `_exit`.
        let child = unsafe { libc::fork() };
        assert!(child >= 0, "fork failed");
        if child == 0 {
            let mut kept = Vec::new();
            many_sites(&mut kept);
            // SAFETY: ends the child without running the parent's exit
            // handlers.
            unsafe { libc::_exit(if kept.len() == 32 { 0 } else { 1 }) };
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let status = loop {
            let mut status = 0;
            // SAFETY: waits for our own child, without blocking.
            let done = unsafe { libc::waitpid(child, &mut status, libc::WNOHANG) };
            if done == child {
                break status;
            }
            if std::time::Instant::now() > deadline {
                // SAFETY: our own child.
                unsafe { libc::kill(child, libc::SIGKILL) };
                panic!("a child forked while sampling hung");
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        };
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "the forked child failed: status {status}"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    busy.join().unwrap();
}

/// The scenario; the test binary sets the allocator whose samples the
/// walker walks, sampling every 256 bytes.
pub async fn the_walker_survives_what_threads_do() {
    let addr = serve(Router::new().layer(memscope::DebugLayer::new())).await;
    let overview = http_get(addr, "/_debug/?format=json").await.json();
    assert_eq!(
        overview["profiling"]["unwinder"], "memscope",
        "{overview:#}"
    );

    // CPU samples taken all the while: the signal-side walk meets the same
    // thread churn, unloaded libraries and deep stacks.
    let capture = tokio::spawn(crate::common::post(
        addr,
        "/_debug/profiles/cpu?seconds=3&format=json",
    ));
    tokio::task::spawn_blocking(|| {
        // Threads that come and go, each with a small stack and a fresh
        // walker whose first walks miss every rule.
        for _ in 0..200 {
            std::thread::Builder::new()
                .stack_size(SMALL_STACK)
                .spawn(|| {
                    let mut kept = Vec::new();
                    many_sites(&mut kept);
                    kept.len()
                })
                .unwrap()
                .join()
                .unwrap();
        }
        // Libraries loaded and unloaded between samples: the walker reads
        // the list of loaded objects again each time it changed.
        for _ in 0..300 {
            // SAFETY: glibc's own library, opened and closed by name; no
            // symbol of it is used.
            unsafe {
                let library = libc::dlopen(c"libresolv.so.2".as_ptr(), libc::RTLD_NOW);
                assert!(!library.is_null(), "libresolv.so.2 could not be opened");
                let mut kept = Vec::new();
                many_sites(&mut kept);
                assert_eq!(libc::dlclose(library), 0);
                many_sites(&mut kept);
            }
        }
        // Deep recursion: more frames than a sample keeps.
        std::thread::Builder::new()
            .stack_size(64 * 1024 * 1024)
            .spawn(|| {
                let mut kept = Vec::new();
                recurse(20_000, &mut kept);
            })
            .unwrap()
            .join()
            .unwrap();
        // Panics: each unwinds through frames while its payload and the
        // drops on the way allocate, and are sampled.
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        for i in 0..2_000 {
            let caught = std::panic::catch_unwind(|| {
                let mut kept = Vec::new();
                many_sites(&mut kept);
                panic!("panic {i} with {} buffers", kept.len());
            });
            assert!(caught.is_err());
        }
        std::panic::set_hook(hook);
        fork_while_sampling();
        // Little headroom: a walk that misses its rules at the bottom, with
        // the CPU sampler's signals coming too (its handler runs on the
        // thread's alternate stack and walks on a stack of its own).
        for _ in 0..20 {
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(|| {
                    let mut kept = Vec::new();
                    use_stack_down_to_headroom(stack_low(), &mut kept);
                    kept.len()
                })
                .unwrap()
                .join()
                .unwrap();
        }
    })
    .await
    .unwrap();
    let capture = capture.await.unwrap();
    assert_eq!(capture.status, http::StatusCode::OK, "{}", capture.body);
    assert!(
        capture.json()["samples"].as_u64().unwrap() > 0,
        "{}",
        capture.body
    );

    // The profile still names what a thread holds.
    let mut held = Vec::new();
    for _ in 0..64 {
        many_sites(&mut held);
    }
    let dump = http_get(addr, "/_debug/heapdump?format=json&limit=100")
        .await
        .json();
    let rows = dump["rows"].as_array().unwrap();
    assert!(
        rows.iter()
            .any(|row| row["name"].as_str().unwrap().contains("Leaf")),
        "{dump:#}"
    );
    black_box(held);
}
