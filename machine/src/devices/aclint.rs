//! The ACLINT in its CLINT-compatible layout (`sifive,clint0`): the machine
//! software-interrupt device (MSWI) and the machine timer (MTIMER).
//!
//! `mtime` follows simulated time, not the host clock: a hart at local cycle
//! `c` sees `mtime = c / cycles_per_tick + offset`, where guest writes to
//! `mtime` move the offset. The runner asks [`Aclint::sync_timer`] before it
//! runs a hart, which raises or lowers MTIP and says how many cycles the hart
//! may run before its timer fires, so timer interrupts arrive on time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use polyhart_iss::memory::AccessContext;
use polyhart_iss::{HartControl, Interrupt};

use crate::bus::{Clock, Device, DeviceError};

/// Offset of the MSWI `msip` registers, 4 bytes per hart.
pub const MSIP_BASE: u64 = 0x0000;
/// Offset of the MTIMER `mtimecmp` registers, 8 bytes per hart.
pub const MTIMECMP_BASE: u64 = 0x4000;
/// Offset of `mtime`.
pub const MTIME: u64 = 0xbff8;
/// Size of the whole CLINT window.
pub const SIZE: u64 = 0x10000;

#[derive(Debug)]
struct TimerCompare {
    value: AtomicU64,
    /// A compare value was written since reset; until then the timer never
    /// fires (QEMU's behaviour: its reset value of 0 arms nothing).
    armed: AtomicBool,
}

/// The CLINT of one machine.
#[derive(Debug)]
pub struct Aclint {
    harts: Vec<Arc<HartControl>>,
    compares: Vec<TimerCompare>,
    cycles_per_tick: u64,
    /// `mtime` minus simulated ticks, changed by guest writes to `mtime`.
    offset: AtomicU64,
}

impl Aclint {
    /// A CLINT for `harts` (indexed by hart ID), with `cycles_per_tick` hart
    /// cycles per `mtime` tick.
    pub fn new(harts: Vec<Arc<HartControl>>, cycles_per_tick: u64) -> Aclint {
        let compares =
            harts.iter().map(|_| TimerCompare { value: AtomicU64::new(0), armed: AtomicBool::new(false) }).collect();
        Aclint { harts, compares, cycles_per_tick: cycles_per_tick.max(1), offset: AtomicU64::new(0) }
    }

    /// `mtime` at local cycle `cycle`.
    pub fn mtime_at(&self, cycle: u64) -> u64 {
        (cycle / self.cycles_per_tick).wrapping_add(self.offset.load(Ordering::Acquire))
    }

    /// Sets hart `hart`'s MTIP line for local cycle `cycle` and returns how
    /// many cycles may pass before the timer fires (`None`: not armed or
    /// already firing).
    pub fn sync_timer(&self, hart: usize, cycle: u64) -> Option<u64> {
        let compare = &self.compares[hart];
        let now = self.mtime_at(cycle);
        let due = compare.value.load(Ordering::Acquire);
        let armed = compare.armed.load(Ordering::Acquire);
        let firing = armed && now >= due;
        self.harts[hart].set_interrupt(Interrupt::MachineTimer, firing);
        if !armed || firing {
            return None;
        }
        let ticks = due - now;
        let into_tick = cycle % self.cycles_per_tick;
        Some(ticks.saturating_mul(self.cycles_per_tick).saturating_sub(into_tick))
    }

    fn write_compare(&self, ctx: &AccessContext, hart: usize, value: u64) {
        let compare = &self.compares[hart];
        compare.value.store(value, Ordering::Release);
        compare.armed.store(true, Ordering::Release);
        let firing = self.mtime_at(ctx.cycle) >= value;
        self.harts[hart].set_interrupt(Interrupt::MachineTimer, firing);
        // The target's run budget was cut to its old deadline: make it return
        // so the runner computes a new one.
        self.harts[hart].request_exit();
    }

    fn write_mtime(&self, ctx: &AccessContext, value: u64) {
        let ticks = ctx.cycle / self.cycles_per_tick;
        self.offset.store(value.wrapping_sub(ticks), Ordering::Release);
        for control in &self.harts {
            control.request_exit();
        }
    }
}

/// Merges a 4- or 8-byte write at byte `shift` into a 64-bit register.
fn merge(old: u64, shift: u64, size: u8, value: u64) -> u64 {
    if size == 8 {
        value
    } else {
        let mask = 0xffff_ffffu64 << (8 * shift);
        (old & !mask) | ((value << (8 * shift)) & mask)
    }
}

impl Clock for Aclint {
    fn mtime(&self, ctx: &AccessContext) -> u64 {
        self.mtime_at(ctx.cycle)
    }
}

impl Device for Aclint {
    fn read(&self, ctx: &AccessContext, offset: u64, size: u8) -> Result<u64, DeviceError> {
        let hart_count = self.harts.len() as u64;
        let bad = DeviceError::NoRegister { offset, size };
        let (register, shift) = match offset {
            o if o < MSIP_BASE + 4 * hart_count && size == 4 && o % 4 == 0 => {
                let lines = self.harts[(o / 4) as usize].lines();
                return Ok(u64::from(lines & Interrupt::MachineSoftware.mask() != 0));
            }
            o if (MTIMECMP_BASE..MTIMECMP_BASE + 8 * hart_count).contains(&o) => {
                let hart = ((o - MTIMECMP_BASE) / 8) as usize;
                (self.compares[hart].value.load(Ordering::Acquire), (o - MTIMECMP_BASE) % 8)
            }
            o if (MTIME..MTIME + 8).contains(&o) => (self.mtime_at(ctx.cycle), o - MTIME),
            _ => return Err(bad),
        };
        match (size, shift) {
            (8, 0) => Ok(register),
            (4, 0 | 4) => Ok(register >> (8 * shift) & 0xffff_ffff),
            _ => Err(bad),
        }
    }

    fn write(&self, ctx: &AccessContext, offset: u64, size: u8, value: u64) -> Result<(), DeviceError> {
        let hart_count = self.harts.len() as u64;
        let bad = DeviceError::NoRegister { offset, size };
        let shift = offset % 8;
        if !matches!((size, shift), (8, 0) | (4, 0 | 4)) {
            return Err(bad);
        }
        match offset {
            o if o < MSIP_BASE + 4 * hart_count && size == 4 => {
                self.harts[(o / 4) as usize].set_interrupt(Interrupt::MachineSoftware, value & 1 != 0);
            }
            o if (MTIMECMP_BASE..MTIMECMP_BASE + 8 * hart_count).contains(&o) => {
                let hart = ((o - MTIMECMP_BASE) / 8) as usize;
                let old = self.compares[hart].value.load(Ordering::Acquire);
                self.write_compare(ctx, hart, merge(old, shift, size, value));
            }
            o if (MTIME..MTIME + 8).contains(&o) => {
                let old = self.mtime_at(ctx.cycle);
                self.write_mtime(ctx, merge(old, shift, size, value));
            }
            _ => return Err(bad),
        }
        Ok(())
    }
}
