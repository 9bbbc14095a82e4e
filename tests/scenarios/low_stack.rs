//! Threads near the end of their stacks while memscope samples them: the
//! process lives, and what could not be walked is counted and named.
//!
//! - CPU captures through threads spinning with 6 KiB and 4 KiB of their
//!   stacks left (the standard library gives each an alternate signal
//!   stack, where the handler runs), and through one whose alternate stack
//!   is taken away and that has little room past the kernel's signal
//!   frame: its samples are skipped, and the capture says so.
//! - Heap samples on threads allocating with 6 KiB and 4 KiB left: the walk
//!   is not taken, the sample is kept under a site that says why, and the
//!   heap pages count the skips.
//!
//! The test binary sets the allocator (sampling every 256 bytes) and runs
//! this in a process of its own.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use axum::Router;

use crate::common::{get as http_get, post, serve};

/// The stack each thread is given; what is left of it is the point.
const STACK: usize = 256 * 1024;
/// What the heap page names a sample's site where the walk was not taken.
const NOT_WALKED: &str = "(stack not walked: too little stack left)";

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

/// Goes down in frames of about half a KiB until `left` bytes of the stack
/// are left, then runs `at_the_bottom` there.
#[inline(never)]
fn down_to(low: usize, left: usize, at_the_bottom: &mut dyn FnMut()) {
    let padding = black_box([0u8; 512]);
    let here = &padding as *const _ as usize;
    if here > low + left + 512 {
        down_to(low, left, at_the_bottom);
    } else {
        at_the_bottom();
    }
    black_box(padding);
}

/// Spins with `left` bytes of its stack left until `stop`, counted in
/// `spinning` once it is there.
fn spinner(
    left: usize,
    no_alternate_stack: bool,
    spinning: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(move || {
            if no_alternate_stack {
                // SAFETY: a `stack_t` that asks for no alternate stack.
                unsafe {
                    let mut none: libc::stack_t = std::mem::zeroed();
                    none.ss_flags = libc::SS_DISABLE;
                    assert_eq!(libc::sigaltstack(&none, std::ptr::null_mut()), 0);
                }
            }
            down_to(stack_low(), left, &mut || {
                spinning.fetch_add(1, Ordering::SeqCst);
                let mut spins = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    spins = black_box(spins.wrapping_add(1));
                }
            });
        })
        .unwrap()
}

/// The room the kernel's signal frame takes on this machine (its
/// `AT_MINSIGSTKSZ`, the CPU's saved state), and the red zone below a
/// thread's stack pointer that it leaves alone.
fn signal_frame() -> usize {
    // SAFETY: reads the process's auxiliary vector.
    let frame = unsafe { libc::getauxval(libc::AT_MINSIGSTKSZ) } as usize;
    frame.max(2048) + 128
}

/// What the threads allocating near the bottom keep, until the heap page
/// has been read.
#[inline(never)]
fn allocate_many(kept: &mut Vec<Vec<u8>>) {
    for size in [64usize, 512, 4096, 300, 2000, 9000] {
        kept.push(black_box(vec![9u8; size]));
    }
}

pub async fn threads_near_the_end_of_their_stacks_live_through_sampling() {
    let addr = serve(Router::new().layer(memscope::DebugLayer::new())).await;

    let stop = Arc::new(AtomicBool::new(false));
    let spinning = Arc::new(AtomicUsize::new(0));
    let mut spinners = Vec::new();
    for left in [6 * 1024, 4 * 1024] {
        for _ in 0..2 {
            spinners.push(spinner(left, false, spinning.clone(), stop.clone()));
        }
    }
    // No alternate stack, and past the signal's frame less room than the
    // handler asks for: skipped, never overflowed.
    let bare = signal_frame() + 1536;
    spinners.push(spinner(bare, true, spinning.clone(), stop.clone()));
    while spinning.load(Ordering::SeqCst) < spinners.len() {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let mut samples = 0;
    let mut skipped = 0;
    for _ in 0..3 {
        let capture = post(addr, "/_debug/profiles/cpu?seconds=1&format=json").await;
        assert_eq!(capture.status, 200, "{}", capture.body);
        let capture = capture.json();
        samples += capture["samples"].as_u64().unwrap();
        skipped += capture["skipped_for_stack"].as_u64().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for spinner in spinners {
        spinner.join().unwrap();
    }
    println!("CPU: {samples} samples, {skipped} skipped for too little stack");
    assert!(samples > 50, "{samples} samples");
    assert!(
        skipped > 0,
        "the thread without an alternate stack was walked"
    );

    let kept: Vec<Vec<u8>> = tokio::task::spawn_blocking(|| {
        let mut all = Vec::new();
        for left in [6 * 1024, 4 * 1024] {
            for _ in 0..8 {
                let kept = std::thread::Builder::new()
                    .stack_size(STACK)
                    .spawn(move || {
                        // Sampled first at the top, as a thread that has
                        // run a while: jemalloc sets up its per-thread
                        // profiling state at a thread's first sample, on
                        // the stack the thread has then.
                        let mut kept = Vec::new();
                        allocate_many(&mut kept);
                        down_to(stack_low(), left, &mut || {
                            for _ in 0..50 {
                                allocate_many(&mut kept);
                            }
                        });
                        kept
                    })
                    .unwrap()
                    .join()
                    .unwrap();
                all.extend(kept);
            }
        }
        all
    })
    .await
    .unwrap();
    let dump = http_get(addr, "/_debug/heapdump?format=json&limit=1000")
        .await
        .json();
    let notes = dump["notes"].as_array().unwrap();
    assert!(
        notes.iter().any(|note| note
            .as_str()
            .unwrap()
            .contains("skipped since start: too little stack")),
        "{notes:#?}"
    );
    let rows = dump["rows"].as_array().unwrap();
    assert!(
        rows.iter().any(|row| row["name"] == NOT_WALKED),
        "{:#?}",
        rows.iter().map(|row| &row["name"]).collect::<Vec<_>>()
    );
    black_box(kept);
}
