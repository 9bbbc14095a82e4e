//! A file's function symbols with their extents: a name is given to an
//! address only where the address lies inside the function.

/// Function symbols as ranges: the symbol table's, or where a stripped
/// file has none, the dynamic symbols'. Symbols without a size are left
/// out: nothing says where they end.
pub(crate) struct SymbolExtents {
    /// `(start, end, name)`, by start.
    extents: Vec<(u64, u64, &'static str)>,
}

impl SymbolExtents {
    pub(crate) fn of(object: &object::File<'static>) -> Self {
        use object::{Object, ObjectSymbol, SymbolKind};
        let functions = |symbols: object::SymbolIterator<'static, '_>| {
            symbols
                .filter(|symbol| symbol.kind() == SymbolKind::Text && symbol.size() > 0)
                .filter_map(|symbol| {
                    let name = symbol.name().ok()?;
                    Some((symbol.address(), symbol.address() + symbol.size(), name))
                })
                .collect::<Vec<_>>()
        };
        let mut extents = functions(object.symbols());
        if extents.is_empty() {
            extents = functions(object.dynamic_symbols());
        }
        extents.sort_unstable();
        Self { extents }
    }

    /// The symbol that starts at `address`.
    pub(crate) fn starting_at(&self, address: u64) -> Option<&'static str> {
        let at = self
            .extents
            .partition_point(|&(start, _, _)| start < address);
        self.extents
            .get(at)
            .filter(|&&(start, _, _)| start == address)
            .map(|&(_, _, name)| name)
    }

    /// The symbol whose extent holds `probe`; of nested ones (aliases
    /// and the like), the one that starts last.
    pub(crate) fn holding(&self, probe: u64) -> Option<&'static str> {
        let after = self
            .extents
            .partition_point(|&(start, _, _)| start <= probe);
        self.extents[..after]
            .iter()
            .rev()
            .take(8)
            .find(|&&(_, end, _)| probe < end)
            .map(|&(_, _, name)| name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extents(symbols: &[(u64, u64, &'static str)]) -> SymbolExtents {
        SymbolExtents {
            extents: symbols.to_vec(),
        }
    }

    #[test]
    fn an_address_past_a_symbol_s_end_is_not_named_by_it() {
        let symbols = extents(&[(0x100, 0x180, "exported"), (0x400, 0x410, "next")]);
        assert_eq!(symbols.holding(0x17f), Some("exported"));
        assert_eq!(symbols.holding(0x180), None);
        assert_eq!(symbols.holding(0x300), None);
        assert_eq!(symbols.holding(0x40f), Some("next"));
        assert_eq!(symbols.holding(0x50), None);
        assert_eq!(symbols.starting_at(0x400), Some("next"));
        assert_eq!(symbols.starting_at(0x401), None);
    }

    /// The C library as the system ships it, without its symbol table:
    /// the code between two exported functions (internal ones, such as
    /// `start_thread`) is named by neither.
    #[test]
    fn a_stripped_library_s_internal_code_is_named_by_no_exported_symbol() {
        let objects = crate::model::process::objects::LoadedObjects::read().objects;
        let Some(libc) = objects.iter().find(|object| {
            object
                .file_path()
                .is_some_and(|path| path.to_string_lossy().contains("libc.so"))
        }) else {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr().lock(),
                "SKIPPED a test on the C library's symbols: no libc.so is loaded"
            );
            return;
        };
        let file = libc.open_file().unwrap();
        let bytes: &'static [u8] = Box::leak(file.bytes().to_vec().into_boxed_slice());
        let object = object::File::parse(bytes).unwrap();
        let symbols = SymbolExtents::of(&object);
        assert!(symbols.extents.len() > 100, "{}", symbols.extents.len());
        let gap = symbols
            .extents
            .windows(2)
            .find(|pair| pair[1].0 > pair[0].1 + 16)
            .expect("libc has code between its exported functions");
        let inside_gap = gap[0].1 + (gap[1].0 - gap[0].1) / 2;
        assert_eq!(symbols.holding(inside_gap), None, "{gap:?}");
        assert_eq!(symbols.holding(gap[0].0), Some(gap[0].2));
    }
}
