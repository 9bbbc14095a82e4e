//! How to go from one frame to its caller's, in eight bytes, so that a
//! thread can keep the rules of a thousand return addresses in 16 KiB.

/// The register the canonical frame address (CFA: the stack pointer just
/// before the call) is an offset from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CfaBase {
    StackPointer,
    FramePointer,
}

/// One frame's way to its caller: the CFA is `base + cfa_offset`, the return
/// address is saved at `CFA + return_address`, and the caller's frame
/// pointer at `CFA + frame_pointer` (or left in the register when 0, which
/// no save slot can be: slots lie below the CFA).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct FrameRule {
    kind: Kind,
    return_address: i8,
    frame_pointer: i16,
    cfa_offset: i32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// No rule that uses only the stack and frame pointers: a signal
    /// trampoline, an expression, code without unwind tables.
    Unknown,
    /// The return address is undefined: the thread's first frame.
    Outermost,
    Step(CfaBase),
}

/// Where a walk goes next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Next {
    /// The walk cannot go further.
    Stop,
    /// The caller's registers.
    Caller { ip: u64, sp: u64, fp: u64 },
}

impl FrameRule {
    pub(super) const UNKNOWN: Self = Self::of_kind(Kind::Unknown);
    pub(super) const OUTERMOST: Self = Self::of_kind(Kind::Outermost);

    const fn of_kind(kind: Kind) -> Self {
        Self {
            kind,
            return_address: 0,
            frame_pointer: 0,
            cfa_offset: 0,
        }
    }

    /// A rule from a row's offsets; [`UNKNOWN`](Self::UNKNOWN) when one
    /// does not fit (frames of more than 2 GiB, saves far from the CFA).
    pub(super) fn step(
        base: CfaBase,
        cfa_offset: i64,
        return_address: i64,
        frame_pointer: Option<i64>,
    ) -> Self {
        let fits = (
            i32::try_from(cfa_offset),
            i8::try_from(return_address),
            i16::try_from(frame_pointer.unwrap_or(0)),
        );
        match fits {
            (Ok(cfa_offset), Ok(return_address), Ok(frame_pointer))
                if return_address < 0 && frame_pointer <= 0 =>
            {
                Self {
                    kind: Kind::Step(base),
                    return_address,
                    frame_pointer,
                    cfa_offset,
                }
            }
            _ => Self::UNKNOWN,
        }
    }

    /// The caller's registers, reading the saved ones from the stack, never
    /// outside `sp .. stack_top`: a wrong rule ends the walk rather than
    /// reading anywhere.
    ///
    /// # Safety
    /// `sp .. stack_top` is readable memory of the calling thread's stack.
    pub(super) unsafe fn caller(self, sp: u64, fp: u64, stack_top: u64) -> Next {
        if stack_top < 8 {
            return Next::Stop;
        }
        self.caller_reading(sp, fp, |slot| {
            if slot < sp || slot > stack_top - 8 {
                return None;
            }
            // SAFETY: the slot lies in `sp .. stack_top`, which the caller
            // promises is readable; slots are 8-aligned as the CFA is.
            Some(unsafe { (slot as *const u64).read() })
        })
    }

    /// The caller's registers, reading each saved one with `read`, which
    /// answers `None` for a slot it will not read.
    pub(super) fn caller_reading(
        self,
        sp: u64,
        fp: u64,
        read: impl Fn(u64) -> Option<u64>,
    ) -> Next {
        let base = match self.kind {
            Kind::Step(CfaBase::StackPointer) => sp,
            Kind::Step(CfaBase::FramePointer) => fp,
            Kind::Unknown | Kind::Outermost => return Next::Stop,
        };
        let cfa = base.wrapping_add_signed(self.cfa_offset.into());
        // The caller's frame lies above this one, and slots are 8-aligned: a
        // rule that says otherwise is not followed.
        if cfa <= sp || cfa % 8 != 0 {
            return Next::Stop;
        }
        let slot = |offset: i8| cfa.wrapping_add_signed(offset.into());
        let Some(ip) = read(slot(self.return_address)).filter(|ip| *ip != 0) else {
            return Next::Stop;
        };
        let fp = if self.frame_pointer == 0 {
            fp
        } else {
            match read(cfa.wrapping_add_signed(self.frame_pointer.into())) {
                Some(fp) => fp,
                None => return Next::Stop,
            }
        };
        Next::Caller { ip, sp: cfa, fp }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_that_do_not_fit_give_no_rule() {
        let huge = i64::from(i32::MAX) + 1;
        assert_eq!(
            FrameRule::step(CfaBase::StackPointer, huge, -8, None),
            FrameRule::UNKNOWN
        );
        assert_eq!(
            FrameRule::step(CfaBase::StackPointer, 16, -8, Some(40_000)),
            FrameRule::UNKNOWN
        );
        assert_eq!(
            FrameRule::step(CfaBase::StackPointer, 16, 8, None),
            FrameRule::UNKNOWN
        );
        assert_ne!(
            FrameRule::step(CfaBase::FramePointer, 16, -8, Some(-16)),
            FrameRule::UNKNOWN
        );
    }

    #[test]
    fn reads_the_callers_registers_from_a_frame() {
        // A frame as `push rbp; mov rbp, rsp` leaves it, 16 bytes below
        // the CFA: saved rbp at CFA-16, return address at CFA-8.
        let stack: [u64; 4] = [0, 0xf00d, 0x1234, 0];
        let sp = stack.as_ptr() as u64;
        let rule = FrameRule::step(CfaBase::StackPointer, 24, -8, Some(-16));
        // SAFETY: every slot read lies within `stack`.
        let next = unsafe { rule.caller(sp, 7, sp + 32) };
        assert_eq!(
            next,
            Next::Caller {
                ip: 0x1234,
                sp: sp + 24,
                fp: 0xf00d
            }
        );
        // SAFETY: as above.
        let outermost = unsafe { FrameRule::OUTERMOST.caller(sp, 7, sp + 32) };
        assert_eq!(outermost, Next::Stop);
    }

    #[test]
    fn a_rule_that_leads_off_the_stack_is_not_followed() {
        let stack: [u64; 4] = [0, 0xf00d, 0x1234, 0];
        let sp = stack.as_ptr() as u64;
        let rule = FrameRule::step(CfaBase::StackPointer, 24, -8, Some(-16));
        // SAFETY: the walk may read only `sp .. sp + 16`, inside `stack`.
        assert_eq!(unsafe { rule.caller(sp, 7, sp + 16) }, Next::Stop);
        // A frame-pointer rule from a frame pointer that is not on the
        // stack: nothing is read.
        let from_fp = FrameRule::step(CfaBase::FramePointer, 16, -8, Some(-16));
        // SAFETY: as above; the CFA lies far past the stack's top.
        let far = unsafe { from_fp.caller(sp, 0xdead_0000_0000, sp + 32) };
        assert_eq!(far, Next::Stop);
        // And one below the stack pointer.
        // SAFETY: as above; the CFA lies below `sp`.
        assert_eq!(unsafe { from_fp.caller(sp, sp - 64, sp + 32) }, Next::Stop);
    }
}
