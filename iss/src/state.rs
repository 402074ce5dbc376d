//! A hart's architectural state: registers, `pc`, CSRs, privilege and
//! counters, with what the privileged spec says happens to them on a trap,
//! `mret`, `sret` and an interrupt.

use crate::trigger::{Action, Triggers};
use std::fmt;

use crate::csr::{CsrFile, menvcfg, mstatus};
use crate::decode;
use crate::memory::mmu;
use crate::memory::{AccessContext, Bus};
use crate::privilege::Privilege;
use crate::snapshot::{Reader, SnapshotError, Writer};
use crate::trap::{Cause, Interrupt};

/// `mcountinhibit.CY`.
pub(crate) const INHIBIT_CY: u64 = 1 << 0;
/// `mcountinhibit.IR`.
pub(crate) const INHIBIT_IR: u64 = 1 << 2;

/// Index of the scratch register slot that writes to `x0` are redirected to.
pub(crate) const X0_SINK: u8 = 32;

/// Everything architectural about a hart: what a checkpoint or a lockstep
/// comparison needs. Plain data; what the execution engines keep beside it
/// (the TLB, compiled code's frame, the run loop's flags) is in
/// `Cpu`.
#[derive(Clone)]
pub struct HartState {
    /// Integer registers; slots 32 and up are scratch (see [`X0_SINK`]). 256
    /// slots make every `u8` register index in range, so indexing needs no check.
    pub(crate) x: [u64; 256],
    /// Floating-point registers; singles are NaN-boxed.
    pub(crate) f: [u64; 32],
    /// `fflags`: the accrued exception flags (see the F extension).
    pub fflags: u8,
    /// `frm`: the dynamic rounding mode (3 bits; 5 to 7 are invalid, and an
    /// instruction using one is illegal).
    pub frm: u8,
    /// Address of the next instruction.
    pub pc: u64,
    /// Current privilege mode.
    pub privilege: Privilege,
    /// The CSRs that are plain storage.
    pub csr: CsrFile,
    /// Instructions retired since reset (drives budgets; not guest-writable).
    pub retired: u64,
    /// Cycles since reset beyond one per retired instruction: idle in
    /// `wfi`, and the stalls that devices (an access's latency) and timing
    /// models ([`crate::plugin::HartView::add_cycles`]) add; local time is
    /// [`HartState::cycle`].
    pub idle_cycles: u64,
    /// `minstret` minus `retired`, so that guest writes to `minstret` do not
    /// disturb budgets.
    pub(crate) instret_offset: u64,
    /// `mcycle` minus `cycle`.
    pub(crate) cycle_offset: u64,
    /// `mcountinhibit`: while CY (bit 0) or IR (bit 2) is set, `mcycle` or
    /// `minstret` holds still at the value kept below.
    pub(crate) mcountinhibit: u64,
    /// `mcycle` while inhibited.
    pub(crate) frozen_cycle: u64,
    /// `minstret` while inhibited.
    pub(crate) frozen_instret: u64,
    /// The LR/SC reservation: address, size, the value LR loaded and the
    /// stamp of `Ram::reserve`.
    pub(crate) reservation: Option<(u64, u8, u64, u64)>,
    /// Stalled in `wfi` until an enabled interrupt is pending.
    pub waiting: bool,
    /// The Sdtrig triggers.
    pub triggers: Triggers,
}

/// Equal architectural state: the scratch register slots and the RAM's
/// stamp on a reservation (which differs between machines) do not count.
impl PartialEq for HartState {
    fn eq(&self, other: &HartState) -> bool {
        // Named one by one, so that a new field cannot be forgotten here.
        let HartState {
            x,
            f,
            fflags,
            frm,
            pc,
            privilege,
            csr,
            retired,
            idle_cycles,
            instret_offset,
            cycle_offset,
            mcountinhibit,
            frozen_cycle,
            frozen_instret,
            reservation,
            waiting,
            triggers,
        } = self;
        let reserved = |reservation: &Option<(u64, u8, u64, u64)>| reservation.map(|(a, s, v, _)| (a, s, v));
        x[..32] == other.x[..32]
            && *f == other.f
            && (*fflags, *frm, *pc, *privilege) == (other.fflags, other.frm, other.pc, other.privilege)
            && *csr == other.csr
            && (*retired, *idle_cycles, *instret_offset, *cycle_offset)
                == (other.retired, other.idle_cycles, other.instret_offset, other.cycle_offset)
            && (*mcountinhibit, *frozen_cycle, *frozen_instret)
                == (other.mcountinhibit, other.frozen_cycle, other.frozen_instret)
            && reserved(reservation) == reserved(&other.reservation)
            && *waiting == other.waiting
            && *triggers == other.triggers
    }
}

impl Eq for HartState {}

impl fmt::Debug for HartState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "pc {:#018x} privilege {:?} retired {}", self.pc, self.privilege, self.retired)?;
        for (i, value) in self.x[..32].iter().enumerate() {
            write!(f, "{:>4} {value:#018x}", decode::register_name(i as u8))?;
            f.write_str(if i % 4 == 3 { "\n" } else { "  " })?;
        }
        write!(
            f,
            "mstatus {:#x} mcause {:#x} mepc {:#x} mtval {:#x}",
            self.csr.mstatus, self.csr.mcause, self.csr.mepc, self.csr.mtval
        )
    }
}

impl HartState {
    /// The state of hart `hart_id` at reset: M-mode, registers zero, `pc` 0.
    pub fn new(hart_id: u64) -> HartState {
        HartState {
            x: [0; 256],
            f: [0; 32],
            fflags: 0,
            frm: 0,
            pc: 0,
            privilege: Privilege::Machine,
            csr: CsrFile::new(hart_id),
            retired: 0,
            idle_cycles: 0,
            instret_offset: 0,
            cycle_offset: 0,
            mcountinhibit: 0,
            frozen_cycle: 0,
            frozen_instret: 0,
            reservation: None,
            waiting: false,
            triggers: Triggers::default(),
        }
    }

    /// Makes `self` equal to `from` without copying the scratch register
    /// slots above [`X0_SINK`], which are never written: lockstep's copies of
    /// the state, made for every block, then cost less.
    pub(crate) fn copy_from(&mut self, from: &HartState) {
        // Named one by one, so that a new field cannot be forgotten here.
        let HartState {
            x,
            f,
            fflags,
            frm,
            pc,
            privilege,
            csr,
            retired,
            idle_cycles,
            instret_offset,
            cycle_offset,
            mcountinhibit,
            frozen_cycle,
            frozen_instret,
            reservation,
            waiting,
            triggers,
        } = from;
        let written = usize::from(X0_SINK) + 1;
        self.x[..written].copy_from_slice(&x[..written]);
        self.f = *f;
        self.fflags = *fflags;
        self.frm = *frm;
        self.pc = *pc;
        self.privilege = *privilege;
        self.csr.clone_from(csr);
        self.retired = *retired;
        self.idle_cycles = *idle_cycles;
        self.instret_offset = *instret_offset;
        self.cycle_offset = *cycle_offset;
        self.mcountinhibit = *mcountinhibit;
        self.frozen_cycle = *frozen_cycle;
        self.frozen_instret = *frozen_instret;
        self.reservation = *reservation;
        self.waiting = *waiting;
        self.triggers = *triggers;
    }

    /// Integer register `index` (0 to 31).
    pub fn reg(&self, index: u8) -> u64 {
        self.x[usize::from(index & 31)]
    }

    /// Floating-point register `index` (0 to 31), all 64 bits (a single is
    /// NaN-boxed).
    pub fn freg(&self, index: u8) -> u64 {
        self.f[usize::from(index & 31)]
    }

    /// Sets floating-point register `index` (0 to 31).
    pub fn set_freg(&mut self, index: u8, value: u64) {
        self.f[usize::from(index & 31)] = value;
    }

    /// Sets integer register `index`; writes to `x0` are ignored.
    pub fn set_reg(&mut self, index: u8, value: u64) {
        if index & 31 != 0 {
            self.x[usize::from(index & 31)] = value;
        }
    }

    /// The 32 integer registers.
    pub fn regs(&self) -> [u64; 32] {
        let mut regs = [0; 32];
        regs.copy_from_slice(&self.x[..32]);
        regs
    }

    /// Local time in cycles since reset: one cycle per retired instruction,
    /// plus idle cycles.
    #[inline(always)]
    pub fn cycle(&self) -> u64 {
        self.retired + self.idle_cycles
    }

    /// Whether a Sdtrig trigger fires for `action` on the `size` bytes at
    /// `addr` in `privilege` (the hart's, or its data privilege for an
    /// access), with `mstatus.MIE` as it is now.
    pub(crate) fn trigger_fires(&self, privilege: Privilege, action: Action, addr: u64, size: u64) -> bool {
        let mie = self.csr.mstatus & mstatus::MIE != 0;
        self.triggers.fires(privilege, mie, action, addr, size)
    }

    /// Whether a Sdtrig data trigger fires for `action` (a load or a store
    /// at the data privilege) on `value`, `size` bytes.
    pub(crate) fn trigger_fires_on_data(&self, action: Action, value: u64, size: u8) -> bool {
        let mie = self.csr.mstatus & mstatus::MIE != 0;
        self.triggers.fires_on_data(self.data_privilege(), mie, action, value, size)
    }

    /// The privilege loads and stores are checked at: MPP's when M-mode sets
    /// MPRV.
    pub fn data_privilege(&self) -> Privilege {
        if self.privilege == Privilege::Machine && self.csr.mstatus & mstatus::MPRV != 0 {
            let mpp = (self.csr.mstatus & mstatus::MPP) >> mstatus::MPP_SHIFT;
            Privilege::from_bits(mpp).unwrap_or(Privilege::User)
        } else {
            self.privilege
        }
    }

    /// The translation context of a data access.
    pub(crate) fn data_context(&self) -> mmu::Context {
        mmu::Context {
            satp: self.csr.satp,
            privilege: self.data_privilege(),
            sum: self.csr.mstatus & mstatus::SUM != 0,
            mxr: self.csr.mstatus & mstatus::MXR != 0,
        }
    }

    /// The translation context of an instruction fetch.
    pub(crate) fn fetch_context(&self) -> mmu::Context {
        mmu::Context { privilege: self.privilege, ..self.data_context() }
    }

    /// The context of an access made once `retired` instructions have
    /// retired (inside a block, `self.retired` lags until the block ends).
    pub(crate) fn access_context_at(&self, retired: u64) -> AccessContext {
        AccessContext { hart_id: self.csr.mhartid as usize, cycle: retired + self.idle_cycles }
    }

    /// The `time` at which `mip.STIP` rises, while `menvcfg.STCE` lets
    /// `stimecmp` drive it (Sstc); `None` while STIP is software's.
    pub fn supervisor_timer_compare(&self) -> Option<u64> {
        (self.csr.menvcfg & menvcfg::STCE != 0).then_some(self.csr.stimecmp)
    }

    /// Under Sstc, sets `mip.STIP` to whether `time` has reached `stimecmp`,
    /// with `time` as the hart sees it now.
    pub(crate) fn sync_supervisor_timer(&mut self, bus: &dyn Bus) {
        if let Some(compare) = self.supervisor_timer_compare() {
            let time = bus.time(&self.access_context_at(self.retired));
            let stip = Interrupt::SupervisorTimer.mask();
            if time >= compare {
                self.csr.mip |= stip;
            } else {
                self.csr.mip &= !stip;
            }
        }
    }

    /// `minstret` as the guest reads it.
    pub fn minstret(&self) -> u64 {
        if self.mcountinhibit & INHIBIT_IR != 0 {
            return self.frozen_instret;
        }
        self.retired.wrapping_add(self.instret_offset)
    }

    /// `mcycle` as the guest reads it.
    pub fn mcycle(&self) -> u64 {
        if self.mcountinhibit & INHIBIT_CY != 0 {
            return self.frozen_cycle;
        }
        self.cycle().wrapping_add(self.cycle_offset)
    }

    /// Enters the trap handler for `cause`, raised by the instruction at `pc`
    /// (for an interrupt, the instruction that would have run next). A trap
    /// raised below M-mode goes to S-mode when `medeleg`/`mideleg` delegate
    /// its cause; everything else goes to M-mode. (The hart re-derives how it
    /// translates addresses before it runs on: see `Cpu`.)
    pub fn take_trap(&mut self, cause: Cause, tval: u64, pc: u64) {
        let delegated = self.privilege != Privilege::Machine
            && match cause {
                Cause::Exception(e) => self.csr.medeleg >> (e as u8) & 1 == 1,
                Cause::Interrupt(i) => self.csr.mideleg >> (i as u8) & 1 == 1,
            };
        let csr = &mut self.csr;
        let vector = if delegated { csr.stvec } else { csr.mtvec };
        if delegated {
            csr.sepc = pc;
            csr.scause = cause.code();
            csr.stval = tval;
            let sie = csr.mstatus & mstatus::SIE != 0;
            csr.mstatus &= !(mstatus::SIE | mstatus::SPIE | mstatus::SPP);
            if sie {
                csr.mstatus |= mstatus::SPIE;
            }
            if self.privilege == Privilege::Supervisor {
                csr.mstatus |= mstatus::SPP;
            }
            self.privilege = Privilege::Supervisor;
        } else {
            csr.mepc = pc;
            csr.mcause = cause.code();
            csr.mtval = tval;
            let mie = csr.mstatus & mstatus::MIE != 0;
            csr.mstatus &= !(mstatus::MIE | mstatus::MPIE | mstatus::MPP);
            if mie {
                csr.mstatus |= mstatus::MPIE;
            }
            csr.mstatus |= (self.privilege as u64) << mstatus::MPP_SHIFT;
            self.privilege = Privilege::Machine;
        }
        let base = vector & !3;
        self.pc = match cause {
            Cause::Interrupt(irq) if vector & 1 == 1 => base + 4 * irq as u64,
            _ => base,
        };
    }

    /// `mret`: return to the mode and address saved by the last M-mode trap.
    pub fn mret(&mut self) {
        let csr = &mut self.csr;
        let mpp = (csr.mstatus & mstatus::MPP) >> mstatus::MPP_SHIFT;
        let target = Privilege::from_bits(mpp).unwrap_or(Privilege::User);
        let mpie = csr.mstatus & mstatus::MPIE != 0;
        csr.mstatus &= !(mstatus::MIE | mstatus::MPP);
        if mpie {
            csr.mstatus |= mstatus::MIE;
        }
        csr.mstatus |= mstatus::MPIE;
        if target != Privilege::Machine {
            csr.mstatus &= !mstatus::MPRV;
        }
        self.privilege = target;
        self.pc = csr.mepc;
    }

    /// `sret`: return to the mode and address saved by the last S-mode trap.
    pub fn sret(&mut self) {
        let csr = &mut self.csr;
        let target = if csr.mstatus & mstatus::SPP != 0 { Privilege::Supervisor } else { Privilege::User };
        let spie = csr.mstatus & mstatus::SPIE != 0;
        csr.mstatus &= !(mstatus::SIE | mstatus::SPP);
        if spie {
            csr.mstatus |= mstatus::SIE;
        }
        csr.mstatus |= mstatus::SPIE;
        // Returning below M-mode always leaves MPRV clear.
        csr.mstatus &= !mstatus::MPRV;
        self.privilege = target;
        self.pc = csr.sepc;
    }

    /// The highest-priority interrupt that is pending, enabled and not masked
    /// by the current mode, given the device-driven `mip` bits `external`.
    ///
    /// Interrupts not delegated to S-mode are taken in M-mode: always from a
    /// lower mode, from M-mode only with `mstatus.MIE`. Delegated ones are
    /// taken in S-mode: always from U-mode, from S-mode only with
    /// `mstatus.SIE`, never from M-mode. M-level interrupts come first, then
    /// the spec's order: MEI, MSI, MTI, SEI, SSI, STI.
    pub fn deliverable_interrupt(&self, external: u64) -> Option<Interrupt> {
        let pending = (self.csr.mip | external) & self.csr.mie;
        if pending == 0 {
            return None;
        }
        let status = self.csr.mstatus;
        let machine_enabled = self.privilege < Privilege::Machine || status & mstatus::MIE != 0;
        let supervisor_enabled = self.privilege < Privilege::Supervisor
            || (self.privilege == Privilege::Supervisor && status & mstatus::SIE != 0);
        let mut candidates = 0;
        if machine_enabled {
            candidates = pending & !self.csr.mideleg;
        }
        if candidates == 0 && supervisor_enabled {
            candidates = pending & self.csr.mideleg;
        }
        Interrupt::BY_PRIORITY.into_iter().find(|irq| candidates & irq.mask() != 0)
    }
}

impl HartState {
    /// Writes everything architectural, in a section of its own, but the
    /// LR reservation (which `Hart::save` writes).
    pub fn save(&self, out: &mut Writer) {
        // Named one by one, so that a new field cannot be forgotten here.
        let HartState {
            x,
            f,
            fflags,
            frm,
            pc,
            privilege,
            csr,
            retired,
            idle_cycles,
            instret_offset,
            cycle_offset,
            mcountinhibit,
            frozen_cycle,
            frozen_instret,
            reservation,
            waiting,
            triggers,
        } = self;
        out.section("hart", |out| {
            x[..32].iter().chain(f).for_each(|&value| out.u64(value));
            out.u8(*fflags);
            out.u8(*frm);
            out.u64(*pc);
            out.u8(*privilege as u8);
            csr.save(out);
            for value in [*retired, *idle_cycles, *instret_offset, *cycle_offset] {
                out.u64(value);
            }
            for value in [*mcountinhibit, *frozen_cycle, *frozen_instret] {
                out.u64(value);
            }
            // The reservation is the hart's to save, with its physical
            // address (see `Hart::save`).
            let _ = reservation;
            out.bool(*waiting);
            triggers.save(out);
        });
    }

    /// Reads what [`HartState::save`] wrote; there is no LR reservation.
    pub fn restore(input: &mut Reader<'_>) -> Result<HartState, SnapshotError> {
        let mut input = input.section("hart")?;
        let mut state = HartState::new(0);
        for slot in state.x[..32].iter_mut().chain(state.f.iter_mut()) {
            *slot = input.u64()?;
        }
        state.x[0] = 0;
        state.fflags = input.u8()?;
        state.frm = input.u8()?;
        if state.fflags > 0x1f || state.frm > 7 {
            return Err(input.invalid(format_args!("fflags {:#x} or frm {}", state.fflags, state.frm)));
        }
        state.pc = input.u64()?;
        let privilege = input.u8()?;
        state.privilege = Privilege::from_bits(u64::from(privilege))
            .ok_or_else(|| input.invalid(format_args!("privilege {privilege}")))?;
        state.csr = CsrFile::restore(&mut input)?;
        state.retired = input.u64()?;
        state.idle_cycles = input.u64()?;
        state.instret_offset = input.u64()?;
        state.cycle_offset = input.u64()?;
        state.mcountinhibit = input.u64()?;
        state.frozen_cycle = input.u64()?;
        state.frozen_instret = input.u64()?;
        state.waiting = input.bool()?;
        state.triggers = Triggers::restore(&mut input)?;
        input.finish()?;
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hart_state_comes_back_equal() {
        let mut state = HartState::new(3);
        for i in 1..32 {
            state.x[i] = i as u64 * 0x0101_0101_0101;
            state.f[i] = !(i as u64);
        }
        state.fflags = 0x11;
        state.frm = 2;
        state.pc = 0x8000_1234;
        state.privilege = Privilege::Supervisor;
        state.csr.satp = 8 << 60 | 0x8_0000;
        state.csr.pmpaddr[15] = 0x3f;
        state.retired = 123_456;
        state.idle_cycles = 99;
        state.waiting = true;
        let mut out = Writer::new();
        state.save(&mut out);
        let bytes = out.into_bytes();
        let restored = HartState::restore(&mut Reader::new(&bytes, "test")).expect("restores");
        assert_eq!(restored, state);
        // Cut short anywhere: an error, never a panic.
        for len in 0..bytes.len() {
            assert!(HartState::restore(&mut Reader::new(&bytes[..len], "test")).is_err(), "{len} bytes");
        }
        let mut wrong = Writer::new();
        wrong.section("uart", |out| out.u64(1));
        let wrong = wrong.into_bytes();
        let error = HartState::restore(&mut Reader::new(&wrong, "test")).expect_err("another section");
        assert!(error.to_string().contains("\"uart\" where \"hart\""), "{error}");
    }
}
