//! The unwind tables of the loaded objects (the executable and its shared
//! libraries, as `model::objects` lists them), read from their
//! `.eh_frame_hdr` and `.eh_frame` sections where the dynamic loader
//! mapped them.

use std::ops::Range;

use gimli::{
    BaseAddresses, CfaRule, EhFrame, EhFrameHdr, EndianSlice, LittleEndian, ParsedEhFrameHdr,
    Register, RegisterRule, UnwindContext, UnwindContextStorage, UnwindSection, UnwindTableRow,
    X86_64,
};

use super::rule::{CfaBase, FrameRule};
use crate::model::process::objects::{LoadedObject, LoadedObjects, with_objects_held};

type Section = EndianSlice<'static, LittleEndian>;

/// Room for the rules of one row of a call-frame program. gimli's default
/// keeps 192 registers and four rows on the heap, 24 KiB a thread; x86-64
/// code describes at most its 16 general registers and the return address
/// (DWARF registers 0 to 16), and a row that names more gives no rule. Rows
/// are copied on the stack while a program runs, so their size is the
/// walk's stack use on a miss.
pub(super) struct SmallRows;

impl UnwindContextStorage<usize> for SmallRows {
    type Rules = [(Register, RegisterRule<usize>); 17];
    type Stack = [UnwindTableRow<usize, Self>; 3];
}

pub(super) type CallFrameContext = UnwindContext<usize, SmallRows>;

/// One loaded object with unwind tables.
struct Module {
    /// Where its executable segments are mapped.
    code: Vec<Range<u64>>,
    bases: BaseAddresses,
    eh_frame: EhFrame<Section>,
    eh_frame_hdr: ParsedEhFrameHdr<Section>,
}

/// The objects loaded when the list was read, and which load it describes.
pub(super) struct Modules {
    /// glibc's counts of objects loaded and unloaded so far: when either
    /// moves, the list (and every rule read from it) is out of date.
    pub(super) generation: (u64, u64),
    modules: Vec<Module>,
}

impl Modules {
    pub(super) const fn empty() -> Self {
        Self {
            generation: (u64::MAX, u64::MAX),
            modules: Vec::new(),
        }
    }

    /// Reads the list of loaded objects afresh, and each one's unwind
    /// table headers while none can be unloaded.
    pub(super) fn read() -> Self {
        with_objects_held(|| {
            let loaded = LoadedObjects::read();
            Self {
                generation: loaded.generation,
                modules: loaded
                    .objects
                    .iter()
                    // SAFETY: the objects are held loaded while their
                    // headers are read; see `mod.rs` on objects unloaded
                    // later, while the list is used.
                    .filter_map(|object| unsafe { Module::from_loaded(object) })
                    .collect(),
            }
        })
    }

    /// How to find the caller's frame from code at `address`.
    pub(super) fn rule_at(&self, context: &mut CallFrameContext, address: u64) -> FrameRule {
        let Some(module) = self
            .modules
            .iter()
            .find(|module| module.code.iter().any(|range| range.contains(&address)))
        else {
            return FrameRule::UNKNOWN;
        };
        module.rule_at(context, address)
    }
}

impl Module {
    /// # Safety
    /// `object` stays mapped while the module is used (see `mod.rs` on
    /// unloading).
    unsafe fn from_loaded(object: &LoadedObject) -> Option<Self> {
        let code: Vec<Range<u64>> = object
            .segments
            .iter()
            .filter(|segment| segment.executable)
            .map(|segment| segment.range.clone())
            .collect();
        let hdr_range = object.eh_frame_hdr.clone()?;
        // SAFETY: the PT_GNU_EH_FRAME segment is mapped, `p_memsz` long.
        let hdr_bytes = unsafe { mapped(&hdr_range) };
        let mut bases = BaseAddresses::default()
            .set_eh_frame_hdr(hdr_range.start)
            .set_text(code.first()?.start);
        let eh_frame_hdr = EhFrameHdr::new(hdr_bytes, LittleEndian)
            .parse(&bases, 8)
            .ok()?;
        let eh_frame_start = eh_frame_hdr.eh_frame_ptr().direct().ok()?;
        // `.eh_frame` ends with a zero terminator, not at a length the
        // headers give: the rest of its segment bounds it.
        let holding = &object
            .segments
            .iter()
            .find(|segment| segment.range.contains(&eh_frame_start))?
            .range;
        // SAFETY: from `.eh_frame`'s start to the end of the mapped segment
        // that holds it.
        let eh_frame_bytes = unsafe { mapped(&(eh_frame_start..holding.end)) };
        bases = bases.set_eh_frame(eh_frame_start);
        Some(Self {
            code,
            bases,
            eh_frame: EhFrame::new(eh_frame_bytes, LittleEndian),
            eh_frame_hdr,
        })
    }

    fn rule_at(&self, context: &mut CallFrameContext, address: u64) -> FrameRule {
        let Some(table) = self.eh_frame_hdr.table() else {
            return FrameRule::UNKNOWN;
        };
        let row = table.unwind_info_for_address(
            &self.eh_frame,
            &self.bases,
            context,
            address,
            EhFrame::cie_from_offset,
        );
        match row {
            Ok(row) => rule_from_row(row),
            Err(_) => FrameRule::UNKNOWN,
        }
    }
}

/// The caller's frame as one row of a call-frame program describes it, if
/// it needs nothing but the stack pointer and the frame pointer.
fn rule_from_row(row: &UnwindTableRow<usize, SmallRows>) -> FrameRule {
    let (base, cfa_offset) = match *row.cfa() {
        CfaRule::RegisterAndOffset { register, offset } if register == X86_64::RSP => {
            (CfaBase::StackPointer, offset)
        }
        CfaRule::RegisterAndOffset { register, offset } if register == X86_64::RBP => {
            (CfaBase::FramePointer, offset)
        }
        _ => return FrameRule::UNKNOWN,
    };
    let return_address = match row.register(X86_64::RA) {
        RegisterRule::Offset(offset) => offset,
        RegisterRule::Undefined => return FrameRule::OUTERMOST,
        _ => return FrameRule::UNKNOWN,
    };
    let frame_pointer = match row.register(X86_64::RBP) {
        // Not mentioned: a callee-saved register the function left alone.
        RegisterRule::Undefined | RegisterRule::SameValue => None,
        RegisterRule::Offset(offset) => Some(offset),
        _ => return FrameRule::UNKNOWN,
    };
    FrameRule::step(base, cfa_offset, return_address, frame_pointer)
}

/// # Safety
/// `range` is mapped and readable for as long as the slice is used.
unsafe fn mapped(range: &Range<u64>) -> &'static [u8] {
    let length = range.end.saturating_sub(range.start) as usize;
    // SAFETY: as the caller promises.
    unsafe { std::slice::from_raw_parts(range.start as *const u8, length) }
}
