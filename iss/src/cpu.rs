//! What both execution tiers work on: a hart's architectural state and,
//! beside it, the engine state derived from it or exchanged with compiled
//! code.
//!
//! [`HartState`] is plain architectural data that compares with `==`;
//! [`Cpu`] adds what the engines keep for speed or for each other: the TLB
//! (translations and PMP's answers cached), whether accesses are checked at
//! all, the run loop's flags, and the [`Frame`] compiled code reads. One
//! pointer to a `Cpu` reaches all of it at fixed offsets, which is what a
//! compiled block takes as its only parameter.

use crate::debug::WatchHit;
use crate::jit::frame::Frame;
use crate::memory::mmu::{Tlb, satp};
use crate::memory::pmp::Pmp;
use crate::privilege::Privilege;
use crate::state::HartState;
use crate::trap::{Cause, Trap};

/// A hart's state as the interpreter and compiled code see it.
/// Cached translations (TLB entries, jump-cache slots) to drop.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum Flush {
    /// None.
    #[default]
    Nothing,
    /// What the leaf mapping this virtual address gave, at whatever page
    /// size: `sfence.vma` with an address.
    Page(u64),
    /// Everything.
    All,
}

#[derive(Clone, Debug)]
pub(crate) struct Cpu {
    /// The architectural state.
    pub(crate) arch: HartState,
    /// Translations cached from the page tables, and PMP's answers.
    pub(crate) tlb: Tlb,
    /// Loads and stores go through the TLB, for paging or PMP: they are not
    /// plain M-mode accesses (derived from the privilege, MPRV/MPP and the
    /// PMP lock bits by [`Cpu::update_translation`]).
    pub(crate) data_checked: bool,
    /// Instruction fetches go through the TLB.
    pub(crate) fetch_checked: bool,
    /// Cached translations the run loop drops before the next block, after
    /// a `satp` or PMP write or an `sfence.vma`.
    pub(crate) flush: Flush,
    /// `fence.i` executed: the run loop makes this hart's translations
    /// current before the next block.
    pub(crate) fence_i: bool,
    /// Something may have made an interrupt deliverable, or changed the
    /// privilege or translation (a CSR write, a trap, `mret`, `wfi`): the
    /// run loop looks before the next block.
    pub(crate) recheck: bool,
    /// The exception a compiled block raised, for the run loop to take.
    pub(crate) jit_trap: Option<Trap>,
    /// A trigger is armed ([`crate::trigger`]): the hart runs in the
    /// interpreter, which checks every instruction and access (derived by
    /// [`Cpu::update_translation`]).
    pub(crate) triggers_armed: bool,
    /// The watchpoint an access reached: the trap the access raised is the
    /// debugger's stop, not an exception (see [`crate::debug::Watchpoints`]).
    pub(crate) watch_hit: Option<WatchHit>,
    /// A trigger matched the data an instruction loaded: the breakpoint
    /// exception (its `tval`, the access's address) is taken once that
    /// instruction has retired ([`crate::trigger`]'s "after" timing).
    pub(crate) trigger_after: Option<u64>,
    /// What compiled code reads besides the architectural state, set each
    /// time Rust enters it.
    pub(crate) frame: Frame,
}

impl Cpu {
    /// Hart `hart_id` at reset.
    pub(crate) fn new(hart_id: u64) -> Cpu {
        Cpu::with_state(HartState::new(hart_id))
    }

    /// A hart in architectural state `arch`, with nothing cached yet: the
    /// run loop derives the rest before the first block.
    pub(crate) fn with_state(arch: HartState) -> Cpu {
        Cpu {
            arch,
            tlb: Tlb::new(),
            data_checked: false,
            fetch_checked: false,
            flush: Flush::Nothing,
            fence_i: false,
            recheck: true,
            jit_trap: None,
            watch_hit: None,
            trigger_after: None,
            triggers_armed: false,
            frame: Frame::default(),
        }
    }

    /// Makes `self` the same hart as `from` without copying the TLB (a
    /// cache) or the frame (refilled at each entry): lockstep's copies, made
    /// for every block, then cost no allocation.
    pub(crate) fn copy_without_tlb(&mut self, from: &Cpu) {
        let Cpu {
            arch,
            tlb: _,
            data_checked,
            fetch_checked,
            flush,
            fence_i,
            recheck,
            jit_trap,
            watch_hit,
            trigger_after,
            triggers_armed,
            frame: _,
        } = from;
        self.arch.copy_from(arch);
        self.data_checked = *data_checked;
        self.fetch_checked = *fetch_checked;
        self.flush = *flush;
        self.fence_i = *fence_i;
        self.recheck = *recheck;
        self.jit_trap = *jit_trap;
        self.watch_hit = *watch_hit;
        self.trigger_after = *trigger_after;
        self.triggers_armed = *triggers_armed;
    }

    /// The engine flags that instructions set: with [`Cpu::arch`], what
    /// lockstep compares between the tiers.
    pub(crate) fn flags(&self) -> (Flush, bool, bool) {
        (self.flush, self.fence_i, self.recheck)
    }

    /// Executes `sfence.vma` with `vaddr` (rs1, `None` for x0) and `asid`
    /// (rs2, `None` for x0): records what the run loop must drop.
    ///
    /// The TLB and the jump cache only ever hold translations of the
    /// current `satp`, since a write to it flushes them, so a fence for
    /// another address space has nothing to drop (global mappings are
    /// exempt from an ASID's fence). A fence for one address drops only
    /// what the leaf mapping it gave.
    pub(crate) fn sfence_vma(&mut self, vaddr: Option<u64>, asid: Option<u64>) {
        if asid.is_some_and(|asid| asid & satp::ASID_MASK != self.arch.csr.satp >> satp::ASID_SHIFT & satp::ASID_MASK) {
            return;
        }
        self.flush = match (self.flush, vaddr) {
            (Flush::Nothing, Some(vaddr)) => Flush::Page(vaddr),
            (Flush::Page(pending), Some(vaddr)) if pending == vaddr => Flush::Page(vaddr),
            _ => Flush::All,
        };
    }

    /// Recomputes whether fetches and data accesses are checked (translated
    /// by the page tables or checked against PMP), after anything that
    /// changes the privilege, `mstatus` or a PMP register. Accesses below
    /// M-mode are always checked, since PMP refuses those that no entry
    /// allows; M-mode's only while a locked PMP entry binds it.
    pub(crate) fn update_translation(&mut self) {
        let machine_checked = Pmp::new(&self.arch.csr).restricts_machine_mode();
        let machine_data = self.arch.data_privilege() == Privilege::Machine;
        self.fetch_checked = self.arch.privilege != Privilege::Machine || machine_checked;
        self.data_checked = !machine_data || machine_checked;
        let paging = !machine_data && self.arch.csr.satp >> satp::MODE_SHIFT != satp::BARE;
        self.tlb.retain_windows(machine_data, paging);
        self.triggers_armed = self.arch.triggers.armed();
    }

    /// Enters the trap handler for `cause` (see [`HartState::take_trap`])
    /// and re-derives how accesses are translated in the new mode.
    pub(crate) fn take_trap(&mut self, cause: Cause, tval: u64, pc: u64) {
        self.arch.take_trap(cause, tval, pc);
        self.update_translation();
    }
}
