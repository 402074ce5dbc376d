//! The system bus: the physical address map of a machine beyond RAM.
//!
//! Each device sits at a base address with a size and answers reads and
//! writes at offsets inside its window, in the style of Firecracker's bus.
//! RAM itself is reached by harts directly; the bus sees RAM only for pages
//! the machine watches (HTIF's `tohost`).

use std::fmt;
use std::sync::Arc;

use polyhart_iss::memory::{AccessContext, Amo};
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
    /// An AMO at `offset`: reads `amo.size` bytes, writes [`Amo::apply`]
    /// of them back as one indivisible step and returns the old value.
    /// Device registers do not support atomics unless the device says
    /// otherwise.
    fn atomic(&self, _ctx: &AccessContext, offset: u64, amo: Amo) -> Result<u64, DeviceError> {
        Err(DeviceError::NoRegister { offset, size: amo.size })
    }
}

/// Where `mtime` comes from: the machine's timer device.
pub trait TimeSource: Send + Sync {
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
    time_source: Arc<dyn TimeSource>,
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
    /// A bus with only RAM on it; `time_source` gives `mtime`.
    pub fn new(ram: Arc<Ram>, time_source: Arc<dyn TimeSource>) -> SystemBus {
        SystemBus { mappings: Vec::new(), ram, watches: Vec::new(), time_source }
    }

    /// Maps `device` at `[base, base + size)`. A window that runs past the
    /// end of the address space (wrapping around to address 0) is refused
    /// as overlapping it.
    pub fn map(
        &mut self,
        name: &'static str,
        base: u64,
        size: u64,
        device: Arc<dyn Device>,
    ) -> Result<(), OverlapError> {
        let Some(end) = base.checked_add(size) else {
            return Err(OverlapError { name, base, end: u64::MAX, other: "the end of the address space" });
        };
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
        self.time_source.mtime(ctx)
    }

    fn atomic(&self, ctx: &AccessContext, addr: u64, amo: Amo) -> Result<u64, BusError> {
        let (m, offset) = self.find(addr, amo.size).ok_or(BusError::Unmapped(addr))?;
        m.device.atomic(ctx, offset, amo).map_err(|_| BusError::Denied(addr))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::devices::Rom;
    use crate::memory::allocate_ram;

    const RAM_BASE: u64 = 0x8000_0000;
    const CTX: AccessContext = AccessContext { hart_id: 1, cycle: 700 };

    /// `mtime` is the cycle count divided by ten.
    struct TenCycleTimer;

    impl TimeSource for TenCycleTimer {
        fn mtime(&self, ctx: &AccessContext) -> u64 {
            ctx.cycle / 10
        }
    }

    /// A device that answers its offset plus the access size, remembers
    /// writes, and refuses offset 0x10.
    #[derive(Default)]
    struct Probe {
        writes: Mutex<Vec<(u64, u8, u64)>>,
    }

    impl Device for Probe {
        fn read(&self, _ctx: &AccessContext, offset: u64, size: u8) -> Result<u64, DeviceError> {
            if offset == 0x10 { Err(DeviceError::NoRegister { offset, size }) } else { Ok(offset + u64::from(size)) }
        }

        fn write(&self, _ctx: &AccessContext, offset: u64, size: u8, value: u64) -> Result<(), DeviceError> {
            if offset == 0x10 {
                return Err(DeviceError::NoRegister { offset, size });
            }
            self.writes.lock().unwrap().push((offset, size, value));
            Ok(())
        }
    }

    #[derive(Default)]
    struct Watcher {
        seen: Mutex<Vec<(AccessContext, u64, u8, u64)>>,
    }

    impl StoreWatcher for Watcher {
        fn stored(&self, ctx: &AccessContext, addr: u64, size: u8, value: u64) {
            self.seen.lock().unwrap().push((*ctx, addr, size, value));
        }
    }

    fn bus() -> SystemBus {
        SystemBus::new(allocate_ram(RAM_BASE, 0x4000).unwrap().ram, Arc::new(TenCycleTimer))
    }

    #[test]
    fn overlapping_windows_are_refused() {
        let mut bus = bus();
        bus.map("a", 0x1000, 0x1000, Arc::new(Probe::default())).unwrap();
        let overlap = |name, base, end, other| Err(OverlapError { name, base, end, other });
        assert_eq!(bus.map("b", 0x1800, 0x1000, Arc::new(Probe::default())), overlap("b", 0x1800, 0x2800, "a"));
        assert_eq!(bus.map("c", 0x0800, 0x1000, Arc::new(Probe::default())), overlap("c", 0x800, 0x1800, "a"));
        assert_eq!(bus.map("d", 0x1100, 0x10, Arc::new(Probe::default())), overlap("d", 0x1100, 0x1110, "a"));
        assert_eq!(bus.map("e", 0, 0x10000, Arc::new(Probe::default())), overlap("e", 0, 0x10000, "a"));
        assert_eq!(
            bus.map("f", RAM_BASE + 0x3000, 0x2000, Arc::new(Probe::default())),
            overlap("f", RAM_BASE + 0x3000, RAM_BASE + 0x5000, "RAM")
        );
        assert_eq!(
            bus.map("g", RAM_BASE - 8, 16, Arc::new(Probe::default())),
            overlap("g", RAM_BASE - 8, RAM_BASE + 8, "RAM")
        );
        // A window that wraps past 2^64 would claim addresses below its
        // base unchecked; one that ends at the last address is fine.
        assert_eq!(
            bus.map("h", u64::MAX - 0xfff, 0x2000, Arc::new(Probe::default())),
            overlap("h", u64::MAX - 0xfff, u64::MAX, "the end of the address space")
        );
        assert!(bus.map("i", 1 << 40, u64::MAX, Arc::new(Probe::default())).is_err());
        bus.map("top", u64::MAX - 0xfff, 0xfff, Arc::new(Probe::default())).unwrap();
        // Windows that touch do not overlap.
        bus.map("below", 0x0, 0x1000, Arc::new(Probe::default())).unwrap();
        bus.map("above", 0x2000, 0x1000, Arc::new(Probe::default())).unwrap();
        bus.map("below RAM", RAM_BASE - 0x1000, 0x1000, Arc::new(Probe::default())).unwrap();
        bus.map("above RAM", RAM_BASE + 0x4000, 0x1000, Arc::new(Probe::default())).unwrap();
        assert_eq!(
            format!("{bus:?}"),
            "[below [0x0, 0x1000), a [0x1000, 0x2000), above [0x2000, 0x3000), \
             below RAM [0x7ffff000, 0x80000000), above RAM [0x80004000, 0x80005000), \
             top [0xfffffffffffff000, 0xffffffffffffffff)]"
        );
        assert_eq!(overlap("b", 0x1800, 0x2800, "a").unwrap_err().to_string(), "b at [0x1800, 0x2800) overlaps a");
    }

    #[test]
    fn accesses_reach_the_device_at_their_offset() {
        let mut bus = bus();
        let low = Arc::new(Probe::default());
        let high = Arc::new(Probe::default());
        bus.map("high", 0x3000, 0x100, high.clone()).unwrap();
        bus.map("low", 0x1000, 0x100, low.clone()).unwrap();
        assert_eq!(bus.read(&CTX, 0x1008, 4), Ok(0xc));
        assert_eq!(bus.read(&CTX, 0x30f8, 8), Ok(0x100), "the last 8 bytes of the window");
        bus.write(&CTX, 0x3004, 2, 0xbeef).unwrap();
        bus.write(&CTX, 0x1000, 1, 0x41).unwrap();
        assert_eq!(*high.writes.lock().unwrap(), [(4, 2, 0xbeef)]);
        assert_eq!(*low.writes.lock().unwrap(), [(0, 1, 0x41)]);
    }

    #[test]
    fn unmapped_addresses_are_bus_errors() {
        let mut bus = bus();
        bus.map("dev", 0x1000, 0x100, Arc::new(Probe::default())).unwrap();
        for addr in [0, 0xfff, 0x1100, 0x2000, RAM_BASE - 1, RAM_BASE + 0x4000, u64::MAX - 3] {
            assert_eq!(bus.read(&CTX, addr, 1), Err(BusError::Unmapped(addr)), "read {addr:#x}");
            assert_eq!(bus.write(&CTX, addr, 1, 0), Err(BusError::Unmapped(addr)), "write {addr:#x}");
            assert_eq!(bus.fetch(&CTX, addr), Err(BusError::Unmapped(addr)), "fetch {addr:#x}");
        }
        // Straddling the end of a window is not inside it.
        assert_eq!(bus.read(&CTX, 0x10fc, 8), Err(BusError::Unmapped(0x10fc)));
        assert_eq!(bus.read(&CTX, u64::MAX, 8), Err(BusError::Unmapped(u64::MAX)));
    }

    #[test]
    fn a_refusing_device_gives_denied() {
        let mut bus = bus();
        let probe = Arc::new(Probe::default());
        bus.map("dev", 0x1000, 0x100, probe.clone()).unwrap();
        assert_eq!(bus.read(&CTX, 0x1010, 4), Err(BusError::Denied(0x1010)));
        assert_eq!(bus.write(&CTX, 0x1010, 4, 1), Err(BusError::Denied(0x1010)));
        assert!(probe.writes.lock().unwrap().is_empty());
    }

    #[test]
    fn code_is_fetched_from_rom_but_not_from_devices() {
        let mut bus = bus();
        bus.map("rom", 0x1000, 0x100, Arc::new(Rom::new(&[0x97, 0x02, 0x00, 0x00, 0x01, 0x45], 0x100))).unwrap();
        bus.map("dev", 0x2000, 0x100, Arc::new(Probe::default())).unwrap();
        assert_eq!(bus.fetch(&CTX, 0x1000), Ok(0x0297));
        assert_eq!(bus.fetch(&CTX, 0x1002), Ok(0x0000));
        assert_eq!(bus.fetch(&CTX, 0x1004), Ok(0x4501));
        assert_eq!(bus.fetch(&CTX, 0x10fe), Ok(0), "the zero-filled rest");
        assert_eq!(bus.fetch(&CTX, 0x10ff), Err(BusError::Unmapped(0x10ff)), "straddles the end");
        assert_eq!(bus.fetch(&CTX, 0x2000), Err(BusError::Denied(0x2000)));
        assert_eq!(bus.read(&CTX, 0x2000, 2), Ok(2), "while reads work");
        // ROM reads work, writes are refused.
        assert_eq!(bus.read(&CTX, 0x1000, 4), Ok(0x0297));
        assert_eq!(bus.write(&CTX, 0x1000, 4, 0), Err(BusError::Denied(0x1000)));
        assert_eq!(bus.fetch(&CTX, 0x1000), Ok(0x0297));
    }

    #[test]
    fn ram_is_reached_through_the_bus_too() {
        let bus = bus();
        bus.write(&CTX, RAM_BASE + 0x10, 8, 0x0123_4567_89ab_cdef).unwrap();
        assert_eq!(bus.read(&CTX, RAM_BASE + 0x10, 8), Ok(0x0123_4567_89ab_cdef));
        assert_eq!(bus.read(&CTX, RAM_BASE + 0x12, 2), Ok(0x89ab));
        assert_eq!(bus.ram().read(0x10, 4), 0x89ab_cdef);
        assert_eq!(bus.read(&CTX, RAM_BASE + 0x3ffc, 8), Err(BusError::Unmapped(RAM_BASE + 0x3ffc)));
    }

    #[test]
    fn watched_ram_stores_reach_the_watcher_after_landing() {
        let mut bus = bus();
        let watcher = Arc::new(Watcher::default());
        let tohost = RAM_BASE + 0x1040;
        assert!(bus.watch(tohost, 8, watcher.clone()));
        bus.write(&CTX, tohost, 8, 0x1b).unwrap();
        bus.write(&CTX, tohost + 4, 4, 7).unwrap();
        bus.write(&CTX, tohost - 4, 8, 0xaaaa_bbbb_cccc_dddd).unwrap(); // overlaps the first half
        bus.write(&CTX, tohost + 8, 8, 1).unwrap(); // just after
        bus.write(&CTX, tohost - 8, 8, 1).unwrap(); // just before
        assert_eq!(
            *watcher.seen.lock().unwrap(),
            [(CTX, tohost, 8, 0x1b), (CTX, tohost + 4, 4, 7), (CTX, tohost - 4, 8, 0xaaaa_bbbb_cccc_dddd)]
        );
        assert_eq!(bus.ram().read(0x1040, 8), 0x0000_0007_aaaa_bbbb, "the stores landed in RAM");
        assert!(bus.ram().store_marks(0x1040, 8).watch, "the hart's fast path will route it here");
    }

    #[test]
    fn only_ram_can_be_watched() {
        let mut bus = bus();
        let watcher = Arc::new(Watcher::default());
        assert!(!bus.watch(0x1000, 8, watcher.clone()));
        assert!(!bus.watch(RAM_BASE + 0x3ffc, 8, watcher.clone()), "runs past the end of RAM");
        assert!(!bus.watch(RAM_BASE - 4, 8, watcher));
    }

    #[test]
    fn time_comes_from_the_time_source() {
        let bus = bus();
        assert_eq!(bus.time(&CTX), 70);
        assert_eq!(bus.time(&AccessContext { hart_id: 0, cycle: 9 }), 0);
    }
}
