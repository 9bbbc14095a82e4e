//! memscope's stack walker under what a service can do to it: threads that
//! come and go, libraries loaded and unloaded, deep recursion, panics
//! unwinding while allocations are sampled, and threads with little stack
//! whose first samples miss every kept rule; and a CPU capture running
//! through all of it, its signals walking the same stacks. Sampling every 256 bytes, so that nearly every allocation
//! runs the walker. A process of its own: the walker is the process's.

#[global_allocator]
static ALLOC: memscope::Jemalloc = memscope::Jemalloc;
memscope::heap_profiling!(lg_sample = 8);

mod common;

use std::hint::black_box;

use axum::Router;
use common::{get as http_get, serve};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_walker_survives_what_threads_do() {
    let addr = serve(Router::new().layer(memscope::DebugLayer::new())).await;
    let overview = http_get(addr, "/_debug/?format=json").await.json();
    assert_eq!(
        overview["profiling"]["unwinder"], "memscope",
        "{overview:#}"
    );

    // CPU samples taken all the while: the signal-side walk meets the same
    // thread churn, unloaded libraries and deep stacks.
    let capture = tokio::spawn(common::post(
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

    // Little headroom: a walk that misses its rules at the bottom. After
    // the capture: a signal's own frame (the CPU's saved state) and its
    // handler's walk need more than the 6 KiB left here, as any signal
    // handler that unwinds does.
    tokio::task::spawn_blocking(|| {
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
