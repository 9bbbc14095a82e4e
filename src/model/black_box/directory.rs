//! The black box's directory: a capture is written under a hidden
//! temporary name and renamed to `<id>.capture` only when whole and
//! synced, so that a process killed mid-write leaves nothing that reads as
//! a capture; files are always created new (`O_EXCL`, `O_NOFOLLOW`),
//! never opened through a symbolic link; the oldest captures go past the
//! count and the bytes kept.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// What a whole capture's name ends with.
pub(crate) const CAPTURE_SUFFIX: &str = ".capture";
/// What a capture being written is named with: a leading dot, and this.
const PARTIAL_SUFFIX: &str = ".partial";
/// A temporary file older than this is what a killed writer left.
const STALE_AFTER: Duration = Duration::from_secs(10 * 60);

/// A capture's id: its time (Unix ms) and the pid that took it, which
/// sort as the captures were taken.
pub(crate) fn new_id(unix_ms: u64, pid: u32) -> String {
    format!("{unix_ms:013}-{pid}")
}

/// Whether `id` is one [`new_id`] makes: digits, a dash, digits. Anything
/// else a URL names is no capture, and never reaches the file system.
pub(crate) fn is_id(id: &str) -> bool {
    id.split_once('-').is_some_and(|(time, pid)| {
        !time.is_empty()
            && !pid.is_empty()
            && time.len() <= 20
            && pid.len() <= 10
            && time.bytes().chain(pid.bytes()).all(|b| b.is_ascii_digit())
    })
}

/// The directory, created where it is missing.
pub(crate) fn ensure(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir).map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("could not create {}: {error}", dir.display()),
        )
    })
}

/// The directory, created where it is missing, and able to take a file:
/// not on a read-only or full volume, writable by the process.
pub(crate) fn ready(dir: &Path) -> io::Result<()> {
    ensure(dir)?;
    match crate::model::process::write_problem(dir) {
        Some(problem) => Err(problem),
        None => Ok(()),
    }
}

/// A capture being written: its file, created new under a hidden name.
pub(crate) struct Partial {
    pub(crate) file: File,
    path: PathBuf,
}

impl Partial {
    /// Creates `.<id>.partial` in `dir`, new: an existing file or link of
    /// that name is an error, never followed.
    pub(crate) fn create(dir: &Path, id: &str) -> io::Result<Self> {
        let path = dir.join(format!(".{id}{PARTIAL_SUFFIX}"));
        let file = create_new(&path)?;
        Ok(Self { file, path })
    }

    /// Syncs the file and renames it to `<id>.capture`, then syncs the
    /// directory: the capture is whole on disk before its name appears.
    pub(crate) fn publish(self, dir: &Path, id: &str) -> io::Result<PathBuf> {
        self.file.sync_all()?;
        let whole = capture_path(dir, id);
        if fs::symlink_metadata(&whole).is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists", whole.display()),
            ));
        }
        fs::rename(&self.path, &whole)?;
        // A directory that cannot be synced still holds the file.
        let _ = File::open(dir).and_then(|dir| dir.sync_all());
        Ok(whole)
    }

    /// Removes what was written: the capture failed.
    pub(crate) fn discard(self) {
        drop(self.file);
        let _ = fs::remove_file(&self.path);
    }
}

/// Opens `path` for writing, created new, never through a link.
fn create_new(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .mode(0o600)
        .open(path)
}

/// Where capture `id` is, whole.
pub(crate) fn capture_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}{CAPTURE_SUFFIX}"))
}

/// One entry of the directory as the list shows it.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) name: String,
    pub(crate) path: PathBuf,
    /// The capture's id, where the name is one of a capture.
    pub(crate) id: Option<String>,
    pub(crate) bytes: u64,
    /// Why it is no capture, where its kind alone says so.
    pub(crate) not_a_capture: Option<&'static str>,
}

/// Every entry of `dir` but the hidden ones (captures being written,
/// dumps), captures newest first, then the rest by name.
pub(crate) fn entries(dir: &Path) -> io::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        // The entry itself, never what a link points to.
        let Ok(metadata) = fs::symlink_metadata(entry.path()) else {
            continue;
        };
        let id = name
            .strip_suffix(CAPTURE_SUFFIX)
            .filter(|id| is_id(id))
            .map(str::to_owned);
        let not_a_capture = if metadata.file_type().is_symlink() {
            Some("a symbolic link: memscope reads no capture through one")
        } else if !metadata.is_file() {
            Some("not a file")
        } else if id.is_none() {
            Some("not a memscope capture: its name is not `<time>-<pid>.capture`")
        } else {
            None
        };
        entries.push(Entry {
            path: entry.path(),
            id: id.filter(|_| not_a_capture.is_none()),
            bytes: metadata.len(),
            not_a_capture,
            name,
        });
    }
    entries.sort_by(|a, b| match (&a.id, &b.id) {
        (Some(a), Some(b)) => b.cmp(a),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.name.cmp(&b.name),
    });
    Ok(entries)
}

/// Removes the oldest captures beyond the newest `keep` and beyond
/// `max_bytes` in all, the newest always kept; and the temporary files
/// that writers killed mid-write left. Returns the captures removed.
pub(crate) fn prune(dir: &Path, keep: usize, max_bytes: u64) -> io::Result<usize> {
    remove_stale_temporaries(dir);
    let mut removed = 0;
    let mut kept_bytes = 0u64;
    let captures = entries(dir)?.into_iter().filter(|entry| entry.id.is_some());
    for (index, capture) in captures.enumerate() {
        kept_bytes = kept_bytes.saturating_add(capture.bytes);
        if index > 0 && (index >= keep || kept_bytes > max_bytes) {
            fs::remove_file(&capture.path)?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Removes hidden `.…partial` files older than [`STALE_AFTER`]: a
/// capture being written is minutes old at most.
fn remove_stale_temporaries(dir: &Path) {
    let Ok(read) = fs::read_dir(dir) else {
        return;
    };
    for entry in read.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with('.') && name.ends_with(PARTIAL_SUFFIX)) {
            continue;
        }
        let stale = fs::symlink_metadata(entry.path())
            .and_then(|metadata| metadata.modified())
            .ok()
            .and_then(|modified| SystemTime::now().duration_since(modified).ok())
            .is_some_and(|age| age > STALE_AFTER);
        if stale {
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_what_new_id_makes_and_nothing_else() {
        let id = new_id(1_733_475_600_123, 4242);
        assert_eq!(id, "1733475600123-4242");
        assert!(is_id(&id));
        for bad in ["", "-", "12-", "-12", "../etc", "12-3/4", "1a-2", "1-2-3"] {
            assert!(!is_id(bad), "{bad}");
        }
    }

    #[test]
    fn the_newest_are_kept_within_the_count_and_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        for (time, size) in [(1, 10), (2, 10), (3, 10), (4, 30)] {
            fs::write(capture_path(dir.path(), &new_id(time, 7)), vec![0; size]).unwrap();
        }
        fs::write(dir.path().join("notes.txt"), "foreign").unwrap();
        assert_eq!(prune(dir.path(), 3, 1_000).unwrap(), 1);
        let ids: Vec<String> = entries(dir.path())
            .unwrap()
            .into_iter()
            .filter_map(|entry| entry.id)
            .collect();
        assert_eq!(ids, [new_id(4, 7), new_id(3, 7), new_id(2, 7)]);
        // 30 + 10 fit in 45; the third would not.
        assert_eq!(prune(dir.path(), 8, 45).unwrap(), 1);
        // The newest stays, whatever its size.
        assert_eq!(prune(dir.path(), 8, 1).unwrap(), 1);
        let left: Vec<String> = entries(dir.path())
            .unwrap()
            .into_iter()
            .map(|entry| entry.name)
            .collect();
        assert_eq!(
            left,
            [format!("{}.capture", new_id(4, 7)), "notes.txt".to_owned()]
        );
    }

    #[test]
    fn a_partial_capture_is_no_capture_and_links_are_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        fs::write(&target, "keep me").unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join(".5-1.partial")).unwrap();
        assert!(
            Partial::create(dir.path(), "5-1").is_err(),
            "a link is not written through"
        );
        assert_eq!(fs::read_to_string(&target).unwrap(), "keep me");
        let partial = Partial::create(dir.path(), "6-1").unwrap();
        let listed = entries(dir.path()).unwrap();
        assert!(listed.iter().all(|entry| entry.id.is_none()), "{listed:?}");
        let whole = partial.publish(dir.path(), "6-1").unwrap();
        assert_eq!(whole, capture_path(dir.path(), "6-1"));
        std::os::unix::fs::symlink(&target, capture_path(dir.path(), "7-1")).unwrap();
        let listed = entries(dir.path()).unwrap();
        let link = listed
            .iter()
            .find(|entry| entry.name == "7-1.capture")
            .unwrap();
        assert!(link.id.is_none() && link.not_a_capture.is_some());
        assert_eq!(listed[0].id.as_deref(), Some("6-1"));
    }
}
