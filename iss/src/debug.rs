//! What a debugger needs of a hart: breakpoints that stop it before an
//! instruction runs and watchpoints that stop it before an access, in both
//! engines, without writing into guest memory; and a look at memory
//! through the hart's address translation that changes nothing (no
//! accessed or dirty bits set, no TLB filled).
//!
//! A breakpoint is a virtual address. Blocks end before every breakpoint
//! (the fetcher stops decoding there), so a breakpoint is always the
//! start of a block, and the dispatcher looks for it before it runs any
//! block: compiled code reaches a block only through its compiled code,
//! and a block at a breakpoint never gets any, so chained jumps cannot
//! pass it either. Changing the set therefore drops every translation
//! made under the old one ([`crate::Hart::set_breakpoints`] and
//! [`crate::TranslationCache::flush`], which the machine calls).

use std::sync::Arc;

use crate::memory::Ram;
use crate::memory::mmu::{canonical, paging_levels, pte, satp};
use crate::privilege::Privilege;

/// A set of breakpoint addresses (virtual), cheap to share between harts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Breakpoints {
    /// Sorted, without repeats.
    addresses: Arc<[u64]>,
}

impl Breakpoints {
    /// The set of `addresses` (in any order, repeats allowed).
    pub fn new(addresses: impl IntoIterator<Item = u64>) -> Breakpoints {
        let mut sorted: Vec<u64> = addresses.into_iter().collect();
        sorted.sort_unstable();
        sorted.dedup();
        Breakpoints { addresses: sorted.into() }
    }

    /// Whether there are none (the common case, checked first).
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.addresses.is_empty()
    }

    /// Whether `pc` is a breakpoint.
    #[inline(always)]
    pub fn contains(&self, pc: u64) -> bool {
        !self.addresses.is_empty() && self.addresses.binary_search(&pc).is_ok()
    }

    /// The addresses, in ascending order.
    pub fn addresses(&self) -> &[u64] {
        &self.addresses
    }
}

/// What a watchpoint stops at.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum WatchKind {
    /// Loads (and the read of an AMO or LR).
    Read,
    /// Stores (and the write of an AMO or SC).
    Write,
    /// Both.
    Access,
}

/// A watchpoint: the virtual bytes `[addr, addr + len)`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Watchpoint {
    /// The first byte watched.
    pub addr: u64,
    /// How many bytes (at least one).
    pub len: u64,
    /// What stops there.
    pub kind: WatchKind,
}

/// An access that reached a watchpoint: the hart stopped before it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct WatchHit {
    /// The watchpoint.
    pub watchpoint: Watchpoint,
    /// The first byte of the access.
    pub addr: u64,
    /// Whether the access writes.
    pub write: bool,
}

/// A set of watchpoints, cheap to share between harts.
///
/// While a hart has any, every load and store it makes takes the
/// interpreter's path, which looks for them (compiled code leaves each
/// access to it): the access that reaches one raises no exception but
/// stops the hart before the instruction, its state untouched, as a
/// RISC-V debug trigger with `timing` 0 does (what GDB expects of RISC-V).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Watchpoints {
    list: Arc<[Watchpoint]>,
}

impl Watchpoints {
    /// The set of `watchpoints` (empty ranges are dropped).
    pub fn new(watchpoints: impl IntoIterator<Item = Watchpoint>) -> Watchpoints {
        Watchpoints { list: watchpoints.into_iter().filter(|w| w.len > 0).collect() }
    }

    /// Whether there are none.
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The watchpoints.
    pub fn list(&self) -> &[Watchpoint] {
        &self.list
    }

    /// The watchpoint that an access of `size` bytes at `addr` reaches, if
    /// any: one whose bytes it overlaps and whose kind it is (an AMO both
    /// reads and writes).
    pub fn hit(&self, addr: u64, size: u64, reads: bool, writes: bool) -> Option<WatchHit> {
        let end = addr.wrapping_add(size);
        self.list
            .iter()
            .find(|w| {
                let kind = match w.kind {
                    WatchKind::Read => reads,
                    WatchKind::Write => writes,
                    WatchKind::Access => true,
                };
                kind && addr < w.addr.wrapping_add(w.len) && w.addr < end
            })
            .map(|&watchpoint| WatchHit { watchpoint, addr, write: writes })
    }
}

/// The physical address a debugger's access at virtual `vaddr` reaches on a
/// hart at `privilege` with `satp`: the page tables walked as the hart's
/// loads would (M-mode and Bare translate nothing), but without permission
/// checks and without setting A or D. `None` where nothing is mapped.
pub(crate) fn translate(ram: &Ram, privilege: Privilege, satp_value: u64, vaddr: u64) -> Option<u64> {
    let Some(levels) = paging_levels(satp_value).filter(|_| privilege != Privilege::Machine) else {
        return Some(vaddr);
    };
    if !canonical(vaddr, levels) {
        return None;
    }
    let mut table = (satp_value & satp::PPN_MASK) << 12;
    for level in (0..levels).rev() {
        let index = (vaddr >> (12 + 9 * level)) & 0x1ff;
        let offset = ram.offset(table + index * 8, 8)?;
        let entry = ram.read(offset, 8);
        if entry & pte::V == 0 {
            return None;
        }
        let ppn = (entry >> pte::PPN_SHIFT) & pte::PPN_MASK;
        if entry & (pte::R | pte::X) == 0 {
            table = ppn << 12;
            continue;
        }
        let page_bits = 12 + 9 * level;
        let page_mask = (1u64 << page_bits) - 1;
        return Some(((ppn << 12) & !page_mask) | (vaddr & page_mask));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breakpoints_are_a_sorted_set() {
        let set = Breakpoints::new([0x30, 0x10, 0x30, 0x20]);
        assert_eq!(set.addresses(), &[0x10, 0x20, 0x30]);
        assert!(set.contains(0x20) && !set.contains(0x18));
        assert!(Breakpoints::default().is_empty() && !Breakpoints::default().contains(0));
    }

    #[test]
    fn watchpoints_match_overlapping_accesses_of_their_kind() {
        let watch = |kind| Watchpoints::new([Watchpoint { addr: 0x100, len: 8, kind }]);
        let writes = watch(WatchKind::Write);
        assert!(writes.hit(0x104, 4, false, true).is_some());
        assert!(writes.hit(0x104, 4, true, false).is_none(), "a load passes a write watchpoint");
        assert!(writes.hit(0xfc, 4, false, true).is_none() && writes.hit(0x108, 1, false, true).is_none());
        assert!(writes.hit(0xfe, 4, false, true).is_some(), "overlapping its first byte");
        assert!(watch(WatchKind::Read).hit(0x107, 1, true, true).is_some(), "an AMO reads");
        assert!(watch(WatchKind::Access).hit(0x100, 8, true, false).is_some());
        assert!(Watchpoints::new([Watchpoint { addr: 0, len: 0, kind: WatchKind::Access }]).is_empty());
    }

    #[test]
    fn a_debugger_translation_walks_sv39_without_setting_accessed() {
        let ram = Ram::zeroed(0x8000_0000, 1 << 20).unwrap();
        let root = 0x8000_0000u64;
        let next = 0x8000_1000u64;
        // vaddr 0x4000_2345: VPN2 = 1, VPN1 = 0, VPN0 = 2.
        let write = |addr: u64, value: u64| ram.write(ram.offset(addr, 8).unwrap(), 8, value);
        write(root + 8, (next >> 12) << pte::PPN_SHIFT | pte::V);
        write(next, (0x8000_2000u64 >> 12) << pte::PPN_SHIFT | pte::V);
        let leaf_table = 0x8000_2000u64;
        write(leaf_table + 2 * 8, (0x8000_5000u64 >> 12) << pte::PPN_SHIFT | pte::V | pte::R);
        let sv39 = satp::SV39 << satp::MODE_SHIFT | root >> 12;
        assert_eq!(translate(&ram, Privilege::Supervisor, sv39, 0x4000_2345), Some(0x8000_5345));
        assert_eq!(translate(&ram, Privilege::Supervisor, sv39, 0x4000_3000), None, "unmapped");
        assert_eq!(translate(&ram, Privilege::Machine, sv39, 0x4000_2345), Some(0x4000_2345));
        let leaf = ram.read(ram.offset(leaf_table + 16, 8).unwrap(), 8);
        assert_eq!(leaf & pte::A, 0, "nothing set");
    }
}
