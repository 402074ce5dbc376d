//! One hart: its architectural state, the handles it executes against, and
//! the run loop that finds blocks and hands them to the interpreter.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::cache::{Block, BlockKey, TranslationCache};
use crate::control::HartControl;
use crate::cpu::Cpu;
use crate::decode::{self, Disassembly, Inst};
use crate::env::{Direct, Env};
use crate::interp;
use crate::jit::{Divergence, HartJit, Jit, JitStats};
use crate::memory::mmu::Physical;
use crate::memory::pmp::Access;
use crate::memory::pmp::Pmp;
use crate::memory::{AccessContext, Bus, PAGE_SHIFT, PAGE_SIZE, Ram};
use crate::privilege::Privilege;
use crate::run::{DispatchExit, Dispatcher};
use crate::state::{HartState, X0_SINK};
use crate::trap::{Cause, Exception, Trap};

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
    /// The architectural state and, beside it, the engines'.
    cpu: Cpu,
    env: Env,
    /// The hart's place at the machine's JIT, when hot blocks are compiled.
    jit: Option<HartJit>,
    /// The fetch context the jump cache's entries were made in (`None`:
    /// physical addresses).
    jump_context: Option<(u64, Privilege)>,
    /// Blocks with a smaller serial read their code before this hart's last
    /// `fence.i` (see [`Hart::checked_since_fence_i`]).
    fence_i_serial: u64,
    /// Blocks compared with memory since that `fence.i`.
    checked: HashSet<BlockKey>,
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
            env: Env { direct: Direct::new(&ram), ram, bus, cache, control, slow_accesses: AtomicU64::new(0) },
            jit: None,
            jump_context: None,
            fence_i_serial: 0,
            checked: HashSet::new(),
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
        let mut cpu = Cpu::with_state(state);
        cpu.flush_translations = true;
        self.cpu = cpu;
        self.last_exception = None;
        self.stall_origin = None;
        self.dispatcher.jump_cache.clear();
    }

    /// The architectural state.
    pub fn state(&self) -> &HartState {
        &self.cpu.arch
    }

    /// The architectural state, to change between runs. Whatever changes,
    /// the next run derives everything the engines cached from it again
    /// (translations, the jump cache, pending interrupts).
    pub fn state_mut(&mut self) -> &mut HartState {
        self.cpu.flush_translations = true;
        &mut self.cpu.arch
    }

    /// The handle other threads use to interrupt or stop this hart.
    pub fn control(&self) -> &Arc<HartControl> {
        &self.env.control
    }

    /// Counters so far.
    pub fn stats(&self) -> HartStats {
        HartStats { jump_cache_hits: self.dispatcher.hits, ..self.stats }
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

    /// Runs until `budget` more instructions have retired or something else
    /// stops the hart (see [`Exit`]). A hart waiting in `wfi` resumes when an
    /// enabled interrupt is pending; `run` returns at once while none is.
    pub fn run(&mut self, budget: u64) -> Exit {
        let stop_at = self.cpu.arch.retired.saturating_add(budget);
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
            if self.cpu.arch.retired >= stop_at {
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
                Ok(DispatchExit::Miss) => {
                    let pc = self.cpu.arch.pc;
                    self.stats.jump_cache_misses += 1;
                    match self.find_block(pc) {
                        Ok((block, true)) => self.dispatcher.jump_cache.put(pc, block),
                        Ok((block, false)) => {
                            if let Err((trap, at)) = interp::execute_once(&mut self.cpu, &self.env, &block, stop_at)
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
        if let Some(irq) = self.cpu.arch.deliverable_interrupt(lines) {
            tracing::debug!(target: "int", hart = self.cpu.arch.csr.mhartid, ?irq, pc = format_args!("{:#x}", self.cpu.arch.pc), "interrupt");
            self.cpu.arch.waiting = false;
            self.stats.traps += 1;
            let pc = self.cpu.arch.pc;
            self.last_exception = None;
            self.note_stall(Cause::Interrupt(irq), pc);
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
            // The other harts' stores this hart must now see are visible:
            // blocks read before this point are checked before they run again.
            std::sync::atomic::fence(Ordering::SeqCst);
            self.fence_i_serial = self.env.cache.next_serial();
            self.checked.clear();
            self.dispatcher.jump_cache.clear();
        }
        if self.cpu.flush_translations {
            self.cpu.flush_translations = false;
            self.cpu.tlb.flush();
            self.dispatcher.jump_cache.clear();
        } else if context != self.jump_context {
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
        self.cpu.take_trap(cause, trap.tval, pc);
        // The privilege changed: translation and interrupts need a look.
        self.cpu.recheck = true;
        None
    }

    /// Remembers a trap as the origin of a possible loop if it is the first
    /// since an instruction last retired.
    fn note_stall(&mut self, cause: Cause, pc: u64) {
        if self.stall_origin.is_none_or(|(_, _, retired)| retired != self.cpu.arch.retired) {
            self.stall_origin = Some((cause, pc, self.cpu.arch.retired));
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
            self.env.cache.invalidate_page(block.key.pc >> PAGE_SHIFT);
        }
        same
    }

    /// The physical address of an instruction fetch of the parcel at
    /// `vaddr`, checked against the page table and PMP unless fetches are
    /// plain M-mode ones.
    fn translate_fetch(&mut self, vaddr: u64) -> Result<Physical, Trap> {
        if !self.cpu.fetch_checked {
            return Ok(Physical { addr: vaddr, whole_page: true });
        }
        let ctx = self.cpu.arch.fetch_context();
        self.cpu.tlb.translate(&self.env.ram, Pmp::new(&self.cpu.arch.csr), vaddr, 2, Access::Fetch, &ctx)
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
        let privilege = self.cpu.arch.privilege;
        let fetch_on_page = |this: &Self, addr: u64| {
            let at = physical + (addr - pc);
            if check_parcels && !Pmp::new(&this.cpu.arch.csr).allows(at, 2, Access::Fetch, privilege) {
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
