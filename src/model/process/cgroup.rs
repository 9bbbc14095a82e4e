//! The memory controller of the cgroup the process runs in: the limit the
//! kernel enforces (the OOM kill's threshold), what it counts there now,
//! what of that is not the process's own memory (page cache, tmpfs, kernel
//! memory), and the OOM kills so far.
//!
//! Production containers mostly have cgroup v2 (`memory.max`,
//! `memory.current`, `memory.stat`, `memory.events`); older hosts v1's
//! memory controller (`memory.limit_in_bytes`, `memory.usage_in_bytes`,
//! `memory.stat`, `memory.oom_control`). The process's own cgroup is found
//! from `/proc/self/cgroup` and the mounts in `/proc/self/mountinfo`; the
//! readers of each layout take the cgroup's directory, so that they can be
//! tested on directories written for the purpose.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The cgroup's memory figures, in bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CgroupMemory {
    /// 1 or 2.
    pub(crate) version: u8,
    /// The cgroup, as `/proc/self/cgroup` names it.
    pub(crate) path: String,
    /// The limit; `null` where there is none.
    pub(crate) limit: Option<u64>,
    /// What the kernel counts against the limit now.
    pub(crate) usage: u64,
    /// Anonymous memory of the cgroup's processes (v2 `anon`, v1 `rss`).
    pub(crate) anon: Option<u64>,
    /// Page cache counted to the cgroup (v2 `file`, v1 `cache`): files read
    /// and written, which the kernel reclaims before an OOM kill.
    pub(crate) file: Option<u64>,
    /// tmpfs and shared memory (`shmem`), counted as memory and not
    /// reclaimable by writing back.
    pub(crate) shmem: Option<u64>,
    /// Kernel memory counted to the cgroup (v2 `kernel`, or its stacks and
    /// slab; v1 `memory.kmem.usage_in_bytes`).
    pub(crate) kernel: Option<u64>,
    /// Processes the kernel killed for memory in this cgroup so far.
    pub(crate) oom_kills: Option<u64>,
    /// Times the cgroup's usage went over `memory.high` and was throttled,
    /// and times it reached `memory.max` (v2's `memory.events`; `null` on
    /// v1): what the black box watches to take a capture before a kill.
    #[serde(default)]
    pub(crate) high_events: Option<u64>,
    #[serde(default)]
    pub(crate) max_events: Option<u64>,
}

/// The process's cgroup's memory, where there is a memory controller to
/// read.
pub(crate) fn read() -> Option<CgroupMemory> {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let (version, path, directory) = locate(&cgroups, &mounts)?;
    match version {
        2 => read_v2(&directory, &path),
        _ => read_v1(&directory, &path),
    }
}

/// The process's cgroup with a memory controller: its version, its path,
/// and its directory. v2 where its directory has the controller's files,
/// else v1's memory controller where it is mounted.
fn locate(cgroups: &str, mountinfo: &str) -> Option<(u8, String, PathBuf)> {
    let mounts: Vec<Mount<'_>> = mountinfo.lines().filter_map(Mount::parse).collect();
    let unified = cgroups
        .lines()
        .find_map(|line| line.strip_prefix("0::"))
        .and_then(|path| {
            let mount = mounts.iter().find(|mount| mount.kind == "cgroup2")?;
            let directory = mount.directory_of(path)?;
            directory
                .join("memory.current")
                .exists()
                .then(|| (2, path.to_owned(), directory))
        });
    unified.or_else(|| {
        let path = cgroups.lines().find_map(|line| {
            let mut fields = line.splitn(3, ':');
            let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            controllers
                .split(',')
                .any(|controller| controller == "memory")
                .then_some(path)
        })?;
        let mount = mounts.iter().find(|mount| {
            mount.kind == "cgroup" && mount.options.split(',').any(|option| option == "memory")
        })?;
        Some((1, path.to_owned(), mount.directory_of(path)?))
    })
}

/// A line of `/proc/self/mountinfo`.
struct Mount<'a> {
    /// The part of the file system mounted there (a cgroup namespace's or
    /// a container's own cgroup, or `/`).
    root: &'a str,
    point: &'a str,
    kind: &'a str,
    options: &'a str,
}

impl<'a> Mount<'a> {
    /// `35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory`.
    fn parse(line: &'a str) -> Option<Self> {
        let (mount, fs) = line.split_once(" - ")?;
        let mut mount = mount.split(' ');
        let root = mount.nth(3)?;
        let point = mount.next()?;
        let mut fs = fs.split(' ');
        let kind = fs.next()?;
        let _source = fs.next()?;
        Some(Self {
            root,
            point,
            kind,
            options: fs.next().unwrap_or(""),
        })
    }

    /// The directory of cgroup `path` under this mount: the path less the
    /// part the mount's root already is.
    fn directory_of(&self, path: &str) -> Option<PathBuf> {
        let inside = path.strip_prefix(self.root.trim_end_matches('/'))?;
        Some(Path::new(self.point).join(inside.trim_start_matches('/')))
    }
}

/// A cgroup v2 directory's memory figures.
pub(crate) fn read_v2(directory: &Path, path: &str) -> Option<CgroupMemory> {
    let usage = number(&directory.join("memory.current"))?;
    let stat = Keyed::read(&directory.join("memory.stat"));
    let events = Keyed::read(&directory.join("memory.events"));
    let kernel = stat.get("kernel").or_else(|| {
        let stack = stat.get("kernel_stack")?;
        Some(stack + stat.get("slab").unwrap_or(0) + stat.get("sock").unwrap_or(0))
    });
    Some(CgroupMemory {
        version: 2,
        path: path.to_owned(),
        // `max` where there is no limit: not a number.
        limit: number(&directory.join("memory.max")),
        usage,
        anon: stat.get("anon"),
        file: stat.get("file"),
        shmem: stat.get("shmem"),
        kernel,
        oom_kills: events.get("oom_kill"),
        high_events: events.get("high"),
        max_events: events.get("max"),
    })
}

/// A cgroup v1 memory controller directory's figures.
pub(crate) fn read_v1(directory: &Path, path: &str) -> Option<CgroupMemory> {
    let usage = number(&directory.join("memory.usage_in_bytes"))?;
    let stat = Keyed::read(&directory.join("memory.stat"));
    let oom = Keyed::read(&directory.join("memory.oom_control"));
    // No limit reads as the largest page-aligned value of an i64.
    let limit = number(&directory.join("memory.limit_in_bytes")).filter(|&limit| limit < 1 << 62);
    Some(CgroupMemory {
        version: 1,
        path: path.to_owned(),
        limit,
        usage,
        anon: stat.get("rss"),
        file: stat.get("cache"),
        shmem: stat.get("shmem"),
        kernel: number(&directory.join("memory.kmem.usage_in_bytes")),
        oom_kills: oom.get("oom_kill"),
        high_events: None,
        max_events: None,
    })
}

fn number(file: &Path) -> Option<u64> {
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}

/// `name value` lines, as `memory.stat` and `memory.events` write them.
struct Keyed(Vec<(String, u64)>);

impl Keyed {
    /// The file's lines; none where it cannot be read.
    fn read(file: &Path) -> Self {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        Self(
            text.lines()
                .filter_map(|line| {
                    let (name, value) = line.split_once(' ')?;
                    Some((name.to_owned(), value.trim().parse().ok()?))
                })
                .collect(),
        )
    }

    fn get(&self, key: &str) -> Option<u64> {
        self.0
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| *value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(directory: &Path, files: &[(&str, &str)]) {
        std::fs::create_dir_all(directory).unwrap();
        for (name, text) in files {
            std::fs::write(directory.join(name), text).unwrap();
        }
    }

    #[test]
    fn reads_a_v2_cgroup_with_a_limit() {
        let root = tempfile::tempdir().unwrap();
        let directory = root.path().join("kubepods/pod1");
        write(
            &directory,
            &[
                ("memory.max", "536870912\n"),
                ("memory.current", "402653184\n"),
                (
                    "memory.stat",
                    "anon 301989888\nfile 83886080\nkernel 12582912\nshmem 4194304\n",
                ),
                (
                    "memory.events",
                    "low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\n",
                ),
            ],
        );
        let memory = read_v2(&directory, "/kubepods/pod1").unwrap();
        assert_eq!(
            memory,
            CgroupMemory {
                version: 2,
                path: "/kubepods/pod1".to_owned(),
                limit: Some(512 << 20),
                usage: 384 << 20,
                anon: Some(288 << 20),
                file: Some(80 << 20),
                shmem: Some(4 << 20),
                kernel: Some(12 << 20),
                oom_kills: Some(2),
                high_events: Some(0),
                max_events: Some(12),
            }
        );
        // No limit, and an older kernel's stat without `kernel`.
        write(
            &directory,
            &[
                ("memory.max", "max\n"),
                (
                    "memory.stat",
                    "anon 1\nkernel_stack 16384\nslab 4096\nsock 0\n",
                ),
            ],
        );
        let memory = read_v2(&directory, "/").unwrap();
        assert_eq!(memory.limit, None);
        assert_eq!(memory.kernel, Some(20480));
    }

    #[test]
    fn reads_a_v1_memory_controller() {
        let root = tempfile::tempdir().unwrap();
        let directory = root.path().join("memory/app");
        write(
            &directory,
            &[
                ("memory.limit_in_bytes", "9223372036854771712\n"),
                ("memory.usage_in_bytes", "7374917632\n"),
                (
                    "memory.stat",
                    "cache 6661902336\nrss 315076608\nshmem 0\nmapped_file 1\n",
                ),
                ("memory.kmem.usage_in_bytes", "1048576\n"),
                (
                    "memory.oom_control",
                    "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
                ),
            ],
        );
        let memory = read_v1(&directory, "/app").unwrap();
        assert_eq!(memory.limit, None, "the largest value means no limit");
        assert_eq!(memory.usage, 7_374_917_632);
        assert_eq!(memory.file, Some(6_661_902_336));
        assert_eq!(memory.anon, Some(315_076_608));
        assert_eq!(memory.kernel, Some(1 << 20));
        assert_eq!(memory.oom_kills, Some(3));
        write(&directory, &[("memory.limit_in_bytes", "268435456\n")]);
        assert_eq!(read_v1(&directory, "/app").unwrap().limit, Some(256 << 20));
    }

    #[test]
    fn finds_the_cgroup_from_the_mounts() {
        let root = tempfile::tempdir().unwrap();
        let unified = root.path().join("unified");
        let memory = root.path().join("memory");
        write(&unified.join("app"), &[("memory.current", "1\n")]);
        write(&memory.join("app"), &[("memory.usage_in_bytes", "1\n")]);
        let mounts = format!(
            "35 31 0:32 / {} rw - cgroup cgroup rw,memory\n41 31 0:38 / {} rw - cgroup2 cgroup2 rw\n",
            memory.display(),
            unified.display()
        );
        // v2 with its memory controller: v2.
        let (version, path, directory) = locate("4:memory:/app\n0::/app\n", &mounts).unwrap();
        assert_eq!((version, path.as_str()), (2, "/app"));
        assert_eq!(directory, unified.join("app"));
        // v2 without it (no memory.current): v1's controller.
        std::fs::remove_file(unified.join("app/memory.current")).unwrap();
        let (version, _, directory) = locate("4:memory:/app\n0::/app\n", &mounts).unwrap();
        assert_eq!((version, directory), (1, memory.join("app")));
        // A container's mount whose root is its own cgroup.
        let container = format!(
            "41 31 0:38 /app {} rw - cgroup2 cgroup2 rw\n",
            unified.display()
        );
        write(&unified, &[("memory.current", "1\n")]);
        let (_, _, directory) = locate("0::/app\n", &container).unwrap();
        assert_eq!(directory, unified);
        assert!(locate("0::/app\n", "").is_none());
    }

    #[test]
    fn reads_this_process_s_cgroup_where_there_is_one() {
        let Ok(cgroups) = std::fs::read_to_string("/proc/self/cgroup") else {
            return;
        };
        let has_memory_controller = std::path::Path::new("/sys/fs/cgroup/memory").exists()
            || std::path::Path::new("/sys/fs/cgroup/memory.current").exists()
            || cgroups.contains(":memory:");
        if let Some(memory) = read() {
            assert!(memory.usage > 0, "{memory:?}");
            assert!(memory.limit.is_none_or(|limit| limit > 0));
        } else {
            assert!(
                !has_memory_controller,
                "a memory controller is there, and nothing was read"
            );
        }
    }
}
