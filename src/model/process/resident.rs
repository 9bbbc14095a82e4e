//! Figures about the process that jemalloc does not know.

/// Resident set size in bytes, from `/proc/self/status`. `None` where there
/// is no procfs.
pub(crate) fn resident_set_size() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status_bytes(&status, "VmRSS:")
}

/// A `name:  1234 kB` field of `/proc/self/status`, in bytes.
fn status_bytes(status: &str, name: &str) -> Option<u64> {
    Some(status_field(status, name)? * 1024)
}

fn status_field(status: &str, name: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with(name))?;
    line[name.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// The process's resident memory by kind, from `/proc/self/status`: it
/// adds up to the RSS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct ResidentByKind {
    /// Private anonymous memory: the heap of every allocator, thread
    /// stacks, anonymous maps.
    pub(crate) anonymous: u64,
    /// Pages of mapped files: the binary, libraries, mapped debug info.
    pub(crate) file: u64,
    /// Shared memory: tmpfs and memfd files mapped, shared anonymous maps.
    pub(crate) shared: u64,
}

impl ResidentByKind {
    /// Read now (`None` where there is no procfs), with the process's
    /// threads, from one read of the status.
    pub(crate) fn read_with_threads() -> (Option<Self>, Option<u64>) {
        match std::fs::read_to_string("/proc/self/status") {
            Ok(status) => (Self::parse(&status), status_field(&status, "Threads:")),
            Err(_) => (None, None),
        }
    }

    fn parse(status: &str) -> Option<Self> {
        Some(Self {
            anonymous: status_bytes(status, "RssAnon:")?,
            file: status_bytes(status, "RssFile:")?,
            shared: status_bytes(status, "RssShmem:")?,
        })
    }

    pub(crate) fn total(&self) -> u64 {
        self.anonymous + self.file + self.shared
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_resident_memory_by_kind() {
        let status = "Name:\tapp\nVmRSS:\t   10240 kB\nRssAnon:\t    8192 kB\nRssFile:\t    2048 kB\nRssShmem:\t       0 kB\n";
        let kinds = ResidentByKind::parse(status).unwrap();
        assert_eq!(kinds.anonymous, 8 << 20);
        assert_eq!(kinds.file, 2 << 20);
        assert_eq!(kinds.total(), 10 << 20);
        let (now, threads) = ResidentByKind::read_with_threads();
        let now = now.unwrap();
        assert!(threads.unwrap() >= 1);
        let rss = resident_set_size().unwrap();
        // Read a moment apart: within a MiB of each other.
        assert!(now.total().abs_diff(rss) < 1 << 20, "{now:?} vs {rss}");
    }
}
