//! Writing a `perftools.profiles.Profile`, for heap and CPU profiles alike:
//! its tables filled as stacks are added, each string, function, location
//! and mapping once, mappings with the build ids of the code as loaded,
//! and the whole gzipped as Go serves it.

use std::collections::HashMap;
use std::io::Write;

use pprof::protos::{Function, Line, Location, Mapping, Profile, ValueType};

use crate::model::ModelError;
use crate::model::process::objects::{LoadedObjects, MappedFile, build_id};
use crate::model::symbols::Frame;

/// The build id of the code mapped at `file`: the loaded object's, read
/// from memory, so that a file replaced on disk since (a deploy that renames
/// a new binary over the old) does not lend its own; the file's where no
/// loaded object holds the mapping.
fn mapped_build_id(loaded: &LoadedObjects, file: &MappedFile) -> Option<String> {
    match loaded
        .objects
        .iter()
        .find(|object| object.overlaps(&(file.start..file.end)))
    {
        Some(object) => object.build_id_hex(),
        None => build_id(&file.path),
    }
}

/// Gzips an encoded profile, as Go serves them.
pub(crate) fn gzipped(profile: &Profile) -> Result<Vec<u8>, ModelError> {
    let failed = |error: std::io::Error| {
        ModelError::failed(format!("could not compress the profile: {error}"))
    };
    let encoded = pprof::protos::Message::encode_to_vec(profile);
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(&encoded).map_err(failed)?;
    gzip.finish().map_err(failed)
}

/// A profile's tables filled as stacks are added: each string, function,
/// location and mapping once.
pub(crate) struct ProfileBuilder<'a> {
    pub(crate) profile: Profile,
    strings: HashMap<String, i64>,
    functions: HashMap<(i64, i64), u64>,
    locations: HashMap<u64, u64>,
    mapped: &'a [MappedFile],
}

impl<'a> ProfileBuilder<'a> {
    /// A profile whose mappings are `mapped` (address order).
    pub(crate) fn new(mapped: &'a [MappedFile]) -> Self {
        let mut builder = Self {
            profile: Profile::default(),
            strings: HashMap::new(),
            functions: HashMap::new(),
            locations: HashMap::new(),
            mapped,
        };
        // The string table starts with the empty string.
        builder.string("");
        let loaded = LoadedObjects::read();
        let mappings = mapped
            .iter()
            .enumerate()
            .map(|(index, file)| Mapping {
                id: index as u64 + 1,
                memory_start: file.start,
                memory_limit: file.end,
                file_offset: file.offset,
                filename: builder.string(file.path.trim_end_matches(" (deleted)")),
                build_id: builder.string(&mapped_build_id(&loaded, file).unwrap_or_default()),
                has_functions: true,
                has_filenames: true,
                has_line_numbers: true,
                has_inline_frames: true,
            })
            .collect();
        builder.profile.mapping = mappings;
        builder
    }

    /// Gives the mappings the build ids `build_ids` (by mapping, in
    /// order) where one is known: a capture of an earlier process, whose
    /// mappings this process has not loaded.
    pub(crate) fn with_build_ids(mut self, build_ids: &[Option<String>]) -> Self {
        for (index, build_id) in build_ids.iter().enumerate() {
            if let Some(build_id) = build_id {
                let id = self.string(build_id);
                if let Some(mapping) = self.profile.mapping.get_mut(index) {
                    mapping.build_id = id;
                }
            }
        }
        self
    }

    pub(crate) fn string(&mut self, text: &str) -> i64 {
        if let Some(&index) = self.strings.get(text) {
            return index;
        }
        let index = self.profile.string_table.len() as i64;
        self.profile.string_table.push(text.to_owned());
        self.strings.insert(text.to_owned(), index);
        index
    }

    pub(crate) fn value_type(&mut self, (name, unit): (&str, &str)) -> ValueType {
        ValueType {
            ty: self.string(name),
            unit: self.string(unit),
        }
    }

    /// The location of return address `address`, whose frames (innermost
    /// first) are `frames`.
    pub(crate) fn location(&mut self, address: u64, frames: &[Frame]) -> u64 {
        if let Some(&id) = self.locations.get(&address) {
            return id;
        }
        let line = frames
            .iter()
            .map(|frame| Line {
                function_id: self.function(frame),
                line: frame.line.map_or(0, i64::from),
            })
            .collect();
        let id = self.profile.location.len() as u64 + 1;
        // The mapping that holds the address; 0 for none (the vDSO, say).
        let index = self.mapped.partition_point(|file| file.end <= address);
        let mapping_id = match self.mapped.get(index) {
            Some(file) if file.start <= address => index as u64 + 1,
            _ => 0,
        };
        self.profile.location.push(Location {
            id,
            mapping_id,
            address,
            line,
            is_folded: false,
        });
        self.locations.insert(address, id);
        id
    }

    fn function(&mut self, frame: &Frame) -> u64 {
        let name = self.string(&frame.function);
        let filename = self.string(frame.file.as_deref().unwrap_or(""));
        if let Some(&id) = self.functions.get(&(name, filename)) {
            return id;
        }
        let id = self.profile.function.len() as u64 + 1;
        self.profile.function.push(Function {
            id,
            name,
            system_name: name,
            filename,
            start_line: 0,
        });
        self.functions.insert((name, filename), id);
        id
    }

    pub(crate) fn finish(self) -> Profile {
        self.profile
    }
}
