//! Zicsr: what the CSR instructions do, for the CSRs whose behaviour
//! depends on the rest of the hart (counters, time, `mip`, the floating-
//! point CSRs, `satp` under `mstatus.TVM`, Sstc's `stimecmp`); the others
//! are plain storage in [`CsrFile`].

use crate::cpu::{Cpu, Flush};
use crate::csr::{self, CsrFile, mstatus};
use crate::decode::illegal;
use crate::decode::{CsrAccess, Inst, Op};
use crate::env::Env;
use crate::privilege::Privilege;
use crate::state::{INHIBIT_CY, INHIBIT_IR};
use crate::trap::Trap;

/// `csrrw`, `csrrs`, `csrrc` and their immediate forms (Zicsr): an
/// instruction that would write reads nothing when `rd` is `x0`
/// (`csrrw`/`csrrwi`), and one that writes nothing when its source is `x0`
/// or zero (`csrrs`/`csrrc` and immediates) still reads.
pub(crate) fn csr_op(cpu: &mut Cpu, env: &Env, inst: &Inst, rs1_value: u64) -> Result<(), Trap> {
    let CsrAccess { csr: number, reads, writes } = inst.csr_access().expect("a CSR instruction");
    let source = match inst.op {
        Op::Csrrwi | Op::Csrrsi | Op::Csrrci => u64::from(inst.rs1),
        _ => rs1_value,
    };
    CsrFile::check_access(number, cpu.arch.privilege, writes).map_err(|_| illegal(inst))?;
    if matches!(number, csr::MIP | csr::SIP) {
        cpu.arch.sync_supervisor_timer(&*env.bus);
    }
    let old = if reads { read_csr(cpu, env, number, cpu.arch.privilege).ok_or_else(|| illegal(inst))? } else { 0 };
    if writes {
        // Read-modify-write of mip/sip works on the software-written bits, not
        // on the lines devices drive (privileged spec 3.1.9, on SEIP).
        let base = match number {
            csr::MIP => cpu.arch.csr.mip,
            csr::SIP => cpu.arch.csr.mip & cpu.arch.csr.mideleg,
            _ => old,
        };
        let value = match inst.op {
            Op::Csrrs | Op::Csrrsi => base | source,
            Op::Csrrc | Op::Csrrci => base & !source,
            _ => source,
        };
        let timer = cpu.arch.supervisor_timer_compare();
        if !write_csr(cpu, number, value) {
            return Err(illegal(inst));
        }
        cpu.update_translation();
        if number == csr::SATP || csr::is_pmp(number) {
            cpu.flush = Flush::All;
        }
        if cpu.arch.supervisor_timer_compare() != timer {
            // The run budget was cut to the old Sstc deadline: let the
            // caller compute a new one.
            env.control.request_exit();
        }
    }
    cpu.arch.x[usize::from(inst.rd)] = old;
    Ok(())
}

/// Reads a CSR for a debugger: as M-mode would, and the floating-point
/// CSRs whatever `mstatus.FS`.
pub(crate) fn debug_read(cpu: &Cpu, env: &Env, number: u16) -> Option<u64> {
    match number {
        csr::FFLAGS | csr::FRM | csr::FCSR => Some(fp_csr(cpu, number)),
        _ => read_csr(cpu, env, number, Privilege::Machine),
    }
}

/// `fflags`, `frm` or `fcsr`.
fn fp_csr(cpu: &Cpu, number: u16) -> u64 {
    match number {
        csr::FFLAGS => u64::from(cpu.arch.fflags),
        csr::FRM => u64::from(cpu.arch.frm),
        _ => u64::from(cpu.arch.frm) << 5 | u64::from(cpu.arch.fflags),
    }
}

/// Writes a CSR for a debugger: as M-mode would, with no instruction
/// retiring after it (a counter reads `value` now), and the floating-point
/// CSRs whatever `mstatus.FS`. False if the CSR does not exist or is
/// read-only.
pub(crate) fn debug_write(cpu: &mut Cpu, number: u16, value: u64) -> bool {
    if number >> 10 == 3 {
        return false;
    }
    let privilege = std::mem::replace(&mut cpu.arch.privilege, Privilege::Machine);
    let fs = cpu.arch.csr.mstatus & mstatus::FS;
    if matches!(number, csr::FFLAGS | csr::FRM | csr::FCSR) && fs == 0 {
        // Dirty on the way in, as an FP write makes it; put back after.
        cpu.arch.csr.mstatus |= mstatus::FS_DIRTY;
    }
    let written = write_csr(cpu, number, value);
    if fs == 0 && matches!(number, csr::FFLAGS | csr::FRM | csr::FCSR) {
        cpu.arch.csr.mstatus = csr::mstatus::with_sd(cpu.arch.csr.mstatus & !mstatus::FS);
    }
    cpu.arch.privilege = privilege;
    // `write_csr` sets a counter for the instruction after a CSR write's.
    match number {
        csr::MCYCLE => cpu.arch.cycle_offset = cpu.arch.cycle_offset.wrapping_add(1),
        csr::MINSTRET => cpu.arch.instret_offset = cpu.arch.instret_offset.wrapping_add(1),
        _ => {}
    }
    written
}

/// Reads a CSR for a CSR instruction: the storage CSRs of [`CsrFile`], plus
/// those that depend on the rest of the hart (counters, time, `mip`).
/// `None` if it does not exist or `privilege` may not read it.
fn read_csr(cpu: &Cpu, env: &Env, number: u16, privilege: Privilege) -> Option<u64> {
    // A counter is readable in S-mode if mcounteren allows it, in U-mode if
    // scounteren allows it too.
    let counter_allowed = |bit: u16| match privilege {
        Privilege::Machine => true,
        Privilege::Supervisor => cpu.arch.csr.mcounteren >> bit & 1 == 1,
        Privilege::User => (cpu.arch.csr.mcounteren & cpu.arch.csr.scounteren) >> bit & 1 == 1,
    };
    match number {
        csr::CYCLE if counter_allowed(0) => Some(cpu.arch.mcycle()),
        csr::TIME if counter_allowed(1) => Some(env.bus.time(&cpu.arch.access_context_at(cpu.arch.retired))),
        csr::INSTRET if counter_allowed(2) => Some(cpu.arch.minstret()),
        0xc03..=0xc1f if counter_allowed(number - 0xc00) => Some(0),
        csr::CYCLE | csr::TIME | csr::INSTRET | 0xc03..=0xc1f => None,
        csr::MCYCLE => Some(cpu.arch.mcycle()),
        csr::MINSTRET => Some(cpu.arch.minstret()),
        csr::MCOUNTINHIBIT => Some(cpu.arch.mcountinhibit),
        csr::FFLAGS | csr::FRM | csr::FCSR if cpu.arch.csr.mstatus & mstatus::FS == 0 => None,
        csr::FFLAGS | csr::FRM | csr::FCSR => Some(fp_csr(cpu, number)),
        csr::MIP => Some(cpu.arch.csr.mip | env.control.lines()),
        csr::SIP => Some((cpu.arch.csr.mip | env.control.lines()) & cpu.arch.csr.mideleg),
        csr::SATP if satp_trapped(cpu, privilege) => None,
        csr::STIMECMP if stimecmp_trapped(cpu, privilege) => None,
        csr::TSELECT..=csr::TINFO => cpu.arch.triggers.read(number),
        _ => cpu.arch.csr.read(number),
    }
}

/// Below M-mode, `stimecmp` exists only while `mcounteren.TM` and
/// `menvcfg.STCE` are both set (Sstc).
fn stimecmp_trapped(cpu: &Cpu, privilege: Privilege) -> bool {
    let enabled = cpu.arch.csr.mcounteren & csr::COUNTEREN_TM != 0 && cpu.arch.csr.menvcfg & csr::menvcfg::STCE != 0;
    privilege != Privilege::Machine && !enabled
}

/// `mstatus.TVM` makes `satp` accesses from S-mode illegal.
fn satp_trapped(cpu: &Cpu, privilege: Privilege) -> bool {
    privilege == Privilege::Supervisor && cpu.arch.csr.mstatus & mstatus::TVM != 0
}

/// Writes a CSR for a CSR instruction; `false` if it does not exist. The
/// writing instruction retires after the write, so a counter is set such that
/// the next instruction reads exactly `value`.
fn write_csr(cpu: &mut Cpu, number: u16, value: u64) -> bool {
    match number {
        csr::MCYCLE if cpu.arch.mcountinhibit & INHIBIT_CY != 0 => cpu.arch.frozen_cycle = value,
        csr::MINSTRET if cpu.arch.mcountinhibit & INHIBIT_IR != 0 => cpu.arch.frozen_instret = value,
        csr::MCYCLE => cpu.arch.cycle_offset = value.wrapping_sub(cpu.arch.cycle() + 1),
        csr::MINSTRET => cpu.arch.instret_offset = value.wrapping_sub(cpu.arch.retired + 1),
        csr::MCOUNTINHIBIT => {
            // Stopping a counter freezes its value now; starting it again
            // resumes from there with the next instruction. Bit 1 (time)
            // is read-only zero.
            let value = value & 0xffff_fffd;
            let (starting, stopping) = (cpu.arch.mcountinhibit & !value, value & !cpu.arch.mcountinhibit);
            if stopping & INHIBIT_CY != 0 {
                cpu.arch.frozen_cycle = cpu.arch.mcycle();
            }
            if stopping & INHIBIT_IR != 0 {
                cpu.arch.frozen_instret = cpu.arch.minstret();
            }
            cpu.arch.mcountinhibit = value;
            if starting & INHIBIT_CY != 0 {
                cpu.arch.cycle_offset = cpu.arch.frozen_cycle.wrapping_sub(cpu.arch.cycle() + 1);
            }
            if starting & INHIBIT_IR != 0 {
                cpu.arch.instret_offset = cpu.arch.frozen_instret.wrapping_sub(cpu.arch.retired + 1);
            }
        }
        csr::SATP if satp_trapped(cpu, cpu.arch.privilege) => return false,
        csr::STIMECMP if stimecmp_trapped(cpu, cpu.arch.privilege) => return false,
        csr::FFLAGS | csr::FRM | csr::FCSR if cpu.arch.csr.mstatus & mstatus::FS == 0 => return false,
        // Whether a trigger is armed now: `update_translation`, after.
        csr::TSELECT..=csr::TINFO => return cpu.arch.triggers.write(number, value),
        csr::FFLAGS | csr::FRM | csr::FCSR => {
            match number {
                csr::FFLAGS => cpu.arch.fflags = value as u8 & 0x1f,
                csr::FRM => cpu.arch.frm = value as u8 & 7,
                _ => (cpu.arch.frm, cpu.arch.fflags) = (value as u8 >> 5 & 7, value as u8 & 0x1f),
            }
            cpu.arch.csr.mstatus |= mstatus::FS_DIRTY | mstatus::SD;
        }
        _ => return cpu.arch.csr.write(number, value),
    }
    true
}
