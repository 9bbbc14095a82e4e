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
