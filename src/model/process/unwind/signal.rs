//! The walker a signal handler runs (the CPU profiler's): the loaded
//! objects read before the signals come, and a room of its own for each
//! handler that walks at once.

#![allow(unsafe_code)]

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, Ordering};

use super::modules::{CallFrameContext, Modules};
use super::own_stack::OwnStack;
use super::{Registers, follow, room};
use crate::model::process::objects::loader_generation;

/// A walk for a signal handler: the CPU sampler's (`model::cpu`).
///
/// Everything it needs is made before the signals come: the list of loaded
/// objects read once, no rules kept, and for as many handlers as may walk
/// at once a room of their own, claimed with an atomic swap: gimli's room
/// for evaluating a call-frame program and a stack of memscope's own to
/// walk on (`own_stack`), so that a walk takes nothing from the
/// interrupted thread's stack. Nothing is allocated while walking, and
/// every stack slot is read through `process_vm_readv`, which answers an
/// error for memory that is not mapped rather than faulting.
pub(crate) struct SignalWalker {
    modules: Modules,
    rooms: Box<[WalkRoom]>,
}

/// What one walk needs besides the stack it reads.
struct WalkRoom {
    context: UnsafeCell<CallFrameContext>,
    stack: OwnStack,
    /// A handler holds it.
    taken: AtomicBool,
}

// SAFETY: a room is used by the one handler that claimed it (`taken`), and
// the modules are only read while handlers run.
unsafe impl Sync for SignalWalker {}

/// Why a signal's walk did not run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WalkRefused {
    /// As many handlers as there are rooms walk at once.
    Busy,
}

impl SignalWalker {
    /// Reads the loaded objects now, with room for `at_once` handlers
    /// walking at the same time (fewer where the system maps fewer
    /// stacks). The list must be read again when it goes stale
    /// ([`SignalWalker::is_stale`]), with no walk running: a library loaded
    /// where an unloaded one was would be read with the other's tables.
    pub(crate) fn new(at_once: usize) -> Self {
        let rooms = (0..at_once.max(1))
            .map_while(|_| {
                Some(WalkRoom {
                    context: UnsafeCell::new(CallFrameContext::new_in()),
                    stack: OwnStack::map()?,
                    taken: AtomicBool::new(false),
                })
            })
            .collect();
        Self {
            modules: Modules::read(),
            rooms,
        }
    }

    /// Whether objects were loaded or unloaded since the list was read: then
    /// the list must be read again (with no walk running) before the next.
    /// Not for a signal handler: it takes the loader's lock.
    pub(crate) fn is_stale(&self) -> bool {
        loader_generation() != self.modules.generation
    }

    /// Reads the list of loaded objects again.
    pub(crate) fn reload(&mut self) {
        self.modules = Modules::read();
    }

    /// Writes the interrupted instruction and then the return addresses of
    /// its callers into `frames`, and returns how many. Async-signal-safe:
    /// it allocates nothing, takes no lock (a room is claimed with an
    /// atomic swap), walks on the room's own stack, and reads the
    /// interrupted stack only through a system call.
    pub(crate) fn walk(
        &self,
        ip: u64,
        sp: u64,
        fp: u64,
        frames: &mut [u64],
    ) -> Result<usize, WalkRefused> {
        if frames.is_empty() {
            return Ok(0);
        }
        let room = self
            .rooms
            .iter()
            .find(|room| !room.taken.swap(true, Ordering::Acquire))
            .ok_or(WalkRefused::Busy)?;
        // SAFETY: claimed above; no other handler uses it until released.
        let context = unsafe { &mut *room.context.get() };
        let mut count = 0;
        let mut walk = || count = self.walk_with(context, Registers { ip, sp, fp }, frames);
        // SAFETY: the room's stack is this walk's alone, and the walk does
        // not unwind.
        unsafe { room.stack.run(&mut walk) };
        room.taken.store(false, Ordering::Release);
        Ok(count)
    }

    fn walk_with(
        &self,
        context: &mut CallFrameContext,
        start: Registers,
        frames: &mut [u64],
    ) -> usize {
        frames[0] = start.ip;
        let mut count = 1;
        follow(
            start,
            |address| self.modules.rule_at(context, address),
            |rule, sp, fp| rule.caller_reading(sp, fp, room::readable),
            |caller_ip| {
                if count == frames.len() {
                    return false;
                }
                frames[count] = caller_ip;
                count += 1;
                count < frames.len()
            },
        );
        count
    }
}
