//! What memscope's sampling allocator (`memscope::Sampled`) costs an
//! allocation, over the allocator it wraps, measured side by side in one
//! run: pairs of an allocation and its free, of several sizes, on one
//! thread and on two at once, over the system allocator and over mimalloc.
//!
//! For each: the bare allocator; wrapped with sampling that never fires
//! (`lg_sample` 40: the counting and the filter on every call, what an
//! allocation that is not sampled costs); wrapped at the default of one
//! sample per 512 KiB; and wrapped with every allocation sampled (`lg_sample`
//! 0: the walk, the table and the free's lookup, what a sampled one costs).
//!
//! `cargo bench --bench allocator`; about a minute.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::time::{Duration, Instant};

use memscope::Sampled;
use mimalloc::MiMalloc;

const SIZES: [usize; 3] = [32, 256, 4096];
const ROUNDS: usize = 7;

/// One allocator of the comparison, by name.
struct Contender {
    name: &'static str,
    allocator: &'static (dyn GlobalAlloc + Sync),
    /// Pairs a round: fewer where each one walks a stack.
    pairs: usize,
}

static SYSTEM: System = System;
static SYSTEM_NEVER: Sampled<System> = Sampled::with_lg_sample(System, 40);
static SYSTEM_DEFAULT: Sampled<System> = Sampled::new(System);
static SYSTEM_EVERY: Sampled<System> = Sampled::with_lg_sample(System, 0);
static MIMALLOC: MiMalloc = MiMalloc;
static MIMALLOC_NEVER: Sampled<MiMalloc> = Sampled::with_lg_sample(MiMalloc, 40);
static MIMALLOC_DEFAULT: Sampled<MiMalloc> = Sampled::new(MiMalloc);
static MIMALLOC_EVERY: Sampled<MiMalloc> = Sampled::with_lg_sample(MiMalloc, 0);

fn contenders() -> Vec<Contender> {
    let many = 2_000_000;
    let few = 50_000;
    vec![
        Contender {
            name: "system",
            allocator: &SYSTEM,
            pairs: many,
        },
        Contender {
            name: "system, wrapped, never sampled",
            allocator: &SYSTEM_NEVER,
            pairs: many,
        },
        Contender {
            name: "system, wrapped, 512 KiB",
            allocator: &SYSTEM_DEFAULT,
            pairs: many,
        },
        Contender {
            name: "system, wrapped, every one sampled",
            allocator: &SYSTEM_EVERY,
            pairs: few,
        },
        Contender {
            name: "mimalloc",
            allocator: &MIMALLOC,
            pairs: many,
        },
        Contender {
            name: "mimalloc, wrapped, never sampled",
            allocator: &MIMALLOC_NEVER,
            pairs: many,
        },
        Contender {
            name: "mimalloc, wrapped, 512 KiB",
            allocator: &MIMALLOC_DEFAULT,
            pairs: many,
        },
        Contender {
            name: "mimalloc, wrapped, every one sampled",
            allocator: &MIMALLOC_EVERY,
            pairs: few,
        },
    ]
}

/// Nanoseconds a pair, `pairs` of them of `size` bytes on this thread.
#[inline(never)]
fn pairs(allocator: &dyn GlobalAlloc, size: usize, pairs: usize) -> f64 {
    let layout = Layout::from_size_align(size, 8).unwrap();
    let started = Instant::now();
    for _ in 0..pairs {
        // SAFETY: a layout of non-zero size; the block is freed with it.
        unsafe {
            let block = allocator.alloc(layout);
            black_box(block);
            allocator.dealloc(block, layout);
        }
    }
    started.elapsed().as_nanos() as f64 / pairs as f64
}

/// The median over the rounds, on `threads` threads at once (each its own
/// pairs; the figure is a thread's time a pair).
fn measure(contender: &Contender, size: usize, threads: usize) -> f64 {
    let mut rounds: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            std::thread::scope(|scope| {
                let running: Vec<_> = (0..threads)
                    .map(|_| scope.spawn(|| pairs(contender.allocator, size, contender.pairs)))
                    .collect();
                let times: Vec<f64> = running.into_iter().map(|t| t.join().unwrap()).collect();
                times.iter().sum::<f64>() / times.len() as f64
            })
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[ROUNDS / 2]
}

fn main() {
    // Warm each allocator (and each thread's walker) before measuring.
    let contenders = contenders();
    for contender in &contenders {
        pairs(contender.allocator, 64, 10_000);
    }
    let started = Instant::now();
    for threads in [1, 2] {
        println!(
            "\n== {threads} thread(s): ns an allocation and its free, median of {ROUNDS} rounds"
        );
        print!("{:<40}", "");
        for size in SIZES {
            print!("{:>10}", format!("{size} B"));
        }
        println!();
        for contender in &contenders {
            print!("{:<40}", contender.name);
            for size in SIZES {
                print!("{:>10.1}", measure(contender, size, threads));
            }
            println!();
        }
    }
    println!(
        "\n{:.0?} in all",
        Duration::from_secs_f64(started.elapsed().as_secs_f64())
    );
}
