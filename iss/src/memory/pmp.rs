//! Physical memory protection (privileged spec 1.12, section 3.7): which
//! physical addresses a hart may read, write and execute.
//!
//! Entries are matched in order, lowest number first; the first entry that
//! matches any byte of an access decides it, and must match every byte of
//! it, or the access fails. S- and U-mode accesses need the entry's R, W or
//! X bit and fail when no entry matches. M-mode accesses succeed unless the
//! deciding entry is locked (L), whose permissions then bind M-mode too.
//!
//! The hart asks these questions only off its fast path: the TLB caches the
//! answer for whole pages ([`Pmp::page_permissions`]), and plain M-mode
//! accesses skip PMP while no entry is locked
//! ([`Pmp::restricts_machine_mode`]).

use crate::csr::{CsrFile, PMP_ENTRIES, pmpcfg};
use crate::memory::PAGE_SIZE;
use crate::privilege::Privilege;
use crate::trap::{Exception, Trap};

/// What an access does, which decides the permission it needs and the
/// exception it raises.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// Instruction fetch: needs X.
    Fetch,
    /// Load or LR: needs R (or X with MXR).
    Load,
    /// Store, SC or AMO: needs W.
    Store,
}

impl Access {
    pub(crate) fn page_fault(self, vaddr: u64) -> Trap {
        let exception = match self {
            Access::Fetch => Exception::InstructionPageFault,
            Access::Load => Exception::LoadPageFault,
            Access::Store => Exception::StorePageFault,
        };
        Trap::new(exception, vaddr)
    }

    /// The access fault of this kind of access at `vaddr`.
    pub(crate) fn access_fault(self, vaddr: u64) -> Trap {
        let exception = match self {
            Access::Fetch => Exception::InstructionAccessFault,
            Access::Load => Exception::LoadAccessFault,
            Access::Store => Exception::StoreAccessFault,
        };
        Trap::new(exception, vaddr)
    }
}

/// The R, W and X bits together, as in `pmpcfg`.
pub(crate) const RWX: u8 = pmpcfg::R | pmpcfg::W | pmpcfg::X;

/// The `pmpcfg` permission bit `access` needs.
pub(crate) fn needed(access: Access) -> u8 {
    match access {
        Access::Fetch => pmpcfg::X,
        Access::Load => pmpcfg::R,
        Access::Store => pmpcfg::W,
    }
}

/// A range of physical addresses, `len` bytes from `start`.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PmpRange {
    /// First address.
    pub start: u64,
    /// Length in bytes; 0 for none.
    pub len: u64,
}

impl PmpRange {
    /// No address.
    pub(crate) const EMPTY: PmpRange = PmpRange { start: 0, len: 0 };

    /// Whether the `size` bytes at `addr` all lie inside.
    #[inline(always)]
    pub(crate) fn covers(self, addr: u64, size: u8) -> bool {
        let offset = addr.wrapping_sub(self.start);
        offset < self.len && u64::from(size) <= self.len - offset
    }
}

/// The PMP registers of a hart, read from its CSR file.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Pmp<'a> {
    csr: &'a CsrFile,
}

/// What the first entry that matches any byte of a range says about it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Match {
    /// No entry matches any byte.
    None,
    /// This entry (its `pmpcfg` byte) matches every byte.
    Whole(u8),
    /// The first matching entry misses some bytes.
    Partial,
}

impl<'a> Pmp<'a> {
    /// The PMP registers of `csr`.
    pub(crate) fn new(csr: &'a CsrFile) -> Pmp<'a> {
        Pmp { csr }
    }

    /// Whether some active entry is locked: only then can PMP refuse an
    /// M-mode access that lies inside one entry.
    #[inline]
    pub(crate) fn restricts_machine_mode(self) -> bool {
        const LOW_BITS: u64 = 0x0101_0101_0101_0101;
        self.csr.pmpcfg.iter().any(|&word| {
            let locked = word >> 7;
            let active = (word >> pmpcfg::A_SHIFT) | (word >> (pmpcfg::A_SHIFT + 1));
            locked & active & LOW_BITS != 0
        })
    }

    /// The bytes `[start, end)` entry `index` matches; `None` when it is off
    /// or its range is empty.
    fn range(self, index: usize) -> Option<(u64, u64)> {
        let address = self.csr.pmpaddr[index];
        match self.csr.pmp_mode(index) {
            pmpcfg::TOR => {
                let base = if index == 0 { 0 } else { self.csr.pmpaddr[index - 1] << 2 };
                let top = address << 2;
                (base < top).then_some((base, top))
            }
            pmpcfg::NA4 => Some((address << 2, (address << 2).saturating_add(4))),
            pmpcfg::NAPOT => {
                // `pmpaddr` holds bits 55:2, so at most 54 trailing ones: the
                // range is at most 2^57 bytes.
                let ones = address.trailing_ones().min(54);
                let base = (address & !((1 << ones) - 1)) << 2;
                Some((base, base.saturating_add(1 << (ones + 3))))
            }
            _ => None,
        }
    }

    /// The first entry matching any byte of `[start, end)`.
    fn first_match(self, start: u64, end: u64) -> Match {
        for index in 0..PMP_ENTRIES {
            if let Some((base, top)) = self.range(index)
                && start < top
                && base < end
            {
                return if base <= start && end <= top {
                    Match::Whole(self.csr.pmp_config(index))
                } else {
                    Match::Partial
                };
            }
        }
        Match::None
    }

    /// What an entry that matched (or no entry) lets `privilege` do.
    fn granted(found: Match, privilege: Privilege) -> u8 {
        match (found, privilege) {
            (Match::Partial, _) => 0,
            (Match::Whole(config), Privilege::Machine) if config & pmpcfg::L == 0 => RWX,
            (Match::Whole(config), _) => config & RWX,
            (Match::None, Privilege::Machine) => RWX,
            // Entries are implemented, so an S or U access no entry matches fails.
            (Match::None, _) => 0,
        }
    }

    /// The `pmpcfg` R, W and X bits that an access by `privilege` to the
    /// `len` bytes at physical address `addr` is granted.
    pub(crate) fn permissions(self, addr: u64, len: u64, privilege: Privilege) -> u8 {
        Self::granted(self.first_match(addr, addr.saturating_add(len)), privilege)
    }

    /// Whether PMP lets `privilege` make `access` to the `len` bytes at `addr`.
    pub(crate) fn allows(self, addr: u64, len: u64, access: Access, privilege: Privilege) -> bool {
        self.permissions(addr, len, privilege) & needed(access) != 0
    }

    /// The widest range around `addr` that PMP treats alike for
    /// `privilege`, and the permissions it grants there: every access that
    /// lies inside it gets them. It is the part of the entry that matches
    /// `addr` (or of the space no entry matches) that no entry before it
    /// touches.
    pub(crate) fn region(self, addr: u64, privilege: Privilege) -> (PmpRange, u8) {
        let (mut start, mut end) = (0, u64::MAX);
        let mut found = Match::None;
        for index in 0..PMP_ENTRIES {
            let Some((base, top)) = self.range(index) else { continue };
            if base <= addr && addr < top {
                (start, end) = (start.max(base), end.min(top));
                found = Match::Whole(self.csr.pmp_config(index));
                break;
            }
            if top <= addr {
                start = start.max(top);
            } else {
                end = end.min(base);
            }
        }
        (PmpRange { start, len: end - start }, Self::granted(found, privilege))
    }

    /// The permissions of every access by `privilege` inside the page that
    /// holds `addr`, if they are the same for the whole page: one entry
    /// holds the page and no entry before it touches the page, or no entry
    /// touches it at all. `None` if entries split the page.
    pub(crate) fn page_permissions(self, addr: u64, privilege: Privilege) -> Option<u8> {
        let start = addr & !(PAGE_SIZE - 1);
        match self.first_match(start, start.saturating_add(PAGE_SIZE)) {
            Match::Partial => None,
            found => Some(Self::granted(found, privilege)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAPOT: u8 = pmpcfg::NAPOT << pmpcfg::A_SHIFT;
    const TOR: u8 = pmpcfg::TOR << pmpcfg::A_SHIFT;
    const NA4: u8 = pmpcfg::NA4 << pmpcfg::A_SHIFT;

    /// A CSR file with `entries` as `(index, pmpaddr, pmpcfg byte)`.
    fn csr(entries: &[(usize, u64, u8)]) -> CsrFile {
        let mut csr = CsrFile::new(0);
        for &(index, address, config) in entries {
            csr.pmpaddr[index] = address;
            csr.pmpcfg[index / 8] |= u64::from(config) << (8 * (index % 8));
        }
        csr
    }

    /// The `pmpaddr` of a NAPOT range of `size` bytes at `base`.
    fn napot(base: u64, size: u64) -> u64 {
        (base | (size / 2 - 1)) >> 2
    }

    #[test]
    fn napot_ranges_cover_exactly_their_power_of_two() {
        let file = csr(&[(0, napot(0x8000_0000, 0x1000), NAPOT | pmpcfg::R)]);
        let pmp = Pmp::new(&file);
        assert_eq!(pmp.range(0), Some((0x8000_0000, 0x8000_1000)));
        assert!(pmp.allows(0x8000_0000, 8, Access::Load, Privilege::User));
        assert!(pmp.allows(0x8000_0ff8, 8, Access::Load, Privilege::Supervisor));
        assert!(!pmp.allows(0x8000_1000, 1, Access::Load, Privilege::User), "no entry: S/U fail");
        assert!(!pmp.allows(0x7fff_fffc, 4, Access::Load, Privilege::User));
        assert!(!pmp.allows(0x8000_0000, 8, Access::Store, Privilege::User), "R only");
        // The smallest NAPOT range is eight bytes; all ones is the whole space.
        let file = csr(&[(0, 0x2000_0000, NAPOT), (1, (1 << 54) - 1, NAPOT)]);
        assert_eq!(Pmp::new(&file).range(0), Some((0x8000_0000, 0x8000_0008)));
        assert_eq!(Pmp::new(&file).range(1), Some((0, 1 << 57)));
    }

    #[test]
    fn tor_runs_from_the_previous_address_and_na4_is_four_bytes() {
        let file = csr(&[(0, 0x8000_0000 >> 2, 0), (1, 0x8000_0100 >> 2, TOR | RWX), (2, 0x9000_0000 >> 2, NA4 | RWX)]);
        let pmp = Pmp::new(&file);
        assert_eq!(pmp.range(0), None, "off");
        assert_eq!(pmp.range(1), Some((0x8000_0000, 0x8000_0100)));
        assert_eq!(pmp.range(2), Some((0x9000_0000, 0x9000_0004)));
        // Entry 0 as TOR starts at address 0; an empty TOR range matches nothing.
        let file = csr(&[(0, 0x1000 >> 2, TOR | RWX), (1, 0x800 >> 2, TOR | RWX)]);
        assert_eq!(Pmp::new(&file).range(0), Some((0, 0x1000)));
        assert_eq!(Pmp::new(&file).range(1), None);
    }

    #[test]
    fn the_lowest_numbered_matching_entry_decides() {
        let file = csr(&[(0, napot(0x8000_0000, 0x1000), NAPOT), (1, napot(0x8000_0000, 0x10000), NAPOT | RWX)]);
        let pmp = Pmp::new(&file);
        assert_eq!(pmp.permissions(0x8000_0800, 4, Privilege::Supervisor), 0);
        assert_eq!(pmp.permissions(0x8000_1800, 4, Privilege::Supervisor), RWX);
        assert_eq!(pmp.permissions(0x8000_0800, 4, Privilege::Machine), RWX, "unlocked: M-mode may");
    }

    #[test]
    fn an_access_partly_inside_its_first_entry_fails_for_every_mode() {
        let file = csr(&[(0, napot(0x8000_0000, 0x1000), NAPOT | RWX), (1, napot(0, 1 << 40), NAPOT | RWX)]);
        let pmp = Pmp::new(&file);
        for privilege in [Privilege::User, Privilege::Supervisor, Privilege::Machine] {
            assert_eq!(pmp.permissions(0x8000_0ffc, 8, privilege), 0, "{privilege:?}");
            assert_eq!(pmp.permissions(0x7fff_fffc, 8, privilege), 0, "{privilege:?}");
            assert_eq!(pmp.permissions(0x8000_0ff8, 8, privilege), RWX, "{privilege:?}");
        }
    }

    #[test]
    fn locked_entries_bind_machine_mode() {
        let file = csr(&[(3, napot(0x8000_0000, 0x1000), NAPOT | pmpcfg::L | pmpcfg::X)]);
        let pmp = Pmp::new(&file);
        assert!(pmp.restricts_machine_mode());
        assert_eq!(pmp.permissions(0x8000_0000, 4, Privilege::Machine), pmpcfg::X);
        assert_eq!(pmp.permissions(0x9000_0000, 4, Privilege::Machine), RWX, "no match: M-mode may");
        assert_eq!(pmp.permissions(0x9000_0000, 4, Privilege::Supervisor), 0);
    }

    #[test]
    fn only_an_active_locked_entry_restricts_machine_mode() {
        assert!(!Pmp::new(&csr(&[])).restricts_machine_mode());
        assert!(!Pmp::new(&csr(&[(0, 0, pmpcfg::L | RWX)])).restricts_machine_mode(), "locked but off");
        assert!(!Pmp::new(&csr(&[(9, 0, NAPOT | RWX)])).restricts_machine_mode(), "active, unlocked");
        for mode in [TOR, NA4, NAPOT] {
            assert!(Pmp::new(&csr(&[(15, 0, mode | pmpcfg::L)])).restricts_machine_mode(), "{mode:#x}");
        }
    }

    #[test]
    fn a_region_is_what_no_earlier_entry_cuts_from_the_matching_one() {
        let file = csr(&[
            (0, napot(0x8000_0000, 0x8_0000), NAPOT),
            (1, napot(0x200_0000, 0x1_0000), NAPOT),
            (2, (1 << 54) - 1, NAPOT | RWX),
        ]);
        let pmp = Pmp::new(&file);
        let (region, granted) = pmp.region(0x8020_0000, Privilege::Supervisor);
        assert_eq!((region.start, region.start + region.len, granted), (0x8008_0000, 1 << 57, RWX));
        let (region, granted) = pmp.region(0x1000_0000, Privilege::User);
        assert_eq!((region.start, region.start + region.len, granted), (0x201_0000, 0x8000_0000, RWX));
        let (region, granted) = pmp.region(0x8000_1000, Privilege::Supervisor);
        assert_eq!((region.start, region.len, granted), (0x8000_0000, 0x8_0000, 0));
        let (region, granted) = pmp.region(1 << 58, Privilege::Supervisor);
        assert_eq!((region.start, region.len, granted), (1 << 57, u64::MAX - (1 << 57), 0), "no entry");
        assert!(region.covers(1 << 58, 8));
        assert!(!region.covers((1 << 57) - 4, 8));
        assert!(!PmpRange::EMPTY.covers(0, 1));
    }

    #[test]
    fn page_permissions_are_known_only_for_pages_one_entry_decides() {
        let file = csr(&[
            (0, napot(0x8000_0100, 0x100), NAPOT),
            (1, napot(0x8000_0000, 0x10000), NAPOT | pmpcfg::R),
            (2, napot(0x9000_0000, 0x1000), NAPOT | RWX),
        ]);
        let pmp = Pmp::new(&file);
        assert_eq!(pmp.page_permissions(0x8000_0abc, Privilege::User), None, "entry 0 splits the page");
        assert_eq!(pmp.page_permissions(0x8000_1abc, Privilege::User), Some(pmpcfg::R));
        assert_eq!(pmp.page_permissions(0x9000_0000, Privilege::Supervisor), Some(RWX));
        assert_eq!(pmp.page_permissions(0xa000_0000, Privilege::Supervisor), Some(0), "no entry");
        assert_eq!(pmp.page_permissions(0xa000_0000, Privilege::Machine), Some(RWX));
        assert_eq!(pmp.page_permissions(u64::MAX, Privilege::Machine), Some(RWX), "the last page");
    }
}
