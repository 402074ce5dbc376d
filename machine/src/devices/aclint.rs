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
use polyhart_iss::snapshot::{Reader, SnapshotError, Writer};
use polyhart_iss::{HartControl, Interrupt};

use crate::bus::{Device, DeviceError, TimeSource};

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

    /// Back to the state of a system reset: no `mtimecmp` armed, no
    /// software interrupt, MTIP and MSIP low on every hart. `mtime` runs on.
    pub fn reset(&self) {
        for (compare, hart) in self.compares.iter().zip(&self.harts) {
            compare.armed.store(false, Ordering::Release);
            compare.value.store(0, Ordering::Release);
            hart.set_interrupt(Interrupt::MachineTimer, false);
            hart.set_interrupt(Interrupt::MachineSoftware, false);
        }
    }

    /// Writes each hart's `mtimecmp` and the `mtime` offset (MSIP and MTIP
    /// are the harts' lines, which the harts save).
    pub(crate) fn save(&self, out: &mut Writer) {
        out.section("clint", |out| {
            out.u64(self.compares.len() as u64);
            for compare in &self.compares {
                out.u64(compare.value.load(Ordering::Acquire));
                out.bool(compare.armed.load(Ordering::Acquire));
            }
            out.u64(self.offset.load(Ordering::Acquire));
        });
    }

    /// Reads what [`Aclint::save`] wrote, for as many harts.
    pub(crate) fn restore(&self, input: &mut Reader<'_>) -> Result<(), SnapshotError> {
        let mut input = input.section("clint")?;
        let harts = input.count(usize::MAX)?;
        if harts != self.compares.len() {
            return Err(SnapshotError::Mismatch(format!(
                "the CLINT of {harts} harts was saved, this one has {}",
                self.compares.len()
            )));
        }
        let mut saved = Vec::with_capacity(harts);
        for _ in 0..harts {
            saved.push((input.u64()?, input.bool()?));
        }
        let offset = input.u64()?;
        input.finish()?;
        for (compare, (value, armed)) in self.compares.iter().zip(saved) {
            compare.value.store(value, Ordering::Release);
            compare.armed.store(armed, Ordering::Release);
        }
        self.offset.store(offset, Ordering::Release);
        Ok(())
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
        self.cycles_until(cycle, due)
    }

    /// How many cycles after local cycle `cycle` `mtime` reaches `due`
    /// (`None`: it already has). Also serves the harts' own timers (Sstc's
    /// `stimecmp`), which compare against the same time.
    pub fn cycles_until(&self, cycle: u64, due: u64) -> Option<u64> {
        let now = self.mtime_at(cycle);
        if now >= due {
            return None;
        }
        let into_tick = cycle % self.cycles_per_tick;
        Some((due - now).saturating_mul(self.cycles_per_tick).saturating_sub(into_tick))
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

impl TimeSource for Aclint {
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

#[cfg(test)]
mod tests {
    use super::*;

    const MSIP: u64 = Interrupt::MachineSoftware.mask();
    const MTIP: u64 = Interrupt::MachineTimer.mask();

    fn at(cycle: u64) -> AccessContext {
        AccessContext { hart_id: 0, cycle }
    }

    fn clint(harts: usize, cycles_per_tick: u64) -> (Aclint, Vec<Arc<HartControl>>) {
        let controls: Vec<_> = (0..harts).map(|_| Arc::new(HartControl::new())).collect();
        (Aclint::new(controls.clone(), cycles_per_tick), controls)
    }

    fn refused(offset: u64, size: u8) -> DeviceError {
        DeviceError::NoRegister { offset, size }
    }

    fn mtimecmp(hart: u64) -> u64 {
        MTIMECMP_BASE + 8 * hart
    }

    #[test]
    fn msip_drives_the_software_interrupt_of_its_own_hart() {
        let (clint, harts) = clint(3, 1);
        clint.write(&at(0), MSIP_BASE + 4, 4, 1).unwrap();
        assert_eq!(harts[1].lines(), MSIP);
        assert_eq!(harts[0].lines() | harts[2].lines(), 0, "other harts untouched");
        assert_eq!(clint.read(&at(0), MSIP_BASE + 4, 4), Ok(1));
        assert_eq!(clint.read(&at(0), MSIP_BASE, 4), Ok(0));
        // Only bit 0 is writable.
        clint.write(&at(0), MSIP_BASE + 8, 4, 0xffff_fffe).unwrap();
        assert_eq!(harts[2].lines(), 0);
        clint.write(&at(0), MSIP_BASE + 4, 4, 0).unwrap();
        assert_eq!(harts[1].lines(), 0);
        assert_eq!(clint.read(&at(0), MSIP_BASE + 4, 4), Ok(0));
    }

    #[test]
    fn msip_beyond_the_last_hart_or_of_the_wrong_size_is_refused() {
        let (clint, harts) = clint(2, 1);
        assert_eq!(clint.write(&at(0), MSIP_BASE + 8, 4, 1), Err(refused(8, 4)));
        assert_eq!(clint.read(&at(0), MSIP_BASE + 8, 4), Err(refused(8, 4)));
        assert_eq!(clint.write(&at(0), MSIP_BASE, 8, 1), Err(refused(0, 8)));
        assert_eq!(clint.write(&at(0), MSIP_BASE, 1, 1), Err(refused(0, 1)));
        assert_eq!(clint.write(&at(0), MSIP_BASE + 2, 4, 1), Err(refused(2, 4)));
        assert_eq!(clint.read(&at(0), MSIP_BASE, 2), Err(refused(0, 2)));
        assert_eq!(clint.read(&at(0), MSIP_BASE + 1, 4), Err(refused(1, 4)));
        assert!(harts.iter().all(|h| h.lines() == 0));
    }

    #[test]
    fn mtime_follows_the_cycle_count() {
        let (clint, _) = clint(1, 100);
        for (cycle, mtime) in [(0, 0), (99, 0), (100, 1), (250, 2), (1_000_000, 10_000)] {
            assert_eq!(clint.read(&at(cycle), MTIME, 8), Ok(mtime), "cycle {cycle}");
            assert_eq!(clint.mtime(&at(cycle)), mtime);
            assert_eq!(clint.mtime_at(cycle), mtime);
        }
        let cycle = (0x1_0000_0002 * 100) + 7;
        assert_eq!(clint.read(&at(cycle), MTIME, 4), Ok(2), "low half");
        assert_eq!(clint.read(&at(cycle), MTIME + 4, 4), Ok(1), "high half");
    }

    #[test]
    fn zero_cycles_per_tick_means_one() {
        let (clint, _) = clint(1, 0);
        assert_eq!(clint.mtime_at(12345), 12345);
    }

    #[test]
    fn writing_mtime_moves_it_and_time_keeps_running() {
        let (clint, harts) = clint(2, 10);
        clint.write(&at(55), MTIME, 8, 1000).unwrap();
        assert_eq!(clint.mtime_at(55), 1000);
        assert_eq!(clint.mtime_at(65), 1001);
        assert!(harts.iter().all(|h| h.take_exit_request()), "every hart recomputes its deadline");
        // Half writes keep the other half.
        clint.write(&at(55), MTIME + 4, 4, 0xabcd).unwrap();
        assert_eq!(clint.mtime_at(55), 0xabcd_0000_03e8);
        clint.write(&at(55), MTIME, 4, 0x10).unwrap();
        assert_eq!(clint.mtime_at(55), 0xabcd_0000_0010);
        // Going back in time works too (the offset wraps).
        clint.write(&at(1_000_000), MTIME, 8, 5).unwrap();
        assert_eq!(clint.mtime_at(1_000_000), 5);
        assert_eq!(clint.mtime_at(1_000_020), 7);
    }

    #[test]
    fn mtimecmp_full_and_half_writes() {
        let (clint, _) = clint(2, 1);
        clint.write(&at(0), mtimecmp(1), 8, 0x1122_3344_5566_7788).unwrap();
        assert_eq!(clint.read(&at(0), mtimecmp(1), 8), Ok(0x1122_3344_5566_7788));
        assert_eq!(clint.read(&at(0), mtimecmp(1), 4), Ok(0x5566_7788));
        assert_eq!(clint.read(&at(0), mtimecmp(1) + 4, 4), Ok(0x1122_3344));
        assert_eq!(clint.read(&at(0), mtimecmp(0), 8), Ok(0), "hart 0's compare is separate");
        clint.write(&at(0), mtimecmp(1), 4, 0xdead_beef).unwrap();
        assert_eq!(clint.read(&at(0), mtimecmp(1), 8), Ok(0x1122_3344_dead_beef));
        clint.write(&at(0), mtimecmp(1) + 4, 4, 0xffff_ffff_0000_0001).unwrap();
        assert_eq!(clint.read(&at(0), mtimecmp(1), 8), Ok(0x0000_0001_dead_beef), "upper bits of value ignored");
    }

    #[test]
    fn mtimecmp_write_raises_or_lowers_mtip_at_once() {
        let (clint, harts) = clint(2, 1);
        clint.write(&at(100), mtimecmp(1), 8, 100).unwrap();
        assert_eq!(harts[1].lines(), MTIP, "due now");
        assert!(harts[1].take_exit_request());
        assert_eq!(harts[0].lines(), 0);
        assert!(!harts[0].exit_requested());
        clint.write(&at(100), mtimecmp(1), 8, u64::MAX).unwrap();
        assert_eq!(harts[1].lines(), 0, "pushed into the future");
        assert!(harts[1].take_exit_request(), "the hart's budget must be recomputed");
    }

    #[test]
    fn sync_timer_counts_the_exact_cycles_to_the_deadline() {
        let (clint, harts) = clint(1, 100);
        clint.write(&at(0), mtimecmp(0), 8, 5).unwrap();
        // mtime reaches 5 at cycle 500.
        for cycle in [0, 1, 99, 100, 250, 299, 300, 401, 499] {
            assert_eq!(clint.sync_timer(0, cycle), Some(500 - cycle), "cycle {cycle}");
            assert_eq!(harts[0].lines(), 0, "cycle {cycle}");
        }
        for cycle in [500, 501, 599, 10_000] {
            assert_eq!(clint.sync_timer(0, cycle), None, "cycle {cycle}");
            assert_eq!(harts[0].lines(), MTIP, "cycle {cycle}");
        }
        // Lowered again when the compare moves on.
        clint.write(&at(500), mtimecmp(0), 8, 7).unwrap();
        assert_eq!(harts[0].lines(), 0);
        assert_eq!(clint.sync_timer(0, 500), Some(200));
        assert_eq!(harts[0].lines(), 0);
    }

    #[test]
    fn cycles_until_counts_to_the_tick_that_reaches_a_time() {
        let (clint, harts) = clint(1, 100);
        assert_eq!(clint.cycles_until(0, 5), Some(500));
        assert_eq!(clint.cycles_until(250, 5), Some(250));
        assert_eq!(clint.cycles_until(499, 5), Some(1));
        assert_eq!(clint.cycles_until(500, 5), None);
        assert_eq!(clint.cycles_until(0, 0), None);
        assert_eq!(clint.cycles_until(0, u64::MAX), Some(u64::MAX));
        clint.write(&at(0), MTIME, 8, 1000).unwrap();
        assert_eq!(clint.cycles_until(0, 1001), Some(100), "mtime writes move it");
        assert_eq!(harts[0].lines(), 0, "no line is touched");
    }

    #[test]
    fn sync_timer_sees_mtime_writes() {
        let (clint, harts) = clint(1, 10);
        clint.write(&at(0), mtimecmp(0), 8, 1000).unwrap();
        assert_eq!(clint.sync_timer(0, 0), Some(10_000));
        clint.write(&at(0), MTIME, 8, 990).unwrap();
        assert_eq!(clint.sync_timer(0, 3), Some(97));
        clint.write(&at(3), MTIME, 8, 2000).unwrap();
        assert_eq!(clint.sync_timer(0, 3), None);
        assert_eq!(harts[0].lines(), MTIP);
    }

    #[test]
    fn sync_timer_does_not_overflow_for_far_deadlines() {
        let (clint, _) = clint(1, 100);
        clint.write(&at(0), mtimecmp(0), 8, u64::MAX).unwrap();
        assert_eq!(clint.sync_timer(0, 0), Some(u64::MAX));
    }

    #[test]
    fn an_unarmed_timer_never_fires() {
        let (clint, harts) = clint(2, 1);
        for cycle in [0, 1, u64::MAX] {
            assert_eq!(clint.sync_timer(0, cycle), None);
            assert_eq!(clint.sync_timer(1, cycle), None);
        }
        assert!(harts.iter().all(|h| h.lines() == 0), "compare 0 is not a deadline until written");
        // Arming hart 1 leaves hart 0 unarmed.
        clint.write(&at(0), mtimecmp(1), 8, 0).unwrap();
        assert_eq!(harts[1].lines(), MTIP);
        assert_eq!(clint.sync_timer(0, 1000), None);
        assert_eq!(harts[0].lines(), 0);
    }

    #[test]
    fn timer_and_software_interrupts_are_independent() {
        let (clint, harts) = clint(1, 1);
        clint.write(&at(0), MSIP_BASE, 4, 1).unwrap();
        clint.write(&at(10), mtimecmp(0), 8, 10).unwrap();
        assert_eq!(harts[0].lines(), MSIP | MTIP);
        clint.write(&at(10), MSIP_BASE, 4, 0).unwrap();
        assert_eq!(harts[0].lines(), MTIP);
        assert_eq!(clint.read(&at(10), MSIP_BASE, 4), Ok(0), "msip reads its own bit, not MTIP");
    }

    #[test]
    fn bad_sizes_and_offsets_are_refused() {
        let (clint, harts) = clint(2, 1);
        for (offset, size) in [
            (mtimecmp(0), 2),
            (mtimecmp(0), 1),
            (mtimecmp(0) + 2, 4),
            (mtimecmp(0) + 4, 8),
            (mtimecmp(2), 8),
            (MTIME, 2),
            (MTIME + 4, 8),
            (MTIME + 1, 1),
            (0x8000, 4),
            (SIZE - 4, 4),
        ] {
            assert_eq!(clint.read(&at(0), offset, size), Err(refused(offset, size)), "read {offset:#x}/{size}");
            assert_eq!(clint.write(&at(0), offset, size, 1), Err(refused(offset, size)), "write {offset:#x}/{size}");
        }
        assert_eq!(clint.read(&at(0), mtimecmp(0), 8), Ok(0), "refused writes changed nothing");
        assert_eq!(clint.read(&at(0), MTIME, 8), Ok(0));
        assert!(harts.iter().all(|h| h.lines() == 0 && !h.exit_requested()));
    }

    #[test]
    fn a_reset_disarms_the_timers_and_lowers_the_lines() {
        let (clint, harts) = clint(2, 1);
        clint.write(&at(100), mtimecmp(1), 8, 50).unwrap();
        clint.write(&at(100), MSIP_BASE, 4, 1).unwrap();
        assert_eq!((harts[0].lines(), harts[1].lines()), (MSIP, MTIP));
        clint.reset();
        assert_eq!((harts[0].lines(), harts[1].lines()), (0, 0));
        assert_eq!(clint.sync_timer(1, 1_000_000), None, "no timer armed");
        assert_eq!(clint.read(&at(0), MSIP_BASE, 4), Ok(0));
    }
}
