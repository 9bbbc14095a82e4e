//! Taking a capture: the summary, the timeline of the last hour, the heap
//! history's stored snapshots and the heap profile now, streamed into one
//! gzip file (`schema`). Nothing is resolved to a name (the process that
//! reads the capture does that), nothing big is copied: the history is
//! written from the stored tables, and jemalloc's dump from a file on the
//! capture's volume a line at a time.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use flate2::Compression;
use flate2::write::GzEncoder;

use super::directory::{self, Partial, capture_path, new_id};
use super::reason::{self, Reason};
use super::schema::{
    FORMAT, MAGIC, OverTimeOut, StoredObject, StoredPoint, StoredTag, Summary, WindowOut, unix_ms,
};
use super::settings::{BlackBox, layer_limit_for};
use crate::model::allocator::{HeapSource, ProfilingState, write_heap_profile};
use crate::model::heap;
use crate::model::over_time::{history, timeline};
use crate::model::process::cgroup::{self, CgroupMemory};
use crate::model::process::objects::LoadedObjects;
use crate::model::process::{process_age, resident_set_size};
use crate::model::symbols::SYMBOLIZER;
use crate::model::verdict::Limit;

/// The timeline a capture keeps: its last hour.
const TIMELINE_KEPT: Duration = Duration::from_secs(3600);

/// One capture at a time in the process, whatever asked for it.
static CAPTURING: Mutex<()> = Mutex::new(());

/// A capture written.
#[derive(Clone, Debug)]
pub struct Captured {
    /// Its id: `/_debug/memory/postmortem/{id}` opens it.
    pub id: String,
    /// Its file.
    pub path: PathBuf,
    /// The file's size.
    pub bytes: u64,
    /// Sampled stacks in its heap profile.
    pub heap_stacks: usize,
    /// What taking it took.
    pub took: Duration,
}

impl BlackBox {
    /// Takes a capture now, for `why` (a panic, a signal, a shutdown): for
    /// a panic hook, or the thread a signal handler wakes (never in the
    /// signal handler itself, where nothing may allocate). Blocking: it
    /// dumps the heap and writes the file, and waits for a capture that
    /// runs.
    pub fn capture(&self, why: &str) -> std::io::Result<Captured> {
        take(self, Reason::Hook, why.to_owned())
    }
}

/// Takes a capture into `black_box`'s directory, counted in the tally,
/// its failure too.
pub(crate) fn take(black_box: &BlackBox, reason: Reason, detail: String) -> io::Result<Captured> {
    let result = take_uncounted(black_box, reason, detail);
    match &result {
        Ok(_) => reason::count_taken(reason, unix_ms(SystemTime::now())),
        Err(error) => reason::count_failed(format!(
            "a capture could not be written to {}: {error}",
            black_box.dir.display()
        )),
    }
    result
}

fn take_uncounted(black_box: &BlackBox, reason: Reason, detail: String) -> io::Result<Captured> {
    let _one_at_a_time = crate::sync::lock(&CAPTURING);
    let started = Instant::now();
    let dir = &black_box.dir;
    // A volume that cannot take the file is not asked to: the dump would
    // be written for nothing.
    directory::ready(dir)?;
    let pid = std::process::id();
    let mut taken_at = unix_ms(SystemTime::now());
    while std::fs::symlink_metadata(capture_path(dir, &new_id(taken_at, pid))).is_ok() {
        taken_at += 1;
    }
    let id = new_id(taken_at, pid);
    let builder_limit = layer_limit_for(&black_box.dir);
    let summary = summary_now(&id, reason, detail, taken_at, builder_limit);
    let partial = Partial::create(dir, &id)?;
    let heap_stacks = match write(&partial.file, &summary, black_box) {
        Ok(stacks) => stacks,
        Err(error) => {
            partial.discard();
            return Err(error);
        }
    };
    let path = partial.publish(dir, &id)?;
    let bytes = std::fs::metadata(&path)?.len();
    directory::prune(dir, black_box.keep, black_box.max_bytes)?;
    // What the dump and the writing allocated on memscope's own thread.
    crate::model::allocator::purge_own_arena();
    Ok(Captured {
        id,
        path,
        bytes,
        heap_stacks,
        took: started.elapsed(),
    })
}

/// Streams the capture into `file`: returns the heap profile's stacks.
fn write(file: &File, summary: &Summary, black_box: &BlackBox) -> io::Result<usize> {
    let buffered = BufWriter::with_capacity(64 * 1024, file);
    let mut gzip = GzEncoder::new(buffered, Compression::fast());
    writeln!(gzip, "{MAGIC} {FORMAT}")?;
    serde_json::to_writer(&mut gzip, summary)?;
    gzip.write_all(b"\n")?;
    let window = history::settings().map(|_| history::window());
    let over_time = OverTimeOut {
        timeline: timeline_kept(summary.taken_at_unix_ms),
        heap_history: window.as_ref().map(WindowOut::of),
    };
    serde_json::to_writer(&mut gzip, &over_time)?;
    gzip.write_all(b"\n")?;
    drop(over_time);
    drop(window);
    let stacks =
        heap::with_dump_lock(|| write_heap_profile(HeapSource::get(), &black_box.dir, &mut gzip))?;
    gzip.finish()?.flush()?;
    Ok(stacks)
}

/// The timeline's last hour, and a point now.
fn timeline_kept(now_ms: u64) -> Vec<StoredPoint> {
    let since = now_ms.saturating_sub(TIMELINE_KEPT.as_millis() as u64);
    let mut points: Vec<StoredPoint> = timeline::points()
        .iter()
        .filter(|point| point.unix_ms >= since)
        .map(StoredPoint::from)
        .collect();
    points.push(StoredPoint::from(&timeline::sample()));
    points
}

/// The summary now: the process, its memory and its limit, the objects
/// its addresses lie in and the names of its route tags.
fn summary_now(
    id: &str,
    reason: Reason,
    detail: String,
    taken_at_unix_ms: u64,
    builder_limit: Option<u64>,
) -> Summary {
    let rss = resident_set_size();
    let cgroup = cgroup::read();
    let nearest = nearest_limit(builder_limit, rss, cgroup.as_ref());
    let profiling = ProfilingState::read();
    let objects = stored_objects();
    let executable = objects.iter().find(|object| object.executable);
    Summary {
        id: id.to_owned(),
        reason,
        detail,
        taken_at_unix_ms,
        pid: std::process::id(),
        started_at_unix_ms: process_age()
            .map(|age| taken_at_unix_ms.saturating_sub(age.as_millis() as u64)),
        executable: executable.map(|object| object.path.clone()),
        build_id: executable.and_then(|object| object.build_id.clone()),
        memscope_version: env!("CARGO_PKG_VERSION").to_owned(),
        rss,
        builder_limit,
        limit: nearest.map(|limit| limit.bytes),
        limit_source: nearest.map(|limit| limit.source),
        used: nearest.map(|limit| limit.used),
        cgroup,
        figures: HeapSource::get().figures(),
        memscope_heap: heap::last_own_bytes().map(|bytes| bytes as u64),
        memscope_history_bytes: history::footprint(),
        symbolizer_cached_addresses: SYMBOLIZER.cached_addresses(),
        timeline_interval_ms: timeline::settings().0.as_millis() as u64,
        history_interval_ms: history::settings().map(|(interval, _)| interval.as_millis() as u64),
        profiling_enabled: profiling.enabled,
        sampler: format!("{:?}", profiling.sampler).to_lowercase(),
        lg_sample: profiling.lg_sample,
        accumulates: profiling.accumulates,
        routes_tagged: profiling.tags_routes(),
        objects,
        route_tags: crate::record::known_tags()
            .into_iter()
            .map(|(tag, name, scope)| StoredTag {
                tag,
                name: name.to_string(),
                scope,
            })
            .collect(),
    }
}

/// Of the limits that apply, the one memory is nearest to, by share.
pub(crate) fn nearest_limit(
    builder_limit: Option<u64>,
    rss: Option<u64>,
    cgroup: Option<&CgroupMemory>,
) -> Option<Limit> {
    Limit::all(builder_limit, rss, cgroup)
        .into_iter()
        .filter(|limit| limit.bytes > 0)
        .max_by(|a, b| a.share().total_cmp(&b.share()))
}

/// The objects loaded now, as a capture keeps them.
fn stored_objects() -> Vec<StoredObject> {
    LoadedObjects::read()
        .objects
        .iter()
        .filter_map(|object| {
            let path = object.file_path()?.to_string_lossy().into_owned();
            Some(StoredObject {
                path,
                executable: object.is_executable(),
                bias: object.bias,
                segments: object
                    .segments
                    .iter()
                    .map(|segment| (segment.range.start, segment.range.end, segment.executable))
                    .collect(),
                build_id: object.build_id_hex(),
            })
        })
        .collect()
}
