use std::ffi::c_void;

use super::walk_from_here;

/// Three frames of our own, so that the walk has callers to find whose call
/// sites are the same in both unwinders' views.
#[inline(never)]
fn outer(out: &mut Vec<u64>, reference: &mut Vec<u64>) {
    middle(out, reference);
    std::hint::black_box(());
}

#[inline(never)]
fn middle(out: &mut Vec<u64>, reference: &mut Vec<u64>) {
    inner(out, reference);
    std::hint::black_box(());
}

#[inline(never)]
fn inner(out: &mut Vec<u64>, reference: &mut Vec<u64>) {
    let mut frames = [std::ptr::null_mut::<c_void>(); 128];
    let count = walk_from_here(&mut frames);
    out.extend(frames[..count].iter().map(|ip| *ip as u64));
    // libgcc's unwinder, through the backtrace crate.
    backtrace::trace(|frame| {
        reference.push(frame.ip() as u64);
        true
    });
    std::hint::black_box(());
}

#[test]
fn walks_the_same_frames_as_libgcc() {
    let (mut ours, mut libgcc) = (Vec::new(), Vec::new());
    outer(&mut ours, &mut libgcc);
    // ours[0] returns into `inner` after the walk, libgcc's frame for
    // `inner` after its own call; from `middle` on, the call sites are the
    // same ones.
    assert!(ours.len() >= 4, "walked only {} frames", ours.len());
    let from_middle = libgcc
        .iter()
        .position(|ip| *ip == ours[1])
        .unwrap_or_else(|| panic!("{:#x} not in libgcc's {libgcc:#x?}", ours[1]));
    let libgcc_rest = &libgcc[from_middle..];
    // libgcc may report a last frame with a null address; neither walk
    // goes past the thread's first function.
    let libgcc_rest: Vec<u64> = libgcc_rest.iter().copied().filter(|ip| *ip != 0).collect();
    assert_eq!(&ours[1..], &libgcc_rest[..], "ours {ours:#x?}");
}

#[test]
fn stops_at_the_room_it_is_given() {
    let mut frames = [std::ptr::null_mut::<c_void>(); 2];
    assert_eq!(walk_from_here(&mut frames), 2);
    assert!(frames.iter().all(|ip| !ip.is_null()));
}

/// What a painted stack word holds until something writes over it.
const PAINT: u64 = 0xa5a5_5a5a_a5a5_5a5a;
/// How far below the caller a measure looks.
const PAINTED: usize = 32 * 1024;

/// Fills the `PAINTED` bytes below the caller's frame with [`PAINT`].
#[inline(never)]
fn paint() {
    let mut area = [0u64; PAINTED / 8];
    for word in &mut area {
        // SAFETY: a word of this frame's own array.
        unsafe { std::ptr::write_volatile(word, PAINT) };
    }
    std::hint::black_box(&area);
}

/// The bytes of stack `work` used below the caller of this function: the
/// stack is painted, `work` runs, and the deepest word no longer painted
/// is found (read through the kernel, as the walker reads).
#[inline(never)]
fn stack_used(work: impl FnOnce()) -> u64 {
    let top = super::room::stack_pointer();
    paint();
    work();
    let mut address = (top - PAINTED as u64 + 64) & !7;
    while address < top {
        if super::room::readable(address) != Some(PAINT) {
            return top - address;
        }
        address += 8;
    }
    0
}

/// Call sites that no walk has met, so that every frame of a walk from
/// them misses the kept rules and reads the unwind tables.
#[inline(never)]
fn fresh_site_walk(frames: &mut [u64]) -> usize {
    let count = super::walk_from_caller(frames);
    std::hint::black_box(count)
}

#[test]
fn a_heap_walk_fits_its_allowance_first_and_later() {
    // A thread of its own: its first walk makes its walker.
    std::thread::spawn(|| {
        let mut frames = vec![0u64; 128];
        let first = stack_used(|| {
            assert!(fresh_site_walk(&mut frames) > 1);
        });
        // Rules read again from the tables: the walker's miss.
        super::WALKER.with(|walker| {
            if let Some(walker) = walker.borrow_mut().as_mut() {
                walker.rules.fill((0, super::FrameRule::UNKNOWN));
            }
        });
        let later = stack_used(|| {
            assert!(fresh_site_walk(&mut frames) > 1);
        });
        println!("heap walk: first {first} B, later with misses {later} B");
        assert!(first + 1024 <= super::room::FIRST_WALK_NEEDS, "{first}");
        assert!(later + 1024 <= super::room::WALK_NEEDS, "{later}");
    })
    .join()
    .unwrap();
}

#[test]
fn a_signal_walk_fits_its_allowance() {
    let walker = super::SignalWalker::new(1);
    let mut frames = vec![0u64; 128];
    let registers = super::Registers::here();
    let used = stack_used(|| {
        let count = walker
            .walk(registers.ip, registers.sp, registers.fp, &mut frames)
            .unwrap();
        assert!(count > 1);
    });
    println!("signal walk: {used} B of the caller's stack");
    // The walk runs on a stack of its own: what the caller's stack gives
    // is the switch to it.
    assert!(used + 512 <= super::room::SIGNAL_HANDLER_NEEDS, "{used}");
}
