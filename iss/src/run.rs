//! Dispatch: the loop that runs blocks one after another, through the
//! hart's jump cache, in the interpreter or as compiled code, until the
//! hart's run loop ([`crate::Hart::run`]) must look at something.

use crate::cache::{Block, JumpCache};
use crate::cpu::Cpu;
use crate::env::Env;
use crate::interp;
use crate::jit::frame::SlowAccess;
use crate::jit::{AccessMode, BlockExit, HartJit, Heat, JitStats, Seat, after_slow_access};
use crate::plugin::HartPlugins;
use crate::trap::{Exception, Trap};
use crate::trigger::Action;

/// Why [`Dispatcher::run`] handed control back to the hart's run loop.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum DispatchExit {
    /// The instruction budget is spent.
    Budget,
    /// The next block is not in the jump cache.
    Miss,
    /// Another thread asked for attention, or an instruction may have made an
    /// interrupt deliverable.
    Event,
    /// Lockstep found compiled code and the interpreter disagreeing (see
    /// [`crate::jit::lockstep`]).
    Divergence,
    /// The next block starts at a breakpoint (see [`crate::debug`]).
    Breakpoint,
}

/// The hart's dispatcher: its jump cache, what it keeps from one run to the
/// next, and what it counts.
#[derive(Debug)]
pub(crate) struct Dispatcher {
    /// The blocks the hart ran lately, by virtual `pc`: what dispatch runs
    /// without looking further.
    pub(crate) jump_cache: JumpCache,
    /// Block lookups the jump cache answered.
    pub(crate) hits: u64,
    /// Instructions the interpreter retired.
    pub(crate) interpreted: u64,
    /// A debugger steps the hart: breakpoints do not stop it, and it runs
    /// in the interpreter alone (a block at a breakpoint must never be
    /// compiled, see [`crate::debug`]).
    pub(crate) stepping: bool,
    /// What compiled code did.
    pub(crate) jit_stats: JitStats,
    /// Where the interpreter last stopped inside a block because the budget
    /// ran out (1, no pc, when it did not). The rest of that block then
    /// starts a block of its own, and as each slice ends somewhere else, such
    /// tails would turn hot one after another and be compiled for nothing: a
    /// run of the block at `resume_pc` does not make it hotter (once).
    resume_pc: u64,
    /// A load or store that compiled code left to the interpreter and that
    /// is not made yet (see [`crate::jit::BlockExit::Slow`]).
    slow_access: Option<SlowAccess>,
    /// The hart's side of the machine's plugins, when it has some.
    pub(crate) plugins: Option<HartPlugins>,
}

impl Dispatcher {
    /// An empty jump cache, nothing pending.
    pub(crate) fn new() -> Dispatcher {
        Dispatcher {
            jump_cache: JumpCache::new(),
            hits: 0,
            interpreted: 0,
            stepping: false,
            jit_stats: JitStats::default(),
            resume_pc: 1,
            slow_access: None,
            plugins: None,
        }
    }

    /// Executes blocks from the jump cache one after another, for as long
    /// as the next block is there and nothing needs the run loop's
    /// attention, and at most until `retired` reaches `stop_at`: compiled
    /// when `jit` has code for them, else interpreted.
    pub(crate) fn run(
        &mut self,
        cpu: &mut Cpu,
        env: &Env,
        jit: Option<&HartJit>,
        stop_at: u64,
    ) -> Result<DispatchExit, (Trap, u64)> {
        let Dispatcher { jump_cache, hits, interpreted, stepping, jit_stats, resume_pc, slow_access, plugins } = self;
        let counters = plugins.as_mut().map_or(0, HartPlugins::counters_address);
        // Armed triggers are checked by the interpreter alone.
        let jit = if *stepping || cpu.triggers_armed { None } else { jit };
        let trace_exec = tracing::enabled!(target: "exec", tracing::Level::TRACE);
        loop {
            if cpu.recheck || env.control.attention_pending() {
                return Ok(DispatchExit::Event);
            }
            if cpu.arch.retired >= stop_at {
                return Ok(DispatchExit::Budget);
            }
            if env.breakpoints.contains(cpu.arch.pc) && !*stepping {
                return Ok(DispatchExit::Breakpoint);
            }
            if !jump_cache.contains(cpu.arch.pc) {
                return Ok(DispatchExit::Miss);
            }
            let block = jump_cache.slot_block(cpu.arch.pc);
            *hits += 1;
            if cpu.triggers_armed {
                if let Some(index) = first_execute(cpu, block) {
                    if index == 0 {
                        return Err((Trap::new(Exception::Breakpoint, cpu.arch.pc), cpu.arch.pc));
                    }
                    // Up to the instruction the trigger stops before; the rest
                    // is a block of its own.
                    let until = cpu.arch.retired + index as u64;
                    interpret(cpu, env, block, until.min(stop_at), interpreted, plugins.as_mut())?;
                    continue;
                }
                if cpu.arch.triggers.watch_loaded_data() {
                    // One instruction, so that a load's data trigger can
                    // raise its exception right after it.
                    interpret(cpu, env, block, cpu.arch.retired + 1, interpreted, plugins.as_mut())?;
                    if let Some(tval) = cpu.trigger_after.take() {
                        return Err((Trap::new(Exception::Breakpoint, tval), cpu.arch.pc));
                    }
                    continue;
                }
            }
            if trace_exec {
                tracing::trace!(target: "exec", hart = cpu.arch.csr.mhartid, pc = format_args!("{:#x}", cpu.arch.pc), "block");
            }
            if let Some(access) = slow_access.take_if(|access| access.pc == cpu.arch.pc) {
                // The interpreter makes the access, that instruction alone; the
                // next block then starts after it, so a loop that reads a device
                // stays compiled but for the read.
                env.count_slow_access();
                // With plugins, the block the exit left goes on where it left
                // (see `interp::resume`); else that instruction runs alone.
                let left = plugins.as_mut().and_then(|plugins| {
                    if !jump_cache.contains(access.block_pc) {
                        return None;
                    }
                    let left = jump_cache.slot_block(access.block_pc);
                    let first = left
                        .insts
                        .iter()
                        .position(|inst| access.block_pc.wrapping_add(u64::from(inst.offset)) == access.pc)?;
                    let before = cpu.arch.retired;
                    let run = interp::resume(cpu, env, left, access.block_pc, first, stop_at, plugins);
                    *interpreted += cpu.arch.retired - before;
                    Some(run)
                });
                match left {
                    Some(run) => run?,
                    None => interpret(cpu, env, block, cpu.arch.retired + 1, interpreted, plugins.as_mut())?,
                }
                after_slow_access(cpu, env, &access);
                continue;
            }
            if let Some(HartJit { jit, epoch, lockstep }) = jit
                && cpu.arch.retired + block.insts.len() as u64 <= stop_at
                && let Some(code) = jit.code(block, cpu.arch.pc, heat(cpu.arch.pc, resume_pc), access_mode(cpu))
            {
                let Some(_running) = jit.pin(epoch, block) else {
                    // Retired just now: the next lookup translates it again.
                    continue;
                };
                let status = match lockstep {
                    None => {
                        // SAFETY: `code` was compiled for this block, which the
                        // jump cache holds for `state.pc` in the hart's current
                        // fetch context; it gets the hart's own state,
                        // environment and jump cache, which nothing else uses
                        // during the call, and it touches them only at their
                        // fields' offsets and through the helpers, which take
                        // these same pointers.
                        unsafe { jit.enter(code, cpu, env, stop_at, Seat { lockstep: None, jump_cache, counters }) }
                    }
                    Some(lockstep) => {
                        lockstep.begin(cpu);
                        // SAFETY: as above; without chaining (off in
                        // lockstep) the code runs this block alone.
                        let status = unsafe {
                            jit.enter(
                                code,
                                cpu,
                                env,
                                stop_at,
                                Seat { lockstep: Some(lockstep), jump_cache: lockstep.jump_cache(), counters },
                            )
                        };
                        match lockstep.check(cpu, env, block, status) {
                            Some(status) => status,
                            None => return Ok(DispatchExit::Divergence),
                        }
                    }
                };
                jit_stats.chain_hits += cpu.frame.chains();
                match status {
                    BlockExit::Done => jit_stats.exits_to_next_block += 1,
                    BlockExit::Stopped => jit_stats.exits_stopped += 1,
                    BlockExit::Slow => *slow_access = Some(cpu.frame.slow_access(cpu.arch.pc)),
                    _ => {
                        jit_stats.exits_trapped += 1;
                        let trap = cpu.jit_trap.take().expect("a trapped block leaves its trap");
                        return Err((trap, cpu.arch.pc));
                    }
                }
                continue;
            }
            let start = cpu.arch.pc;
            interpret(cpu, env, block, stop_at, interpreted, plugins.as_mut())?;
            if cpu.arch.retired >= stop_at
                && cpu.arch.pc != start
                && cpu.arch.pc.wrapping_sub(start) < block.code_size()
            {
                *resume_pc = cpu.arch.pc;
            }
        }
    }
}

/// Runs `block` in the interpreter until `stop_at` (see
/// [`interp::execute_block`]), adding what retired to `interpreted`.
#[inline(always)]
fn interpret(
    cpu: &mut Cpu,
    env: &Env,
    block: &Block,
    stop_at: u64,
    interpreted: &mut u64,
    plugins: Option<&mut HartPlugins>,
) -> Result<(), (Trap, u64)> {
    let before = cpu.arch.retired;
    let run = interp::execute_block(cpu, env, block, stop_at, plugins);
    *interpreted += cpu.arch.retired - before;
    run
}

/// The index of the first instruction of `block`, run by `cpu` from its
/// `pc`, that an execute trigger fires before.
fn first_execute(cpu: &Cpu, block: &Block) -> Option<usize> {
    let state = &cpu.arch;
    block.insts.iter().position(|inst| {
        let pc = state.pc.wrapping_add(u64::from(inst.offset));
        state.trigger_fires(state.privilege, Action::Execute, pc, u64::from(inst.len))
    })
}

/// Whether a run of the block at `pc` makes it hotter: not the run that
/// resumes where the budget last cut a block short (see
/// [`Dispatcher::resume_pc`]), once.
#[inline(always)]
fn heat(pc: u64, resume_pc: &mut u64) -> Heat {
    if pc == std::mem::replace(resume_pc, 1) { Heat::Ignored } else { Heat::Counts }
}

/// The data context blocks run in on `cpu`.
#[inline(always)]
fn access_mode(cpu: &Cpu) -> AccessMode {
    if cpu.data_checked { AccessMode::Checked } else { AccessMode::Plain }
}
