//! memscope's own CPU sampler, on x86-64 Linux: `SIGPROF` at a fixed rate
//! of the process's CPU time (`setitimer(ITIMER_PROF)`), each signal's
//! stack walked from the interrupted registers by the unwind-table walker
//! (`unwind::SignalWalker`) into a table made for the capture and freed
//! after it. Nothing is kept between captures: pprof's profiler, used
//! before, allocated an 80 MiB sample table at its first start and kept it
//! for the life of the process.
//!
//! The handler is async-signal-safe: it takes a slot of the table with one
//! atomic add, walks without allocating or locking, reads the thread's
//! name and id with system calls, and leaves `errno` as it found it.
//!
//! It never overflows the thread it interrupts: it runs on the thread's
//! alternate signal stack where there is one (`SA_ONSTACK`; Rust's
//! standard library gives one to every thread it starts), and before it
//! walks it checks the room left on the stack it runs on (the alternate
//! one's bounds from `sigaltstack`, a thread's own from the stacks
//! `/proc/self/maps` listed when the capture began): with less than the
//! walk needs, the sample is skipped and counted.

#![allow(unsafe_code)]

use std::cell::UnsafeCell;
use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use super::samples::{CpuSamples, SampledStack};
use crate::model::process::unwind::room::{self, StackMaps};
use crate::model::process::unwind::{SignalWalker, WalkRefused};

/// Frames kept of a sampled stack; deeper stacks are cut at their outer end.
const MAX_FRAMES: usize = 128;
/// Samples a capture keeps at most, whatever its length and the number of
/// cores: about 17 MiB of table. Samples past it are counted as dropped.
const MAX_SLOTS: usize = 16_384;

/// One sampled stack, as the handler writes it.
#[derive(Clone, Copy)]
struct Slot {
    frames: [u64; MAX_FRAMES],
    len: usize,
    tid: i32,
    name: [u8; 16],
}

const EMPTY_SLOT: Slot = Slot {
    frames: [0; MAX_FRAMES],
    len: 0,
    tid: 0,
    name: [0; 16],
};

/// The running capture's table and walker, shared with the handler.
struct Table {
    slots: Box<[UnsafeCell<Slot>]>,
    walker: SignalWalker,
    /// The stacks of the threads when the capture began (or last read).
    stacks: StackMaps,
}

// SAFETY: each slot is written by the one handler that took its index
// (`NEXT`), and read only after every handler has left (`IN_FLIGHT`).
unsafe impl Sync for Table {}

static TABLE: AtomicPtr<Table> = AtomicPtr::new(std::ptr::null_mut());
static NEXT: AtomicUsize = AtomicUsize::new(0);
static DROPPED: AtomicU64 = AtomicU64::new(0);
/// Samples skipped because the thread had too little stack left to walk.
static SKIPPED_FOR_STACK: AtomicU64 = AtomicU64::new(0);
/// A handler ran on a stack the list of stacks does not hold (a thread
/// made after it was read): the capture reads it again.
static STACKS_STALE: AtomicBool = AtomicBool::new(false);
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
/// Handlers record nothing while the walker's list of loaded objects is
/// read again.
static PAUSED: AtomicBool = AtomicBool::new(false);
/// How often the capture checks whether objects were loaded or unloaded.
const RELOAD_CHECK: Duration = Duration::from_millis(20);
/// One capture at a time in the process (the timer and the signal are):
/// held by `RunningCapture`.
static RUNNING: AtomicBool = AtomicBool::new(false);

/// Samples the process at `frequency` Hz of its CPU time for `length`.
/// Blocking.
pub(crate) fn sample(length: Duration, frequency: u32) -> Result<CpuSamples, String> {
    run(length, frequency, libc::SIGPROF)
}

/// The capture, with the signal the profiling timer raises as a parameter
/// so that a test can make the handler's installation fail. Every step
/// taken is undone by a guard, in reverse order, whichever way this
/// returns: the timer disarmed, the handler put back, the table taken away
/// and freed, the one-capture slot released.
fn run(length: Duration, frequency: u32, signal: libc::c_int) -> Result<CpuSamples, String> {
    let _running = RunningCapture::claim()?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let wanted = (length.as_secs_f64() * f64::from(frequency) * cores as f64 * 1.25) as usize + 64;
    let table = PublishedTable::publish(Table {
        slots: (0..wanted.min(MAX_SLOTS))
            .map(|_| UnsafeCell::new(EMPTY_SLOT))
            .collect(),
        // Handlers walking at once: one a core, and room for threads the
        // cores switch between while one is in its handler.
        walker: SignalWalker::new(cores + 4),
        stacks: StackMaps::read(),
    });
    let handler = InstalledHandler::install(signal)?;
    let started = SystemTime::now();
    let clock = Instant::now();
    let timer = ArmedTimer::arm(frequency)?;
    while let Some(left) = length
        .checked_sub(clock.elapsed())
        .filter(|left| !left.is_zero())
    {
        std::thread::sleep(left.min(RELOAD_CHECK));
        reload_if_stale();
    }
    drop(timer);
    let duration = clock.elapsed();
    drop(handler);
    let table = table.take();
    let taken = NEXT.load(Ordering::Acquire).min(table.slots.len());
    Ok(CpuSamples {
        stacks: aggregate(&table.slots[..taken]),
        started,
        duration,
        dropped: DROPPED.load(Ordering::Relaxed),
        skipped_for_stack: SKIPPED_FOR_STACK.load(Ordering::Relaxed),
    })
}

/// The process's one capture, released when dropped.
struct RunningCapture;

impl RunningCapture {
    fn claim() -> Result<Self, String> {
        if RUNNING.swap(true, Ordering::AcqRel) {
            return Err("another CPU capture is running".to_owned());
        }
        Ok(Self)
    }
}

impl Drop for RunningCapture {
    fn drop(&mut self) {
        RUNNING.store(false, Ordering::Release);
    }
}

/// The capture's table, published to the handler until taken back; taken
/// back and freed when dropped.
struct PublishedTable;

impl PublishedTable {
    fn publish(table: Table) -> Self {
        NEXT.store(0, Ordering::Relaxed);
        DROPPED.store(0, Ordering::Relaxed);
        SKIPPED_FOR_STACK.store(0, Ordering::Relaxed);
        STACKS_STALE.store(false, Ordering::Relaxed);
        TABLE.store(Box::into_raw(Box::new(table)), Ordering::Release);
        Self
    }

    /// The table, once no handler holds it. Handlers that began before it
    /// was taken away finish first; none starts after.
    fn take(self) -> Box<Table> {
        let table = TABLE.swap(std::ptr::null_mut(), Ordering::SeqCst);
        std::mem::forget(self);
        while IN_FLIGHT.load(Ordering::SeqCst) > 0 {
            std::thread::yield_now();
        }
        // SAFETY: made by `Box::into_raw` in `publish`, taken away from the
        // handlers above, and no handler holds it now.
        unsafe { Box::from_raw(table) }
    }
}

impl Drop for PublishedTable {
    fn drop(&mut self) {
        drop(Self.take());
    }
}

/// The capture's signal handler, the one found before put back when
/// dropped.
struct InstalledHandler {
    signal: libc::c_int,
    previous: libc::sigaction,
}

impl InstalledHandler {
    fn install(signal: libc::c_int) -> Result<Self, String> {
        // SAFETY: a zeroed `sigaction` is a valid value to fill in; the
        // handler has the three-argument form SA_SIGINFO asks for.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigprof as *const () as usize;
            // On the thread's alternate stack where it has one.
            action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            let mut previous: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(signal, &action, &mut previous) != 0 {
                return Err(format!(
                    "could not handle SIGPROF: {}",
                    std::io::Error::last_os_error()
                ));
            }
            Ok(Self { signal, previous })
        }
    }
}

impl Drop for InstalledHandler {
    /// Puts back the handler found at the start; where that was the
    /// default action (which ends the process), the signal is ignored
    /// instead, so that a signal raised just before the timer stopped and
    /// delivered after cannot kill the process.
    fn drop(&mut self) {
        let mut restored = self.previous;
        if restored.sa_sigaction == libc::SIG_DFL {
            restored.sa_sigaction = libc::SIG_IGN;
        }
        // SAFETY: `restored` is what `sigaction` handed back, or SIG_IGN.
        unsafe { libc::sigaction(self.signal, &restored, std::ptr::null_mut()) };
    }
}

/// The profiling timer, armed; disarmed when dropped.
struct ArmedTimer;

impl ArmedTimer {
    fn arm(frequency: u32) -> Result<Self, String> {
        set_timer(frequency)?;
        Ok(Self)
    }
}

impl Drop for ArmedTimer {
    fn drop(&mut self) {
        let _ = set_timer(0);
    }
}

/// Reads the walker's list of loaded objects again if a library was loaded
/// or unloaded, and the list of stacks if a handler found a thread's
/// missing from it, with every handler held off meanwhile.
fn reload_if_stale() {
    let table = TABLE.load(Ordering::SeqCst);
    // SAFETY: the capture's own table, alive until it takes it away; read
    // here while handlers read it too (`is_stale` reads, never writes).
    if table.is_null() {
        return;
    }
    // SAFETY: as above.
    let objects_stale = unsafe { &*table }.walker.is_stale();
    let stacks_stale = STACKS_STALE.load(Ordering::SeqCst);
    if !objects_stale && !stacks_stale {
        return;
    }
    // Read before the handlers are held off: it allocates and reads a file.
    let stacks = stacks_stale.then(StackMaps::read);
    PAUSED.store(true, Ordering::SeqCst);
    while IN_FLIGHT.load(Ordering::SeqCst) > 0 {
        std::thread::yield_now();
    }
    // SAFETY: no handler is past its `PAUSED` check (each counts itself in
    // `IN_FLIGHT` before it), so nothing else reads the table now.
    unsafe {
        if objects_stale {
            (*table).walker.reload();
        }
        if let Some(stacks) = stacks {
            (*table).stacks = stacks;
            STACKS_STALE.store(false, Ordering::SeqCst);
        }
    }
    PAUSED.store(false, Ordering::SeqCst);
}

/// Stacks alike in thread and frames added up.
fn aggregate(slots: &[UnsafeCell<Slot>]) -> Vec<SampledStack> {
    let mut stacks: HashMap<(String, &[u64]), u64> = HashMap::new();
    for slot in slots {
        // SAFETY: every handler has left; nothing writes the table now.
        let slot = unsafe { &*slot.get() };
        if slot.len == 0 {
            continue;
        }
        let name_length = slot.name.iter().position(|byte| *byte == 0).unwrap_or(16);
        let thread = match std::str::from_utf8(&slot.name[..name_length]) {
            Ok(name) if !name.is_empty() => name.to_owned(),
            _ => format!("thread {}", slot.tid),
        };
        *stacks
            .entry((thread, &slot.frames[..slot.len]))
            .or_default() += 1;
    }
    stacks
        .into_iter()
        .map(|((thread, frames), count)| SampledStack {
            thread,
            addresses: frames.to_vec(),
            count,
        })
        .collect()
}

/// Arms the profiling timer at `frequency` Hz of process CPU time, or
/// disarms it at 0.
fn set_timer(frequency: u32) -> Result<(), String> {
    let period = if frequency == 0 {
        libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        }
    } else {
        libc::timeval {
            tv_sec: 0,
            tv_usec: (1_000_000 / frequency.max(1)) as libc::suseconds_t,
        }
    };
    let timer = libc::itimerval {
        it_interval: period,
        it_value: period,
    };
    // SAFETY: a valid `itimerval`; the old value is not asked for.
    let set = unsafe { libc::setitimer(libc::ITIMER_PROF, &timer, std::ptr::null_mut()) };
    if set == 0 {
        Ok(())
    } else {
        Err(format!(
            "could not arm the profiling timer: {}",
            std::io::Error::last_os_error()
        ))
    }
}

extern "C" fn on_sigprof(_signal: libc::c_int, _info: *mut libc::siginfo_t, context: *mut c_void) {
    // Sequentially consistent with the capture's taking the table away and
    // then reading `IN_FLIGHT`: either it sees this handler in flight, or
    // this handler sees no table.
    IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
    let table = TABLE.load(Ordering::SeqCst);
    if PAUSED.load(Ordering::SeqCst) {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    } else if !table.is_null() && !context.is_null() {
        // SAFETY: `errno` is this thread's; the table stays alive while
        // `IN_FLIGHT` counts this handler; the kernel passes a `ucontext_t`
        // with SA_SIGINFO.
        unsafe {
            let errno = *libc::__errno_location();
            record(&*table, &*(context as *const libc::ucontext_t));
            *libc::__errno_location() = errno;
        }
    }
    IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
}

/// Whether the stack this handler runs on has room for the walk: the
/// thread's alternate stack, or its own. Unknown (a thread made after the
/// list of stacks was read) is no: the capture reads the list again.
fn room_to_walk(table: &Table) -> bool {
    let here = room::stack_pointer();
    let room = room::alternate_stack_room(here).or_else(|| {
        let room = table.stacks.room(here);
        if room.is_none() {
            STACKS_STALE.store(true, Ordering::Relaxed);
        }
        room
    });
    room.is_some_and(|room| room >= room::SIGNAL_HANDLER_NEEDS)
}

/// Writes the interrupted thread's stack into a slot of its own.
fn record(table: &Table, context: &libc::ucontext_t) {
    if !room_to_walk(table) {
        SKIPPED_FOR_STACK.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let index = NEXT.fetch_add(1, Ordering::AcqRel);
    let Some(slot) = table.slots.get(index) else {
        DROPPED.fetch_add(1, Ordering::Relaxed);
        return;
    };
    // SAFETY: the index is this handler's alone (`NEXT`).
    let slot = unsafe { &mut *slot.get() };
    let registers = &context.uc_mcontext.gregs;
    let ip = registers[libc::REG_RIP as usize] as u64;
    let sp = registers[libc::REG_RSP as usize] as u64;
    let fp = registers[libc::REG_RBP as usize] as u64;
    let len = match table.walker.walk(ip, sp, fp, &mut slot.frames) {
        Ok(len) => len,
        Err(WalkRefused::Busy) => {
            DROPPED.fetch_add(1, Ordering::Relaxed);
            0
        }
    };
    if len > 0 {
        // Resolved as return addresses are, one byte back: the interrupted
        // instruction itself.
        slot.frames[0] = slot.frames[0].wrapping_add(1);
    }
    // SAFETY: PR_GET_NAME writes at most 16 bytes into the buffer given;
    // gettid takes nothing.
    unsafe {
        libc::prctl(
            libc::PR_GET_NAME,
            slot.name.as_mut_ptr() as libc::c_ulong,
            0,
            0,
            0,
        );
        slot.tid = libc::syscall(libc::SYS_gettid) as i32;
    }
    slot.len = len;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tables freed so far.
    static FREED: AtomicUsize = AtomicUsize::new(0);

    impl Drop for Table {
        fn drop(&mut self) {
            FREED.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_handler_that_cannot_be_installed_leaves_nothing_behind() {
        let freed = FREED.load(Ordering::SeqCst);
        // SIGKILL cannot be handled: `sigaction` refuses it.
        let error = run(Duration::from_secs(1), 99, libc::SIGKILL).unwrap_err();
        assert!(error.starts_with("could not handle SIGPROF"), "{error}");
        assert!(
            TABLE.load(Ordering::SeqCst).is_null(),
            "the table stayed published"
        );
        assert_eq!(FREED.load(Ordering::SeqCst), freed + 1, "the table leaked");
        assert!(
            !RUNNING.load(Ordering::SeqCst),
            "the capture slot stayed taken"
        );
        // Another capture runs, and frees its table too.
        let samples = run(Duration::from_millis(50), 99, libc::SIGPROF).unwrap();
        assert!(samples.duration >= Duration::from_millis(50));
        assert!(TABLE.load(Ordering::SeqCst).is_null());
        assert_eq!(FREED.load(Ordering::SeqCst), freed + 2);
    }
}
