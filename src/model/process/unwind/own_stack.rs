//! A stack of memscope's own to walk on: a signal's handler switches to
//! one before it walks, so that the walk (a few KiB in a release build, up
//! to 20 KiB in a debug build, with gimli's evaluation of call-frame
//! programs) never takes its room from the interrupted thread's stack or
//! from the small alternate stack the standard library gives a thread.

use std::ffi::c_void;

/// A stack's usable size: several times the deepest walk measured in a
/// debug build (`tests.rs`).
pub(crate) const OWN_STACK_SIZE: usize = 128 * 1024;

/// An anonymous mapping with a guard page below it, unmapped when dropped.
pub(crate) struct OwnStack {
    mapping: *mut c_void,
    length: usize,
}

// SAFETY: the mapping is owned; it is written only by the one walk that
// claimed it (see `SignalWalker`).
unsafe impl Send for OwnStack {}
// SAFETY: as above.
unsafe impl Sync for OwnStack {}

impl OwnStack {
    /// Maps a stack of [`OWN_STACK_SIZE`]; `None` where the system refuses.
    pub(crate) fn map() -> Option<Self> {
        // SAFETY: no precondition.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
        let length = OWN_STACK_SIZE + page;
        // SAFETY: a new private anonymous mapping; nothing else is touched.
        let mapping = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                length,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if mapping == libc::MAP_FAILED {
            return None;
        }
        // A walk that ran past the bottom faults there rather than write
        // over whatever lies below.
        // SAFETY: the lowest page of the mapping just made.
        unsafe { libc::mprotect(mapping, page, libc::PROT_NONE) };
        Some(Self { mapping, length })
    }

    /// Runs `work` on this stack and comes back to the caller's.
    ///
    /// # Safety
    /// No other call runs on this stack meanwhile. `work` must not unwind
    /// (a panic in it aborts the process, as it would in a signal handler).
    pub(crate) unsafe fn run(&self, work: &mut dyn FnMut()) {
        extern "C" fn trampoline(work: *mut c_void) {
            // SAFETY: `run` passes a `&mut &mut dyn FnMut()` that outlives
            // this call.
            let work = unsafe { &mut *work.cast::<&mut dyn FnMut()>() };
            work();
        }
        let top = (self.mapping as u64 + self.length as u64) & !15;
        let mut work = work;
        let argument = (&raw mut work).cast::<c_void>();
        // SAFETY: the caller's stack pointer is kept in r12, which the
        // callee preserves, and put back after the call; the new stack's
        // top is 16-byte aligned, so that the callee starts aligned as the
        // ABI says; every register the C ABI lets a callee change is
        // declared clobbered.
        unsafe {
            std::arch::asm!(
                "mov r12, rsp",
                "mov rsp, {top}",
                "call {trampoline}",
                "mov rsp, r12",
                top = in(reg) top,
                trampoline = sym trampoline,
                in("rdi") argument,
                out("r12") _,
                clobber_abi("C"),
            );
        }
    }
}

impl Drop for OwnStack {
    fn drop(&mut self) {
        // SAFETY: the mapping `map` made, no longer used.
        unsafe { libc::munmap(self.mapping, self.length) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_runs_on_the_stack_and_comes_back() {
        let stack = OwnStack::map().unwrap();
        let low = stack.mapping as u64;
        let before = super::super::room::stack_pointer();
        let mut seen = 0;
        let mut work = || {
            seen = super::super::room::stack_pointer();
            // Deep enough to need more than a page of it.
            let buffer = std::hint::black_box([7u8; 16 * 1024]);
            seen += u64::from(buffer[0] - 7);
        };
        // SAFETY: this stack is used by this call alone; the work does not
        // panic.
        unsafe { stack.run(&mut work) };
        assert!(
            (low..low + stack.length as u64).contains(&seen),
            "{seen:#x}"
        );
        assert_eq!(super::super::room::stack_pointer(), before);
    }
}
