//! The system bus: the physical address map of a machine beyond RAM.
//!
//! Each device sits at a base address with a size and answers reads and
//! writes at offsets inside its window, in the style of Firecracker's bus.
//! RAM itself is reached by harts directly; the bus sees RAM only for pages
//! the machine watches (HTIF's `tohost`).

use std::fmt;
use std::sync::Arc;

use polyhart_iss::memory::AccessContext;
use polyhart_iss::{Bus, BusError, Ram};

/// Why a device refused an access.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    /// The device has no register at this offset or of this size.
    #[error("no register at offset {offset:#x} for a {size}-byte access")]
    NoRegister {
        /// Offset inside the device's window.
        offset: u64,
        /// Access size in bytes.
        size: u8,
    },
}

/// A memory-mapped device: registers at offsets within a window.
pub trait Device: Send + Sync {
    /// Reads `size` bytes at `offset`.
    fn read(&self, ctx: &AccessContext, offset: u64, size: u8) -> Result<u64, DeviceError>;
    /// Writes the low `size` bytes of `value` at `offset`.
    fn write(&self, ctx: &AccessContext, offset: u64, size: u8, value: u64) -> Result<(), DeviceError>;
    /// Whether code can execute from this device (ROM).
    fn executable(&self) -> bool {
        false
    }
}

/// Where `mtime` comes from: the machine's timer device.
pub trait Clock: Send + Sync {
    /// `mtime` as the hart making the access sees it.
    fn mtime(&self, ctx: &AccessContext) -> u64;
}

/// Something that watches stores to a small range of RAM (see
/// [`SystemBus::watch`]). The store has been made when this is called.
pub trait StoreWatcher: Send + Sync {
    /// A store of `size` bytes of `value` at `addr` has landed in RAM.
    fn stored(&self, ctx: &AccessContext, addr: u64, size: u8, value: u64);
}

struct Mapping {
    base: u64,
    size: u64,
    name: &'static str,
    device: Arc<dyn Device>,
}

/// The physical address map of one machine.
pub struct SystemBus {
    mappings: Vec<Mapping>,
    ram: Arc<Ram>,
    watches: Vec<(u64, u64, Arc<dyn StoreWatcher>)>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for SystemBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for m in &self.mappings {
            list.entry(&format_args!("{} [{:#x}, {:#x})", m.name, m.base, m.base + m.size));
        }
        list.finish()
    }
}

/// A window that overlaps one already on the bus.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{name} at [{base:#x}, {end:#x}) overlaps {other}")]
pub struct OverlapError {
    /// The device being added.
    pub name: &'static str,
    /// Its base address.
    pub base: u64,
    /// One past its last address.
    pub end: u64,
    /// What it overlaps.
    pub other: &'static str,
}

impl SystemBus {
    /// A bus with only RAM on it; `clock` gives `mtime`.
    pub fn new(ram: Arc<Ram>, clock: Arc<dyn Clock>) -> SystemBus {
        SystemBus { mappings: Vec::new(), ram, watches: Vec::new(), clock }
    }

    /// Maps `device` at `[base, base + size)`.
    pub fn map(
        &mut self,
        name: &'static str,
        base: u64,
        size: u64,
        device: Arc<dyn Device>,
    ) -> Result<(), OverlapError> {
        let end = base.saturating_add(size);
        let overlaps = |b: u64, e: u64| base < e && b < end;
        if overlaps(self.ram.base(), self.ram.base() + self.ram.size()) {
            return Err(OverlapError { name, base, end, other: "RAM" });
        }
        if let Some(m) = self.mappings.iter().find(|m| overlaps(m.base, m.base + m.size)) {
            return Err(OverlapError { name, base, end, other: m.name });
        }
        let at = self.mappings.partition_point(|m| m.base < base);
        self.mappings.insert(at, Mapping { base, size, name, device });
        Ok(())
    }

    /// Routes stores to RAM range `[addr, addr + len)` through `watcher`
    /// as well. Returns `false` if the range is not RAM.
    pub fn watch(&mut self, addr: u64, len: u64, watcher: Arc<dyn StoreWatcher>) -> bool {
        let Some(offset) = self.ram.offset(addr, len) else { return false };
        self.ram.mark_watched(offset, len);
        self.watches.push((addr, len, watcher));
        true
    }

    /// The RAM of this machine.
    pub fn ram(&self) -> &Arc<Ram> {
        &self.ram
    }

    fn find(&self, addr: u64, size: u8) -> Option<(&Mapping, u64)> {
        let at = self.mappings.partition_point(|m| m.base <= addr).checked_sub(1)?;
        let m = &self.mappings[at];
        let offset = addr - m.base;
        (offset.checked_add(u64::from(size))? <= m.size).then_some((m, offset))
    }
}

impl Bus for SystemBus {
    fn read(&self, ctx: &AccessContext, addr: u64, size: u8) -> Result<u64, BusError> {
        if let Some(offset) = self.ram.offset(addr, u64::from(size)) {
            return Ok(self.ram.read(offset, size));
        }
        let (m, offset) = self.find(addr, size).ok_or(BusError::Unmapped(addr))?;
        m.device.read(ctx, offset, size).map_err(|_| BusError::Denied(addr))
    }

    fn write(&self, ctx: &AccessContext, addr: u64, size: u8, value: u64) -> Result<(), BusError> {
        if let Some(offset) = self.ram.offset(addr, u64::from(size)) {
            self.ram.write(offset, size, value);
            let end = addr + u64::from(size);
            for (base, len, watcher) in &self.watches {
                if addr < base + len && *base < end {
                    watcher.stored(ctx, addr, size, value);
                }
            }
            return Ok(());
        }
        let (m, offset) = self.find(addr, size).ok_or(BusError::Unmapped(addr))?;
        m.device.write(ctx, offset, size, value).map_err(|_| BusError::Denied(addr))
    }

    fn fetch(&self, ctx: &AccessContext, addr: u64) -> Result<u16, BusError> {
        let (m, offset) = self.find(addr, 2).ok_or(BusError::Unmapped(addr))?;
        if !m.device.executable() {
            return Err(BusError::Denied(addr));
        }
        m.device.read(ctx, offset, 2).map(|v| v as u16).map_err(|_| BusError::Denied(addr))
    }

    fn time(&self, ctx: &AccessContext) -> u64 {
        self.clock.mtime(ctx)
    }
}
