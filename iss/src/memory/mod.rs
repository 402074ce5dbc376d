//! How a hart reaches memory, in both tiers: RAM as host memory
//! ([`Ram`]), everything else through the [`Bus`] the machine implements,
//! address translation and its cache (`mmu`), physical memory protection
//! (`pmp`), and the data path that puts them together (`access`).

pub(crate) mod access;
mod bus;
pub(crate) mod mmu;
pub(crate) mod pmp;
mod ram;

pub use bus::{AccessContext, Amo, Bus, BusError};
pub(crate) use ram::{LINE_SHIFT, MARK_ANY, MARK_CODE, MARK_RESERVED, StoreMarks, crosses_page};
pub use ram::{PAGE_SHIFT, PAGE_SIZE, Ram, RamError};

/// A guest physical address: what RAM, the bus and PMP are indexed by.
/// The data path keeps it apart from the [`VirtAddr`] a fault reports.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct PhysAddr(pub(crate) u64);

impl PhysAddr {
    /// The physical address of an access that is not translated (plain
    /// M-mode): the address the instruction computed.
    #[inline(always)]
    pub(crate) fn identity(vaddr: u64) -> PhysAddr {
        PhysAddr(vaddr)
    }
}

/// A guest virtual address, as an instruction computes it: what paging
/// translates and what a fault reports in `mtval`/`stval`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct VirtAddr(pub(crate) u64);
