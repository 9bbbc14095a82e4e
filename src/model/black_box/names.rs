//! Naming an earlier process's addresses: each object it had loaded is
//! read where the same build is at hand, so that no name is a guess.
//!
//! - The running process has loaded an object with the same build id (the
//!   same binary restarted): the address is moved by the difference of
//!   the two load addresses and named by this process's symbolizer.
//! - The file at the object's old path has the same build id (a library
//!   this process has not loaded, the binary read by another program):
//!   it is read where the old process had it loaded.
//! - Neither: the site is the object and the offset in it
//!   (`app+0x1a2b3c`, as addr2line takes them), and the page says why.

use std::path::PathBuf;

use crate::model::process::objects::{LoadedObject, LoadedObjects, ObjectFile};
use crate::model::process::{frame_tag, is_skipped_frame};
use crate::model::symbols::{AddressFrames, Frame, FrameKind, SYMBOLIZER};

use super::schema::StoredObject;

/// How one object of the capture is named.
#[derive(Debug)]
pub(crate) enum NameSource {
    /// By the running binary: the address moves by `shift`.
    Running { shift: i64 },
    /// By the old file, still there with the same build id.
    OldFile(LoadedObject),
    /// By object and offset, for the reason given.
    Offsets { why: String },
}

/// The objects of a capture and how each is named.
#[derive(Debug)]
pub(crate) struct CaptureNames {
    objects: Vec<(StoredObject, NameSource)>,
}

impl CaptureNames {
    /// How each of `objects` (a capture's) can be named in this process.
    pub(crate) fn of(objects: &[StoredObject]) -> Self {
        let running = LoadedObjects::read();
        let objects = objects
            .iter()
            .map(|stored| (stored.clone(), source_of(stored, &running.objects)))
            .collect();
        Self { objects }
    }

    /// The frames of each of `addresses` (the capture's), in order.
    /// Blocking: it reads debug info.
    pub(crate) fn resolve(&self, addresses: &[u64]) -> Vec<AddressFrames> {
        let mut frames: Vec<Option<AddressFrames>> = vec![None; addresses.len()];
        for (stored, source) in &self.objects {
            let inside: Vec<usize> = (0..addresses.len())
                .filter(|&at| frames[at].is_none() && holds(stored, addresses[at]))
                .collect();
            if inside.is_empty() {
                continue;
            }
            let found: Vec<AddressFrames> = match source {
                NameSource::Running { shift } => {
                    let moved: Vec<u64> = inside
                        .iter()
                        .map(|&at| addresses[at].wrapping_add_signed(*shift))
                        .collect();
                    SYMBOLIZER.resolve_addresses(&moved)
                }
                NameSource::OldFile(object) => {
                    let old: Vec<u64> = inside.iter().map(|&at| addresses[at]).collect();
                    SYMBOLIZER.resolve_elsewhere(std::slice::from_ref(object), &old)
                }
                NameSource::Offsets { .. } => inside
                    .iter()
                    .map(|&at| offset_frame(stored, addresses[at]))
                    .collect(),
            };
            for (at, found) in inside.into_iter().zip(found) {
                frames[at] = Some(found);
            }
        }
        // Addresses in no object (a tag, a sample not walked, the vDSO):
        // named as the symbolizer names what no file explains.
        let rest: Vec<u64> = addresses
            .iter()
            .zip(&frames)
            .filter(|(_, found)| found.is_none())
            .map(|(address, _)| *address)
            .collect();
        let mut rest = SYMBOLIZER.resolve_elsewhere(&[], &rest).into_iter();
        frames
            .into_iter()
            .map(|found| found.or_else(|| rest.next()).unwrap_or_else(rest_frame))
            .collect()
    }

    /// How the objects that hold any of `addresses` are named: the path
    /// and, for those named by offset, why.
    pub(crate) fn sources_for(&self, addresses: &[u64]) -> Vec<(&str, &NameSource)> {
        self.objects
            .iter()
            .filter(|(stored, _)| addresses.iter().any(|&address| holds(stored, address)))
            .map(|(stored, source)| (stored.path.as_str(), source))
            .collect()
    }
}

/// Whether `address` lies in one of `stored`'s segments; tags and the
/// frame of a sample not walked lie in none.
fn holds(stored: &StoredObject, address: u64) -> bool {
    frame_tag(address).is_none()
        && !is_skipped_frame(address)
        && stored
            .segments
            .iter()
            .any(|&(start, end, _)| (start..end).contains(&address))
}

/// How `stored` can be named, given the objects loaded now.
fn source_of(stored: &StoredObject, running: &[LoadedObject]) -> NameSource {
    let Some(build_id) = &stored.build_id else {
        return NameSource::Offsets {
            why: "it had no build id, by which a file could be known to be the same build"
                .to_owned(),
        };
    };
    if let Some(now) = running
        .iter()
        .find(|object| object.build_id_hex().as_ref() == Some(build_id))
    {
        return NameSource::Running {
            shift: now.bias.wrapping_sub(stored.bias) as i64,
        };
    }
    let path = PathBuf::from(&stored.path);
    let on_disk = ObjectFile::open(&path).and_then(|file| file.build_id());
    match on_disk {
        Some(found) if found == *build_id => {
            let bytes = (0..build_id.len() / 2)
                .filter_map(|at| u8::from_str_radix(build_id.get(2 * at..2 * at + 2)?, 16).ok())
                .collect();
            let segments = stored
                .segments
                .iter()
                .map(
                    |&(start, end, executable)| crate::model::process::objects::Segment {
                        range: start..end,
                        executable,
                    },
                )
                .collect();
            NameSource::OldFile(LoadedObject::of_earlier_process(
                path,
                stored.bias,
                segments,
                bytes,
            ))
        }
        Some(found) => NameSource::Offsets {
            why: format!(
                "{} is another build now (build id {found}; the capture's is {build_id}), and \
                 no object this process loaded has the capture's",
                stored.path
            ),
        },
        None => NameSource::Offsets {
            why: format!(
                "{} is gone or unreadable, and no object this process loaded has build id \
                 {build_id}",
                stored.path
            ),
        },
    }
}

/// `app+0x1a2b3c`: the object's file name and the offset of the address
/// in it, as the symbolizer names what a file does not.
fn offset_frame(stored: &StoredObject, address: u64) -> AddressFrames {
    let file = std::path::Path::new(&stored.path).file_name().map_or_else(
        || stored.path.clone(),
        |name| name.to_string_lossy().into_owned(),
    );
    let kind = if stored.executable {
        FrameKind::App
    } else {
        FrameKind::Library
    };
    std::sync::Arc::from(vec![Frame {
        function: format!("{file}+{:#x}", address.wrapping_sub(stored.bias)).into(),
        file: None,
        line: None,
        kind,
    }])
}

/// What an address is named when nothing else names it.
fn rest_frame() -> AddressFrames {
    std::sync::Arc::from(vec![Frame {
        function: "(unknown)".into(),
        file: None,
        line: None,
        kind: FrameKind::Library,
    }])
}
