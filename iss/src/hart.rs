//! One hart: [`Hart`] puts together its state, what it executes against,
//! its fetcher and its dispatcher, and runs them: the run loop takes
//! interrupts and traps, makes cached translations current, and finds the
//! blocks the dispatcher then runs.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::cache::TranslationCache;
use crate::control::HartControl;
use crate::cpu::{Cpu, Flush};
use crate::debug::{self, Breakpoints, WatchHit, Watchpoints};
use crate::env::{Direct, Env};
use crate::fetch::{Fetcher, Found};
use crate::interp;
use crate::jit::{Divergence, HartJit, Jit, JitStats};
use crate::memory::{AccessContext, Bus, Ram};
use crate::plugin::{HartPlugins, Plugins};
use crate::privilege::Privilege;
use crate::run::{DispatchExit, Dispatcher};
use crate::snapshot::{Reader, SnapshotError, Writer};
use crate::state::HartState;
use crate::trap::{Cause, Trap};
use crate::zicsr;

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
    /// The hart reached a breakpoint ([`Hart::set_breakpoints`]): `pc`, the
    /// state's, is the breakpoint, and its instruction has not run.
    Breakpoint {
        /// The breakpoint.
        pc: u64,
    },
    /// An access of the instruction at `pc`, the state's, reached a
    /// watchpoint ([`Hart::set_watchpoints`]); the instruction has not run.
    Watchpoint {
        /// The instruction.
        pc: u64,
        /// What it reached.
        hit: WatchHit,
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
    /// Instructions the interpreter retired (the rest ran as compiled code).
    pub interpreted: u64,
}

/// A hart ready to run: its state plus everything it needs to execute.
///
/// Aligned to 128 bytes (a pair of cache lines, which x86 cores fetch
/// together): a machine keeps its harts side by side in one `Vec`, and each
/// hart's thread writes its own state all the time (compiled code stores
/// `pc` and `retired` at every block's exit), so no line may hold two
/// harts' bytes.
#[repr(align(128))]
pub struct Hart {
    /// The architectural state and, beside it, the engines'.
    cpu: Cpu,
    env: Env,
    /// The hart's place at the machine's JIT, when hot blocks are compiled.
    jit: Option<HartJit>,
    /// The fetch context the jump cache's entries were made in (`None`:
    /// physical addresses).
    jump_context: Option<(u64, Privilege)>,
    /// Finds and decodes the hart's blocks.
    fetcher: Fetcher,
    stats: HartStats,
    /// What lockstep found, once it found compiled code wrong.
    divergence: Option<Box<Divergence>>,
    /// The last exception taken, to recognise one that repeats forever.
    last_exception: Option<TrapSignature>,
    /// The first trap since an instruction last retired, where it was
    /// raised, and the retired count then: what sent the hart into a loop.
    stall_origin: Option<(Cause, u64, u64)>,
    /// Runs blocks one after another, with the jump cache.
    dispatcher: Dispatcher,
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
        f.debug_struct("Hart").field("state", &self.cpu).field("stats", &self.stats).finish()
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
            cpu: Cpu::new(hart_id),
            env: Env {
                direct: Direct::new(&ram),
                ram,
                bus,
                cache,
                control,
                slow_accesses: AtomicU64::new(0),
                breakpoints: Breakpoints::default(),
                watchpoints: Watchpoints::default(),
            },
            jit: None,
            jump_context: None,
            fetcher: Fetcher::new(),
            stats: HartStats::default(),
            divergence: None,
            last_exception: None,
            stall_origin: None,
            dispatcher: Dispatcher::new(),
        }
    }

    /// Lets `jit` compile this hart's hot blocks (shared by the harts of a
    /// machine); `None` interprets everything. Any change of JIT drops every
    /// block of the translation cache (the other harts' too): their compiled
    /// code belongs to the JIT that made it, which frees it when it goes.
    pub fn set_jit(&mut self, jit: Option<Arc<Jit>>) {
        let same = match (&self.jit, &jit) {
            (Some(old), Some(new)) => Arc::ptr_eq(&old.jit, new),
            (old, new) => old.is_none() && new.is_none(),
        };
        if !same {
            self.env.cache.flush();
            self.dispatcher.jump_cache.clear();
        }
        let lockstep = jit.as_ref().is_some_and(|jit| jit.config().lockstep);
        self.env.direct = Direct::new(&self.env.ram);
        let bound = jit.as_ref().is_none_or(|jit| jit.bind_ram(self.env.ram.base()));
        if lockstep || !bound {
            self.env.direct.span = 0;
        }
        self.jit = jit.map(HartJit::new);
    }

    /// Installs a machine's plugins on this hart, or removes them (`None`):
    /// the hart gets an observer per plugin and zeroed counters, and its
    /// observers see [`crate::plugin::Observer::start`]. Returns the hart's
    /// part of the plugins it had (after their
    /// [`crate::plugin::Observer::stop`]), for [`Plugins::finish`]. Every
    /// block of the translation cache goes (the other harts' too): plans
    /// are part of each translation, so each hart of a machine must get
    /// the same plugins before it runs again.
    pub fn set_plugins(&mut self, plugins: Option<Arc<Plugins>>) -> Option<HartPlugins> {
        let mut old = self.dispatcher.plugins.take();
        if let Some(old) = &mut old {
            old.run_state(&mut self.cpu, &self.env, false);
        }
        self.env.cache.flush();
        self.dispatcher.jump_cache.clear();
        self.fetcher.plugins = plugins.clone();
        if let Some(plugins) = plugins {
            let mut part = plugins.attach(self.cpu.arch.csr.mhartid);
            part.run_state(&mut self.cpu, &self.env, true);
            self.dispatcher.plugins = Some(part);
        }
        old
    }

    /// The hart's part of its plugins: its observers and counters.
    pub fn plugins(&self) -> Option<&HartPlugins> {
        self.dispatcher.plugins.as_ref()
    }

    /// Resets the hart as its reset line would: registers, CSRs and
    /// privilege to their reset values, any reservation and `wfi` dropped,
    /// and execution resuming at `pc`. Local time goes on (simulated time
    /// never runs backwards); `mcycle` and `minstret` read zero again.
    pub fn reset(&mut self, pc: u64) {
        let old = &self.cpu.arch;
        let mut state = HartState::new(old.csr.mhartid);
        state.retired = old.retired;
        state.idle_cycles = old.idle_cycles;
        state.instret_offset = 0u64.wrapping_sub(state.retired);
        state.cycle_offset = 0u64.wrapping_sub(state.cycle());
        state.pc = pc;
        self.replace_state(state);
    }

    /// Makes `state` the hart's, with nothing the engines cached from the
    /// old one kept.
    fn replace_state(&mut self, state: HartState) {
        let mut cpu = Cpu::with_state(state);
        cpu.flush = Flush::All;
        self.cpu = cpu;
        self.last_exception = None;
        self.stall_origin = None;
        self.dispatcher.jump_cache.clear();
    }

    /// Writes the hart's architectural state, its LR reservation and its
    /// interrupt lines' levels (see [`crate::snapshot`]).
    pub fn save(&self, out: &mut Writer) {
        let state = &self.cpu.arch;
        state.save(out);
        // The reservation's physical address, where the restored hart
        // reserves again (a reservation on something that is not RAM
        // cannot exist: LR faults there).
        let privilege = state.data_privilege();
        let reserved = state.reservation.and_then(|(addr, size, value, _)| {
            let physical = debug::translate(&self.env.ram, privilege, state.csr.satp, addr)?;
            self.env.ram.offset(physical, u64::from(size)).map(|offset| (addr, size, value, offset))
        });
        out.section("reservation", |out| {
            out.bool(reserved.is_some());
            let (addr, size, value, offset) = reserved.unwrap_or_default();
            out.u64(addr);
            out.u8(size);
            out.u64(value);
            out.u64(offset);
        });
        out.u64(self.env.control.lines());
    }

    /// Makes this hart the one [`Hart::save`] wrote: its architectural
    /// state, reservation and interrupt lines. Everything the engines
    /// cached is derived again; the hart's ID must match.
    pub fn restore(&mut self, input: &mut Reader<'_>) -> Result<(), SnapshotError> {
        let mut state = HartState::restore(input)?;
        let mut reservation = input.section("reservation")?;
        let reserved = reservation.bool()?;
        let (addr, size, value, offset) =
            (reservation.u64()?, reservation.u8()?, reservation.u64()?, reservation.u64()?);
        reservation.finish()?;
        let lines = input.u64()?;
        let id = self.cpu.arch.csr.mhartid;
        if state.csr.mhartid != id {
            return Err(SnapshotError::Mismatch(format!("hart {id} is given the state of hart {}", state.csr.mhartid)));
        }
        if reserved {
            let ram = &self.env.ram;
            if !matches!(size, 4 | 8) || ram.offset(ram.base().wrapping_add(offset), u64::from(size)).is_none() {
                return Err(SnapshotError::Invalid(format!("reservation of {size} bytes at RAM offset {offset:#x}")));
            }
            state.reservation = Some((addr, size, value, ram.reserve(offset)));
        }
        self.replace_state(state);
        self.env.control.set_lines(lines);
        Ok(())
    }

    /// The architectural state.
    pub fn state(&self) -> &HartState {
        &self.cpu.arch
    }

    /// The architectural state, to change between runs. Whatever changes,
    /// the next run derives everything the engines cached from it again
    /// (translations, the jump cache, pending interrupts).
    pub fn state_mut(&mut self) -> &mut HartState {
        self.cpu.flush = Flush::All;
        &mut self.cpu.arch
    }

    /// The handle other threads use to interrupt or stop this hart.
    pub fn control(&self) -> &Arc<HartControl> {
        &self.env.control
    }

    /// Counters so far.
    pub fn stats(&self) -> HartStats {
        HartStats {
            jump_cache_hits: self.dispatcher.hits,
            blocks_translated: self.fetcher.translated,
            interpreted: self.dispatcher.interpreted,
            ..self.stats
        }
    }

    /// What this hart counted running compiled code: exits, slow accesses and
    /// lockstep checks (the compile-time counters are the [`Jit`]'s).
    pub fn jit_stats(&self) -> JitStats {
        let (lockstep_checked, lockstep_unchecked) =
            self.jit.as_ref().and_then(|jit| jit.lockstep.as_ref()).map_or((0, 0), |lockstep| lockstep.counts());
        JitStats {
            slow_accesses: self.env.slow_accesses.load(Ordering::Relaxed),
            lockstep_checked,
            lockstep_unchecked,
            ..self.dispatcher.jit_stats
        }
    }

    /// What lockstep found after [`Exit::JitDivergence`].
    pub fn jit_divergence(&self) -> Option<&Divergence> {
        self.divergence.as_deref()
    }

    /// The access context for the hart's next access.
    pub fn access_context(&self) -> AccessContext {
        self.cpu.arch.access_context_at(self.cpu.arch.retired)
    }

    /// Advances local time by `cycles` without executing (the hart was idle).
    pub fn idle(&mut self, cycles: u64) {
        self.cpu.arch.idle_cycles += cycles;
    }

    /// Sets where the hart stops before running an instruction (see
    /// [`crate::debug`]): [`Hart::run`] then returns [`Exit::Breakpoint`]
    /// there. The blocks translated under another set must go too: the
    /// caller flushes the translation cache the harts share (as
    /// `Machine::set_breakpoints` does); this drops the hart's jump cache.
    pub fn set_breakpoints(&mut self, breakpoints: Breakpoints) {
        if self.env.breakpoints != breakpoints {
            self.env.breakpoints = breakpoints;
            self.dispatcher.jump_cache.clear();
        }
    }

    /// Sets where the hart stops before a load or store (see
    /// [`crate::debug::Watchpoints`]): [`Hart::run`] then returns
    /// [`Exit::Watchpoint`]. Nothing translated needs to go.
    pub fn set_watchpoints(&mut self, watchpoints: Watchpoints) {
        self.env.watchpoints = watchpoints;
    }

    /// The watchpoints the hart stops at.
    pub fn watchpoints(&self) -> &Watchpoints {
        &self.env.watchpoints
    }

    /// The breakpoints the hart stops at.
    pub fn breakpoints(&self) -> &Breakpoints {
        &self.env.breakpoints
    }

    /// Runs one instruction for a debugger, in the interpreter, whether or
    /// not a breakpoint is set at `pc`, and with interrupts held off. An
    /// instruction that traps ends the step at its handler's first
    /// instruction, which has not run.
    pub fn step(&mut self) -> Exit {
        self.dispatcher.stepping = true;
        let exit = self.run(1);
        self.dispatcher.stepping = false;
        exit
    }

    /// The physical address a debugger's access at virtual `vaddr` reaches
    /// through the hart's current translation (loads' privilege, MPRV
    /// aside), changing nothing: no permission check, no accessed or dirty
    /// bit, no TLB entry. `None` where nothing is mapped.
    pub fn debug_translate(&self, vaddr: u64) -> Option<u64> {
        debug::translate(&self.env.ram, self.cpu.arch.privilege, self.cpu.arch.csr.satp, vaddr)
    }

    /// Reads CSR `number` as a debugger sees it: whatever the hart's
    /// privilege, and the floating-point CSRs whatever `mstatus.FS`.
    /// `None` for a CSR the hart does not have.
    pub fn debug_read_csr(&self, number: u16) -> Option<u64> {
        zicsr::debug_read(&self.cpu, &self.env, number)
    }

    /// Writes CSR `number` as a debugger would, keeping each field's WARL
    /// rules; false for a CSR the hart does not have or that is read-only.
    /// Translations and interrupts are looked at again before the next
    /// instruction.
    pub fn debug_write_csr(&mut self, number: u16, value: u64) -> bool {
        let written = zicsr::debug_write(&mut self.cpu, number, value);
        self.cpu.flush = Flush::All;
        self.cpu.update_translation();
        written
    }

    /// Sets the privilege the hart runs at, for a debugger.
    pub fn debug_set_privilege(&mut self, privilege: Privilege) {
        self.cpu.arch.privilege = privilege;
        self.cpu.flush = Flush::All;
        self.cpu.update_translation();
    }

    /// Runs until `budget` more instructions have retired or something else
    /// stops the hart (see [`Exit`]). A hart waiting in `wfi` resumes when an
    /// enabled interrupt is pending; `run` returns at once while none is.
    pub fn run(&mut self, budget: u64) -> Exit {
        let stop_at = self.cpu.arch.retired.saturating_add(budget);
        // Plugins may add cycles (a timing model): the run also ends when
        // local time has moved on by `budget`.
        if let Some(plugins) = &mut self.dispatcher.plugins {
            plugins.cycle_stop = self.cpu.arch.cycle().saturating_add(budget);
        }
        // Interrupts and requests are looked at on entry, when another thread
        // or device asked for attention, and after instructions that can make
        // an interrupt deliverable; otherwise blocks follow each other with
        // only the attention flag and the budget checked in between.
        self.cpu.recheck = true;
        loop {
            if self.cpu.recheck || self.env.control.take_attention() {
                self.cpu.recheck = false;
                if let Some(exit) = self.check_events() {
                    return exit;
                }
            }
            if self.cpu.arch.retired >= stop_at
                || self.dispatcher.plugins.as_ref().is_some_and(|p| p.cycle_reached(&self.cpu, self.cpu.arch.retired))
            {
                return Exit::BudgetSpent;
            }
            let handback = self.dispatcher.run(&mut self.cpu, &self.env, self.jit.as_ref(), stop_at);
            match handback {
                Ok(DispatchExit::Budget) => return Exit::BudgetSpent,
                Ok(DispatchExit::Divergence) => {
                    self.divergence = self.jit.as_ref().and_then(|jit| jit.lockstep.as_ref()?.take_divergence());
                    let pc = self.divergence.as_ref().map_or(self.cpu.arch.pc, |divergence| divergence.pc);
                    return Exit::JitDivergence { pc };
                }
                Ok(DispatchExit::Event) => {}
                Ok(DispatchExit::Breakpoint) => return Exit::Breakpoint { pc: self.cpu.arch.pc },
                Ok(DispatchExit::Miss) => {
                    let pc = self.cpu.arch.pc;
                    self.stats.jump_cache_misses += 1;
                    match self.fetcher.find_block(&mut self.cpu, &self.env, pc) {
                        Ok(Found::Cached { block, span }) => self.dispatcher.jump_cache.put(pc, block, span),
                        Ok(Found::Once(block)) => {
                            let before = self.cpu.arch.retired;
                            let plugins = self.dispatcher.plugins.as_mut();
                            let run = interp::execute_once(&mut self.cpu, &self.env, &block, stop_at, plugins);
                            self.dispatcher.interpreted += self.cpu.arch.retired - before;
                            if let Err((trap, at)) = run
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
        self.cpu.arch.idle_cycles += self.env.control.take_stall();
        if self.env.control.exit_requested() {
            return Some(Exit::ExitRequested);
        }
        self.sync_translations();
        self.cpu.arch.sync_supervisor_timer(&*self.env.bus);
        let lines = self.env.control.lines();
        // A debugger's step runs with interrupts held off, as QEMU's does.
        let interrupt = self.cpu.arch.deliverable_interrupt(lines).filter(|_| !self.dispatcher.stepping);
        if let Some(irq) = interrupt {
            tracing::debug!(target: "int", hart = self.cpu.arch.csr.mhartid, ?irq, pc = format_args!("{:#x}", self.cpu.arch.pc), "interrupt");
            self.cpu.arch.waiting = false;
            self.stats.traps += 1;
            let pc = self.cpu.arch.pc;
            self.last_exception = None;
            self.note_stall(Cause::Interrupt(irq), pc);
            if let Some(plugins) = &mut self.dispatcher.plugins {
                plugins.trap(&mut self.cpu, &self.env, Cause::Interrupt(irq), 0, pc);
            }
            self.cpu.take_trap(Cause::Interrupt(irq), 0, pc);
            self.sync_translations();
        } else if self.cpu.arch.waiting {
            // An interrupt that is pending and enabled in mie wakes wfi
            // even when the mode masks it (mstatus.MIE clear).
            if (self.cpu.arch.csr.mip | lines) & self.cpu.arch.csr.mie == 0 {
                // Look again when the hart is next run.
                self.cpu.recheck = true;
                return Some(Exit::WaitingForInterrupt);
            }
            self.cpu.arch.waiting = false;
        }
        None
    }

    /// Drops cached translations that no longer hold: the TLB after `satp`
    /// and PMP writes and `sfence.vma`, and the jump cache (keyed by virtual
    /// address, and skipping fetch permission checks) whenever the fetch
    /// context — fetches checked or not, `satp`, privilege — changed.
    fn sync_translations(&mut self) {
        self.cpu.update_translation();
        let context = self.cpu.fetch_checked.then_some((self.cpu.arch.csr.satp, self.cpu.arch.privilege));
        if self.cpu.fence_i {
            self.cpu.fence_i = false;
            self.fetcher.fence_i(&self.env);
            self.dispatcher.jump_cache.clear();
        }
        match std::mem::take(&mut self.cpu.flush) {
            Flush::All => {
                self.cpu.tlb.flush();
                self.dispatcher.jump_cache.clear();
            }
            Flush::Page(vaddr) => {
                self.cpu.tlb.flush_page(vaddr);
                self.dispatcher.jump_cache.forget(vaddr);
            }
            Flush::Nothing => {}
        }
        if context != self.jump_context {
            self.dispatcher.jump_cache.clear();
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
        if let Some(hit) = self.cpu.watch_hit.take() {
            // Not an exception: the debugger's stop before the access.
            self.cpu.arch.pc = pc;
            return Some(Exit::Watchpoint { pc, hit });
        }
        let cause = Cause::Exception(trap.exception);
        tracing::debug!(target: "int", hart = self.cpu.arch.csr.mhartid, %cause, pc = format_args!("{pc:#x}"), tval = format_args!("{:#x}", trap.tval), "exception");
        self.stats.traps += 1;
        let signature = TrapSignature {
            trap,
            pc,
            privilege: self.cpu.arch.privilege,
            mstatus: self.cpu.arch.csr.mstatus,
            retired: self.cpu.arch.retired,
        };
        self.note_stall(cause, pc);
        if self.last_exception == Some(signature) {
            let origin = self.stall_origin.map(|(cause, pc, _)| (cause, pc)).filter(|&origin| origin != (cause, pc));
            return Some(Exit::TrapLoop { pc, cause, origin });
        }
        self.last_exception = Some(signature);
        if let Some(plugins) = &mut self.dispatcher.plugins {
            plugins.trap(&mut self.cpu, &self.env, cause, trap.tval, pc);
        }
        self.cpu.take_trap(cause, trap.tval, pc);
        // The privilege changed: translation and interrupts need a look.
        self.cpu.recheck = true;
        // A debugger's step ends at the handler's first instruction.
        self.dispatcher.stepping.then_some(Exit::BudgetSpent)
    }

    /// Remembers a trap as the origin of a possible loop if it is the first
    /// since an instruction last retired.
    fn note_stall(&mut self, cause: Cause, pc: u64) {
        if self.stall_origin.is_none_or(|(_, _, retired)| retired != self.cpu.arch.retired) {
            self.stall_origin = Some((cause, pc, self.cpu.arch.retired));
        }
    }
}
