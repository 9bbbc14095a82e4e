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

mod modules;
mod rule;

use std::cell::RefCell;
use std::ffi::{c_uint, c_void};
use std::sync::OnceLock;

use modules::{CallFrameContext, Modules};
use rule::{FrameRule, Next};

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
    modules: Modules,
    /// Rules by the address they were read for, one slot per hash,
    /// `KEPT_RULES` of them.
    rules: Box<[(u64, FrameRule)]>,
    context: CallFrameContext,
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
                let theirs = tikv_jemalloc_ctl::raw::read::<BacktraceHook>(NAME)
                    .map_err(|error| format!("jemalloc has no backtrace hook: {error}"))?;
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
    unsafe { tikv_jemalloc_ctl::raw::read::<BacktraceHook>(NAME) }
        .is_ok_and(|hook| std::ptr::fn_addr_eq(hook, ours))
}

/// jemalloc calls this for every sampled allocation, with room for
/// `max_len` return addresses, innermost first.
///
/// # Safety
/// jemalloc passes a `vec` of `max_len` slots and a `len` to set.
unsafe extern "C" fn sample_backtrace(vec: *mut *mut c_void, len: *mut c_uint, max_len: c_uint) {
    let here = Registers::here();
    // SAFETY: jemalloc's buffer, `max_len` slots.
    let frames = unsafe { std::slice::from_raw_parts_mut(vec, max_len as usize) };
    let walked = WALKER.try_with(|walker| {
        let mut walker = walker.try_borrow_mut().ok()?;
        let walker = walker.get_or_insert_with(Walker::new);
        // SAFETY: `here` are this function's registers, and this frame
        // outlives the walk.
        Some(unsafe { walker.walk(here, frames) })
    });
    match walked {
        Ok(Some(count)) if count > 0 => {
            // SAFETY: jemalloc's `len`.
            unsafe { *len = count as c_uint };
        }
        _ => {
            if let Some(fallback) = FALLBACK.get() {
                // SAFETY: jemalloc's own hook, called as jemalloc would.
                unsafe { fallback(vec, len, max_len) };
            }
        }
    }
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
    fn new() -> Box<Self> {
        Box::new(Self {
            modules: Modules::empty(),
            // Built on the heap: 16 KiB on the stack of a thread that is
            // allocating could be more than it has left.
            rules: vec![(0, FrameRule::UNKNOWN); KEPT_RULES].into_boxed_slice(),
            context: CallFrameContext::new_in(),
        })
    }

    /// Writes the return addresses of the frames above `start`'s into
    /// `frames`, innermost first, and returns how many.
    ///
    /// # Safety
    /// `start` are the registers of a live frame of the calling thread, one
    /// that outlives this call.
    unsafe fn walk(&mut self, start: Registers, frames: &mut [*mut c_void]) -> usize {
        let generation = Modules::current_generation();
        if generation != self.modules.generation {
            self.modules = Modules::read();
            self.rules.fill((0, FrameRule::UNKNOWN));
        }
        // The start is an instruction inside a function; every later one is
        // a return address, which may lie past the end of the calling
        // function (a call that never returns), so its rule is looked up at
        // the call instruction, one byte before.
        let Registers {
            ip: mut lookup,
            mut sp,
            mut fp,
        } = start;
        let mut count = 0;
        while count < frames.len() {
            let rule = self.rule_at(lookup);
            // SAFETY: `sp` and `fp` belong to a live frame (the start's, or
            // one found from it by its own rule), and `rule` is its rule.
            match unsafe { rule.caller(sp, fp) } {
                Next::Stop => break,
                Next::Caller {
                    ip: caller_ip,
                    sp: caller_sp,
                    fp: caller_fp,
                } => {
                    frames[count] = caller_ip as *mut c_void;
                    count += 1;
                    (lookup, sp, fp) = (caller_ip - 1, caller_sp, caller_fp);
                }
            }
        }
        count
    }

    fn rule_at(&mut self, address: u64) -> FrameRule {
        // Fibonacci hashing: return addresses share their low bits poorly.
        let slot =
            (address.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - KEPT_RULES.ilog2())) as usize;
        let (kept_for, rule) = self.rules[slot];
        if kept_for == address {
            return rule;
        }
        let rule = self.modules.rule_at(&mut self.context, address);
        self.rules[slot] = (address, rule);
        rule
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
