//! What the C library's malloc holds: the memory of C code (most `-sys`
//! crates, OpenSSL, RocksDB allocate through it, which jemalloc's figures
//! never see) and of glibc's arenas that keep freed memory.

#![allow(unsafe_code)]

/// glibc's malloc, from `mallinfo2`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct LibcMalloc {
    /// Bytes handed out and not freed (`uordblks`, mapped chunks included).
    pub(crate) in_use: u64,
    /// Bytes freed and kept in its arenas (`fordblks`).
    pub(crate) free: u64,
    /// Bytes in chunks it mapped on their own (`hblkhd`), within `in_use`.
    pub(crate) mapped: u64,
    /// Its arenas: the main one and one for each thread contention made.
    pub(crate) arenas: u32,
}

impl LibcMalloc {
    /// Read now; `None` where the C library is not glibc.
    pub(crate) fn read() -> Option<Self> {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        {
            // SAFETY: a read of glibc's own statistics; it takes its arenas'
            // locks one after another and allocates nothing.
            let info = unsafe { libc::mallinfo2() };
            Some(Self {
                in_use: (info.uordblks + info.hblkhd) as u64,
                free: info.fordblks as u64,
                mapped: info.hblkhd as u64,
                arenas: arenas(),
            })
        }
        #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
        None
    }

    /// What it holds from the system: in use and kept free.
    pub(crate) fn held(&self) -> u64 {
        self.in_use + self.free
    }
}

/// glibc's arenas, counted from `malloc_info`'s report (one `<heap nr=`
/// an arena); 1 where it cannot be read.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn arenas() -> u32 {
    unsafe extern "C" {
        fn malloc_info(options: libc::c_int, stream: *mut libc::FILE) -> libc::c_int;
    }
    let mut buffer: *mut libc::c_char = std::ptr::null_mut();
    let mut size: libc::size_t = 0;
    // SAFETY: an in-memory stream glibc allocates and grows; it is closed
    // before the buffer is read, and freed after.
    unsafe {
        let stream = libc::open_memstream(&mut buffer, &mut size);
        if stream.is_null() {
            return 1;
        }
        let written = malloc_info(0, stream);
        libc::fclose(stream);
        let report = if written == 0 && !buffer.is_null() {
            std::slice::from_raw_parts(buffer.cast::<u8>(), size)
        } else {
            &[]
        };
        let count = report.windows(9).filter(|at| *at == b"<heap nr=").count();
        libc::free(buffer.cast());
        (count as u32).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_from_c_malloc_shows_in_use() {
        let Some(before) = LibcMalloc::read() else {
            return;
        };
        // SAFETY: a C allocation freed below (through `black_box`, or the
        // compiler may leave out the pair).
        let block = std::hint::black_box(unsafe { libc::malloc(8 << 20) });
        assert!(!block.is_null());
        let during = LibcMalloc::read().unwrap();
        // SAFETY: the block allocated above.
        unsafe { libc::free(block) };
        // A block this size is mapped on its own: the mapped figure holds
        // it whatever the other tests' threads allocate and free in the
        // arenas meanwhile (an in_use difference would count their frees).
        assert!(
            during.mapped >= 8 << 20 && during.in_use >= during.mapped,
            "{before:?} {during:?}"
        );
        assert!(during.arenas >= 1);
    }
}
