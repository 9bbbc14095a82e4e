//! The heaps the bench measures pages on, each retained through tens of
//! thousands of distinct stacks:
//!
//! - `mid` and `large`: buffers under every chain of seven or ten levels
//!   of monomorphized calls, through 64 leaf functions (8,192 and 65,536
//!   stacks);
//! - `deep`: under every chain of eleven levels, through 32 leaf
//!   functions that each go down another 1 to 16 distinct functions first
//!   (65,536 stacks of 13 to 28 frames of the app's, of more varied
//!   depth).
//!
//! Every buffer is of the mean sample interval, so that about 63 % of them
//! are sampled: about 41,000 sampled stacks for the large shapes.

use std::hint::black_box;

use crate::stack_chain::{Leaf, LeafFn, level7, level10, level11, with_leaf};

/// Each buffer: the sample interval (`lg_prof_sample:14`).
pub const BUFFER: usize = 16 * 1024;

/// A heap to build.
pub enum Shape {
    Chains { name: &'static str, levels: u32 },
    Deep,
}

impl Shape {
    /// The shape a bench argument names.
    pub fn named(name: &str) -> Self {
        match name {
            "mid" => Self::Chains {
                name: "mid",
                levels: 7,
            },
            "large" => Self::Chains {
                name: "large",
                levels: 10,
            },
            "deep" => Self::Deep,
            other => panic!("`{other}`: the heaps are mid, large and deep"),
        }
    }

    /// Retains its buffers into `kept`.
    pub fn build(&self, kept: &mut Vec<Vec<u8>>) {
        match self {
            Self::Chains { levels, .. } => {
                for &leaf in LEAVES {
                    with_leaf(leaf, || match levels {
                        7 => level7::<Leaf>(kept, BUFFER),
                        10 => level10::<Leaf>(kept, BUFFER),
                        other => panic!("no chain of {other} levels"),
                    });
                }
            }
            Self::Deep => {
                for &leaf in DEEP_LEAVES {
                    with_leaf(leaf, || level11::<Leaf>(kept, BUFFER));
                }
            }
        }
    }

    /// `large: 65536 buffers of 16 KiB through distinct stacks`.
    pub fn describe(&self, buffers: usize) -> String {
        let name = match self {
            Self::Chains { name, .. } => name,
            Self::Deep => "deep",
        };
        format!(
            "{name}: {buffers} buffers of {} KiB through distinct stacks",
            BUFFER / 1024
        )
    }
}

/// Leaf functions whose code differs (each fills its buffer with its own
/// byte), so that the compiler cannot merge them, and the list of them.
macro_rules! leaves {
    ($($name:ident = $byte:literal),* $(,)?) => {
        $(
            #[inline(never)]
            fn $name(kept: &mut Vec<Vec<u8>>, size: usize) {
                kept.push(black_box(vec![$byte; size]));
            }
        )*
        const LEAVES: &[LeafFn] = &[$($name),*];
    };
}

leaves!(
    retain_00 = 1,
    retain_01 = 2,
    retain_02 = 3,
    retain_03 = 4,
    retain_04 = 5,
    retain_05 = 6,
    retain_06 = 7,
    retain_07 = 8,
    retain_08 = 9,
    retain_09 = 10,
    retain_10 = 11,
    retain_11 = 12,
    retain_12 = 13,
    retain_13 = 14,
    retain_14 = 15,
    retain_15 = 16,
    retain_16 = 17,
    retain_17 = 18,
    retain_18 = 19,
    retain_19 = 20,
    retain_20 = 21,
    retain_21 = 22,
    retain_22 = 23,
    retain_23 = 24,
    retain_24 = 25,
    retain_25 = 26,
    retain_26 = 27,
    retain_27 = 28,
    retain_28 = 29,
    retain_29 = 30,
    retain_30 = 31,
    retain_31 = 32,
    retain_32 = 33,
    retain_33 = 34,
    retain_34 = 35,
    retain_35 = 36,
    retain_36 = 37,
    retain_37 = 38,
    retain_38 = 39,
    retain_39 = 40,
    retain_40 = 41,
    retain_41 = 42,
    retain_42 = 43,
    retain_43 = 44,
    retain_44 = 45,
    retain_45 = 46,
    retain_46 = 47,
    retain_47 = 48,
    retain_48 = 49,
    retain_49 = 50,
    retain_50 = 51,
    retain_51 = 52,
    retain_52 = 53,
    retain_53 = 54,
    retain_54 = 55,
    retain_55 = 56,
    retain_56 = 57,
    retain_57 = 58,
    retain_58 = 59,
    retain_59 = 60,
    retain_60 = 61,
    retain_61 = 62,
    retain_62 = 63,
    retain_63 = 64,
);

// The deep shape's hops: sixteen distinct functions, each calling the next
// (each with a constant of its own, so that none is merged with another).
#[inline(never)]
fn hop_00(kept: &mut Vec<Vec<u8>>, size: usize, byte: u8) {
    hop_01(kept, size, byte.wrapping_add(1));
    black_box(0);
}
#[inline(never)]
fn hop_01(kept: &mut Vec<Vec<u8>>, size: usize, byte: u8) {
    hop_02(kept, size, byte.wrapping_add(2));
    black_box(1);
}
#[inline(never)]
fn hop_02(kept: &mut Vec<Vec<u8>>, size: usize, byte: u8) {
    hop_03(kept, size, byte.wrapping_add(3));
    black_box(2);
}
#[inline(never)]
fn hop_03(kept: &mut Vec<Vec<u8>>, size: usize, byte: u8) {
    hop_04(kept, size, byte.wrapping_add(4));
    black_box(3);
}
#[inline(never)]
fn hop_04(kept: &mut Vec<Vec<u8>>, size: usize, byte: u8) {
    hop_05(kept, size, byte.wrapping_add(5));
    black_box(4);
}
#[inline(never)]
fn hop_05(kept: &mut Vec<Vec<u8>>, size: usize, byte: u8) {
    hop_06(kept, size, byte.wrapping_add(6));
    black_box(5);
}
#[inline(never)]
fn hop_06(kept: &mut Vec<Vec<u8>>, size: usize, byte: u8) {
    hop_07(kept, size, byte.wrapping_add(7));
    black_box(6);
}
#[inline(never)]
fn hop_07(kept: &mut Vec<Vec<u8>>, size: usize, byte: u8) {
    hop_08(kept, size, byte.wrapping_add(8));
    black_box(7);
}
#[inline(never)]
fn hop_08(kept: &mut Vec<Vec<u8>>, size: usize, byte: u8) {
    hop_09(kept, size, byte.wrapping_add(9));
    black_box(8);
}
#[inline(never)]
fn hop_09(kept: &mut Vec<Vec<u8>>, size: usize, byte: u8) {
    hop_10(kept, size, byte.wrapping_add(10));
    black_box(9);
}
#[inline(never)]
fn hop_10(kept: &mut Vec<Vec<u8>>, size: usize, byte: u8) {
    hop_11(kept, size, byte.wrapping_add(11));
    black_box(10);
}
#[inline(never)]
fn hop_11(kept: &mut Vec<Vec<u8>>, size: usize, byte: u8) {
    hop_12(kept, size, byte.wrapping_add(12));
    black_box(11);
}
#[inline(never)]
fn hop_12(kept: &mut Vec<Vec<u8>>, size: usize, byte: u8) {
    hop_13(kept, size, byte.wrapping_add(13));
    black_box(12);
}
#[inline(never)]
fn hop_13(kept: &mut Vec<Vec<u8>>, size: usize, byte: u8) {
    hop_14(kept, size, byte.wrapping_add(14));
    black_box(13);
}
#[inline(never)]
fn hop_14(kept: &mut Vec<Vec<u8>>, size: usize, byte: u8) {
    hop_15(kept, size, byte.wrapping_add(15));
    black_box(14);
}
#[inline(never)]
fn hop_15(kept: &mut Vec<Vec<u8>>, size: usize, byte: u8) {
    kept.push(black_box(vec![byte; size]));
    black_box(15);
}

/// A deep leaf: enters the hops at `$hop`, so that its stacks go down
/// 16 − `$hop` more distinct frames.
macro_rules! deep_leaves {
    ($($name:ident = $hop:ident, $byte:literal),* $(,)?) => {
        $(
            #[inline(never)]
            fn $name(kept: &mut Vec<Vec<u8>>, size: usize) {
                $hop(kept, size, $byte);
            }
        )*
        const DEEP_LEAVES: &[LeafFn] = &[$($name),*];
    };
}

deep_leaves!(
    deep_00 = hop_00,
    1,
    deep_01 = hop_01,
    2,
    deep_02 = hop_02,
    3,
    deep_03 = hop_03,
    4,
    deep_04 = hop_04,
    5,
    deep_05 = hop_05,
    6,
    deep_06 = hop_06,
    7,
    deep_07 = hop_07,
    8,
    deep_08 = hop_08,
    9,
    deep_09 = hop_09,
    10,
    deep_10 = hop_10,
    11,
    deep_11 = hop_11,
    12,
    deep_12 = hop_12,
    13,
    deep_13 = hop_13,
    14,
    deep_14 = hop_14,
    15,
    deep_15 = hop_15,
    16,
    deep_16 = hop_00,
    17,
    deep_17 = hop_01,
    18,
    deep_18 = hop_02,
    19,
    deep_19 = hop_03,
    20,
    deep_20 = hop_04,
    21,
    deep_21 = hop_05,
    22,
    deep_22 = hop_06,
    23,
    deep_23 = hop_07,
    24,
    deep_24 = hop_08,
    25,
    deep_25 = hop_09,
    26,
    deep_26 = hop_10,
    27,
    deep_27 = hop_11,
    28,
    deep_28 = hop_12,
    29,
    deep_29 = hop_13,
    30,
    deep_30 = hop_14,
    31,
    deep_31 = hop_15,
    32,
);
