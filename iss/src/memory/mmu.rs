//! Address translation: Sv39, Sv48 and Sv57 page-table walks and the hart's TLB.
//!
//! A walk follows the privileged spec's algorithm (section 4.3.2): it checks
//! the address is canonical, walks three, four or five levels of 8-byte PTEs in
//! RAM, checks the leaf's permissions against the effective privilege, `SUM`
//! and `MXR`, refuses misaligned superpages, and sets the A and D bits in
//! hardware with a compare-and-swap, so a concurrent update by another hart
//! is never lost. Its reads and writes of PTEs are checked against PMP as
//! S-mode accesses. The TLB caches leaf translations per 4 KiB page with their
//! permission bits; permissions are checked on every hit, so a change of
//! privilege, `SUM` or `MXR` needs no flush. A `satp` write flushes it
//! whole, as does `sfence.vma` for every address; `sfence.vma` for one
//! address drops only the entries of the leaf that mapped it (each entry
//! knows its leaf's size, so a superpage's entries all go).
//!
//! The TLB also caches what PMP grants each page, for accesses with paging
//! off too (identity entries), so that S- and U-mode accesses, and M-mode ones
//! once a locked PMP entry binds M-mode, pay for a PMP check only on a miss.
//! With paging off it goes further: a load window and a store window, each a
//! range PMP treats alike and allows, let the interpreter skip the TLB for
//! the accesses inside. PMP writes flush it all.

use std::sync::atomic::Ordering;

use crate::csr::pmpcfg;
use crate::memory::pmp::{self, Access, Pmp, PmpRange};
use crate::memory::{PAGE_SHIFT, PAGE_SIZE, Ram, crosses_page};
use crate::privilege::Privilege;
use crate::trap::Trap;

/// PTE bits.
pub(crate) mod pte {
    pub(crate) const V: u64 = 1 << 0;
    pub(crate) const R: u64 = 1 << 1;
    pub(crate) const W: u64 = 1 << 2;
    pub(crate) const X: u64 = 1 << 3;
    pub(crate) const U: u64 = 1 << 4;
    pub(crate) const A: u64 = 1 << 6;
    pub(crate) const D: u64 = 1 << 7;
    /// Bits 63:54: reserved, Svpbmt and Svnapot, none implemented.
    pub(crate) const RESERVED: u64 = 0x3ff << 54;
    pub(crate) const PPN_SHIFT: u32 = 10;
    pub(crate) const PPN_MASK: u64 = (1 << 44) - 1;
}

/// `satp.MODE` values.
pub(crate) mod satp {
    /// No translation.
    pub(crate) const BARE: u64 = 0;
    /// Sv39: three levels, 39-bit virtual addresses.
    pub(crate) const SV39: u64 = 8;
    /// Sv48: four levels, 48-bit virtual addresses.
    pub(crate) const SV48: u64 = 9;
    /// Sv57: five levels, 57-bit virtual addresses.
    pub(crate) const SV57: u64 = 10;
    /// Shift of the MODE field.
    pub(crate) const MODE_SHIFT: u32 = 60;
    /// The root table's physical page number.
    pub(crate) const PPN_MASK: u64 = (1 << 44) - 1;
    /// Shift of the ASID field.
    pub(crate) const ASID_SHIFT: u32 = 44;
    /// The ASID field, once shifted down (16 bits, all writable).
    pub(crate) const ASID_MASK: u64 = 0xffff;
}

/// What translation needs from the hart: the inputs of a walk.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Context {
    /// `satp`.
    pub satp: u64,
    /// The privilege the access is checked at (for data, MPRV may make it
    /// MPP's).
    pub privilege: Privilege,
    /// `mstatus.SUM`: S-mode may load and store to U pages.
    pub sum: bool,
    /// `mstatus.MXR`: loads may read executable pages.
    pub mxr: bool,
}

/// Whether a leaf with `flags` allows `access` in `ctx`.
fn permitted(flags: u64, access: Access, ctx: &Context) -> bool {
    let user_page = flags & pte::U != 0;
    match ctx.privilege {
        Privilege::User if !user_page => return false,
        Privilege::Supervisor if user_page && (access == Access::Fetch || !ctx.sum) => return false,
        _ => {}
    }
    match access {
        Access::Fetch => flags & pte::X != 0,
        Access::Load => flags & pte::R != 0 || (ctx.mxr && flags & pte::X != 0),
        Access::Store => flags & pte::W != 0,
    }
}

/// A 4 KiB translation: the physical page and the leaf's flags (after the
/// walk set A, and D for a store).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Leaf {
    /// Physical page number.
    pub ppn: u64,
    /// The leaf PTE's low flag bits.
    pub flags: u64,
    /// Bytes the leaf maps (4 KiB, or a superpage's size); 0 for an
    /// identity translation, which no page table gave.
    pub size: u64,
}

/// The levels of page table `satp` names (Sv39 3, Sv48 4, Sv57 5); `None`
/// for Bare.
pub(crate) fn paging_levels(satp_value: u64) -> Option<u32> {
    match satp_value >> satp::MODE_SHIFT {
        satp::SV39 => Some(3),
        satp::SV48 => Some(4),
        satp::SV57 => Some(5),
        _ => None,
    }
}

/// Whether `vaddr` is a valid address for a `levels`-level page table: its
/// bits above the translated ones copy the highest of them.
pub(crate) fn canonical(vaddr: u64, levels: u32) -> bool {
    let shift = 64 - (12 + 9 * levels);
    ((vaddr << shift) as i64 >> shift) as u64 == vaddr
}

/// Walks the page table for `vaddr`. `ctx.privilege` must be S or U. PTE
/// reads, and the write that sets A or D, must pass `pmp` as S-mode
/// accesses; if one does not, the walk raises the access fault of `access`.
pub(crate) fn walk(ram: &Ram, pmp: Pmp<'_>, vaddr: u64, access: Access, ctx: &Context) -> Result<Leaf, Trap> {
    // CSR writes keep no other mode (WARL), and Bare never walks.
    let levels = paging_levels(ctx.satp);
    debug_assert!(levels.is_some(), "a walk with paging off");
    let levels = levels.unwrap_or(5);
    if !canonical(vaddr, levels) {
        return Err(access.page_fault(vaddr));
    }
    'restart: loop {
        let mut table = (ctx.satp & satp::PPN_MASK) << 12;
        for level in (0..levels).rev() {
            let index = (vaddr >> (12 + 9 * level)) & 0x1ff;
            let pte_addr = table + index * 8;
            if !pmp.allows(pte_addr, 8, Access::Load, Privilege::Supervisor) {
                return Err(access.access_fault(vaddr));
            }
            let Some(cell) = ram.offset(pte_addr, 8).and_then(|offset| ram.atomic_u64(offset)) else {
                return Err(access.access_fault(vaddr));
            };
            let entry = cell.load(Ordering::Acquire);
            if entry & pte::V == 0 || (entry & pte::R == 0 && entry & pte::W != 0) || entry & pte::RESERVED != 0 {
                return Err(access.page_fault(vaddr));
            }
            let ppn = (entry >> pte::PPN_SHIFT) & pte::PPN_MASK;
            if entry & (pte::R | pte::X) == 0 {
                table = ppn << 12;
                continue;
            }
            if !permitted(entry, access, ctx) {
                return Err(access.page_fault(vaddr));
            }
            let low_ppn_bits = (1u64 << (9 * level)) - 1;
            if ppn & low_ppn_bits != 0 {
                return Err(access.page_fault(vaddr));
            }
            let wanted = pte::A | if access == Access::Store { pte::D } else { 0 };
            if entry & wanted != wanted {
                if !pmp.allows(pte_addr, 8, Access::Store, Privilege::Supervisor) {
                    return Err(access.access_fault(vaddr));
                }
                // Another hart may change the PTE meanwhile: then walk again.
                if cell.compare_exchange(entry, entry | wanted, Ordering::AcqRel, Ordering::Acquire).is_err() {
                    continue 'restart;
                }
            }
            let page = ppn | ((vaddr >> 12) & low_ppn_bits);
            return Ok(Leaf { ppn: page, flags: (entry | wanted) & 0xff, size: 1 << (12 + 9 * level) });
        }
        return Err(access.page_fault(vaddr));
    }
}

const TLB_ENTRIES: usize = 256;
/// Tag bit of a used entry.
const TLB_VALID: u64 = 1 << 63;
/// Tag bit of an identity entry: no page table is involved (`satp` is Bare,
/// or the access is M-mode's), the entry only holds PMP's answer.
const TLB_IDENTITY: u64 = 1 << 62;
/// Tag bit of an entry for M-mode accesses, whose PMP rules differ.
const TLB_MACHINE: u64 = 1 << 61;
/// The virtual page number in a TLB or fast entry's tag (a 64-bit address
/// has 52 bits of page number).
const VPN_MASK: u64 = (1 << 52) - 1;
/// In an entry's PMP bits: entries split the page, so each access is checked.
const PMP_SPLIT: u8 = 1 << 7;

/// Entries of each of the TLBs that compiled code probes. With 256, two
/// pages a loop uses 1 MiB apart (a process's heap and stack, placed at
/// random) evicted each other at every access often enough to make one
/// Debian boot in three take 13-17 s instead of 9.
pub(crate) const FAST_TLB_ENTRIES: usize = 4096;

/// An entry of a TLB that compiled code probes inline (QEMU's softmmu TLB
/// is the model): a virtual page that loads (or stores) in a given data
/// context may reach directly, as RAM, at `vaddr + addend` in host memory.
/// `repr(C)`: compiled code reads it at fixed offsets.
#[derive(Copy, Clone, Debug, Default)]
#[repr(C)]
pub(crate) struct FastEntry {
    /// The virtual page number, ORed with the context ([`fast_context`]);
    /// 0 when empty.
    pub(crate) tag: u64,
    /// What to add to a virtual address in the page for its host address.
    pub(crate) addend: u64,
}

/// The bits a [`FastEntry`]'s tag carries besides the virtual page number:
/// what a data access's permissions depend on other than the page table and
/// PMP (whose changes flush the TLB), and a bit that no empty entry has.
pub(crate) fn fast_context(ctx: &Context) -> u64 {
    1 << 63 | (ctx.privilege as u64) << 60 | u64::from(ctx.sum) << 59 | u64::from(ctx.mxr) << 58
}

/// A context no [`FastEntry`] matches whatever the page: filled entries
/// have bit 63 set, empty ones are 0, and this one sets bit 62 alone.
pub(crate) const FAST_NONE: u64 = 1 << 62;

/// One cached page.
#[derive(Copy, Clone, Debug)]
struct TlbEntry {
    /// The virtual page number with the `TLB_*` bits.
    tag: u64,
    leaf: Leaf,
    /// The `pmpcfg` R, W and X bits PMP grants the whole physical page, or
    /// [`PMP_SPLIT`].
    pmp: u8,
}

/// A translated address.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Physical {
    /// The physical address.
    pub addr: u64,
    /// PMP treats the whole page alike, so an access elsewhere in it that
    /// the same permissions allow needs no check of its own.
    pub whole_page: bool,
    /// Bytes the page-table leaf that gave the translation maps (the
    /// naturally aligned range around the virtual address that one
    /// `sfence.vma` drops); 0 when no page table was involved.
    pub span: u64,
}

/// A hart's direct-mapped TLB of 4 KiB translations and of what PMP grants
/// their physical pages.
///
/// It is a cache, not architectural state: any two TLBs compare equal, so
/// comparing hart states (lockstep, checkpoints) ignores it.
#[derive(Clone, Debug)]
pub(crate) struct Tlb {
    entries: Box<[TlbEntry]>,
    /// Where data loads need no check at all: paging is off and PMP allows
    /// reads of the whole range. Filled by the first identity load or store
    /// after it was emptied.
    pub(crate) load_window: PmpRange,
    /// The same for stores.
    pub(crate) store_window: PmpRange,
    /// Whether the windows hold for M-mode accesses (else S- and U-mode ones).
    windows_machine: bool,
    /// Pages that compiled code loads from (and stores to) without a call:
    /// RAM pages that a checked access was allowed on, in its context, and
    /// that PMP treats alike throughout. Filled by the dispatcher after the
    /// interpreter made an access compiled code left to it (see
    /// `jit::after_slow_access`), emptied with the rest of the TLB.
    pub(crate) fast_load: Box<[FastEntry]>,
    pub(crate) fast_store: Box<[FastEntry]>,
    /// [`Leaf::size`] of the translation behind each fast entry, for
    /// [`Tlb::flush_page`].
    fast_load_span: Box<[u64]>,
    fast_store_span: Box<[u64]>,
    /// The largest span of a fast entry filled since the last flush.
    fast_largest: u64,
}

impl PartialEq for Tlb {
    fn eq(&self, _other: &Tlb) -> bool {
        true
    }
}

impl Eq for Tlb {}

impl Default for Tlb {
    fn default() -> Self {
        Tlb::new()
    }
}

impl Tlb {
    /// An empty TLB.
    pub(crate) fn new() -> Tlb {
        let empty = TlbEntry { tag: 0, leaf: Leaf { ppn: 0, flags: 0, size: 0 }, pmp: 0 };
        Tlb {
            entries: vec![empty; TLB_ENTRIES].into_boxed_slice(),
            load_window: PmpRange::EMPTY,
            store_window: PmpRange::EMPTY,
            windows_machine: true,
            fast_load: vec![FastEntry::default(); FAST_TLB_ENTRIES].into_boxed_slice(),
            fast_store: vec![FastEntry::default(); FAST_TLB_ENTRIES].into_boxed_slice(),
            fast_load_span: vec![0; FAST_TLB_ENTRIES].into_boxed_slice(),
            fast_store_span: vec![0; FAST_TLB_ENTRIES].into_boxed_slice(),
            fast_largest: 0,
        }
    }

    /// Forgets every translation.
    pub(crate) fn flush(&mut self) {
        self.entries.iter_mut().for_each(|entry| entry.tag = 0);
        self.fast_load.iter_mut().chain(self.fast_store.iter_mut()).for_each(|entry| entry.tag = 0);
        self.fast_largest = 0;
        self.load_window = PmpRange::EMPTY;
        self.store_window = PmpRange::EMPTY;
    }

    /// Forgets what the page-table leaf mapping `vaddr` gave, at whatever
    /// page size it mapped (`sfence.vma` with an address): every entry
    /// whose leaf's range holds `vaddr`. Entries of other leaves, and
    /// identity entries, stay.
    pub(crate) fn flush_page(&mut self, vaddr: u64) {
        let covers = |vpn: u64, size: u64| (vpn << PAGE_SHIFT ^ vaddr) < size;
        for entry in self.entries.iter_mut().filter(|entry| entry.tag & TLB_VALID != 0) {
            if covers(entry.tag & VPN_MASK, entry.leaf.size) {
                entry.tag = 0;
            }
        }
        // Fast entries sit at `vpn % FAST_TLB_ENTRIES`: an entry of a leaf
        // covering `vaddr` has a page number in that leaf's range, so only
        // the slots of the largest range any fast entry came from need a
        // look (one slot while all came from 4 KiB pages).
        let pages = (self.fast_largest >> PAGE_SHIFT).clamp(1, FAST_TLB_ENTRIES as u64);
        let first = (vaddr >> PAGE_SHIFT) & !(pages - 1);
        for (entries, spans) in
            [(&mut self.fast_load, &self.fast_load_span), (&mut self.fast_store, &self.fast_store_span)]
        {
            for vpn in first..first + pages {
                let index = vpn as usize % FAST_TLB_ENTRIES;
                let entry = &mut entries[index];
                if entry.tag != 0 && covers(entry.tag & VPN_MASK, spans[index]) {
                    entry.tag = 0;
                }
            }
        }
    }

    /// Keeps the load and store windows only while data accesses stay
    /// unpaged and of the same class, M-mode (`machine`) or not, since PMP
    /// grants M-mode more.
    pub(crate) fn retain_windows(&mut self, machine: bool, paging: bool) {
        if paging || machine != self.windows_machine {
            self.load_window = PmpRange::EMPTY;
            self.store_window = PmpRange::EMPTY;
            self.windows_machine = machine;
        }
    }

    /// Lets compiled code make `access`es (a load or a store) to the page
    /// of `vaddr` directly from now on, if the access of `size` bytes there
    /// is allowed in `ctx`, the page is RAM and PMP treats it alike
    /// throughout. For the run loop, after the interpreter made such an
    /// access that compiled code left to it (see `jit::after_slow_access`).
    pub(crate) fn fill_fast(&mut self, ram: &Ram, pmp: Pmp<'_>, vaddr: u64, size: u8, access: Access, ctx: &Context) {
        if crosses_page(vaddr, size) {
            return;
        }
        let Ok(physical) = self.translate(ram, pmp, vaddr, size, access, ctx) else { return };
        let page = physical.addr & !(PAGE_SIZE - 1);
        let Some(offset) = ram.offset(page, PAGE_SIZE).filter(|_| physical.whole_page) else { return };
        let (host, _) = ram.raw_parts();
        let vpn = vaddr >> PAGE_SHIFT;
        let entry = FastEntry {
            tag: vpn | fast_context(ctx),
            addend: (host as u64).wrapping_add(offset).wrapping_sub(vpn << PAGE_SHIFT),
        };
        let (table, spans) = if access == Access::Store {
            (&mut self.fast_store, &mut self.fast_store_span)
        } else {
            (&mut self.fast_load, &mut self.fast_load_span)
        };
        table[vpn as usize % FAST_TLB_ENTRIES] = entry;
        spans[vpn as usize % FAST_TLB_ENTRIES] = physical.span;
        self.fast_largest = self.fast_largest.max(physical.span);
    }

    /// Fills whichever window is empty and allowed with the PMP region of
    /// a data access at physical address `addr`.
    fn fill_windows(&mut self, pmp: Pmp<'_>, addr: u64, privilege: Privilege) {
        if (privilege == Privilege::Machine) != self.windows_machine {
            return;
        }
        let (region, granted) = pmp.region(addr, privilege);
        if granted & pmpcfg::R != 0 && self.load_window.len == 0 {
            self.load_window = region;
        }
        if granted & pmpcfg::W != 0 && self.store_window.len == 0 {
            self.store_window = region;
        }
    }

    /// Translates the `size` bytes at `vaddr`, which lie in one page, for
    /// `access` at `ctx.privilege`, and checks them against `pmp`: through
    /// the page table when `satp` asks for paging and the privilege is below
    /// M, as the identity otherwise. The translation and PMP's answer come
    /// from the TLB when it holds them, from a walk and a PMP lookup
    /// otherwise. PMP refusing the access is an access fault, never a page
    /// fault.
    #[inline]
    pub(crate) fn translate(
        &mut self,
        ram: &Ram,
        pmp: Pmp<'_>,
        vaddr: u64,
        size: u8,
        access: Access,
        ctx: &Context,
    ) -> Result<Physical, Trap> {
        let machine = ctx.privilege == Privilege::Machine;
        let paged = !machine && ctx.satp >> satp::MODE_SHIFT != satp::BARE;
        let vpn = vaddr >> 12;
        let tag = vpn | TLB_VALID | if paged { 0 } else { TLB_IDENTITY } | if machine { TLB_MACHINE } else { 0 };
        let slot = &mut self.entries[vpn as usize % TLB_ENTRIES];
        let hit = slot.tag == tag
            && (!paged
                || permitted(slot.leaf.flags, access, ctx)
                    && (access != Access::Store || slot.leaf.flags & pte::D != 0));
        if !hit {
            let leaf = if paged { walk(ram, pmp, vaddr, access, ctx)? } else { Leaf { ppn: vpn, flags: 0, size: 0 } };
            let granted = pmp.page_permissions(leaf.ppn << 12, ctx.privilege).unwrap_or(PMP_SPLIT);
            *slot = TlbEntry { tag, leaf, pmp: granted };
        }
        let addr = slot.leaf.ppn << 12 | (vaddr & 0xfff);
        let span = slot.leaf.size;
        let whole_page = slot.pmp & PMP_SPLIT == 0;
        let allowed = if whole_page {
            slot.pmp & pmp::needed(access) != 0
        } else {
            pmp.allows(addr, u64::from(size), access, ctx.privilege)
        };
        if !allowed {
            return Err(access.access_fault(vaddr));
        }
        let window = match access {
            Access::Fetch => None,
            Access::Load => Some(self.load_window),
            Access::Store => Some(self.store_window),
        };
        if !paged && window.is_some_and(|window| window.len == 0) {
            self.fill_windows(pmp, addr, ctx.privilege);
        }
        Ok(Physical { addr, whole_page, span })
    }
}
