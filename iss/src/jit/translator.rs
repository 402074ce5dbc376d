//! The translator: builds one block's Cranelift function, instruction by
//! instruction, with the guest registers in variables, exits down the
//! shared exit tails, chaining through the jump-cache probe, loops in place and
//! forward branches inside the function. Memory accesses, floating point
//! and atomics are emitted by [`super::memory`], [`super::float`] and
//! [`super::atomic`].

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{AbiParam, InstBuilder, MemFlagsData, Signature, Type, Value, types};
use cranelift_codegen::isa::TargetFrontendConfig;
use cranelift_frontend::{FunctionBuilder, Variable};
use cranelift_jit::JITModule;

use super::abi::*;
use super::analysis::{RamGroup, forward_skips, is_reg, loops_to_start, ram_groups};
use super::float::state::BlockFloat;
use crate::cache::JumpCache;
use crate::decode::{Class, Inst, Op};
use crate::plugin::hooks::{Count, Hooks};

/// How a load's value comes back from [`Translator::load_as`].
#[derive(Copy, Clone, PartialEq, Eq)]
pub(super) enum Loaded {
    /// An `i64`, zero-extended.
    Unsigned,
    /// An `i64`, sign-extended.
    Signed,
    /// An `f64` (an 8-byte load of an f register's bits, kept out of the
    /// integer registers).
    Float,
}

/// Where an exit leaves for.
#[derive(Copy, Clone)]
pub(super) enum ExitTarget {
    /// This many bytes from the block's entry address.
    Offset(i64),
    /// A computed guest address.
    Address(Value),
}

/// How a compiled block makes the loads and stores it cannot make inline
/// at a RAM address it computes itself (those outside RAM's direct span,
/// which is empty while accesses are checked or in lockstep).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum AccessMode {
    /// Compiled for a hart whose accesses are plain physical ones: the
    /// block leaves before any access outside RAM (see [`BlockExit::Slow`]),
    /// and accesses off one base value share their checks ([`RamGroup`]).
    Plain,
    /// Compiled for a hart whose accesses paging or PMP checks: the block
    /// probes the hart's fast TLB, and leaves on a miss.
    Checked,
    /// Lockstep: accesses the block cannot make itself call the helpers,
    /// which log them for the interpreter's replay.
    Lockstep,
}

/// Whether a block's exits jump straight into the next block's code.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Exits {
    /// Through the jump-cache probe, when the next block is compiled.
    Chained,
    /// Back to the run loop every time (lockstep, `-d exec`).
    Returned,
}

/// The two kinds of shared exit tails: both store what the exit wrote;
/// then one returns the exit's status to the run loop, the other (for
/// [`BlockExit::Done`] exits while chaining) probes the jump cache and
/// jumps to the next block's code. No exit tests its status at run time.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum ExitPath {
    /// Return the status.
    Return = 0,
    /// Chain to the next block.
    Chain = 1,
}

/// Builds one block's function.
pub(super) struct Translator<'a> {
    pub(super) b: FunctionBuilder<'a>,
    /// Accesses to the hart's state: aligned and never trapping.
    pub(super) flags: MemFlagsData,
    /// A variable per integer register (those the block uses are defined).
    pub(super) vars: [Variable; 32],
    /// A variable per f register, its bits as an `f64` (a single NaN-boxed).
    pub(super) fvars: [Variable; 32],
    /// f registers the block writes: stored back at every exit.
    pub(super) fwritten: Vec<u8>,
    /// What the F and D instructions of the block share.
    pub(super) float: BlockFloat,
    pub(super) atomic_signatures: AtomicSignatures,
    pub(super) pointer: Type,
    pub(super) state: Value,
    /// Whether exits jump to the next block's compiled code.
    pub(super) exits: Exits,
    /// How the block's loads and stores are made (see [`AccessMode`]).
    pub(super) access: AccessMode,
    pub(super) block_signature: Signature,
    /// In a block that loops back to its start: the instructions the run
    /// may still retire after the current pass, by the run's limit
    /// ([`super::frame::Frame::limit`]). A loop back goes round again while a whole pass
    /// fits, and an exit works out `retired` from it.
    pub(super) spare: Variable,
    /// Where a pass starts.
    pub(super) header: cranelift_codegen::ir::Block,
    /// Per instruction, the index of the later instruction of the function
    /// its taken branch goes to, when it goes forward inside the function:
    /// such a branch jumps there in compiled code (an `if` without `else`)
    /// instead of leaving the function.
    pub(super) skips: Vec<Option<usize>>,
    /// Where those branches land: the block for each instruction one goes
    /// to.
    pub(super) joins: Vec<Option<cranelift_codegen::ir::Block>>,
    /// Instructions of the current pass that taken forward branches
    /// skipped: they did not retire (a variable only in a function that has
    /// such branches).
    pub(super) skipped: Variable,
    pub(super) has_skips: bool,
    /// Registers the block writes, in the order of their first writes, and
    /// the index of the instruction that first writes each.
    pub(super) written: Vec<u8>,
    pub(super) first_writes: Vec<usize>,
    /// Registers are loaded at their first use rather than all on entry,
    /// and an exit stores only those written before it (a block without a
    /// loop back to its start: its code runs once, in order).
    pub(super) lazy: bool,
    /// The registers that have a value at the current point (lazy mode).
    pub(super) loaded: [bool; 32],
    /// Instructions in the block.
    pub(super) len: usize,
    /// The shared tails of the exits, one list per [`ExitPath`]: tail `k`
    /// stores `written[k - 1]` and falls through to tail `k - 1`; tail 0
    /// stores the f registers, `pc` and `retired`. An exit enters at the
    /// tail of the registers written before it. Created as exits need them.
    pub(super) exit_tails: [Vec<Option<cranelift_codegen::ir::Block>>; 2],
    pub(super) exit_pc: Variable,
    pub(super) exit_retired: Variable,
    pub(super) exit_status: Variable,
    pub(super) load_sig: Signature,
    pub(super) store_sig: Signature,
    /// RAM's guest base, when the JIT is bound to one (see
    /// [`super::Jit::bind_ram`]): a constant then, else read from the frame.
    pub(super) ram_base: Option<u64>,
    /// Per instruction, the [`RamGroup`] of its access (none in blocks
    /// with a TLB probe, or in lockstep).
    pub(super) ram_groups: Vec<Option<RamGroup>>,
    /// What plugins planned for the block, when plugins are installed: its
    /// inline counts are added in host code (see [`crate::plugin`]). A pass adds the
    /// counts of the block and of all its instructions at its start, and
    /// an exit before the end takes back those of the instructions that
    /// did not run: one add per counter on the hot path.
    pub(super) hooks: Option<&'a Hooks>,
}

impl<'a> Translator<'a> {
    pub(super) fn new(
        mut b: FunctionBuilder<'a>,
        pointer: Type,
        module: &JITModule,
        exits: Exits,
        access: AccessMode,
        ram_base: Option<u64>,
    ) -> Translator<'a> {
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let params = b.block_params(entry).to_vec();
        let state = params[0];
        let flags = MemFlagsData::trusted();
        let vars = std::array::from_fn(|_| b.declare_var(types::I64));
        let fvars = std::array::from_fn(|_| b.declare_var(types::F64));
        let float = BlockFloat::new(module);
        let atomic_signatures = AtomicSignatures::new(module);
        let spare = b.declare_var(types::I64);
        let skipped = b.declare_var(types::I64);
        let (exit_pc, exit_retired) = (b.declare_var(types::I64), b.declare_var(types::I64));
        let header = b.create_block();
        let exit_status = b.declare_var(types::I32);
        let mut load_sig = helper_signature(module);
        load_sig.params.extend([pointer, pointer, types::I64, types::I64, types::I64].map(AbiParam::new));
        load_sig.returns.push(AbiParam::new(types::I32));
        let mut store_sig = helper_signature(module);
        store_sig.params.extend([pointer, pointer, types::I64, types::I64, types::I64, types::I64].map(AbiParam::new));
        store_sig.returns.push(AbiParam::new(types::I32));
        Translator {
            b,
            flags,
            vars,
            fvars,
            fwritten: Vec::new(),
            float,
            atomic_signatures,
            pointer,
            state,
            exits,
            access,
            block_signature: block_signature(module),
            spare,
            header,
            skips: Vec::new(),
            joins: Vec::new(),
            skipped,
            has_skips: false,
            len: 0,
            exit_tails: [Vec::new(), Vec::new()],
            exit_pc,
            exit_retired,
            exit_status,
            written: Vec::new(),
            first_writes: Vec::new(),
            lazy: false,
            loaded: [false; 32],
            load_sig,
            store_sig,
            ram_base,
            ram_groups: Vec::new(),
            hooks: None,
        }
    }

    /// Adds the plugins' inline `counts` to the hart's counters, those of
    /// one counter together.
    fn count(&mut self, counts: &[Count]) {
        let mut merged: Vec<Count> = Vec::new();
        for count in counts {
            match merged.iter_mut().find(|merged| merged.counter == count.counter) {
                Some(merged) => merged.amount = merged.amount.wrapping_add(count.amount),
                None => merged.push(*count),
            }
        }
        if merged.is_empty() {
            return;
        }
        let base = self.b.ins().load(self.pointer, self.flags, self.state, COUNTERS_OFFSET);
        for count in merged {
            // Counters are at most `COUNTER_CAPACITY` (8 MiB of them): the
            // offset fits.
            let at = (count.counter as usize * 8) as i32;
            let value = self.b.ins().load(types::I64, self.flags, base, at);
            let value = self.b.ins().iadd_imm_s(value, count.amount as i64);
            self.b.ins().store(self.flags, value, base, at);
        }
    }

    /// Takes back the counts of the instructions from `from` on, which
    /// the pass start added but which did not run: an exit leaves the pass
    /// there (see [`Translator::hooks`]).
    fn uncount(&mut self, from: usize) {
        self.uncount_range(from, self.len);
    }

    /// Takes back the counts of instructions `from` to `to` (excluded).
    fn uncount_range(&mut self, from: usize, to: usize) {
        let Some(hooks) = self.hooks else { return };
        let counts: Vec<Count> = hooks.insts[from.min(to)..to]
            .iter()
            .flat_map(|at| at.counts.iter())
            .map(|count| Count { counter: count.counter, amount: count.amount.wrapping_neg() })
            .collect();
        self.count(&counts);
    }

    /// The hart's `Env`, for a helper (read from the frame where needed:
    /// helpers are called on slow paths).
    pub(super) fn env(&mut self) -> Value {
        self.b.ins().load(self.pointer, self.flags, self.state, ENV_OFFSET)
    }

    /// Loads integer register `r` from the state into its variable.
    pub(super) fn load_register(&mut self, r: u8) {
        let value = self.b.ins().load(types::I64, self.flags, self.state, X_OFFSET + 8 * i32::from(r));
        self.b.def_var(self.vars[usize::from(r)], value);
        self.loaded[usize::from(r)] = true;
    }

    pub(super) fn read(&mut self, r: u8) -> Value {
        if is_reg(r) { self.b.use_var(self.vars[usize::from(r)]) } else { self.b.ins().iconst(types::I64, 0) }
    }

    pub(super) fn write(&mut self, r: u8, value: Value) {
        if is_reg(r) {
            self.loaded[usize::from(r)] = true;
            self.b.def_var(self.vars[usize::from(r)], value);
        }
    }

    /// The guest address `offset` bytes from where the block was entered.
    /// `pc` in the state holds that entry address until an exit stores
    /// another, so it is read where needed rather than kept in a host
    /// register for the whole block (as is `retired`).
    pub(super) fn pc_at(&mut self, offset: i64) -> Value {
        let entry = self.b.ins().load(types::I64, self.flags, self.state, PC_OFFSET);
        self.b.ins().iadd_imm_s(entry, offset)
    }

    /// A jump's link: `rd` gets the address `offset` bytes from the entry,
    /// unless `rd` is `x0` (a plain jump or return reads no `pc` for it).
    pub(super) fn link(&mut self, rd: u8, offset: i64) {
        if is_reg(rd) {
            let link = self.pc_at(offset);
            self.write(rd, link);
        }
    }

    /// Leaves the block for `target`: registers back to the state, `pc`,
    /// `retired`.
    pub(super) fn exit(&mut self, target: ExitTarget, completed: usize, status: BlockExit) {
        // Every exit jumps to one shared tail that stores the registers: the
        // SSA builder merges each register's values there, instead of each
        // exit storing all of them (which made functions large and slow to
        // compile).
        // Instructions up to `completed` ran, and one that traps had its
        // events too (they come before it).
        self.uncount(completed + usize::from(status == BlockExit::Trapped));
        let pc = match target {
            ExitTarget::Offset(offset) => self.pc_at(offset),
            ExitTarget::Address(pc) => pc,
        };
        let retired = self.retired_at(completed);
        let status_value = self.b.ins().iconst(types::I32, i64::from(status.status()));
        self.b.def_var(self.exit_pc, pc);
        self.b.def_var(self.exit_retired, retired);
        self.b.def_var(self.exit_status, status_value);
        let stored = if self.lazy {
            self.first_writes.iter().take_while(|&&first| first < completed).count()
        } else {
            self.written.len()
        };
        let path =
            if self.exits == Exits::Chained && status == BlockExit::Done { ExitPath::Chain } else { ExitPath::Return };
        let tail = self.exit_tail(path, stored);
        self.b.ins().jump(tail, &[]);
    }

    /// Exit tail `k` of `path`, which stores the first `k` registers the
    /// block writes (see [`Translator::exit_tails`]).
    pub(super) fn exit_tail(&mut self, path: ExitPath, k: usize) -> cranelift_codegen::ir::Block {
        let tails = &mut self.exit_tails[path as usize];
        if tails.len() <= k {
            tails.resize(k + 1, None);
        }
        match tails[k] {
            Some(block) => block,
            None => {
                let block = self.b.create_block();
                self.exit_tails[path as usize][k] = Some(block);
                block
            }
        }
    }

    /// The shared tails of the exits (see [`Translator::exit_tails`]):
    /// registers, `pc` and `retired` back to the state, then the next
    /// block's code or the status returned.
    pub(super) fn emit_exit_tails(&mut self) {
        let flags = self.flags;
        for path in [ExitPath::Return, ExitPath::Chain] {
            if self.exit_tails[path as usize].is_empty() {
                continue;
            }
            for k in (1..self.exit_tails[path as usize].len()).rev() {
                let (this, below) = (self.exit_tail(path, k), self.exit_tail(path, k - 1));
                self.b.switch_to_block(this);
                let r = self.written[k - 1];
                let value = self.b.use_var(self.vars[usize::from(r)]);
                self.b.ins().store(flags, value, self.state, X_OFFSET + 8 * i32::from(r));
                self.b.ins().jump(below, &[]);
            }
            let bottom = self.exit_tail(path, 0);
            self.b.switch_to_block(bottom);
            let pc = self.b.use_var(self.exit_pc);
            for r in self.fwritten.clone() {
                let value = self.b.use_var(self.fvars[usize::from(r)]);
                self.b.ins().store(flags, value, self.state, F_OFFSET + 8 * i32::from(r));
            }
            self.b.ins().store(flags, pc, self.state, PC_OFFSET);
            let retired = self.b.use_var(self.exit_retired);
            self.b.ins().store(flags, retired, self.state, RETIRED_OFFSET);
            if path == ExitPath::Chain {
                self.chain(pc);
            } else {
                let status = self.b.use_var(self.exit_status);
                self.b.ins().return_(&[status]);
            }
        }
    }

    /// After a [`BlockExit::Done`] exit to `pc`: jumps to the compiled code of the
    /// block the hart's jump cache holds for `pc`, if any (it then decides
    /// itself whether it may run), else returns to the run loop. The probe
    /// is [`JumpCache::contains`] in host code: the slot's tag, and the
    /// block's code, which is 0 unless it is compiled and valid.
    pub(super) fn chain(&mut self, pc: Value) {
        let flags = self.flags;
        let layout = JumpCache::layout();
        let (found, leave) = (self.b.create_block(), self.b.create_block());
        let slot = self.probe(pc, leave);
        let block = self.b.ins().load(self.pointer, flags, slot, layout.slot_block);
        let code_at = self.b.ins().iadd_imm_s(block, i64::from(layout.block_code));
        let code = self.b.ins().atomic_load(self.pointer, flags, code_at);
        self.b.ins().brif(code, found, &[], leave, &[]);

        self.b.switch_to_block(found);
        let chains = self.b.ins().load(types::I64, flags, self.state, CHAINS_OFFSET);
        let chains = self.b.ins().iadd_imm_s(chains, 1);
        self.b.ins().store(flags, chains, self.state, CHAINS_OFFSET);
        let signature = self.b.import_signature(self.block_signature.clone());
        self.b.ins().return_call_indirect(signature, code, &[self.state]);

        self.b.switch_to_block(leave);
        let done = self.b.ins().iconst(types::I32, i64::from(BlockExit::Done.status()));
        self.b.ins().return_(&[done]);
    }

    /// Goes on with the address of the slot of the hart's jump cache that
    /// holds a block for `pc`, else jumps to `miss`: [`JumpCache::contains`]
    /// in host code, less the block's validity.
    pub(super) fn probe(&mut self, pc: Value, miss: cranelift_codegen::ir::Block) -> Value {
        let (flags, layout) = (self.flags, JumpCache::layout());
        // The slot's offset, ((pc >> 1) & mask) << shift, in two steps: pc
        // has no bit 0.
        let shifted = self.b.ins().ishl_imm_u(pc, i64::from(layout.slot_shift) - 1);
        let offset = self.b.ins().band_imm_s(shifted, (layout.index_mask << layout.slot_shift) as i64);
        let base = self.b.ins().load(self.pointer, flags, self.state, JUMP_SLOTS_OFFSET);
        let slot = self.b.ins().iadd(base, offset);
        let tag = self.b.ins().load(types::I64, flags, slot, layout.slot_tag);
        let hit = self.b.create_block();
        let other_pc = self.b.ins().icmp(IntCC::NotEqual, tag, pc);
        self.b.ins().brif(other_pc, miss, &[], hit, &[]);
        self.b.switch_to_block(hit);
        slot
    }

    /// Exits to `target` when `condition` holds, else carries on.
    pub(super) fn exit_if(&mut self, condition: Value, target: ExitTarget, completed: usize, status: BlockExit) {
        let (leave, stay) = (self.b.create_block(), self.b.create_block());
        self.b.ins().brif(condition, leave, &[], stay, &[]);
        if status == BlockExit::Trapped {
            self.b.set_cold_block(leave);
        }
        self.b.switch_to_block(leave);
        self.exit(target, completed, status);
        self.b.switch_to_block(stay);
    }

    pub(super) fn sext32(&mut self, value: Value) -> Value {
        let narrow = self.b.ins().ireduce(types::I32, value);
        self.b.ins().sextend(types::I64, narrow)
    }

    pub(super) fn bool_to_reg(&mut self, condition: Value) -> Value {
        self.b.ins().uextend(types::I64, condition)
    }

    pub(super) fn translate(mut self, insts: &[Inst], target: TargetFrontendConfig, miscompile: Option<usize>) {
        // A loop back to the block's start ends the compiled function there:
        // the code after it runs as the next block, so the registers it alone
        // uses do not stay live (and spilled) through the loop.
        let insts = match insts
            .iter()
            .position(|inst| inst.op.format() == crate::decode::Format::Branch && loops_to_start(inst))
        {
            Some(index) => &insts[..=index],
            None => insts,
        };
        // Every register the block touches gets a variable, loaded on entry
        // or (lazy mode) before its first use.
        let (mut used, mut fused): (Vec<u8>, Vec<u8>) = (Vec::new(), Vec::new());
        for (index, inst) in insts.iter().enumerate() {
            let operands = inst.registers();
            for r in operands.x_read.into_iter().chain([operands.x_written]) {
                if is_reg(r) && !used.contains(&r) {
                    used.push(r);
                }
            }
            if is_reg(operands.x_written) && !self.written.contains(&operands.x_written) {
                self.written.push(operands.x_written);
                self.first_writes.push(index);
            }
            for r in operands.f_read.into_iter().chain([operands.f_written]).flatten() {
                if !fused.contains(&r) {
                    fused.push(r);
                }
            }
            if let Some(r) = operands.f_written
                && !self.fwritten.contains(&r)
            {
                self.fwritten.push(r);
            }
        }
        self.len = insts.len();
        // With plugins the interpreter takes the same branches inside the
        // block (`Hooks::skips`), so that both see the same blocks run.
        self.skips = forward_skips(insts);
        self.has_skips = self.skips.iter().any(Option::is_some);
        self.joins = vec![None; insts.len()];
        for &target in self.skips.iter().flatten() {
            if self.joins[target].is_none() {
                self.joins[target] = Some(self.b.create_block());
            }
        }
        if self.access == AccessMode::Plain {
            self.ram_groups = ram_groups(insts, &self.joins);
        }
        // A jump or branch back to the start loops inside the function: then
        // every register the block uses is loaded on entry, since a later
        // pass may leave through any exit with any register written.
        // So is every register of a function with forward branches inside
        // it: a register first read in the code such a branch skips would
        // have no value on the branch's path.
        self.lazy = !insts.iter().any(loops_to_start) && !self.has_skips;
        // A block runs only if a whole pass fits the budget and nobody asks
        // for attention: that is checked here rather than by the caller, so
        // that other blocks can jump straight in.
        let (refuse, body) = (self.b.create_block(), self.b.create_block());
        let retired = self.b.ins().load(types::I64, self.flags, self.state, RETIRED_OFFSET);
        let limit = self.b.ins().load(types::I64, self.flags, self.state, LIMIT_OFFSET);
        // The run loop enters compiled code with `retired` at most the limit.
        let room = self.b.ins().isub(limit, retired);
        let fits = self.b.ins().icmp_imm_u(IntCC::UnsignedGreaterThanOrEqual, room, self.len as i64);
        self.b.ins().brif(fits, body, &[], refuse, &[]);
        self.b.switch_to_block(refuse);
        self.b.set_cold_block(refuse);
        let stopped = self.b.ins().iconst(types::I32, i64::from(BlockExit::Stopped.status()));
        self.b.ins().return_(&[stopped]);
        self.b.switch_to_block(body);
        if !self.lazy {
            let spare = self.b.ins().iadd_imm_s(room, -(self.len as i64));
            self.b.def_var(self.spare, spare);
            for &r in &used {
                self.load_register(r);
            }
        }
        for &r in &fused {
            let value = self.b.ins().load(types::F64, self.flags, self.state, F_OFFSET + 8 * i32::from(r));
            self.b.def_var(self.fvars[usize::from(r)], value);
        }
        self.block_entry_float(insts);
        self.b.ins().jump(self.header, &[]);
        self.b.switch_to_block(self.header);
        if self.has_skips {
            let none = self.b.ins().iconst(types::I64, 0);
            self.b.def_var(self.skipped, none);
        }
        self.pass_start_float();
        if let Some(hooks) = self.hooks {
            let pass: Vec<Count> = hooks
                .block
                .counts
                .iter()
                .chain(hooks.insts[..self.len].iter().flat_map(|at| at.counts.iter()))
                .copied()
                .collect();
            self.count(&pass);
        }
        let mut ended = false;
        for (index, inst) in insts.iter().enumerate() {
            if let Some(join) = self.joins[index].take() {
                self.b.ins().jump(join, &[]);
                self.b.switch_to_block(join);
                self.join_float();
            }
            // In lazy mode a register gets its value here, on the straight
            // path every later instruction and exit comes after.
            for r in inst.registers().x_read {
                if is_reg(r) && !self.loaded[usize::from(r)] {
                    self.load_register(r);
                }
            }
            ended = self.instruction(index, inst);
            if ended {
                break;
            }
            if miscompile == Some(index) && is_reg(inst.rd) && !inst.op.format().fp_destination() {
                let right = self.b.use_var(self.vars[usize::from(inst.rd)]);
                let wrong = self.b.ins().iadd_imm_s(right, 1);
                self.b.def_var(self.vars[usize::from(inst.rd)], wrong);
            }
        }
        if !ended {
            let last = &insts[insts.len() - 1];
            self.exit(ExitTarget::Offset(i64::from(last.offset) + i64::from(last.len)), insts.len(), BlockExit::Done);
        }
        // An instruction that always traps ended the function early: a
        // forward branch over it leaves the function where it lands.
        for (index, inst) in insts.iter().enumerate() {
            if let Some(join) = self.joins[index].take() {
                self.b.switch_to_block(join);
                self.exit(ExitTarget::Offset(i64::from(inst.offset)), index, BlockExit::Done);
            }
        }
        self.emit_exit_tails();
        self.b.seal_all_blocks();
        self.b.finalize(target);
    }

    /// Emits one instruction; `true` if it ends the block.
    pub(super) fn instruction(&mut self, index: usize, inst: &Inst) -> bool {
        use Op::*;
        let imm = i64::from(inst.imm);
        let rd = inst.rd;
        let at = i64::from(inst.offset);
        if inst.op.precision().is_some() {
            return self.float(index, inst, at);
        }
        if inst.op.class() == Class::Atomic {
            let value = self.atomic(index, inst, at);
            self.write(rd, value);
            return false;
        }
        let a = self.read(inst.rs1);
        // Read lazily: only R-type, branches and stores have rs2.
        let b_of = |this: &mut Self| this.read(inst.rs2);
        let value = match inst.op {
            Lui => self.b.ins().iconst(types::I64, imm),
            Auipc => self.pc_at(at + imm),
            Jal => {
                self.link(rd, at + i64::from(inst.len));
                if loops_to_start(inst) {
                    self.loop_back(index);
                } else {
                    self.exit(ExitTarget::Offset(at + imm), index + 1, BlockExit::Done);
                }
                return true;
            }
            Jalr => {
                let sum = self.b.ins().iadd_imm_s(a, imm);
                let target = self.b.ins().band_imm_s(sum, !1);
                self.link(rd, at + i64::from(inst.len));
                self.exit(ExitTarget::Address(target), index + 1, BlockExit::Done);
                return true;
            }
            Beq | Bne | Blt | Bge | Bltu | Bgeu => {
                let cc = match inst.op {
                    Beq => IntCC::Equal,
                    Bne => IntCC::NotEqual,
                    Blt => IntCC::SignedLessThan,
                    Bge => IntCC::SignedGreaterThanOrEqual,
                    Bltu => IntCC::UnsignedLessThan,
                    _ => IntCC::UnsignedGreaterThanOrEqual,
                };
                let b = b_of(self);
                let taken = self.b.ins().icmp(cc, a, b);
                if loops_to_start(inst) {
                    let (back, on) = (self.b.create_block(), self.b.create_block());
                    self.b.ins().brif(taken, back, &[], on, &[]);
                    self.b.switch_to_block(back);
                    self.loop_back(index);
                    self.b.switch_to_block(on);
                } else if let Some(target) = self.skips[index] {
                    let (skip, on) = (self.b.create_block(), self.b.create_block());
                    self.b.ins().brif(taken, skip, &[], on, &[]);
                    self.b.switch_to_block(skip);
                    // The pass's start counted what this skips over.
                    self.uncount_range(index + 1, target);
                    let skipped = self.b.use_var(self.skipped);
                    let skipped = self.b.ins().iadd_imm_s(skipped, (target - index - 1) as i64);
                    self.b.def_var(self.skipped, skipped);
                    let join = self.joins[target].expect("a forward branch's target has its block");
                    self.b.ins().jump(join, &[]);
                    self.b.switch_to_block(on);
                } else {
                    self.exit_if(taken, ExitTarget::Offset(at + imm), index + 1, BlockExit::Done);
                }
                return false;
            }
            Lb | Lh | Lw | Ld | Lbu | Lhu | Lwu => {
                let memory = inst.op.memory().expect("a load accesses memory");
                let loaded = if memory.signed { Loaded::Signed } else { Loaded::Unsigned };
                self.load_as(index, at, a, imm, i64::from(memory.size), loaded)
            }
            Sb | Sh | Sw | Sd => {
                let size = inst.op.memory().expect("a store accesses memory").size;
                let b = b_of(self);
                self.store(index, at, a, imm, i64::from(size), b);
                return false;
            }
            Fence => {
                self.b.ins().fence();
                return false;
            }
            Addi => self.b.ins().iadd_imm_s(a, imm),
            Slti => {
                let c = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, a, imm);
                self.bool_to_reg(c)
            }
            Sltiu => {
                let c = self.b.ins().icmp_imm_s(IntCC::UnsignedLessThan, a, imm);
                self.bool_to_reg(c)
            }
            Xori => self.b.ins().bxor_imm_s(a, imm),
            Ori => self.b.ins().bor_imm_s(a, imm),
            Andi => self.b.ins().band_imm_s(a, imm),
            Slli => self.b.ins().ishl_imm_u(a, imm & 63),
            Srli => self.b.ins().ushr_imm_u(a, imm & 63),
            Srai => self.b.ins().sshr_imm_u(a, imm & 63),
            Addiw => {
                let sum = self.b.ins().iadd_imm_s(a, imm);
                self.sext32(sum)
            }
            Slliw | Srliw | Sraiw => {
                let narrow = self.b.ins().ireduce(types::I32, a);
                let shifted = match inst.op {
                    Slliw => self.b.ins().ishl_imm_u(narrow, imm & 31),
                    Srliw => self.b.ins().ushr_imm_u(narrow, imm & 31),
                    _ => self.b.ins().sshr_imm_u(narrow, imm & 31),
                };
                self.b.ins().sextend(types::I64, shifted)
            }
            _ => {
                let b = b_of(self);
                self.register_op(inst.op, a, b)
            }
        };
        self.write(rd, value);
        false
    }

    /// A jump from instruction `index`, the block's last, back to its
    /// start: runs the block again in compiled code when another whole pass
    /// fits the run's slice, else exits there.
    pub(super) fn loop_back(&mut self, index: usize) {
        debug_assert_eq!(index + 1, self.len, "a loop back ends the block");
        let (again, leave) = (self.b.create_block(), self.b.create_block());
        let spare = self.b.use_var(self.spare);
        // Instructions a forward branch skipped did not retire: the slice
        // has them left too.
        let spare = if self.has_skips {
            let skipped = self.b.use_var(self.skipped);
            self.b.ins().iadd(spare, skipped)
        } else {
            spare
        };
        let fits = self.b.ins().icmp_imm_u(IntCC::UnsignedGreaterThanOrEqual, spare, self.len as i64);
        self.b.ins().brif(fits, again, &[], leave, &[]);
        self.b.switch_to_block(again);
        let spare = self.b.ins().iadd_imm_s(spare, -(self.len as i64));
        self.b.def_var(self.spare, spare);
        self.b.ins().jump(self.header, &[]);
        self.b.switch_to_block(leave);
        self.exit(ExitTarget::Offset(0), index + 1, BlockExit::Stopped);
    }

    pub(super) fn sign_extend(&mut self, value: Value, from: Type) -> Value {
        let narrow = self.b.ins().ireduce(from, value);
        self.b.ins().sextend(types::I64, narrow)
    }

    /// R-type arithmetic, RV64I and M.
    pub(super) fn register_op(&mut self, op: Op, a: Value, b: Value) -> Value {
        use Op::*;
        match op {
            Add => self.b.ins().iadd(a, b),
            Sub => self.b.ins().isub(a, b),
            Sll => self.b.ins().ishl(a, b),
            Srl => self.b.ins().ushr(a, b),
            Sra => self.b.ins().sshr(a, b),
            Xor => self.b.ins().bxor(a, b),
            Or => self.b.ins().bor(a, b),
            And => self.b.ins().band(a, b),
            Slt | Sltu => {
                let cc = if op == Slt { IntCC::SignedLessThan } else { IntCC::UnsignedLessThan };
                let c = self.b.ins().icmp(cc, a, b);
                self.bool_to_reg(c)
            }
            Addw | Subw | Mulw => {
                let r = match op {
                    Addw => self.b.ins().iadd(a, b),
                    Subw => self.b.ins().isub(a, b),
                    _ => self.b.ins().imul(a, b),
                };
                self.sext32(r)
            }
            Sllw | Srlw | Sraw => {
                let (a32, b32) = (self.b.ins().ireduce(types::I32, a), self.b.ins().ireduce(types::I32, b));
                let r = match op {
                    Sllw => self.b.ins().ishl(a32, b32),
                    Srlw => self.b.ins().ushr(a32, b32),
                    _ => self.b.ins().sshr(a32, b32),
                };
                self.b.ins().sextend(types::I64, r)
            }
            Mul => self.b.ins().imul(a, b),
            Mulh => self.b.ins().smulhi(a, b),
            Mulhu => self.b.ins().umulhi(a, b),
            Mulhsu => {
                // a × b with a signed: the unsigned high half, less b when a < 0.
                let high = self.b.ins().umulhi(a, b);
                let negative = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, a, 0);
                let zero = self.b.ins().iconst(types::I64, 0);
                let correction = self.b.ins().select(negative, b, zero);
                self.b.ins().isub(high, correction)
            }
            Div | Divu | Rem | Remu => self.divide(op, a, b, types::I64),
            _ => {
                let (a32, b32) = (self.b.ins().ireduce(types::I32, a), self.b.ins().ireduce(types::I32, b));
                let r = self.divide(op, a32, b32, types::I32);
                self.b.ins().sextend(types::I64, r)
            }
        }
    }

    /// Division with RISC-V's results where the host would trap: x / 0 is
    /// all ones, x % 0 is x, MIN / -1 is MIN and MIN % -1 is 0.
    pub(super) fn divide(&mut self, op: Op, a: Value, b: Value, ty: Type) -> Value {
        use Op::*;
        let zero = self.b.ins().icmp_imm_s(IntCC::Equal, b, 0);
        let signed = matches!(op, Div | Rem | Divw | Remw);
        let unsafe_divisor = if signed {
            let min = if ty == types::I32 { i64::from(i32::MIN) } else { i64::MIN };
            let a_min = self.b.ins().icmp_imm_s(IntCC::Equal, a, min);
            let b_minus_one = self.b.ins().icmp_imm_s(IntCC::Equal, b, -1);
            let overflow = self.b.ins().band(a_min, b_minus_one);
            self.b.ins().bor(zero, overflow)
        } else {
            zero
        };
        let one = self.b.ins().iconst(ty, 1);
        // Dividing by 1 instead gives MIN / 1 = MIN and MIN % 1 = 0, as wanted.
        let divisor = self.b.ins().select(unsafe_divisor, one, b);
        let (quotient_or_rest, on_zero) = match op {
            Div | Divw => (self.b.ins().sdiv(a, divisor), self.b.ins().iconst(ty, -1)),
            Divu | Divuw => (self.b.ins().udiv(a, divisor), self.b.ins().iconst(ty, -1)),
            Rem | Remw => (self.b.ins().srem(a, divisor), a),
            _ => (self.b.ins().urem(a, divisor), a),
        };
        self.b.ins().select(zero, on_zero, quotient_or_rest)
    }

    /// `retired` before instruction `index` of the current pass: the time a
    /// device sees for its access.
    pub(super) fn retired_at(&mut self, index: usize) -> Value {
        if self.lazy {
            // One pass: `retired` in the state is the count at its start.
            let entry = self.b.ins().load(types::I64, self.flags, self.state, RETIRED_OFFSET);
            return self.b.ins().iadd_imm_s(entry, index as i64);
        }
        // The pass ends `spare` short of the limit. An atomic load, which
        // Cranelift never merges with the entry's: a merged one would hold
        // the limit in a host register through the whole loop.
        let at = self.b.ins().iadd_imm_s(self.state, i64::from(LIMIT_OFFSET));
        let limit = self.b.ins().atomic_load(types::I64, self.flags, at);
        let spare = self.b.use_var(self.spare);
        let pass_end = self.b.ins().isub(limit, spare);
        let retired = self.b.ins().iadd_imm_s(pass_end, index as i64 - self.len as i64);
        if self.has_skips {
            let skipped = self.b.use_var(self.skipped);
            return self.b.ins().isub(retired, skipped);
        }
        retired
    }
}
