use std::io::Read;

use super::names::{CaptureNames, NameSource};
use super::open::{self, Listed};
use super::reason::Reason;
use super::schema::{StoredObject, Summary};
use super::{BlackBox, capture};

/// A summary of a capture by `pid` at `taken` ms, its cgroup at `path`
/// having counted `kills` OOM kills.
fn summary(pid: u32, taken: u64, path: &str, kills: u64) -> Summary {
    serde_json::from_value(serde_json::json!({
        "id": format!("{taken:013}-{pid}"), "reason": "limit", "detail": "", "taken_at_unix_ms": taken,
        "pid": pid, "started_at_unix_ms": null, "executable": null, "build_id": null,
        "memscope_version": "0", "rss": null, "builder_limit": null, "limit": null,
        "limit_source": null, "used": null,
        "cgroup": {"version": 2, "path": path, "limit": null, "usage": 0, "anon": null,
                   "file": null, "shmem": null, "kernel": null, "oom_kills": kills},
        "figures": {"allocated": 0, "active": 0, "resident": 0, "mapped": 0, "retained": 0, "metadata": 0},
        "memscope_heap": null, "memscope_history_bytes": 0, "symbolizer_cached_addresses": 0,
        "timeline_interval_ms": 1000, "history_interval_ms": null, "profiling_enabled": false,
        "sampler": "jemalloc", "lg_sample": null, "accumulates": false, "routes_tagged": false,
        "objects": [], "route_tags": []
    }))
    .unwrap()
}

fn listed(summary: Summary) -> Listed {
    Listed {
        name: format!("{}.capture", summary.id),
        id: Some(summary.id.clone()),
        bytes: 1,
        summary: Ok(summary),
    }
}

#[test]
fn a_process_killed_for_memory_is_told_by_the_kills_counted_before_the_next() {
    // Newest first: process 3 (now), process 2 killed, process 1 not.
    let listed = vec![
        listed(summary(3, 300, "/pod", 1)),
        listed(summary(2, 210, "/pod", 0)),
        listed(summary(2, 200, "/pod", 0)),
        listed(summary(1, 100, "/pod", 0)),
        listed(summary(4, 50, "/other", 0)),
    ];
    let now = summary(9, 400, "/pod", 1).cgroup;
    let killed = open::oom_killed(&listed, now.as_ref());
    assert_eq!(
        killed,
        [Some(false), Some(true), Some(true), Some(false), None],
        "process 3 still runs, process 2 died of it, process 1 did not, and \
         another cgroup's kills say nothing"
    );
}

#[test]
fn a_capture_reads_back_as_it_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let black_box = BlackBox::new(dir.path().join("made"));
    let taken = capture::take(&black_box, Reason::Request, "by hand".to_owned()).unwrap();
    let listed = open::list(black_box.dir()).unwrap();
    assert_eq!(listed.len(), 1);
    let read = listed[0].summary.as_ref().unwrap();
    assert_eq!(
        (read.id.as_str(), read.reason, read.pid),
        (taken.id.as_str(), Reason::Request, std::process::id())
    );
    assert!(read.objects.iter().any(|object| object.executable));
    let opened = open::open(black_box.dir(), &taken.id).unwrap();
    assert_eq!(opened.summary.detail, "by hand");
    assert!(
        !opened.judgement.timeline.is_empty(),
        "a point at the capture"
    );
    assert_eq!(opened.file_bytes, taken.bytes);
    assert!(matches!(
        open::open(black_box.dir(), "1-1"),
        Err(open::OpenError::NotFound)
    ));
    assert!(matches!(
        open::open(black_box.dir(), "../made"),
        Err(open::OpenError::NotFound)
    ));
    // The file is one gzip stream that starts with the format's line.
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&taken.path).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    assert!(
        text.starts_with("memscope black box capture 1\n{"),
        "{text:.60}"
    );
}

#[test]
fn an_object_of_another_build_is_named_by_file_and_offset_and_says_why() {
    let object = StoredObject {
        path: "/gone/app".to_owned(),
        executable: true,
        bias: 0x5555_0000_0000,
        segments: vec![(0x5555_0000_1000, 0x5555_0010_0000, true)],
        build_id: Some("00ff00ff".to_owned()),
    };
    let names = CaptureNames::of(std::slice::from_ref(&object));
    let frames = names.resolve(&[0x5555_0000_2345, 0x10]);
    assert_eq!(&*frames[0][0].function, "app+0x2345");
    assert_eq!(&*frames[1][0].function, "0x10", "in no object");
    let sources = names.sources_for(&[0x5555_0000_2345]);
    match sources.as_slice() {
        [(path, NameSource::Offsets { why })] => {
            assert_eq!(*path, "/gone/app");
            assert!(why.contains("gone") && why.contains("00ff00ff"), "{why}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_object_at_its_old_path_with_the_same_build_is_read_there() {
    use object::{Object, ObjectSymbol};
    // A library this process has not loaded, with a function it exports.
    let path = "/usr/lib/x86_64-linux-gnu/libz.so.1";
    let Ok(bytes) = std::fs::read(path) else {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr().lock(),
            "SKIPPED an_object_at_its_old_path_with_the_same_build_is_read_there: no {path}"
        );
        return;
    };
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    assert!(
        !maps.contains("libz.so"),
        "the test needs a library it has not loaded"
    );
    let file = object::File::parse(&*bytes).unwrap();
    let function = file
        .dynamic_symbols()
        .find(|symbol| symbol.name() == Ok("zlibVersion"))
        .unwrap()
        .address();
    let build_id = crate::model::process::objects::build_id(path).unwrap();
    let bias = 0x7f00_0000_0000;
    let object = StoredObject {
        path: path.to_owned(),
        executable: false,
        bias,
        segments: vec![(bias, bias + bytes.len() as u64, true)],
        build_id: Some(build_id),
    };
    let names = CaptureNames::of(std::slice::from_ref(&object));
    // A return address two bytes into the function: its call one before.
    let address = bias + function + 2;
    assert!(matches!(
        names.sources_for(&[address]).as_slice(),
        [(_, NameSource::OldFile(_))]
    ));
    let frames = names.resolve(&[address]);
    assert_eq!(&*frames[0].last().unwrap().function, "zlibVersion");
}

#[test]
fn processes_with_one_pid_are_told_apart_by_their_start() {
    // Two containers' processes, both pid 1: the first killed for memory.
    let mut first = summary(1, 100_000, "/pod", 0);
    first.started_at_unix_ms = Some(50_000);
    let mut second = summary(1, 300_000, "/pod", 1);
    second.started_at_unix_ms = Some(250_000);
    assert!(!first.same_process(&second));
    let killed = open::oom_killed(&[listed(second), listed(first)], None);
    assert_eq!(killed, [None, Some(true)]);
}
