//! Lockstep: compiled code checked against the interpreter, block by block.
//!
//! With [`JitConfig::lockstep`](super::JitConfig::lockstep) on, each run of a
//! compiled block goes like this:
//! 1. the hart's state is saved;
//! 2. the compiled code runs for real, with every load and store on the
//!    helper path (`Direct::span` is 0), which logs each access and what
//!    memory answered (the value loaded, or the exception);
//! 3. the interpreter runs the same block from the saved state to the same
//!    instruction count, its loads and stores answered from the log instead
//!    of memory: a load gets the value the compiled code got, a store only
//!    has to be the one the compiled code made;
//! 4. the two end states (registers, `pc`, `retired`, CSRs and the rest of
//!    [`HartState`]), the exceptions they ended in and the two sequences of
//!    accesses must be equal. If they are not, the hart keeps the compiled
//!    code's state and stops with [`crate::Exit::JitDivergence`] and a
//!    [`super::Divergence`] that shows both.
//!
//! Memory and devices therefore see every access once, whatever the block
//! touches, and stores of other harts between the two runs cannot make them
//! differ: each hart checks its own blocks, in parallel with the others.
//! Blocks holding atomics or CSR accesses are not checked: their effects do
//! not go through the log, so a second run would repeat them. They run once,
//! compiled, and count as unchecked.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::abi::{BlockExit, helper_result};
use super::frame::Frame;
use crate::cache::{Block, JumpCache};
use crate::cpu::Cpu;
use crate::decode::{Class, Disassembly, Inst, Op, register_name};
use crate::env::Env;
use crate::interp::{self, DataAccess};
use crate::memory::access;
use crate::state::{HartState, X0_SINK};
use crate::trap::{Exception, Trap};

/// A load or store a block asked of memory.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct MemoryAccess {
    /// The virtual address.
    pub vaddr: u64,
    /// Bytes: 1, 2, 4 or 8.
    pub size: u8,
    /// The value stored (its low `size` bytes); `None` for a load.
    pub stored: Option<u64>,
    /// Instructions retired before the one accessing: the time a device
    /// sees.
    pub retired: u64,
}

impl MemoryAccess {
    pub(crate) fn load(vaddr: u64, size: u8, retired: u64) -> MemoryAccess {
        MemoryAccess { vaddr, size, stored: None, retired }
    }

    pub(crate) fn store(vaddr: u64, size: u8, value: u64, retired: u64) -> MemoryAccess {
        let mask = if size >= 8 { u64::MAX } else { (1 << (8 * u32::from(size))) - 1 };
        MemoryAccess { vaddr, size, stored: Some(value & mask), retired }
    }
}

impl fmt::Display for MemoryAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.stored {
            None => write!(f, "load of {} bytes at {:#x}", self.size, self.vaddr)?,
            Some(value) => write!(f, "store of {value:#x} ({} bytes) at {:#x}", self.size, self.vaddr)?,
        }
        write!(f, " after {} instructions", self.retired)
    }
}

/// What memory answered an access: the value loaded (0 for a store), or the
/// exception it raised.
pub type MemoryOutcome = Result<u64, Trap>;

/// A block whose compiled code and the interpreter disagreed, with what each
/// did: the report of [`crate::Exit::JitDivergence`].
#[derive(Clone, Debug)]
pub struct Divergence {
    /// The guest address the block was entered at.
    pub pc: u64,
    /// The block's instructions, as decoded.
    pub insts: Vec<Inst>,
    /// The hart's state before the block.
    pub before: HartState,
    /// The state the compiled code left.
    pub compiled: HartState,
    /// The state the interpreter left: at the end of its run, or at the
    /// first access that differs from the compiled code's, where it stops.
    pub interpreted: HartState,
    /// The exception the compiled code stopped at, and its address.
    pub compiled_trap: Option<(Trap, u64)>,
    /// The exception the interpreter stopped at, and its address (none
    /// when it stopped at an access that differs).
    pub interpreted_trap: Option<(Trap, u64)>,
    /// The compiled code's loads and stores, with what memory answered.
    pub compiled_accesses: Vec<(MemoryAccess, MemoryOutcome)>,
    /// The interpreter's, up to and including the first that differs from
    /// the compiled code's (the interpreter stops there).
    pub interpreted_accesses: Vec<MemoryAccess>,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "the JIT's code for the block at {:#x} and the interpreter disagree:", self.pc)?;
        let (compiled, interpreted) = (&self.compiled, &self.interpreted);
        let mut shown = false;
        for r in 1..32u8 {
            let (c, i) = (compiled.reg(r), interpreted.reg(r));
            if c != i {
                let before = self.before.reg(r);
                writeln!(
                    f,
                    "  {} (x{r}): compiled {c:#x}, interpreted {i:#x} (before the block {before:#x})",
                    register_name(r)
                )?;
                shown = true;
            }
        }
        let first_difference = self
            .compiled_accesses
            .iter()
            .map(|(access, _)| Some(access))
            .chain(std::iter::repeat(None))
            .zip(self.interpreted_accesses.iter().map(Some).chain(std::iter::repeat(None)))
            .take(self.compiled_accesses.len().max(self.interpreted_accesses.len()))
            .position(|(c, i)| c != i);
        if let Some(n) = first_difference {
            let show = |access: Option<&MemoryAccess>| access.map_or("none".to_string(), ToString::to_string);
            writeln!(
                f,
                "  memory access {}: compiled {}, interpreted {}",
                n + 1,
                show(self.compiled_accesses.get(n).map(|(access, _)| access)),
                show(self.interpreted_accesses.get(n))
            )?;
            writeln!(f, "  (the interpreter stopped at that access)")?;
            shown = true;
        } else {
            if compiled.pc != interpreted.pc {
                writeln!(f, "  pc: compiled {:#x}, interpreted {:#x}", compiled.pc, interpreted.pc)?;
                shown = true;
            }
            if compiled.retired != interpreted.retired {
                let start = self.before.retired;
                writeln!(
                    f,
                    "  instructions retired in the block: compiled {}, interpreted {}",
                    compiled.retired - start,
                    interpreted.retired - start
                )?;
                shown = true;
            }
            if self.compiled_trap != self.interpreted_trap {
                let show = |trap: Option<(Trap, u64)>| match trap {
                    None => "none".to_string(),
                    Some((trap, pc)) => {
                        format!("{} at {pc:#x} (tval {:#x})", crate::trap::Cause::Exception(trap.exception), trap.tval)
                    }
                };
                writeln!(
                    f,
                    "  exception: compiled {}, interpreted {}",
                    show(self.compiled_trap),
                    show(self.interpreted_trap)
                )?;
                shown = true;
            }
        }
        if !shown {
            writeln!(f, "  in other state (CSRs, FP registers, privilege, ...): compare the states below")?;
        }
        writeln!(f, "block:")?;
        for inst in &self.insts {
            let mut shown = *inst;
            if shown.rd == X0_SINK {
                shown.rd = 0;
            }
            let pc = self.pc.wrapping_add(u64::from(inst.offset));
            writeln!(f, "  {pc:#018x}: {}", Disassembly::new(shown, pc))?;
        }
        writeln!(f, "state the compiled code left:\n{:?}", self.compiled)?;
        write!(f, "state the interpreter left:\n{:?}", self.interpreted)
    }
}

/// One hart's lockstep log: the accesses of the compiled block running now,
/// and a divergence found.
#[derive(Debug, Default)]
pub(crate) struct Lockstep {
    /// Filled by the helpers while compiled code runs. Locks, not
    /// `RefCell`s, keep `Env` shareable; only the hart's thread takes them.
    accesses: Mutex<Vec<(MemoryAccess, MemoryOutcome)>>,
    /// Kept from block to block, so that checking one allocates nothing.
    scratch: Mutex<Option<Box<Scratch>>>,
    divergence: Mutex<Option<Box<Divergence>>>,
    /// What compiled code gets for a jump cache: compiled without chaining
    /// in lockstep, it never looks at it.
    no_chaining: JumpCache,
    /// Blocks checked, and blocks run unchecked (see
    /// [`super::JitStats::lockstep_checked`]).
    checked: AtomicU64,
    unchecked: AtomicU64,
}

/// The copies of the state lockstep works on, and the interpreter's accesses.
#[derive(Debug)]
struct Scratch {
    before: Cpu,
    interpreted: Cpu,
    asked: Vec<MemoryAccess>,
}

impl Lockstep {
    /// Logs one access of compiled code.
    pub(crate) fn record(&self, access: MemoryAccess, outcome: MemoryOutcome) {
        self.accesses.lock().unwrap_or_else(|e| e.into_inner()).push((access, outcome));
    }

    /// Blocks checked and blocks run unchecked so far.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (self.checked.load(Ordering::Relaxed), self.unchecked.load(Ordering::Relaxed))
    }

    /// The divergence found, if any; leaves none.
    pub(crate) fn take_divergence(&self) -> Option<Box<Divergence>> {
        self.divergence.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Readies the log for a run of compiled code from `cpu`: keeps a copy
    /// of the state to replay from and forgets the last run's accesses.
    pub(crate) fn begin(&self, cpu: &Cpu) {
        let mut scratch = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        let Scratch { before, .. } = &mut **scratch.get_or_insert_with(|| {
            Box::new(Scratch { before: cpu.clone(), interpreted: cpu.clone(), asked: Vec::new() })
        });
        before.copy_without_tlb(cpu);
        self.accesses.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// What compiled code gets for a jump cache in lockstep: compiled
    /// without chaining, it never looks at it.
    pub(crate) fn jump_cache(&self) -> &JumpCache {
        &self.no_chaining
    }

    /// Checks the run of `block`'s compiled code that ended in `status`,
    /// begun at [`Lockstep::begin`], against the interpreter (see the
    /// module documentation). Returns `status`, or `None` after a
    /// divergence, which [`Lockstep::take_divergence`] then gives.
    #[inline(never)]
    pub(crate) fn check(&self, cpu: &mut Cpu, env: &Env, block: &Block, status: BlockExit) -> Option<BlockExit> {
        let mut scratch = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        let Scratch { before, interpreted, asked } =
            &mut **scratch.as_mut().expect("Lockstep::begin comes before Lockstep::check");
        if !block.insts.iter().all(|inst| replayable(inst.op)) {
            self.unchecked.fetch_add(1, Ordering::Relaxed);
            return Some(status);
        }
        let compiled_trap =
            if status == BlockExit::Trapped { cpu.jit_trap.take().map(|trap| (trap, cpu.arch.pc)) } else { None };
        let accesses = self.accesses.lock().unwrap_or_else(|e| e.into_inner());

        // The interpreter runs to where the compiled code stopped, and one
        // instruction further if that one raised an exception. It may stop
        // at the block's start earlier than the compiled code did (attention
        // is asked for meanwhile): it then runs the block again. A taken
        // branch forward inside the block, which compiled code follows
        // without leaving (see `Translator::skips`), leaves the interpreter's
        // block: it goes on with the rest of the block from there.
        let target = cpu.arch.retired + u64::from(compiled_trap.is_some());
        interpreted.copy_without_tlb(before);
        asked.clear();
        let mut replay = Replay { log: &accesses, asked, mismatch: false };
        let mut rest: Option<Block> = None;
        let interpreted_trap = loop {
            if interpreted.arch.retired >= target {
                break None;
            }
            match interp::execute_with(interpreted, env, rest.as_ref().unwrap_or(block), target, &mut replay) {
                Err(trap) => break Some(trap),
                Ok(()) if interpreted.arch.pc == before.arch.pc => rest = None,
                Ok(()) => match block_from(block, interpreted.arch.pc.wrapping_sub(before.arch.pc)) {
                    Some(tail) => rest = Some(tail),
                    None => break None,
                },
            }
        };
        // The interpreter sends writes to x0 to a scratch slot that compiled
        // code never touches.
        let sink = usize::from(X0_SINK);
        interpreted.arch.x[sink] = cpu.arch.x[sink];

        let mismatch = replay.mismatch;
        let same_memory = !mismatch && asked.len() == accesses.len();
        let same_state = interpreted.arch == cpu.arch && interpreted.flags() == cpu.flags();
        if same_memory && compiled_trap == interpreted_trap && same_state {
            cpu.jit_trap = compiled_trap.map(|(trap, _)| trap);
            self.checked.fetch_add(1, Ordering::Relaxed);
            return Some(status);
        }
        let interpreted_trap = if mismatch { None } else { interpreted_trap };
        let divergence = Divergence {
            pc: before.arch.pc,
            insts: block.insts.to_vec(),
            before: before.arch.clone(),
            compiled: cpu.arch.clone(),
            interpreted: interpreted.arch.clone(),
            compiled_trap,
            interpreted_trap,
            compiled_accesses: accesses.clone(),
            interpreted_accesses: asked.clone(),
        };
        *self.divergence.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(divergence));
        None
    }
}

/// The instructions of `block` from the one `offset` bytes after its start
/// (not its first) on, as a block of their own; `None` if none starts there.
fn block_from(block: &Block, offset: u64) -> Option<Block> {
    let first = block.insts.iter().skip(1).position(|inst| u64::from(inst.offset) == offset)? + 1;
    let base = block.insts[first].offset;
    let insts = block.insts[first..].iter().map(|inst| Inst { offset: inst.offset - base, ..*inst }).collect();
    let key = crate::cache::BlockKey { pc: block.key.pc.wrapping_add(offset), ..block.key };
    Some(Block::new(key, insts, Box::new([])))
}

/// Whether the interpreter can run `op` a second time with all its effects
/// on memory answered from the log: everything but atomics (whose
/// read-modify-write does not go through it) and CSR accesses (which reach
/// devices and timers directly).
fn replayable(op: Op) -> bool {
    !matches!(op.class(), Class::Atomic | Class::Csr)
}

/// The interpreter's memory during the second run: the compiled code's log.
struct Replay<'a> {
    log: &'a [(MemoryAccess, MemoryOutcome)],
    /// What the interpreter asked, in order.
    asked: &'a mut Vec<MemoryAccess>,
    /// The interpreter asked for something the compiled code did not.
    mismatch: bool,
}

impl Replay<'_> {
    fn answer(&mut self, access: MemoryAccess) -> MemoryOutcome {
        let logged = self.log.get(self.asked.len());
        self.asked.push(access);
        match logged {
            Some(&(logged, outcome)) if logged == access => outcome,
            _ => {
                // Any exception stops the interpreter here; the report then
                // shows the two accesses.
                self.mismatch = true;
                Err(Trap::new(Exception::LoadAccessFault, access.vaddr))
            }
        }
    }
}

impl DataAccess for Replay<'_> {
    fn load(&mut self, _: &mut Cpu, _: &Env, vaddr: u64, size: u8, retired: u64) -> Result<u64, Trap> {
        self.answer(MemoryAccess::load(vaddr, size, retired))
    }

    fn store(&mut self, _: &mut Cpu, _: &Env, vaddr: u64, size: u8, value: u64, retired: u64) -> Result<(), Trap> {
        self.answer(MemoryAccess::store(vaddr, size, value, retired)).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomics_and_csr_accesses_are_not_replayed() {
        for op in [Op::AmoaddW, Op::AmoswapD, Op::LrW, Op::ScD, Op::Csrrw, Op::Csrrsi] {
            assert!(!replayable(op), "{op:?}");
        }
        for op in [Op::Add, Op::Ld, Op::Sb, Op::Beq, Op::Jalr, Op::Fence] {
            assert!(replayable(op), "{op:?}");
        }
    }

    #[test]
    fn stores_keep_the_bytes_they_write() {
        assert_eq!(MemoryAccess::store(0, 1, 0x1234, 0).stored, Some(0x34));
        assert_eq!(MemoryAccess::store(0, 4, u64::MAX, 0).stored, Some(0xffff_ffff));
        assert_eq!(MemoryAccess::store(0, 8, u64::MAX, 0).stored, Some(u64::MAX));
        assert_eq!(MemoryAccess::load(0x10, 2, 3).to_string(), "load of 2 bytes at 0x10 after 3 instructions");
    }
}

/// The hart's lockstep log, in lockstep.
///
/// # Safety
/// `frame` was filled by [`super::Jit::enter`] for the call in progress, whose
/// contract keeps the log valid and used by nothing else meanwhile.
unsafe fn frame_lockstep(frame: &Frame) -> Option<&Lockstep> {
    // SAFETY: a non-zero `lockstep` is the address of the log `enter` was
    // given, valid for the call (the function's contract).
    (frame.lockstep != 0).then(|| unsafe { &*(frame.lockstep as *const Lockstep) })
}

helper! {
    /// Called by compiled code for a load in lockstep, where a block does
    /// not leave for the access (see [`BlockExit::Slow`]): the interpreter's load path,
    /// logged.
    ///
    /// # Safety
    /// `state` is the pointer the compiled block was called with and `env`
    /// the one its frame holds (see [`super::Jit::enter`]), valid and not otherwise
    /// in use during the call. The value goes to [`Frame::helper_out`].
    pub(super) unsafe fn load_helper(
        cpu: *mut Cpu,
        env: *const Env,
        vaddr: u64,
        size: u64,
        retired: u64,
    ) -> u32 {
        // SAFETY: as the function's contract says.
        let (cpu, env) = unsafe { (&mut *cpu, &*env) };
        env.count_slow_access();
        let result = access::load(cpu, env, vaddr, size as u8, retired);
        // SAFETY: the frame holds the hart's lockstep log, if any, valid
        // for the call (see `Jit::enter`).
        if let Some(lockstep) = unsafe { frame_lockstep(&cpu.frame) } {
            lockstep.record(MemoryAccess::load(vaddr, size as u8, retired), result);
        }
        helper_result(cpu, result)
    }
}

helper! {
    /// Called by compiled code for a store in lockstep: the interpreter's
    /// store path, logged.
    ///
    /// # Safety
    /// As [`load_helper`].
    pub(super) unsafe fn store_helper(
        cpu: *mut Cpu,
        env: *const Env,
        vaddr: u64,
        size: u64,
        value: u64,
        retired: u64,
    ) -> u32 {
        // SAFETY: as the function's contract says.
        let (cpu, env) = unsafe { (&mut *cpu, &*env) };
        env.count_slow_access();
        let result = access::store(cpu, env, vaddr, size as u8, value, retired);
        // SAFETY: as in `load_helper`.
        if let Some(lockstep) = unsafe { frame_lockstep(&cpu.frame) } {
            lockstep.record(MemoryAccess::store(vaddr, size as u8, value, retired), result.map(|()| 0));
        }
        helper_result(cpu, result.map(|()| 0))
    }
}
