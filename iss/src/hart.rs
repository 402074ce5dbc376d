//! One hart: its architectural state, the handles it executes against, and
//! the run loop that finds blocks and hands them to the interpreter.

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::Thread;

use crate::cache::{Block, BlockKey, JumpCache, TranslationCache};
use crate::csr::{CsrFile, menvcfg, mstatus};
use crate::decode::{self, Disassembly, Inst};
use crate::interp::{self, Handback};
use crate::jit::lockstep::Lockstep;
use crate::jit::{self, Divergence, Jit, JitStats};
use crate::memory::{AccessContext, Bus, PAGE_SIZE, Ram};
use crate::mmu::{self, Access, Physical, Tlb, satp};
use crate::pmp::Pmp;
use crate::trap::{Cause, Exception, Interrupt, Trap};

/// A privilege mode.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Privilege {
    /// U-mode.
    User = 0,
    /// S-mode.
    Supervisor = 1,
    /// M-mode.
    Machine = 3,
}

impl Privilege {
    /// The implemented mode encoded as `bits` in `mstatus.MPP`, if any.
    pub fn from_bits(bits: u64) -> Option<Privilege> {
        match bits {
            0 => Some(Privilege::User),
            1 => Some(Privilege::Supervisor),
            3 => Some(Privilege::Machine),
            _ => None,
        }
    }
}

/// `mcountinhibit.CY`.
pub(crate) const INHIBIT_CY: u64 = 1 << 0;
/// `mcountinhibit.IR`.
pub(crate) const INHIBIT_IR: u64 = 1 << 2;

/// Index of the scratch register slot that writes to `x0` are redirected to.
pub(crate) const X0_SINK: u8 = 32;

/// Everything architectural about a hart: what a checkpoint or a lockstep
/// comparison needs. Plain data.
#[derive(Clone, PartialEq, Eq)]
pub struct HartState {
    /// Integer registers; slots 32 and up are scratch (see [`X0_SINK`]). 256
    /// slots make every `u8` register index in range, so indexing needs no check.
    pub(crate) x: [u64; 256],
    /// Floating-point registers; singles are NaN-boxed.
    pub(crate) f: [u64; 32],
    /// `fflags`: the accrued exception flags (see [`crate::fpu::flags`]).
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
    /// Cycles spent idle (in `wfi`) since reset; local time is
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
    /// stamp of [`Ram::reserve`].
    pub(crate) reservation: Option<(u64, u8, u64, u64)>,
    /// Stalled in `wfi` until an enabled interrupt is pending.
    pub waiting: bool,
    /// `fence.i` executed: the run loop makes this hart's translations
    /// current before the next block.
    pub(crate) fence_i: bool,
    /// The exception a compiled block raised, for the run loop to take.
    pub(crate) jit_trap: Option<Trap>,
    /// Something may have made an interrupt deliverable (a CSR write, `mret`,
    /// `wfi`): the run loop looks before the next block.
    pub(crate) recheck: bool,
    /// Translations cached from the page tables, and PMP's answers.
    pub(crate) tlb: Tlb,
    /// Loads and stores go through the TLB, for paging or PMP: they are not
    /// plain M-mode accesses (derived from the privilege, MPRV/MPP and the
    /// PMP lock bits by [`HartState::update_translation`]).
    pub(crate) data_checked: bool,
    /// Instruction fetches go through the TLB.
    pub(crate) fetch_checked: bool,
    /// `satp` or a PMP register was written, or `sfence.vma` executed: the
    /// run loop drops cached translations before the next block.
    pub(crate) flush_translations: bool,
    /// What compiled code reads besides the architectural state, set each
    /// time Rust enters it (not architectural: equality ignores it).
    pub(crate) frame: jit::Frame,
}

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
            fence_i: false,
            jit_trap: None,
            recheck: true,
            tlb: Tlb::new(),
            data_checked: false,
            fetch_checked: false,
            flush_translations: false,
            frame: jit::Frame::default(),
        }
    }

    /// Makes `self` equal to `from` without cloning the TLB, a cache that
    /// equality ignores: lockstep's copies of the state, made for every
    /// block, then cost no allocation. Scratch register slots above
    /// [`X0_SINK`] are never written, so they are not copied either.
    pub(crate) fn copy_without_tlb(&mut self, from: &HartState) {
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
            fence_i,
            jit_trap,
            recheck,
            tlb: _,
            data_checked,
            fetch_checked,
            flush_translations,
            frame: _,
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
        self.fence_i = *fence_i;
        self.jit_trap = *jit_trap;
        self.recheck = *recheck;
        self.data_checked = *data_checked;
        self.fetch_checked = *fetch_checked;
        self.flush_translations = *flush_translations;
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

    /// Recomputes whether fetches and data accesses are checked (translated
    /// by the page tables or checked against PMP), after anything that
    /// changes the privilege, `mstatus` or a PMP register. Accesses below
    /// M-mode are always checked, since PMP refuses those that no entry
    /// allows; M-mode's only while a locked PMP entry binds it.
    pub(crate) fn update_translation(&mut self) {
        let machine_checked = Pmp::new(&self.csr).restricts_machine_mode();
        let machine_data = self.data_privilege() == Privilege::Machine;
        self.fetch_checked = self.privilege != Privilege::Machine || machine_checked;
        self.data_checked = !machine_data || machine_checked;
        let paging = !machine_data && self.csr.satp >> satp::MODE_SHIFT != satp::BARE;
        self.tlb.retain_windows(machine_data, paging);
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
    pub(crate) fn sync_supervisor_timer(&mut self, env: &Env) {
        if let Some(compare) = self.supervisor_timer_compare() {
            let time = env.bus.time(&self.access_context_at(self.retired));
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
    /// its cause; everything else goes to M-mode.
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
        self.update_translation();
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
        self.update_translation();
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
        self.update_translation();
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

/// What other threads and devices use to reach a running hart: interrupt
/// lines and the exit request. Both raise an attention flag, which the run
/// loop checks before every block it interprets and between slices of
/// compiled code, and unpark the hart's thread if it parked while asleep in
/// `wfi` (see [`HartControl::set_waker`]).
#[derive(Debug, Default)]
pub struct HartControl {
    lines: AtomicU64,
    exit: AtomicBool,
    attention: AtomicBool,
    /// Cycles of simulated time the hart must add to its local time, set
    /// by devices that model an access's latency (see [`HartControl::stall`]).
    stall: AtomicU64,
    /// The thread to unpark when the hart is wanted.
    waker: Mutex<Option<Thread>>,
}

impl HartControl {
    /// Lines all low, no request.
    pub fn new() -> HartControl {
        HartControl::default()
    }

    /// Drives interrupt line `irq` (its `mip` bit) high or low. Raising a line
    /// also asks the hart to leave its current block so it notices (compiled
    /// code, at the end of its run's slice).
    pub fn set_interrupt(&self, irq: Interrupt, level: bool) {
        if level {
            if self.lines.fetch_or(irq.mask(), Ordering::AcqRel) & irq.mask() == 0 {
                self.raise_attention();
                self.wake();
            }
        } else {
            self.lines.fetch_and(!irq.mask(), Ordering::AcqRel);
        }
    }

    /// The `mip` bits driven by devices.
    #[inline(always)]
    pub fn lines(&self) -> u64 {
        self.lines.load(Ordering::Acquire)
    }

    /// Asks the hart to return from [`Hart::run`] at its next block boundary
    /// (in compiled code, where its run's slice ends: within some ten
    /// thousand instructions).
    pub fn request_exit(&self) {
        self.exit.store(true, Ordering::Release);
        self.raise_attention();
        self.wake();
    }

    /// Raises the attention flag. The interpreter looks at it before every
    /// block; compiled code runs in slices (see [`crate::jit::SLICE`]) and
    /// the run loop looks at it between them.
    fn raise_attention(&self) {
        self.attention.store(true, Ordering::Release);
    }

    /// Adds `cycles` to the hart's local time once the current instruction
    /// completes, as the latency of an access a device has just served for
    /// it; the hart then returns from [`Hart::run`] (as for an exit request)
    /// so whoever runs it can recompute how far it may still go. Meant to be
    /// called from within a device access on the hart's own thread, or while
    /// the hart is not running.
    pub fn stall(&self, cycles: u64) {
        if cycles != 0 {
            self.stall.fetch_add(cycles, Ordering::AcqRel);
            self.request_exit();
        }
    }

    /// Stall cycles added by [`HartControl::stall`] and not yet applied to
    /// the hart's local time: a device serving a later access of the same
    /// block adds them to the access's cycle to know the hart's time.
    pub fn pending_stall(&self) -> u64 {
        self.stall.load(Ordering::Acquire)
    }

    fn take_stall(&self) -> u64 {
        if self.stall.load(Ordering::Acquire) == 0 { 0 } else { self.stall.swap(0, Ordering::AcqRel) }
    }

    /// Names the thread that parks while the hart sleeps in `wfi`, to be
    /// unparked when a line rises or an exit is requested; `None` when no
    /// thread parks for it.
    pub fn set_waker(&self, thread: Option<Thread>) {
        *self.waker.lock().unwrap_or_else(|e| e.into_inner()) = thread;
    }

    fn wake(&self) {
        if let Some(thread) = self.waker.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            thread.unpark();
        }
    }

    /// Whether the attention flag is set.
    #[inline(always)]
    pub(crate) fn attention_pending(&self) -> bool {
        self.attention.load(Ordering::Acquire)
    }

    /// Clears the attention flag; returns whether it was set.
    #[inline(always)]
    pub(crate) fn take_attention(&self) -> bool {
        // A plain load first keeps the common case free of a locked operation.
        self.attention.load(Ordering::Acquire) && self.attention.swap(false, Ordering::AcqRel)
    }

    /// Whether an exit was requested.
    #[inline(always)]
    pub fn exit_requested(&self) -> bool {
        self.exit.load(Ordering::Acquire)
    }

    /// Clears the request; returns whether there was one.
    pub fn take_exit_request(&self) -> bool {
        self.exit.swap(false, Ordering::AcqRel)
    }
}

/// Why [`Hart::run`] returned. Guest behaviour is a value, not an error.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The instruction budget is spent.
    BudgetSpent,
    /// The hart executed `wfi` and no enabled interrupt is pending: it waits
    /// until one is, with `pc` after the `wfi`.
    WaitingForInterrupt,
    /// Someone called [`HartControl::request_exit`].
    ExitRequested,
    /// The trap handler itself faults, identically each time, without
    /// retiring an instruction: the hart would trap at the same place forever.
    TrapLoop {
        /// Where the repeating exception is raised.
        pc: u64,
        /// The repeating exception.
        cause: Cause,
        /// The first trap since an instruction last retired, which sent the
        /// hart into the loop, with the address it was raised at (none if the
        /// loop began with the repeating exception itself).
        origin: Option<(Cause, u64)>,
    },
    /// Lockstep ([`crate::JitConfig::lockstep`]) found the compiled code of
    /// the block entered at `pc` and the interpreter disagreeing;
    /// [`Hart::jit_divergence`] says how. The hart holds the state the
    /// compiled code left.
    JitDivergence {
        /// Where the block was entered.
        pc: u64,
    },
}

/// Per-hart counters.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct HartStats {
    /// Blocks this hart decoded.
    pub blocks_translated: u64,
    /// Block lookups answered by the hart's jump cache.
    pub jump_cache_hits: u64,
    /// Block lookups that went to the shared cache or translated.
    pub jump_cache_misses: u64,
    /// Traps taken (exceptions and interrupts).
    pub traps: u64,
}

/// What a hart executes against: shared with the machine and the other harts.
pub(crate) struct Env {
    pub(crate) ram: Arc<Ram>,
    pub(crate) bus: Arc<dyn Bus>,
    pub(crate) cache: Arc<TranslationCache>,
    pub(crate) control: Arc<HartControl>,
    /// The machine's JIT, when hot blocks are compiled.
    pub(crate) jit: Option<Arc<Jit>>,
    /// The hart's seat at the JIT (see [`Jit::sit`]), with it.
    pub(crate) seat: Option<Arc<jit::Seat>>,
    /// This hart's log of compiled code's accesses, in lockstep mode.
    pub(crate) lockstep: Option<Lockstep>,
    /// Loads and stores that compiled code left to the interpreter (see
    /// [`JitStats::slow_accesses`]). Only the hart's own thread writes it.
    pub(crate) slow_accesses: AtomicU64,
    /// For compiled code, which reaches RAM itself (copied into
    /// [`HartState::frame`] for each run): addresses of RAM's first byte and
    /// first line's marks, RAM's guest base and the span of offsets it
    /// reaches directly. Plain numbers, kept valid by `ram` above.
    pub(crate) direct: Direct,
}

/// See [`Env::direct`].
#[derive(Copy, Clone, Debug)]
pub(crate) struct Direct {
    pub(crate) ram_host: usize,
    pub(crate) ram_marks: usize,
    pub(crate) ram_base: u64,
    /// Compiled code accesses RAM directly at offsets (from `ram_base`)
    /// below this: RAM's size less 7, so that 8 bytes fit; 0 in lockstep,
    /// where every load and store takes the helper path, which logs it.
    pub(crate) span: u64,
}

impl Env {
    /// Counts a load or store that compiled code left to the interpreter.
    #[inline(always)]
    pub(crate) fn count_slow_access(&self) {
        // Only this hart's thread writes the counter: no atomic add needed.
        let count = self.slow_accesses.load(Ordering::Relaxed);
        self.slow_accesses.store(count + 1, Ordering::Relaxed);
    }
}

impl Direct {
    fn new(ram: &Ram) -> Direct {
        let (ram_host, ram_marks) = ram.raw_parts();
        let span = ram.size().saturating_sub(7);
        Direct { ram_host, ram_marks, ram_base: ram.base(), span }
    }
}

/// Longest block, in instructions.
const MAX_BLOCK_INSTS: usize = 64;

/// A hart ready to run: its state plus everything it needs to execute.
///
/// Aligned to 128 bytes (a pair of cache lines, which x86 cores fetch
/// together): a machine keeps its harts side by side in one `Vec`, and each
/// hart's thread writes its own state all the time (compiled code stores
/// `pc` and `retired` at every block's exit), so no line may hold two
/// harts' bytes.
#[repr(align(128))]
pub struct Hart {
    /// Architectural state.
    pub state: HartState,
    pub(crate) env: Env,
    jump_cache: JumpCache,
    /// The fetch context the jump cache's entries were made in (`None`:
    /// physical addresses).
    jump_context: Option<(u64, Privilege)>,
    /// Blocks with a smaller serial read their code before this hart's last
    /// `fence.i` (see [`Hart::checked_since_fence_i`]).
    fence_i_serial: u64,
    /// Blocks compared with memory since that `fence.i`.
    checked: HashSet<BlockKey>,
    stats: HartStats,
    /// What this hart counted of the JIT's work.
    jit_stats: JitStats,
    /// What lockstep found, once it found compiled code wrong.
    divergence: Option<Box<Divergence>>,
    /// The last exception taken, to recognise one that repeats forever.
    last_exception: Option<TrapSignature>,
    /// The first trap since an instruction last retired, where it was
    /// raised, and the retired count then: what sent the hart into a loop.
    stall_origin: Option<(Cause, u64, u64)>,
    /// What the run loop keeps between calls of [`interp::run_blocks`].
    pending: interp::Pending,
}

/// What an exception depends on, and when it happened.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct TrapSignature {
    trap: Trap,
    pc: u64,
    privilege: Privilege,
    mstatus: u64,
    retired: u64,
}

impl fmt::Debug for Hart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hart").field("state", &self.state).field("stats", &self.stats).finish()
    }
}

impl Hart {
    /// A hart at reset that reaches memory through `ram` and `bus`, shares
    /// `cache` with the other harts of its machine, and is reached through
    /// `control`.
    pub fn new(
        hart_id: u64,
        ram: Arc<Ram>,
        bus: Arc<dyn Bus>,
        cache: Arc<TranslationCache>,
        control: Arc<HartControl>,
    ) -> Hart {
        Hart {
            state: HartState::new(hart_id),
            env: Env {
                direct: Direct::new(&ram),
                ram,
                bus,
                cache,
                control,
                jit: None,
                seat: None,
                lockstep: None,
                slow_accesses: AtomicU64::new(0),
            },
            jump_cache: JumpCache::new(),
            jump_context: None,
            fence_i_serial: 0,
            checked: HashSet::new(),
            stats: HartStats::default(),
            jit_stats: JitStats::default(),
            divergence: None,
            last_exception: None,
            stall_origin: None,
            pending: interp::Pending::new(),
        }
    }

    /// Lets `jit` compile this hart's hot blocks (shared by the harts of a
    /// machine); `None` interprets everything. Any change of JIT drops every
    /// block of the translation cache (the other harts' too): their compiled
    /// code belongs to the JIT that made it, which frees it when it goes.
    pub fn set_jit(&mut self, jit: Option<Arc<Jit>>) {
        let same = match (&self.env.jit, &jit) {
            (Some(old), Some(new)) => Arc::ptr_eq(old, new),
            (old, new) => old.is_none() && new.is_none(),
        };
        if !same {
            self.env.cache.flush();
            self.jump_cache.clear();
        }
        self.env.seat = jit.as_ref().map(|jit| jit.seat());
        let lockstep = jit.as_ref().is_some_and(|jit| jit.config().lockstep);
        self.env.lockstep = lockstep.then(Lockstep::default);
        self.env.direct = Direct::new(&self.env.ram);
        let bound = jit.as_ref().is_none_or(|jit| jit.bind_ram(self.env.ram.base()));
        if lockstep || !bound {
            self.env.direct.span = 0;
        }
        self.env.jit = jit;
    }

    /// Resets the hart as its reset line would: registers, CSRs and
    /// privilege to their reset values, any reservation and `wfi` dropped,
    /// and execution resuming at `pc`. Local time goes on (simulated time
    /// never runs backwards); `mcycle` and `minstret` read zero again.
    pub fn reset(&mut self, pc: u64) {
        let old = &self.state;
        let mut state = HartState::new(old.csr.mhartid);
        state.retired = old.retired;
        state.idle_cycles = old.idle_cycles;
        state.instret_offset = 0u64.wrapping_sub(state.retired);
        state.cycle_offset = 0u64.wrapping_sub(state.cycle());
        state.pc = pc;
        state.flush_translations = true;
        self.state = state;
        self.last_exception = None;
        self.stall_origin = None;
        self.jump_cache.clear();
    }

    /// The handle other threads use to interrupt or stop this hart.
    pub fn control(&self) -> &Arc<HartControl> {
        &self.env.control
    }

    /// Counters so far.
    pub fn stats(&self) -> HartStats {
        self.stats
    }

    /// What this hart counted running compiled code: exits, slow accesses and
    /// lockstep checks (the compile-time counters are the [`Jit`]'s).
    pub fn jit_stats(&self) -> JitStats {
        JitStats { slow_accesses: self.env.slow_accesses.load(Ordering::Relaxed), ..self.jit_stats }
    }

    /// What lockstep found after [`Exit::JitDivergence`].
    pub fn jit_divergence(&self) -> Option<&Divergence> {
        self.divergence.as_deref()
    }

    /// The access context for the hart's next access.
    pub fn access_context(&self) -> AccessContext {
        self.state.access_context_at(self.state.retired)
    }

    /// Advances local time by `cycles` without executing (the hart was idle).
    pub fn idle(&mut self, cycles: u64) {
        self.state.idle_cycles += cycles;
    }

    /// Runs until `budget` more instructions have retired or something else
    /// stops the hart (see [`Exit`]). A hart waiting in `wfi` resumes when an
    /// enabled interrupt is pending; `run` returns at once while none is.
    pub fn run(&mut self, budget: u64) -> Exit {
        let stop_at = self.state.retired.saturating_add(budget);
        // Interrupts and requests are looked at on entry, when another thread
        // or device asked for attention, and after instructions that can make
        // an interrupt deliverable; otherwise blocks follow each other with
        // only the attention flag and the budget checked in between.
        self.state.recheck = true;
        loop {
            if self.state.recheck || self.env.control.take_attention() {
                self.state.recheck = false;
                if let Some(exit) = self.check_events() {
                    return exit;
                }
            }
            if self.state.retired >= stop_at {
                return Exit::BudgetSpent;
            }
            let handback = interp::run_blocks(
                &mut self.state,
                &self.env,
                &self.jump_cache,
                stop_at,
                &mut self.pending,
                &mut self.stats.jump_cache_hits,
                &mut self.jit_stats,
            );
            match handback {
                Ok(Handback::Budget) => return Exit::BudgetSpent,
                Ok(Handback::Divergence) => {
                    self.divergence = self.env.lockstep.as_ref().and_then(Lockstep::take_divergence);
                    let pc = self.divergence.as_ref().map_or(self.state.pc, |divergence| divergence.pc);
                    return Exit::JitDivergence { pc };
                }
                Ok(Handback::Event) => {}
                Ok(Handback::Miss) => {
                    let pc = self.state.pc;
                    self.stats.jump_cache_misses += 1;
                    match self.find_block(pc) {
                        Ok((block, true)) => self.jump_cache.put(pc, block),
                        Ok((block, false)) => {
                            if let Err((trap, at)) = interp::execute_once(&mut self.state, &self.env, &block, stop_at)
                                && let Some(exit) = self.raise(trap, at)
                            {
                                return exit;
                            }
                        }
                        Err(trap) => {
                            if let Some(exit) = self.raise(trap, pc) {
                                return exit;
                            }
                        }
                    }
                }
                Err((trap, at)) => {
                    if let Some(exit) = self.raise(trap, at) {
                        return exit;
                    }
                }
            }
        }
    }

    /// The slow part of the run loop: exit requests, interrupt delivery and
    /// `wfi`. Returns why the hart must stop, if it must.
    fn check_events(&mut self) -> Option<Exit> {
        self.state.idle_cycles += self.env.control.take_stall();
        if self.env.control.exit_requested() {
            return Some(Exit::ExitRequested);
        }
        self.sync_translations();
        self.state.sync_supervisor_timer(&self.env);
        let lines = self.env.control.lines();
        if let Some(irq) = self.state.deliverable_interrupt(lines) {
            tracing::debug!(target: "int", hart = self.state.csr.mhartid, ?irq, pc = format_args!("{:#x}", self.state.pc), "interrupt");
            self.state.waiting = false;
            self.stats.traps += 1;
            let pc = self.state.pc;
            self.last_exception = None;
            self.note_stall(Cause::Interrupt(irq), pc);
            self.state.take_trap(Cause::Interrupt(irq), 0, pc);
            self.sync_translations();
        } else if self.state.waiting {
            // An interrupt that is pending and enabled in mie wakes wfi
            // even when the mode masks it (mstatus.MIE clear).
            if (self.state.csr.mip | lines) & self.state.csr.mie == 0 {
                // Look again when the hart is next run.
                self.state.recheck = true;
                return Some(Exit::WaitingForInterrupt);
            }
            self.state.waiting = false;
        }
        None
    }

    /// Drops cached translations that no longer hold: the TLB after `satp`
    /// and PMP writes and `sfence.vma`, and the jump cache (keyed by virtual
    /// address, and skipping fetch permission checks) whenever the fetch
    /// context — fetches checked or not, `satp`, privilege — changed.
    fn sync_translations(&mut self) {
        self.state.update_translation();
        let context = self.state.fetch_checked.then_some((self.state.csr.satp, self.state.privilege));
        if self.state.fence_i {
            self.state.fence_i = false;
            // The other harts' stores this hart must now see are visible:
            // blocks read before this point are checked before they run again.
            std::sync::atomic::fence(Ordering::SeqCst);
            self.fence_i_serial = self.env.cache.next_serial();
            self.checked.clear();
            self.jump_cache.clear();
        }
        if self.state.flush_translations {
            self.state.flush_translations = false;
            self.state.tlb.flush();
            self.jump_cache.clear();
        } else if context != self.jump_context {
            self.jump_cache.clear();
        }
        self.jump_context = context;
    }

    /// Takes an exception raised at `pc`; reports a trap loop instead when the
    /// hart is certain to repeat it forever.
    ///
    /// Between two exceptions with nothing retired, only the trap CSRs and
    /// the privilege change, and they settle after one round (`mstatus` takes
    /// its post-trap form, `mepc` is the faulting pc). So when an exception
    /// repeats with the same pc, cause, value, privilege and `mstatus` and no
    /// instruction retired in between, the next round is the same again: the
    /// handler itself faults, with interrupts masked, and nothing can change
    /// that. Reporting it beats spinning without ever retiring, which no
    /// instruction limit would stop.
    fn raise(&mut self, trap: Trap, pc: u64) -> Option<Exit> {
        let cause = Cause::Exception(trap.exception);
        tracing::debug!(target: "int", hart = self.state.csr.mhartid, %cause, pc = format_args!("{pc:#x}"), tval = format_args!("{:#x}", trap.tval), "exception");
        self.stats.traps += 1;
        let signature = TrapSignature {
            trap,
            pc,
            privilege: self.state.privilege,
            mstatus: self.state.csr.mstatus,
            retired: self.state.retired,
        };
        self.note_stall(cause, pc);
        if self.last_exception == Some(signature) {
            let origin = self.stall_origin.map(|(cause, pc, _)| (cause, pc)).filter(|&origin| origin != (cause, pc));
            return Some(Exit::TrapLoop { pc, cause, origin });
        }
        self.last_exception = Some(signature);
        self.state.take_trap(cause, trap.tval, pc);
        // The privilege changed: translation and interrupts need a look.
        self.state.recheck = true;
        None
    }

    /// Remembers a trap as the origin of a possible loop if it is the first
    /// since an instruction last retired.
    fn note_stall(&mut self, cause: Cause, pc: u64) {
        if self.stall_origin.is_none_or(|(_, _, retired)| retired != self.state.retired) {
            self.stall_origin = Some((cause, pc, self.state.retired));
        }
    }

    /// Finds the block at `pc` in the shared cache or translates it, and
    /// says whether it may be cached: a block of one instruction that
    /// straddles two pages may not, because invalidation works per page, nor
    /// may a block on a page that PMP entries split, since a cached block
    /// (perhaps decoded at another privilege) may run past what this fetch
    /// may execute. Those are decoded afresh each time they run.
    fn find_block(&mut self, pc: u64) -> Result<(Arc<Block>, bool), Trap> {
        let fetch = self.translate_fetch(pc)?;
        let physical = fetch.addr;
        let key = BlockKey { pc: physical, mode: 0 };
        if !fetch.whole_page {
            let (insts, code, _) = self.translate(pc, physical, true)?;
            self.stats.blocks_translated += 1;
            return Ok((Arc::new(Block::new(key, insts.into_boxed_slice(), code.into_boxed_slice())), false));
        }
        if let Some(block) = self.env.cache.lookup(&key)
            && self.checked_since_fence_i(&block)
        {
            return Ok((block, true));
        }
        let ticket = self.env.cache.begin(&key);
        let (insts, code, cacheable) = self.translate(pc, physical, false)?;
        self.stats.blocks_translated += 1;
        let block = Block::new(key, insts.into_boxed_slice(), code.into_boxed_slice());
        Ok(if cacheable { (self.env.cache.insert(block, ticket), true) } else { (Arc::new(block), false) })
    }

    /// Whether `block` may run after this hart's last `fence.i`: blocks
    /// whose code was read before it are compared once with memory; one that
    /// differs has its page invalidated and is translated again.
    ///
    /// Stores invalidate code as they happen, but a store that looked at the
    /// code marks just before another hart marked the line, and landed just
    /// after that hart read it, leaves a stale block behind. RISC-V only
    /// promises a hart the new code after it executes `fence.i` (once the
    /// store is visible to it), and at that point this check catches the
    /// stale block: every block read before the `fence.i` is compared with
    /// what memory holds now, once per `fence.i`.
    fn checked_since_fence_i(&mut self, block: &Block) -> bool {
        if block.serial >= self.fence_i_serial || self.checked.contains(&block.key) {
            return true;
        }
        let mut now = vec![0; block.code.len()];
        let same = match self.env.ram.offset(block.key.pc, now.len() as u64) {
            Some(offset) => self.env.ram.read_bytes(offset, &mut now) && now[..] == block.code[..],
            // Code outside RAM is ROM, which does not change.
            None => true,
        };
        if same {
            self.checked.insert(block.key);
        } else {
            self.env.cache.invalidate_page(block.key.pc >> crate::memory::PAGE_SHIFT);
        }
        same
    }

    /// The physical address of an instruction fetch of the parcel at
    /// `vaddr`, checked against the page table and PMP unless fetches are
    /// plain M-mode ones.
    fn translate_fetch(&mut self, vaddr: u64) -> Result<Physical, Trap> {
        if !self.state.fetch_checked {
            return Ok(Physical { addr: vaddr, whole_page: true });
        }
        let ctx = self.state.fetch_context();
        self.state.tlb.translate(&self.env.ram, Pmp::new(&self.state.csr), vaddr, 2, Access::Fetch, &ctx)
    }

    /// Reads the 16-bit parcel of code at physical address `addr` (fetched
    /// from `vaddr`), marking its RAM line as code first so that a store
    /// racing with the read invalidates what is decoded from it.
    fn fetch_parcel(&self, addr: u64, vaddr: u64) -> Result<u16, Trap> {
        let ram = &self.env.ram;
        match ram.offset(addr, 2) {
            Some(offset) => {
                ram.mark_code(offset);
                Ok(ram.read(offset, 2) as u16)
            }
            None => self
                .env
                .bus
                .fetch(&self.access_context(), addr)
                .map_err(|_| Trap::new(Exception::InstructionAccessFault, vaddr)),
        }
    }

    /// Decodes the block at virtual address `pc`, physical `physical`,
    /// checking each parcel against PMP if `check_parcels` (PMP entries
    /// split the page). Returns its instructions and whether it may be
    /// cached (a lone instruction straddling two pages is not, since
    /// invalidation works per page and the second page's mapping may change).
    fn translate(&mut self, pc: u64, physical: u64, check_parcels: bool) -> Result<(Vec<Inst>, Vec<u8>, bool), Trap> {
        let page_end = (pc | (PAGE_SIZE - 1)).wrapping_add(1);
        let mut insts = Vec::new();
        // The bytes decoded, as read (a second read could see newer ones).
        let mut code = Vec::new();
        let mut addr = pc;
        let mut cacheable = true;
        let privilege = self.state.privilege;
        let fetch_on_page = |this: &Self, addr: u64| {
            let at = physical + (addr - pc);
            if check_parcels && !Pmp::new(&this.state.csr).allows(at, 2, Access::Fetch, privilege) {
                return Err(Access::Fetch.access_fault(addr));
            }
            this.fetch_parcel(at, addr)
        };
        while insts.len() < MAX_BLOCK_INSTS {
            let low = match fetch_on_page(self, addr) {
                Ok(low) => low,
                Err(trap) if insts.is_empty() => return Err(trap),
                Err(_) => break,
            };
            let mut raw = u32::from(low);
            if decode::instruction_length(low) == 4 {
                let high_addr = addr.wrapping_add(2);
                if high_addr == page_end {
                    if !insts.is_empty() {
                        break;
                    }
                    cacheable = false;
                }
                let high = if high_addr == page_end {
                    self.translate_fetch(high_addr).and_then(|p| self.fetch_parcel(p.addr, high_addr))
                } else {
                    fetch_on_page(self, high_addr)
                };
                match high {
                    Ok(high) => raw |= u32::from(high) << 16,
                    Err(trap) if insts.is_empty() => return Err(trap),
                    Err(_) => break,
                }
            }
            let mut inst = decode::decode(raw);
            code.extend(&raw.to_le_bytes()[..usize::from(inst.len)]);
            tracing::trace!(target: "in_asm", "{addr:#018x}: {raw:08x}  {}", Disassembly::new(inst, addr));
            if inst.rd == 0 && !inst.op.format().fp_destination() {
                inst.rd = X0_SINK;
            }
            inst.offset = (addr - pc) as u16;
            addr = addr.wrapping_add(u64::from(inst.len));
            let ends = inst.op.ends_block();
            insts.push(inst);
            if ends || addr == page_end || !cacheable {
                break;
            }
        }
        Ok((insts, code, cacheable))
    }
}
