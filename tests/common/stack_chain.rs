//! A chain of calls whose every link is its own monomorphized function, so
//! that each of the 2^N types `B0<B1<...<End>>>` that `levelN::<End>`
//! reaches retains its buffer through a stack of distinct return
//! addresses, as a real program's many call paths do. The two links differ
//! in their code (`B1` does one more thing), or the compiler would merge
//! them into one function and the stacks with them.
//!
//! Shared by the tests and the heapdump bench (`#[path]`).
#![allow(dead_code)]

use std::cell::Cell;
use std::hint::black_box;

pub trait Chain {
    fn retain(kept: &mut Vec<Vec<u8>>, size: usize);
}

pub struct End;
pub struct B0<T>(T);
pub struct B1<T>(T);

impl Chain for End {
    #[inline(never)]
    fn retain(kept: &mut Vec<Vec<u8>>, size: usize) {
        kept.push(black_box(vec![1u8; size]));
    }
}

impl<T: Chain> Chain for B0<T> {
    #[inline(never)]
    fn retain(kept: &mut Vec<Vec<u8>>, size: usize) {
        T::retain(black_box(kept), size);
    }
}

impl<T: Chain> Chain for B1<T> {
    #[inline(never)]
    fn retain(kept: &mut Vec<Vec<u8>>, size: usize) {
        T::retain(black_box(kept), size);
        black_box(());
    }
}

/// What a [`Leaf`] chain calls at its end: a function that retains a
/// buffer of the size given.
pub type LeafFn = fn(&mut Vec<Vec<u8>>, usize);

thread_local! {
    static LEAF: Cell<LeafFn> = const { Cell::new(End::retain) };
}

/// The end of a chain that calls the leaf function set by [`with_leaf`]:
/// many leaf functions under the same chains make as many times more
/// distinct stacks, with no more functions for the compiler to make.
pub struct Leaf;

impl Chain for Leaf {
    #[inline(never)]
    fn retain(kept: &mut Vec<Vec<u8>>, size: usize) {
        let leaf = LEAF.with(Cell::get);
        leaf(black_box(kept), size);
    }
}

/// Runs `run` with `leaf` at the end of this thread's [`Leaf`] chains.
pub fn with_leaf(leaf: LeafFn, run: impl FnOnce()) {
    LEAF.with(|current| current.set(leaf));
    run();
    LEAF.with(|current| current.set(End::retain));
}

macro_rules! levels {
    ($name:ident => $next:ident) => {
        /// Retains a buffer of `size` bytes through each of its chains.
        pub fn $name<T: Chain>(kept: &mut Vec<Vec<u8>>, size: usize) {
            $next::<B0<T>>(kept, size);
            $next::<B1<T>>(kept, size);
        }
    };
}

pub fn level0<T: Chain>(kept: &mut Vec<Vec<u8>>, size: usize) {
    T::retain(kept, size);
}
levels!(level1 => level0);
levels!(level2 => level1);
levels!(level3 => level2);
levels!(level4 => level3);
levels!(level5 => level4);
levels!(level6 => level5);
levels!(level7 => level6);
levels!(level8 => level7);
levels!(level9 => level8);
levels!(level10 => level9);
levels!(level11 => level10);
