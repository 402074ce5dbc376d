//! The two fields of `fcsr` as the FPU uses them: the rounding mode an
//! operation rounds in, and the accrued exception flags it raises.

/// The accrued exception flags of `fflags`.
pub(crate) mod flags {
    /// Inexact.
    pub(crate) const NX: u8 = 1;
    /// Underflow.
    pub(crate) const UF: u8 = 2;
    /// Overflow.
    pub(crate) const OF: u8 = 4;
    /// Divide by zero.
    pub(crate) const DZ: u8 = 8;
    /// Invalid operation.
    pub(crate) const NV: u8 = 16;
}

/// A rounding mode, numbered as `frm` and the instructions' `rm` field.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub(crate) enum Rounding {
    /// Round to nearest, ties to even (`rne`).
    NearestEven = 0,
    /// Round towards zero (`rtz`).
    TowardZero = 1,
    /// Round down, towards -∞ (`rdn`).
    Down = 2,
    /// Round up, towards +∞ (`rup`).
    Up = 3,
    /// Round to nearest, ties to max magnitude (`rmm`).
    NearestMax = 4,
}

impl Rounding {
    /// Every mode, in encoding order.
    pub(crate) const ALL: [Rounding; 5] =
        [Rounding::NearestEven, Rounding::TowardZero, Rounding::Down, Rounding::Up, Rounding::NearestMax];

    /// The mode an instruction uses: its `rm` field, or `frm` when the field
    /// says dynamic (7). `None` for the reserved encodings, which make the
    /// instruction illegal.
    #[inline(always)]
    pub(crate) fn select(rm: u8, frm: u8) -> Option<Rounding> {
        let mode = if rm == 7 { frm } else { rm };
        Rounding::ALL.get(usize::from(mode)).copied()
    }
}
