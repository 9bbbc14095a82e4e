//! The executable mappings of files, as `/proc/self/maps` lists them (and
//! as the heap dump copies that list at its end).

/// Where an object file is mapped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MappedFile {
    pub(crate) start: u64,
    pub(crate) end: u64,
    /// The file offset the mapping starts at.
    pub(crate) offset: u64,
    pub(crate) path: String,
}

/// The executable mappings of files in the process now, from
/// `/proc/self/maps`; none where there is no procfs.
pub(crate) fn mapped_files() -> Vec<MappedFile> {
    std::fs::read_to_string("/proc/self/maps")
        .map(|maps| maps.lines().filter_map(parse_mapping).collect())
        .unwrap_or_default()
}

/// The mapped area of `/proc/self/maps` that holds `address`, as its
/// `start-end` names it under `/proc/self/map_files`.
pub(crate) fn mapped_area(address: u64) -> Option<std::ops::Range<u64>> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines().find_map(|line| {
        let (start, end) = line.split_whitespace().next()?.split_once('-')?;
        let area = u64::from_str_radix(start, 16).ok()?..u64::from_str_radix(end, 16).ok()?;
        area.contains(&address).then_some(area)
    })
}

/// An executable mapping of a file, from a line of `/proc/self/maps`:
/// `55c1b2c00000-55c1b2d00000 r-xp 00001000 08:01 1234 /bin/app`. Other
/// lines (data, anonymous memory, the stack) are `None`.
pub(crate) fn parse_mapping(line: &str) -> Option<MappedFile> {
    let mut fields = line.split_whitespace();
    let (start, end) = fields.next()?.split_once('-')?;
    let permissions = fields.next()?;
    let offset = fields.next()?;
    let _device = fields.next()?;
    let _inode = fields.next()?;
    let path: Vec<&str> = fields.collect();
    let path = path.join(" ");
    if !permissions.contains('x') || !path.starts_with('/') {
        return None;
    }
    Some(MappedFile {
        start: u64::from_str_radix(start, 16).ok()?,
        end: u64::from_str_radix(end, 16).ok()?,
        offset: u64::from_str_radix(offset, 16).ok()?,
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executable_mappings_of_files_only() {
        assert_eq!(
            parse_mapping("55c1b2c00000-55c1b2d00000 r-xp 00001000 08:01 1234 /opt/my app"),
            Some(MappedFile {
                start: 0x55c1_b2c0_0000,
                end: 0x55c1_b2d0_0000,
                offset: 0x1000,
                path: "/opt/my app".to_owned(),
            })
        );
        assert_eq!(
            parse_mapping("55c1b2c00000-55c1b2d00000 rw-p 00001000 08:01 1234 /bin/app"),
            None
        );
        assert_eq!(
            parse_mapping("7ffd5a1e0000-7ffd5a1e2000 r-xp 00000000 00:00 0 [vdso]"),
            None
        );
        let here = mapped_files();
        let code = executable_mappings_of_files_only as *const () as usize as u64;
        assert!(
            here.iter()
                .any(|file| (file.start..file.end).contains(&code))
        );
    }
}
