//! The last N records one thread wrote, readable by any thread while it
//! writes.
//!
//! A ring has one writer at a time (the thread that owns its shard, see
//! `shard.rs`), so a push takes no lock and no locked instruction: every
//! word is a relaxed atomic store, a plain `mov` on x86-64, and the count
//! of records written is published after them. Readers copy what they need
//! and then check the count again, seqlock fashion, leaving out any record
//! a push may have been overwriting while they read.
//!
//! A record is plain data in one cache line: names are indexes into the
//! log's tables and times stay in clock ticks, so writing over the oldest
//! record needs no read of it (nothing to drop, no reference count).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering, fence};

/// One finished request as the ring keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct StoredRecord {
    pub(super) id: u64,
    /// Clock ticks when the layer received the request.
    pub(super) started: u64,
    /// Ticks from the start to the end of the body.
    pub(super) wall_ticks: u64,
    /// Ticks spent inside polls.
    pub(super) busy_ticks: u64,
    pub(super) allocated: u64,
    pub(super) freed: u64,
    /// Index into the log's route table.
    pub(super) route: u32,
    /// Index into the log's method table.
    pub(super) method: u16,
    /// 0 when there was none: HTTP status codes start at 100.
    pub(super) status: u16,
    pub(super) completed: bool,
}

const WORDS: usize = 8;

/// A record's words, in one cache line.
#[derive(Default)]
#[repr(align(64))]
struct Slot([AtomicU64; WORDS]);

impl StoredRecord {
    fn to_words(self) -> [u64; WORDS] {
        [
            self.id,
            self.started,
            self.wall_ticks,
            self.busy_ticks,
            self.allocated,
            self.freed,
            u64::from(self.route) << 32 | u64::from(self.method) << 16 | u64::from(self.status),
            u64::from(self.completed),
        ]
    }

    fn from_words(words: [u64; WORDS]) -> Self {
        let names = words[6];
        Self {
            id: words[0],
            started: words[1],
            wall_ticks: words[2],
            busy_ticks: words[3],
            allocated: words[4],
            freed: words[5],
            route: (names >> 32) as u32,
            method: (names >> 16) as u16,
            status: names as u16,
            completed: words[7] != 0,
        }
    }
}

/// A ring that shows the last `capacity` records, allocated once, up front.
pub(super) struct Ring {
    /// One more than `capacity`: the slot the next push writes over, which
    /// readers cannot trust (see `snapshot`).
    slots: Box<[Slot]>,
    /// Records pushed so far; published after each record's words.
    written: AtomicU64,
    /// The slot the next push writes: the writer's alone, kept beside
    /// `written` so that a push needs no division.
    next: AtomicUsize,
}

impl Ring {
    pub(super) fn with_capacity(capacity: usize) -> Self {
        Self {
            slots: std::iter::repeat_with(Slot::default)
                .take(capacity.max(1) + 1)
                .collect(),
            written: AtomicU64::new(0),
            next: AtomicUsize::new(0),
        }
    }

    #[cfg(test)]
    pub(super) fn capacity(&self) -> usize {
        self.slots.len() - 1
    }

    /// Records pushed so far.
    #[cfg(test)]
    pub(super) fn written(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }

    /// Writes over the oldest record once the ring is full. Only the
    /// ring's writer calls this (`shard.rs` sees to it).
    #[inline]
    pub(super) fn push(&self, record: StoredRecord) {
        let written = self.written.load(Ordering::Relaxed);
        let next = self.next.load(Ordering::Relaxed);
        // Orders the count published by the last push before this record's
        // words: a reader that sees any of them sees that count, and so
        // knows that this slot may be changing (see `snapshot`).
        fence(Ordering::Release);
        for (word, value) in self.slots[next].0.iter().zip(record.to_words()) {
            word.store(value, Ordering::Relaxed);
        }
        self.written.store(written + 1, Ordering::Release);
        // A comparison, not `%`: a division on every request.
        let following = if next + 1 == self.slots.len() {
            0
        } else {
            next + 1
        };
        self.next.store(following, Ordering::Relaxed);
        // A slot is written once every `capacity` requests (64 KiB of
        // slots by default), so it has usually left the core's caches;
        // fetched now, a request or more ahead, its line is at hand when
        // the next record's stores need it.
        prefetch(self.slots[following].0.as_ptr());
    }

    /// The records in the ring, oldest first, as of the moment of the
    /// call; any that a concurrent push was writing over are left out.
    pub(super) fn snapshot(&self) -> Vec<StoredRecord> {
        let slots = self.slots.len() as u64;
        // Acquire: every record below `end` is fully written.
        let end = self.written.load(Ordering::Acquire);
        let start = end.saturating_sub(slots - 1);
        let copied: Vec<(u64, StoredRecord)> = (start..end)
            .map(|sequence| {
                let slot = &self.slots[(sequence % slots) as usize];
                let words = std::array::from_fn(|word| slot.0[word].load(Ordering::Relaxed));
                (sequence, StoredRecord::from_words(words))
            })
            .collect();
        // Pairs with the push's fence: if any word read above came from a
        // push of record number `n`, this load sees a count of `n` or more.
        // Record `s` is written over by record `s + slots`, whose push
        // may have begun once the count is `s + slots`; below that, `s` is
        // intact. With no push under way that holds for all `capacity`
        // records read, thanks to the spare slot.
        fence(Ordering::Acquire);
        let now = self.written.load(Ordering::Relaxed);
        copied
            .into_iter()
            .filter(|(sequence, _)| sequence + slots > now)
            .map(|(_, record)| record)
            .collect()
    }
}

/// A hint to bring `address`'s cache line close to the core.
#[allow(unsafe_code)]
#[inline]
fn prefetch<T>(address: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing the program sees and never faults,
    // whatever the address; the `sse` feature it needs is part of x86-64.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(address.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    use std::time::{Duration, Instant};

    use super::*;

    fn record(id: u64) -> StoredRecord {
        StoredRecord {
            id,
            started: id * 3,
            wall_ticks: id * 5,
            busy_ticks: id * 7,
            allocated: id * 11,
            freed: id * 13,
            route: id as u32 % 1_001,
            method: id as u16 % 41,
            status: 200 + id as u16 % 300,
            completed: id.is_multiple_of(2),
        }
    }

    #[test]
    fn a_slot_is_one_cache_line_and_a_record_survives_it() {
        assert_eq!(std::mem::size_of::<Slot>(), 64);
        let record = record(u32::MAX as u64 + 9);
        assert_eq!(StoredRecord::from_words(record.to_words()), record);
    }

    #[test]
    fn keeps_the_newest_in_order_and_never_grows() {
        let ring = Ring::with_capacity(3);
        for id in 1..=2 {
            ring.push(record(id));
        }
        let ids: Vec<u64> = ring.snapshot().iter().map(|r| r.id).collect();
        assert_eq!(ids, [1, 2]);
        for id in 3..=31 {
            ring.push(record(id));
            assert!(ring.snapshot().len() <= 3);
        }
        assert_eq!(ring.capacity(), 3);
        assert_eq!(ring.written(), 31);
        let ids: Vec<u64> = ring.snapshot().iter().map(|r| r.id).collect();
        assert_eq!(ids, [29, 30, 31]);
    }

    /// A reader racing a writer sees only whole records, in order, each one
    /// among the newest the ring could hold.
    #[test]
    fn a_reader_never_sees_a_torn_record() {
        // Room enough that a read usually finishes with records left that
        // the writer has not yet come round to.
        let ring = Arc::new(Ring::with_capacity(64));
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (ring, stop) = (ring.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut id = 0;
                while !stop.load(Ordering::Relaxed) {
                    id += 1;
                    ring.push(record(id));
                }
            })
        };
        // Until enough reads have raced the writer: the writer thread may
        // start late on a busy machine.
        let deadline = Instant::now() + Duration::from_secs(30);
        let (mut reads, mut seen) = (0, 0);
        while reads < 20_000 || seen < 10_000 {
            assert!(
                Instant::now() < deadline,
                "{seen} records seen in {reads} reads"
            );
            let records = ring.snapshot();
            for pair in records.windows(2) {
                assert_eq!(pair[1].id, pair[0].id + 1);
            }
            for stored in &records {
                assert_eq!(*stored, record(stored.id));
            }
            reads += 1;
            seen += records.len();
        }
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();
        assert!(ring.written() > 64, "the writer went round the ring");
    }
}
