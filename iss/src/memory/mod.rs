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
