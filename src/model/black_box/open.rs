//! Reading captures back after the restart: the list (each capture's
//! first two lines), one capture's figures over time judged (what the
//! list shows), and one capture opened whole (`judged`); a file that is
//! no capture says why.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flate2::read::GzDecoder;

use super::directory::{self, capture_path, is_id};
pub(crate) use super::judged::{Judgement, Opened};
use super::judged::{TagMap, judge_over_time, judged};
use super::names::CaptureNames;
use super::schema::{FORMAT, MAGIC, OverTimeIn, Summary};
use crate::model::allocator::parse_heap_profile;
use crate::model::process::cgroup::CgroupMemory;

/// The summary line may be no longer than this: a file whose is, is no
/// capture.
const SUMMARY_LIMIT: u64 = 4 << 20;
/// How long the capture opened last is kept for the pages that follow
/// (its flamegraph, its pprof, another grouping).
const KEPT_OPEN: Duration = Duration::from_secs(60);

/// One entry of the black box's directory.
#[derive(Debug)]
pub(crate) struct Listed {
    pub(crate) name: String,
    pub(crate) id: Option<String>,
    pub(crate) bytes: u64,
    /// The capture's summary, or why the file cannot be read as one.
    pub(crate) summary: Result<Summary, String>,
}

/// The entries of `dir`, captures newest first, each read for its
/// summary; a missing directory lists nothing.
pub(crate) fn list(dir: &Path) -> io::Result<Vec<Listed>> {
    let entries = match directory::entries(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    Ok(entries
        .into_iter()
        .map(|entry| {
            let summary = match entry.not_a_capture {
                Some(why) => Err(why.to_owned()),
                None => reader(&entry.path)
                    .map_err(|error| format!("could not be opened: {error}"))
                    .and_then(|mut reader| read_summary(&mut reader)),
            };
            Listed {
                name: entry.name,
                id: entry.id,
                bytes: entry.bytes,
                summary,
            }
        })
        .collect())
}

/// Whether the process that took capture `id` of `dir` ended in an OOM
/// kill, as [`oom_killed`] tells.
pub(crate) fn oom_killed_for(dir: &Path, id: &str) -> Option<bool> {
    let listed = list(dir).ok()?;
    let at = listed
        .iter()
        .position(|entry| entry.id.as_deref() == Some(id))?;
    oom_killed(&listed, crate::model::process::cgroup::read().as_ref())[at]
}

/// Whether the process that took each of `listed` ended in an OOM kill,
/// where the cgroup's count of them says: the count in its last capture
/// against the count in the next process's first (or now's, `current`),
/// in the same cgroup. `None` where they cannot tell.
pub(crate) fn oom_killed(listed: &[Listed], current: Option<&CgroupMemory>) -> Vec<Option<bool>> {
    let captures: Vec<Option<&Summary>> = listed
        .iter()
        .map(|listed| listed.summary.as_ref().ok())
        .collect();
    let kills = |cgroup: &CgroupMemory| Some((cgroup.path.clone(), cgroup.oom_kills?));
    captures
        .iter()
        .enumerate()
        .map(|(at, capture)| {
            let capture = (*capture)?;
            // The process's last capture: the newest of its own before
            // `at` in the list (newest first), or this one.
            let last = captures[..=at]
                .iter()
                .flatten()
                .find(|other| other.same_process(capture))?;
            // The next process's first capture: the oldest one newer than
            // `last` of another process.
            let next = captures[..at]
                .iter()
                .flatten()
                .filter(|other| {
                    !other.same_process(capture) && other.taken_at_unix_ms > last.taken_at_unix_ms
                })
                .min_by_key(|other| other.taken_at_unix_ms);
            if next.is_none() && capture.is_this_process() {
                // Still running: it has not ended at all.
                return None;
            }
            let (path, before) = kills(last.cgroup.as_ref()?)?;
            let after = match next {
                Some(next) => next.cgroup.as_ref(),
                None => current,
            };
            let (after_path, after) = kills(after?)?;
            (after_path == path).then_some(after > before)
        })
        .collect()
}

/// Why a capture could not be opened.
#[derive(Debug)]
pub(crate) enum OpenError {
    /// No capture has that id.
    NotFound,
    /// The file is there and is not a capture this memscope reads.
    Unreadable(String),
}

/// The capture opened last, while it is kept.
static OPENED: Mutex<Option<(PathBuf, Instant, Arc<Opened>)>> = Mutex::new(None);

/// Gives back the capture opened last once it has been unused for a
/// minute.
pub(crate) fn release_idle() {
    let mut opened = crate::sync::lock(&OPENED);
    if opened
        .as_ref()
        .is_some_and(|(_, used, _)| used.elapsed() >= KEPT_OPEN)
    {
        *opened = None;
    }
}

/// Capture `id` of `dir`, opened. Blocking: it reads the whole file and
/// names its addresses.
pub(crate) fn open(dir: &Path, id: &str) -> Result<Arc<Opened>, OpenError> {
    if !is_id(id) {
        return Err(OpenError::NotFound);
    }
    let path = capture_path(dir, id);
    let mut kept = crate::sync::lock(&OPENED);
    if let Some((known, used, opened)) = kept.as_mut()
        && *known == path
    {
        *used = Instant::now();
        return Ok(opened.clone());
    }
    let mut reader = capture_reader(&path)?;
    let mut opened = read_whole(&mut reader).map_err(OpenError::Unreadable)?;
    opened.file_bytes = std::fs::symlink_metadata(&path).map_or(0, |metadata| metadata.len());
    let opened = Arc::new(opened);
    *kept = Some((path, Instant::now(), opened.clone()));
    Ok(opened)
}

/// Capture `id` of `dir`, its summary and its figures over time judged,
/// without its heap profile: what the list shows. Blocking.
pub(crate) fn judgement(dir: &Path, id: &str) -> Result<(Summary, Judgement), OpenError> {
    if !is_id(id) {
        return Err(OpenError::NotFound);
    }
    let mut reader = capture_reader(&capture_path(dir, id))?;
    let summary = read_summary(&mut reader).map_err(OpenError::Unreadable)?;
    let over_time = read_over_time(&mut reader).map_err(OpenError::Unreadable)?;
    // The rest read to its end, unparsed: gzip's check says whether the
    // file is whole.
    io::copy(&mut reader, &mut io::sink())
        .map_err(|error| OpenError::Unreadable(format!("it is truncated or damaged: {error}")))?;
    let tags = TagMap::of(&summary);
    let names = CaptureNames::of(&summary.objects);
    let judgement = judge_over_time(&summary, over_time, &tags, &names);
    Ok((summary, judgement))
}

/// A capture's file to read, or why it cannot be: there is none, or it
/// cannot be opened.
fn capture_reader(path: &Path) -> Result<BufReader<GzDecoder<File>>, OpenError> {
    reader(path).map_err(|error| match error.kind() {
        io::ErrorKind::NotFound => OpenError::NotFound,
        _ => OpenError::Unreadable(format!("could not be opened: {error}")),
    })
}

/// The capture's file, read through gzip; never through a link.
fn reader(path: &Path) -> io::Result<BufReader<GzDecoder<File>>> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    Ok(BufReader::with_capacity(64 * 1024, GzDecoder::new(file)))
}

/// The first two lines: the format, then the summary.
fn read_summary(reader: &mut impl BufRead) -> Result<Summary, String> {
    let mut magic = String::new();
    reader
        .by_ref()
        .take(256)
        .read_line(&mut magic)
        .map_err(|error| format!("not a memscope capture: {error}"))?;
    let version = magic
        .trim_end()
        .strip_prefix(MAGIC)
        .map(str::trim)
        .ok_or("not a memscope capture: it does not start as one")?;
    if version != FORMAT.to_string() {
        return Err(format!(
            "written in capture format {version}; this memscope ({}) reads format {FORMAT}",
            env!("CARGO_PKG_VERSION")
        ));
    }
    serde_json::from_reader(Line::of(reader.by_ref().take(SUMMARY_LIMIT)))
        .map_err(|error| format!("its summary is damaged: {error}"))
}

/// The third line: the timeline and the heap history.
fn read_over_time(reader: &mut impl BufRead) -> Result<OverTimeIn, String> {
    serde_json::from_reader(Line::of(reader.by_ref()))
        .map_err(|error| format!("its timeline and heap history are damaged: {error}"))
}

/// The whole capture, named and judged.
fn read_whole(reader: &mut impl BufRead) -> Result<Opened, String> {
    let summary = read_summary(reader)?;
    let over_time = read_over_time(reader)?;
    let profile = match parse_heap_profile(&mut *reader) {
        Ok(profile) => Some(profile),
        Err(_) if !summary.profiling_enabled => None,
        Err(error) => return Err(format!("its heap profile is damaged: {error}")),
    };
    let mut rest = [0u8; 1];
    if let Err(error) = reader.read(&mut rest) {
        return Err(format!("it is damaged at its end: {error}"));
    }
    Ok(judged(summary, over_time, profile))
}

/// A reader of one line: the bytes up to the next newline, which it
/// consumes; then the end. serde_json reads a value from it that must end
/// with the line.
struct Line<R> {
    inner: R,
    ended: bool,
}

impl<R: BufRead> Line<R> {
    fn of(inner: R) -> Self {
        Self {
            inner,
            ended: false,
        }
    }
}

impl<R: BufRead> Read for Line<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.ended || out.is_empty() {
            return Ok(0);
        }
        let available = self.inner.fill_buf()?;
        if available.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file ends inside a line: it is truncated",
            ));
        }
        // Looked for only as far as `out` takes: serde_json reads a byte
        // at a time.
        let wanted = &available[..available.len().min(out.len())];
        let newline = wanted.iter().position(|&byte| byte == b'\n');
        let take = newline.unwrap_or(wanted.len());
        out[..take].copy_from_slice(&wanted[..take]);
        // The newline is consumed with the last bytes before it.
        let ends = newline.is_some();
        self.inner.consume(take + usize::from(ends));
        self.ended = ends;
        Ok(take)
    }
}
