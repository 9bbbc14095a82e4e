//! memscope's own stack walker for jemalloc's heap sampler, on x86-64 Linux.
//!
//! jemalloc unwinds the stack of every sampled allocation, by default with
//! libgcc's `_Unwind_Backtrace`, which for every frame looks up the
//! function's entry in the unwind tables and runs its DWARF call-frame
//! program: most of what heap profiling costs a request (BENCHMARKS.md has
//! the instruction counts). Yet
//! sampled stacks repeat: the same return addresses come back sample after
//! sample. So memscope installs its own walker (jemalloc's
//! `experimental.hooks.prof_backtrace`), which reads the same `.eh_frame`
//! tables (with gimli) once per return address and keeps, per thread, the
//! rule that finds the caller's frame from it.
//!
//! The walker follows only rules that need nothing but the stack and frame
//! pointers, which is what compilers emit for ordinary code. A frame it
//! cannot follow (a signal trampoline, code without unwind tables) ends the
//! stack there: truncated, never guessed. Where it cannot run at all (a
//! thread being torn down, a sample taken while the walker runs), the
//! sample is unwound by jemalloc's own unwinder, kept for that.
//!
//! The list of loaded objects is checked against glibc's load and unload
//! counts at every sample and read again when they moved, together with
//! dropping every kept rule. What remains is the window between that check
//! and the walk: an object unloaded then, by another thread, could have its
//! tables read after they are gone. Code on the sampled stack itself cannot
//! be unloaded, and an app that unloads libraries while allocating on other
//! threads can keep jemalloc's unwinder with
//! [`DebugLayer::keep_jemalloc_unwinder`](crate::DebugLayer::keep_jemalloc_unwinder).

// Reads registers, stack memory and the loaded objects' tables, and is
// called by jemalloc and from a signal handler.
#![allow(unsafe_code)]

mod modules;
mod own_stack;
pub(crate) mod room;
mod rule;
mod signal;

use std::cell::RefCell;
use std::ffi::{c_uint, c_void};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use modules::{CallFrameContext, Modules};

use crate::model::process::objects::loader_generation;
use crate::model::process::{skipped_frame, tag_frame};
use crate::record::{NO_TAG, current_tag};
use rule::{FrameRule, Next};
pub(crate) use signal::{SignalWalker, WalkRefused};

/// The control that holds the hook.
const NAME: &[u8] = b"experimental.hooks.prof_backtrace\0";

/// jemalloc's `prof_backtrace_hook_t`.
type BacktraceHook = unsafe extern "C" fn(*mut *mut c_void, *mut c_uint, c_uint);

/// jemalloc's own unwinder, for samples the walker cannot take.
static FALLBACK: OnceLock<BacktraceHook> = OnceLock::new();

/// Return addresses whose rules a thread keeps; a power of two, so that the
/// top bits of a hash pick the slot.
const KEPT_RULES: usize = 1024;
const _: () = assert!(KEPT_RULES.is_power_of_two());

/// What a thread keeps between samples.
struct Walker {
    /// The highest address of the thread's stack: no read goes past it.
    stack_top: u64,
    /// The lowest: a walk that would take the stack below it (less
    /// [`room::WALK_NEEDS`]) is not taken.
    stack_low: u64,
    modules: Modules,
    /// Rules by the address they were read for, one slot per hash,
    /// `KEPT_RULES` of them.
    rules: Box<[(u64, FrameRule)]>,
    /// gimli's room for evaluating a call-frame program: a few KiB, kept
    /// on the heap so that neither a walk nor the walker's making holds
    /// it on the stack of a thread that may have little left.
    context: Box<CallFrameContext>,
}

thread_local! {
    static WALKER: RefCell<Option<Box<Walker>>> = const { RefCell::new(None) };
}

/// Makes jemalloc unwind sampled stacks with memscope's walker. Done once;
/// fails when profiling is off (jemalloc then takes no hook) or the platform
/// has no walker.
pub(crate) fn install() -> Result<(), String> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let ours: BacktraceHook = sample_backtrace;
            // SAFETY: the control reads and writes a `prof_backtrace_hook_t`,
            // a C function pointer, which `BacktraceHook` is.
            unsafe {
                // Null where jemalloc has not set its unwinder up (it is
                // not the global allocator).
                let theirs = tikv_jemalloc_ctl::raw::read::<Option<BacktraceHook>>(NAME)
                    .map_err(|error| format!("jemalloc has no backtrace hook: {error}"))?
                    .ok_or("jemalloc has no backtrace hook set")?;
                let _ = FALLBACK.set(theirs);
                tikv_jemalloc_ctl::raw::write(NAME, ours)
                    .map_err(|error| format!("jemalloc refused the backtrace hook: {error}"))
            }
        })
        .clone()
}

/// Whether jemalloc unwinds with the walker now.
pub(crate) fn is_installed() -> bool {
    let ours: BacktraceHook = sample_backtrace;
    // SAFETY: the control holds a `prof_backtrace_hook_t`.
    unsafe { tikv_jemalloc_ctl::raw::read::<Option<BacktraceHook>>(NAME) }
        .is_ok_and(|hook| hook.is_some_and(|hook| std::ptr::fn_addr_eq(hook, ours)))
}

/// jemalloc calls this for every sampled allocation, with room for
/// `max_len` return addresses, innermost first.
///
/// The walker allocates in here (a thread's first sample builds its state,
/// a changed list of loaded objects is read again). That is safe: jemalloc
/// calls the hook between `pre_reentrancy` and `post_reentrancy`, and an
/// allocation made at a raised reentrancy level is served without the
/// thread cache and is never itself sampled, so it cannot call back in.
/// The walk's own state is on the heap, so that a thread with little stack
/// left has only this function's frame and gimli's evaluation to carry.
///
/// # Safety
/// jemalloc passes a `vec` of `max_len` slots and a `len` to set.
unsafe extern "C" fn sample_backtrace(vec: *mut *mut c_void, len: *mut c_uint, max_len: c_uint) {
    let here = Registers::here();
    // SAFETY: jemalloc's buffer, `max_len` slots.
    let frames = unsafe { std::slice::from_raw_parts_mut(vec, max_len as usize) };
    // SAFETY: `here` are this function's registers, and this frame
    // outlives the walk.
    match unsafe { walk_and_tag(here, frames) } {
        0 => {
            if let Some(fallback) = FALLBACK.get() {
                // SAFETY: jemalloc's own hook, called as jemalloc would.
                unsafe { fallback(vec, len, max_len) };
            }
        }
        // SAFETY: jemalloc's `len`.
        count => unsafe { *len = count as c_uint },
    }
}

/// Walks from `here` into `frames` with the thread's walker, then adds the
/// route the thread works for as one more frame where there is room (so
/// that a route's stacks are kept apart); returns how many frames, 0 where
/// the walker cannot run (a thread being torn down, a walk already
/// running on this thread). Where the thread has too little stack left for
/// the walk, the sample's one frame says so ([`skipped_frame`]) and the
/// skip is counted.
///
/// # Safety
/// `here` are the registers of a live frame of the calling thread, one
/// that outlives this call.
#[inline(always)]
unsafe fn walk_and_tag(here: Registers, frames: &mut [*mut c_void]) -> usize {
    let walked = WALKER
        .try_with(|walker| {
            let mut walker = walker.try_borrow_mut().ok()?;
            let room_needed = match walker.as_ref() {
                Some(walker) if here.sp.saturating_sub(walker.stack_low) < room::WALK_NEEDS => {
                    return Some(Walked::TooLittleStack);
                }
                Some(_) => None,
                None => Some(room::FIRST_WALK_NEEDS),
            };
            // A thread's first walk, before its bounds are known: the
            // kernel says whether the stack reaches that far down.
            if let Some(needed) = room_needed
                && room::readable(here.sp.saturating_sub(needed)).is_none()
            {
                return Some(Walked::TooLittleStack);
            }
            let walker = walker.get_or_insert_with(Walker::new);
            // SAFETY: the caller's promise on `here`.
            Some(Walked::Frames(unsafe { walker.walk(here, frames) }))
        })
        .ok()
        .flatten();
    let count = match walked {
        Some(Walked::Frames(count)) => count,
        Some(Walked::TooLittleStack) if !frames.is_empty() => {
            SKIPPED_FOR_STACK.fetch_add(1, Ordering::Relaxed);
            frames[0] = skipped_frame() as *mut c_void;
            return 1;
        }
        Some(Walked::TooLittleStack) | None => 0,
    };
    let tag = current_tag();
    if count > 0 && tag != NO_TAG && count < frames.len() {
        frames[count] = tag_frame(tag) as *mut c_void;
        return count + 1;
    }
    count
}

/// What a heap sample's walk gave.
enum Walked {
    Frames(usize),
    TooLittleStack,
}

/// Heap samples not walked since the process started: their threads had
/// too little stack left.
static SKIPPED_FOR_STACK: AtomicU64 = AtomicU64::new(0);

/// Heap samples whose stacks were not walked, their threads having too
/// little stack left: each is kept under [`skipped_frame`] alone.
pub(crate) fn heap_samples_skipped_for_stack() -> u64 {
    SKIPPED_FOR_STACK.load(Ordering::Relaxed)
}

/// Writes the return addresses above the caller's frame into `frames`,
/// innermost first, and the thread's route tag as one more frame where
/// there is room; returns how many, 0 where the walker cannot run (a
/// thread being torn down, a walk already running on this thread). For
/// memscope's sampling allocator, which calls it as the sampler: what the
/// walker allocates (a thread's first walk builds its state) is then never
/// sampled.
#[inline(never)]
pub(crate) fn walk_from_caller(frames: &mut [u64]) -> usize {
    let here = Registers::here();
    // SAFETY: a pointer and a u64 have the same size and alignment here
    // (x86-64), every bit pattern is a valid raw pointer, and the slice is
    // borrowed for the walk alone; no second buffer on a stack that may be
    // short.
    let as_pointers = unsafe {
        std::slice::from_raw_parts_mut(frames.as_mut_ptr().cast::<*mut c_void>(), frames.len())
    };
    // SAFETY: `here` are this function's registers, and this frame
    // outlives the walk.
    unsafe { walk_and_tag(here, as_pointers) }
}

/// The three registers a walk needs.
#[derive(Clone, Copy, Debug)]
struct Registers {
    ip: u64,
    sp: u64,
    fp: u64,
}

impl Registers {
    /// The caller's instruction, stack and frame pointers, read where the
    /// call is inlined.
    #[inline(always)]
    fn here() -> Self {
        let (ip, sp, fp): (u64, u64, u64);
        // SAFETY: reads three registers, touches neither memory nor the stack.
        unsafe {
            std::arch::asm!(
                "lea {ip}, [rip]",
                "mov {sp}, rsp",
                "mov {fp}, rbp",
                ip = out(reg) ip,
                sp = out(reg) sp,
                fp = out(reg) fp,
                options(nomem, nostack, preserves_flags),
            );
        }
        Self { ip, sp, fp }
    }
}

impl Walker {
    /// Out of line: a thread's first sample makes it, and its frame is not
    /// part of every later walk's.
    #[inline(never)]
    #[cold]
    fn new() -> Box<Self> {
        let mut context = Box::<CallFrameContext>::new_uninit();
        context.write(CallFrameContext::new_in());
        let (stack_low, stack_top) = stack_bounds().unwrap_or((0, 0));
        Box::new(Self {
            stack_top,
            stack_low,
            modules: Modules::empty(),
            // Built on the heap: 16 KiB on the stack of a thread that is
            // allocating could be more than it has left.
            rules: vec![(0, FrameRule::UNKNOWN); KEPT_RULES].into_boxed_slice(),
            // SAFETY: written just above.
            context: unsafe { context.assume_init() },
        })
    }

    /// Writes the return addresses of the frames above `start`'s into
    /// `frames`, innermost first, and returns how many.
    ///
    /// # Safety
    /// `start` are the registers of a live frame of the calling thread, one
    /// that outlives this call.
    unsafe fn walk(&mut self, start: Registers, frames: &mut [*mut c_void]) -> usize {
        if self.stack_top <= start.sp {
            // The thread's stack is not known: jemalloc's unwinder walks.
            return 0;
        }
        let generation = loader_generation();
        if generation != self.modules.generation {
            self.reload_modules();
        }
        if frames.is_empty() {
            return 0;
        }
        let stack_top = self.stack_top;
        let mut count = 0;
        follow(
            start,
            |address| self.rule_at(address),
            // SAFETY: `sp` is the start's stack pointer or above it (each
            // step goes up), and `sp .. stack_top` is the live part of this
            // thread's stack, readable.
            |rule, sp, fp| unsafe { rule.caller(sp, fp, stack_top) },
            |caller_ip| {
                frames[count] = caller_ip as *mut c_void;
                count += 1;
                count < frames.len()
            },
        );
        count
    }

    /// Out of line, as [`Walker::new`] is.
    #[inline(never)]
    #[cold]
    fn reload_modules(&mut self) {
        self.modules = Modules::read();
        self.rules.fill((0, FrameRule::UNKNOWN));
    }

    fn rule_at(&mut self, address: u64) -> FrameRule {
        // Fibonacci hashing: return addresses share their low bits poorly.
        let slot =
            (address.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - KEPT_RULES.ilog2())) as usize;
        let (kept_for, rule) = self.rules[slot];
        if kept_for == address {
            return rule;
        }
        let rule = self.read_rule(address);
        self.rules[slot] = (address, rule);
        rule
    }

    /// A rule missing from the kept ones, read from the unwind tables: out
    /// of line, so that gimli's evaluation takes stack only on a miss.
    #[inline(never)]
    #[cold]
    fn read_rule(&mut self, address: u64) -> FrameRule {
        self.modules.rule_at(&mut self.context, address)
    }
}

/// Follows the frames up from `start`: each frame's rule (`rule_at` its
/// code) gives its caller (`caller`), whose return address goes to `push`
/// until that answers `false` or a rule ends the walk.
///
/// The start is an instruction inside a function; every later one is a
/// return address, which may lie past the end of the calling function (a
/// call that never returns), so its rule is looked up at the call
/// instruction, one byte before.
fn follow(
    start: Registers,
    mut rule_at: impl FnMut(u64) -> FrameRule,
    caller: impl Fn(FrameRule, u64, u64) -> Next,
    mut push: impl FnMut(u64) -> bool,
) {
    let Registers {
        ip: mut lookup,
        mut sp,
        mut fp,
    } = start;
    loop {
        match caller(rule_at(lookup), sp, fp) {
            Next::Stop => return,
            Next::Caller {
                ip: caller_ip,
                sp: caller_sp,
                fp: caller_fp,
            } => {
                if !push(caller_ip) {
                    return;
                }
                (lookup, sp, fp) = (caller_ip - 1, caller_sp, caller_fp);
            }
        }
    }
}

/// The lowest and the highest address of the calling thread's stack, from
/// the thread's attributes (for the main thread glibc reads
/// `/proc/self/maps`, which allocates: see `sample_backtrace` on why that
/// is safe here).
fn stack_bounds() -> Option<(u64, u64)> {
    // SAFETY: `attr` is initialised by `pthread_getattr_np` before it is
    // read, and destroyed once; the calls take the current thread's handle.
    unsafe {
        let mut attr = std::mem::MaybeUninit::<libc::pthread_attr_t>::uninit();
        if libc::pthread_getattr_np(libc::pthread_self(), attr.as_mut_ptr()) != 0 {
            return None;
        }
        let mut attr = attr.assume_init();
        let (mut low, mut size) = (std::ptr::null_mut(), 0usize);
        let found = libc::pthread_attr_getstack(&attr, &mut low, &mut size) == 0;
        libc::pthread_attr_destroy(&mut attr);
        found.then(|| (low as u64, low as u64 + size as u64))
    }
}

/// The walk from this call site, for tests: the return addresses of the
/// callers of this function, innermost first.
#[cfg(test)]
#[inline(never)]
fn walk_from_here(frames: &mut [*mut c_void]) -> usize {
    let here = Registers::here();
    let mut walker = Walker::new();
    // SAFETY: this function's own registers; its frame outlives the walk.
    unsafe { walker.walk(here, frames) }
}

#[cfg(test)]
mod tests;
