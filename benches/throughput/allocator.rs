//! The global allocator a server runs on, chosen when its process starts,
//! so that one binary serves the app over jemalloc (memscope's default),
//! the system allocator, mimalloc, and memscope's sampling allocator over
//! either of the last two.
//!
//! The choice is read from [`VARIABLE`] at the process's first allocation
//! (with libc's `getenv`, which does not allocate) and kept; every
//! allocation after that is one load and one branch more than the allocator
//! it goes to, the same for every variant.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::CStr;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};

use memscope::Sampled;
use mimalloc::MiMalloc;

/// The variable the parent sets for a server: one of [`CHOICES`]' names.
pub const VARIABLE: &CStr = c"MEMSCOPE_BENCH_ALLOCATOR";

/// Each allocator's number in [`CHOSEN`].
const JEMALLOC_CHOICE: u8 = 1;
const SYSTEM_CHOICE: u8 = 2;
const MIMALLOC_CHOICE: u8 = 3;
const SAMPLED_SYSTEM_CHOICE: u8 = 4;
const SAMPLED_MIMALLOC_CHOICE: u8 = 5;

/// The allocators by the names the variable takes; jemalloc when it is
/// unset.
const CHOICES: [(&str, u8); 5] = [
    ("jemalloc", JEMALLOC_CHOICE),
    ("system", SYSTEM_CHOICE),
    ("mimalloc", MIMALLOC_CHOICE),
    ("sampled-system", SAMPLED_SYSTEM_CHOICE),
    ("sampled-mimalloc", SAMPLED_MIMALLOC_CHOICE),
];

static JEMALLOC: memscope::Jemalloc = memscope::Jemalloc;
static SAMPLED_SYSTEM: Sampled<System> = Sampled::new(System);
static SAMPLED_MIMALLOC: Sampled<MiMalloc> = Sampled::new(MiMalloc);

/// 0 until read; then the chosen allocator's number.
static CHOSEN: AtomicU8 = AtomicU8::new(0);

/// Whether the allocator called `name` is memscope's sampling one, whose
/// heap profiling is active from the start.
pub fn samples(name: &str) -> bool {
    name.starts_with("sampled-")
}

/// The global allocator that sends each call to the chosen one.
pub struct Chosen;

/// Calls `$method` of the chosen allocator: a direct call in each arm, so
/// that the choice costs a load and a branch, not an indirect call.
macro_rules! on_chosen {
    ($method:ident($($argument:expr),*)) => {{
        let chosen = match CHOSEN.load(Relaxed) {
            0 => {
                let chosen = read_choice();
                CHOSEN.store(chosen, Relaxed);
                chosen
            }
            chosen => chosen,
        };
        // SAFETY: the caller's contract, passed on to the one allocator
        // every call of this process goes to.
        unsafe {
            match chosen {
                SYSTEM_CHOICE => System.$method($($argument),*),
                MIMALLOC_CHOICE => MiMalloc.$method($($argument),*),
                SAMPLED_SYSTEM_CHOICE => SAMPLED_SYSTEM.$method($($argument),*),
                SAMPLED_MIMALLOC_CHOICE => SAMPLED_MIMALLOC.$method($($argument),*),
                _ => JEMALLOC.$method($($argument),*),
            }
        }
    }};
}

/// The number of the allocator [`VARIABLE`] names; an unknown name
/// aborts, as a bench on the wrong allocator would measure nothing.
fn read_choice() -> u8 {
    // SAFETY: a NUL-terminated name; the value is read before returning,
    // and nothing in this process sets variables while it runs.
    let value = unsafe { libc::getenv(VARIABLE.as_ptr()) };
    if value.is_null() {
        return JEMALLOC_CHOICE;
    }
    // SAFETY: getenv returns a NUL-terminated string.
    let value = unsafe { CStr::from_ptr(value) }.to_bytes();
    match CHOICES.iter().find(|(name, _)| name.as_bytes() == value) {
        Some(&(_, choice)) => choice,
        None => std::process::abort(),
    }
}

// SAFETY: every call goes to one allocator, the same for the life of the
// process, which keeps GlobalAlloc's contract.
unsafe impl GlobalAlloc for Chosen {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        on_chosen!(alloc(layout))
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        on_chosen!(alloc_zeroed(layout))
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        on_chosen!(dealloc(ptr, layout))
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        on_chosen!(realloc(ptr, layout, new_size))
    }
}
