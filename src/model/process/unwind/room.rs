//! How much stack a walk has left, so that a sample on a thread near the
//! end of its stack is skipped rather than overflow it: memscope runs
//! inside the app's threads (a sampled allocation, a `SIGPROF`), whatever
//! depth they are at.
//!
//! Where the walk runs on a signal's alternate stack, its bounds come
//! from `sigaltstack`; on a thread's own stack, from the stacks of the
//! process's threads as `/proc/self/maps` listed them when a capture began
//! (a signal handler cannot ask glibc: `pthread_getattr_np` allocates).
//! The main thread's stack grows on demand, down to its `RLIMIT_STACK`.
//!
//! The figures are measured (`tests.rs` paints a stack and reads how much
//! of it each walk wrote over) with a margin.

/// Stack a CPU sample's handler uses on the stack it was delivered on,
/// after it checks: the switch to its own stack for the walk, the thread's
/// name and id read.
pub(crate) const SIGNAL_HANDLER_NEEDS: u64 = if cfg!(debug_assertions) {
    4 * 1024
} else {
    1024
};
/// Stack a heap sample's walk uses below the walker's hook, on a thread
/// whose walker is made: gimli's evaluation of a call-frame program on a
/// rule not yet kept (its rows are copied on the stack). An unoptimised
/// build uses about five times what an optimised one does.
pub(crate) const WALK_NEEDS: u64 = if cfg!(debug_assertions) {
    20 * 1024
} else {
    4 * 1024
};
/// The same on a thread's first sample, which also makes the thread's
/// walker (its stack's bounds read, its tables allocated).
pub(crate) const FIRST_WALK_NEEDS: u64 = if cfg!(debug_assertions) {
    24 * 1024
} else {
    6 * 1024
};

/// The calling function's stack pointer.
#[inline(always)]
pub(crate) fn stack_pointer() -> u64 {
    let sp: u64;
    // SAFETY: reads one register; touches neither memory nor the stack.
    unsafe {
        std::arch::asm!("mov {sp}, rsp", sp = out(reg) sp, options(nomem, nostack, preserves_flags));
    }
    sp
}

/// Stack left below `sp` when it lies on the calling thread's alternate
/// signal stack; `None` when the thread runs on its own stack.
/// Async-signal-safe: one system call.
pub(crate) fn alternate_stack_room(sp: u64) -> Option<u64> {
    // SAFETY: a zeroed `stack_t` is a valid value to fill in; no stack is
    // set, the current one is only read.
    let mut current: libc::stack_t = unsafe { std::mem::zeroed() };
    // SAFETY: reads the calling thread's alternate stack into `current`.
    let read = unsafe { libc::sigaltstack(std::ptr::null(), &mut current) };
    if read != 0 || current.ss_flags & libc::SS_ONSTACK == 0 {
        return None;
    }
    let low = current.ss_sp as u64;
    (low..low + current.ss_size as u64)
        .contains(&sp)
        .then(|| sp - low)
}

/// Whether the eight bytes at `address` are mapped and readable, asked of
/// the kernel rather than read (which faults where they are not).
/// Async-signal-safe.
pub(crate) fn readable(address: u64) -> Option<u64> {
    let mut value = 0u64;
    let local = libc::iovec {
        iov_base: (&raw mut value).cast(),
        iov_len: 8,
    };
    let remote = libc::iovec {
        iov_base: address as *mut libc::c_void,
        iov_len: 8,
    };
    // SAFETY: writes at most the eight bytes of `value`; the kernel checks
    // the remote range and fails the call where it is unmapped; getpid
    // takes nothing.
    let read = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
    (read == 8).then_some(value)
}

/// The stacks the process's threads may run on, read from
/// `/proc/self/maps`: every private writable mapping, which is where
/// glibc puts a thread's stack above its guard page.
#[derive(Debug, Default)]
pub(crate) struct StackMaps {
    /// Mappings by start address: (start, end).
    mappings: Vec<(u64, u64)>,
    /// The main thread's `[stack]`: its end, and the lowest address it may
    /// grow to.
    main: Option<(u64, u64)>,
}

impl StackMaps {
    /// Reads them now; empty where there is no procfs.
    pub(crate) fn read() -> Self {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
        Self::parse(&maps, main_stack_limit())
    }

    fn parse(maps: &str, main_limit: Option<u64>) -> Self {
        let mut stacks = Self::default();
        for line in maps.lines() {
            let mut fields = line.split_whitespace();
            let (Some(range), Some(permissions)) = (fields.next(), fields.next()) else {
                continue;
            };
            let Some((start, end)) = range.split_once('-') else {
                continue;
            };
            let (Ok(start), Ok(end)) =
                (u64::from_str_radix(start, 16), u64::from_str_radix(end, 16))
            else {
                continue;
            };
            if !permissions.starts_with("rw") || !permissions.ends_with('p') {
                continue;
            }
            if line.ends_with("[stack]") {
                let lowest = main_limit.map_or(start, |limit| end.saturating_sub(limit));
                stacks.main = Some((end, lowest.min(start)));
            }
            stacks.mappings.push((start, end));
        }
        stacks.mappings.sort_unstable();
        stacks
    }

    /// Stack left below `sp` on a thread's own stack; `None` where `sp`
    /// lies in no mapping listed (a thread made after the list was read).
    /// Async-signal-safe: a binary search.
    pub(crate) fn room(&self, sp: u64) -> Option<u64> {
        if let Some((end, lowest)) = self.main
            && (lowest..end).contains(&sp)
        {
            return Some(sp - lowest);
        }
        let after = self.mappings.partition_point(|&(start, _)| start <= sp);
        let &(start, end) = self.mappings.get(after.checked_sub(1)?)?;
        (sp < end).then(|| sp - start)
    }
}

/// How far the main thread's stack may grow: its soft `RLIMIT_STACK`,
/// `None` where unlimited.
fn main_stack_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: fills in `limit`.
    let read = unsafe { libc::getrlimit(libc::RLIMIT_STACK, &mut limit) };
    (read == 0 && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &str = "\
55c1b2c00000-55c1b2d00000 r-xp 00000000 08:01 1 /bin/app
7f0000000000-7f0000001000 ---p 00000000 00:00 0
7f0000001000-7f0000041000 rw-p 00000000 00:00 0
7f0000041000-7f0000042000 ---p 00000000 00:00 0
7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0                          [stack]
";

    #[test]
    fn a_threads_room_is_down_to_its_guard_page() {
        let stacks = StackMaps::parse(MAPS, Some(8 << 20));
        // A thread's stack above its guard page.
        assert_eq!(stacks.room(0x7f00_0000_3000), Some(0x2000));
        // The guard and the code are no stack.
        assert_eq!(stacks.room(0x7f00_0000_0800), None);
        assert_eq!(stacks.room(0x55c1_b2c0_1000), None);
        // The main thread's grows down to its limit.
        assert_eq!(
            stacks.room(0x7ffc_0000_1000),
            Some(0x7ffc_0000_1000 - (0x7ffc_0002_1000 - (8 << 20)))
        );
    }

    #[test]
    fn this_thread_has_room_and_no_alternate_stack_outside_a_handler() {
        let sp = stack_pointer();
        assert_eq!(alternate_stack_room(sp), None);
        let room = StackMaps::read().room(sp).unwrap();
        assert!(room > 16 * 1024, "{room}");
        assert!(readable(sp).is_some());
        assert!(readable(8).is_none());
    }
}
