//! What a capture holds while it runs, on a heap of the scale bench's
//! size (about 49,000 sampled stacks): the process's peak RSS during the
//! capture, over its RSS before, stays within 16 MiB. Nothing is resolved
//! and jemalloc's dump goes to a file, so the heap's size does not set it.

use std::cell::Cell;
use std::hint::black_box;

use crate::common::own_process::in_own_process;
use crate::common::skipped;
use crate::common::stack_chain::{Leaf, level11, with_leaf};

const MIB: u64 = 1 << 20;
/// Distinct depths under each chain: 2,048 chains × 24 depths.
const DEPTHS: u32 = 24;

thread_local! {
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Goes down `DEPTH` more frames before it keeps a buffer: each depth a
/// distinct stack under the same chain.
#[inline(never)]
fn deep_leaf(kept: &mut Vec<Vec<u8>>, size: usize) {
    fn down(kept: &mut Vec<Vec<u8>>, size: usize, left: u32) {
        if left == 0 {
            kept.push(black_box(vec![3u8; size]));
        } else {
            down(black_box(kept), size, left - 1);
        }
        black_box(());
    }
    down(kept, size, DEPTH.with(Cell::get));
}

fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

#[test]
fn a_capture_at_the_scale_benchs_size_holds_at_most_16_mib_more() {
    // Every allocation sampled: each of the small buffers below is a
    // sampled stack of its own.
    if in_own_process("prof:true,prof_active:true,lg_prof_sample:0,prof_accum:false") {
        return;
    }
    let mut kept = Vec::new();
    for depth in 0..DEPTHS {
        DEPTH.with(|current| current.set(depth));
        with_leaf(deep_leaf, || level11::<Leaf>(&mut kept, 64));
    }
    assert_eq!(kept.len(), 2048 * DEPTHS as usize);
    let dir = tempfile::tempdir().unwrap();
    let recorder = memscope::BlackBox::new(dir.path()).keep(2);
    // One capture first: what a capture keeps once (its thread's arena,
    // the loaded objects' list) is not counted as what it holds.
    recorder.capture("warm").unwrap();
    if std::fs::write("/proc/self/clear_refs", "5").is_err() {
        skipped(
            "a_capture_at_the_scale_benchs_size_holds_at_most_16_mib_more",
            "the peak RSS cannot be reset here (/proc/self/clear_refs)",
        );
        return;
    }
    let before = status_bytes("VmRSS:");
    let captured = recorder.capture("scale").unwrap();
    let peak = status_bytes("VmHWM:");
    let held = peak.saturating_sub(before);
    println!(
        "{} sampled stacks: capture {} KiB written in {:?}, peak RSS +{:.1} MiB over {:.0} MiB",
        captured.heap_stacks,
        captured.bytes / 1024,
        captured.took,
        held as f64 / MIB as f64,
        before as f64 / MIB as f64
    );
    assert!(captured.heap_stacks >= 45_000, "{captured:?}");
    assert!(held <= 16 * MIB, "the capture held {} MiB more", held / MIB);
    black_box(kept);
}
