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
//! Beside them, a peer: `stats_alloc`'s counting wrapper over the system
//! allocator, which counts every call in shared atomics and takes no stacks
//! (the floor of what a wrapper costs that counts the way most do).
//!
//! `cargo bench --bench allocator`; about a minute.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::time::{Duration, Instant};

use memscope::Sampled;
use mimalloc::MiMalloc;
use stats_alloc::INSTRUMENTED_SYSTEM;

const SIZES: [usize; 3] = [32, 256, 4096];
const ROUNDS: usize = 7;

/// One allocator of the comparison, by name.
struct Contender {
    name: &'static str,
    allocator: &'static (dyn GlobalAlloc + Sync),
    /// Pairs a round: fewer where each one walks a stack.
    pairs: usize,
    /// The contender it wraps, by name.
    over: Option<&'static str>,
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
            over: None,
        },
        Contender {
            name: "system, wrapped, never sampled",
            allocator: &SYSTEM_NEVER,
            pairs: many,
            over: Some("system"),
        },
        Contender {
            name: "system, wrapped, 512 KiB",
            allocator: &SYSTEM_DEFAULT,
            pairs: many,
            over: Some("system"),
        },
        Contender {
            name: "system, wrapped, every one sampled",
            allocator: &SYSTEM_EVERY,
            pairs: few,
            over: Some("system"),
        },
        Contender {
            name: "system, stats_alloc (peer: counts only)",
            allocator: &INSTRUMENTED_SYSTEM,
            pairs: many,
            over: Some("system"),
        },
        Contender {
            name: "mimalloc",
            allocator: &MIMALLOC,
            pairs: many,
            over: None,
        },
        Contender {
            name: "mimalloc, wrapped, never sampled",
            allocator: &MIMALLOC_NEVER,
            pairs: many,
            over: Some("mimalloc"),
        },
        Contender {
            name: "mimalloc, wrapped, 512 KiB",
            allocator: &MIMALLOC_DEFAULT,
            pairs: many,
            over: Some("mimalloc"),
        },
        Contender {
            name: "mimalloc, wrapped, every one sampled",
            allocator: &MIMALLOC_EVERY,
            pairs: few,
            over: Some("mimalloc"),
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

/// One round: a thread's time a pair, on `threads` threads at once (each
/// its own pairs).
fn round(contender: &Contender, size: usize, threads: usize) -> f64 {
    std::thread::scope(|scope| {
        let running: Vec<_> = (0..threads)
            .map(|_| scope.spawn(|| pairs(contender.allocator, size, contender.pairs)))
            .collect();
        let times: Vec<f64> = running.into_iter().map(|t| t.join().unwrap()).collect();
        times.iter().sum::<f64>() / times.len() as f64
    })
}

/// Every contender's rounds, taken in turn (the first round of each, then
/// the second...), so that the machine's drift falls on all alike.
fn rounds_in_turn(contenders: &[Contender], size: usize, threads: usize) -> Vec<Vec<f64>> {
    let mut rounds = vec![Vec::with_capacity(ROUNDS); contenders.len()];
    for _ in 0..ROUNDS {
        for (contender, times) in contenders.iter().zip(&mut rounds) {
            times.push(round(contender, size, threads));
        }
    }
    rounds
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    // Warm each allocator (and each thread's walker) before measuring.
    let contenders = contenders();
    for contender in &contenders {
        pairs(contender.allocator, 64, 10_000);
    }
    let started = Instant::now();
    for threads in [1, 2] {
        let rounds: Vec<Vec<Vec<f64>>> = SIZES
            .iter()
            .map(|&size| rounds_in_turn(&contenders, size, threads))
            .collect();
        println!(
            "\n== {threads} thread(s): ns an allocation and its free, median of {ROUNDS} rounds \
             (contenders in turn)"
        );
        print_header();
        for (index, contender) in contenders.iter().enumerate() {
            print!("{:<44}", contender.name);
            for by_size in &rounds {
                print!("{:>10.1}", median(by_size[index].clone()));
            }
            println!();
        }
        println!("\n   over the bare allocator: ns a pair, median of the rounds' differences");
        print_header();
        for (index, contender) in contenders.iter().enumerate() {
            let Some(bare) = contenders
                .iter()
                .position(|bare| Some(bare.name) == contender.over)
            else {
                continue;
            };
            print!("{:<44}", contender.name);
            for by_size in &rounds {
                let differences = by_size[index]
                    .iter()
                    .zip(&by_size[bare])
                    .map(|(wrapped, bare)| wrapped - bare)
                    .collect();
                print!("{:>+10.1}", median(differences));
            }
            println!();
        }
    }
    println!(
        "\n{:.0?} in all",
        Duration::from_secs_f64(started.elapsed().as_secs_f64())
    );
}

fn print_header() {
    print!("{:<44}", "");
    for size in SIZES {
        print!("{:>10}", format!("{size} B"));
    }
    println!();
}
