//! The interpreter: executes a pre-decoded [`Block`] without decoding again.
//!
//! One `match` per instruction over the operation; operands are already
//! unpacked. RAM is reached inline through [`crate::Ram`]; everything else
//! (devices, watched or code pages, faults) leaves the hot path through
//! functions marked `#[cold]`.

use std::sync::atomic::{Ordering, fence};

use crate::cache::Block;
use crate::cpu::Cpu;
use crate::csr::mstatus;
use crate::decode::MemoryKind;
use crate::decode::{Op, illegal};
use crate::env::Env;
use crate::fpu::{self, Compare, Int, Rounding, SignInjection};
use crate::memory::access::{self, sext32};
use crate::memory::pmp::Access;
use crate::plugin::hooks::Hooks;
use crate::plugin::{HartPlugins, MemoryEvent, Target};
use crate::privilege::Privilege;
use crate::trap::{Exception, Trap};
use crate::zicsr::csr_op;

/// Executes `block` from its start (see [`execute`]); the caller makes sure
/// some budget is left. With `plugins`, a block that carries hooks makes
/// the counts and calls its plugins planned (see [`crate::plugin`]).
#[inline(always)]
pub(crate) fn execute_block(
    cpu: &mut Cpu,
    env: &Env,
    block: &Block,
    stop_at: u64,
    plugins: Option<&mut HartPlugins>,
) -> Result<(), (Trap, u64)> {
    match (block.hooks(), plugins) {
        (Some(hooks), Some(plugins)) => execute_instrumented(cpu, env, block, stop_at, hooks, plugins),
        _ => execute(cpu, env, block, cpu.arch.pc, None, stop_at, &mut Memory),
    }
}

/// Executes one block that is not in the jump cache, within the budget.
pub(crate) fn execute_once(
    cpu: &mut Cpu,
    env: &Env,
    block: &Block,
    stop_at: u64,
    plugins: Option<&mut HartPlugins>,
) -> Result<(), (Trap, u64)> {
    if cpu.arch.retired >= stop_at {
        return Ok(());
    }
    execute_block(cpu, env, block, stop_at, plugins)
}

/// [`execute`] with the instrumented memory path, kept out of line so that
/// the plain path stays as it was.
#[inline(never)]
fn execute_instrumented(
    cpu: &mut Cpu,
    env: &Env,
    block: &Block,
    stop_at: u64,
    hooks: &Hooks,
    plugins: &mut HartPlugins,
) -> Result<(), (Trap, u64)> {
    execute(cpu, env, block, cpu.arch.pc, None, stop_at, &mut Instrumented::new(hooks, plugins))
}

/// With plugins, after compiled code left `block` (entered at `block_pc`)
/// before its instruction `first` for a load or store it could not make:
/// goes on with the block from there in the interpreter, as the same run
/// of it (no block event; compiled code took back the counts from `first`
/// on), so that the tiers see the same blocks run.
pub(crate) fn resume(
    cpu: &mut Cpu,
    env: &Env,
    block: &Block,
    block_pc: u64,
    first: usize,
    stop_at: u64,
    plugins: &mut HartPlugins,
) -> Result<(), (Trap, u64)> {
    let Some(hooks) = block.hooks() else {
        return execute(cpu, env, block, block_pc, Some(first), stop_at, &mut Memory);
    };
    execute(cpu, env, block, block_pc, Some(first), stop_at, &mut Instrumented::new(hooks, plugins))
}

/// Executes `block` as [`execute`] does, with its loads and stores (integer
/// and floating point) answered by `memory`: lockstep replays the compiled
/// code's accesses this way.
pub(crate) fn execute_with(
    cpu: &mut Cpu,
    env: &Env,
    block: &Block,
    stop_at: u64,
    memory: &mut impl DataAccess,
) -> Result<(), (Trap, u64)> {
    execute(cpu, env, block, cpu.arch.pc, None, stop_at, memory)
}

/// How [`execute`] reaches data memory, and what it tells an observer:
/// memory itself, lockstep's replay of compiled code's accesses, or
/// memory with a plugin's hooks around each instruction
/// ([`Instrumented`]). The observer's methods do
/// nothing unless an implementation says otherwise, and cost nothing then.
pub(crate) trait DataAccess {
    /// Whether the observer methods do anything (plugins): the plain path
    /// then keeps none of their bookkeeping.
    const OBSERVES: bool = false;
    /// As [`access::load`].
    fn load(&mut self, cpu: &mut Cpu, env: &Env, vaddr: u64, size: u8, retired: u64) -> Result<u64, Trap>;
    /// As [`access::store`].
    fn store(&mut self, cpu: &mut Cpu, env: &Env, vaddr: u64, size: u8, value: u64, retired: u64) -> Result<(), Trap>;
    /// As [`access::load_reserved`].
    #[inline(always)]
    fn load_reserved(&mut self, cpu: &mut Cpu, env: &Env, vaddr: u64, size: u8) -> Result<u64, Trap> {
        access::load_reserved(cpu, env, vaddr, size)
    }
    /// As [`access::store_conditional`].
    #[inline(always)]
    fn store_conditional(&mut self, cpu: &mut Cpu, env: &Env, vaddr: u64, size: u8, value: u64) -> Result<bool, Trap> {
        access::store_conditional(cpu, env, vaddr, size, value)
    }
    /// As [`access::amo`].
    #[inline(always)]
    fn amo(&mut self, cpu: &mut Cpu, env: &Env, op: Op, vaddr: u64, operand: u64, retired: u64) -> Result<u64, Trap> {
        access::amo(cpu, env, op, vaddr, operand, retired)
    }
    /// Before a pass over the block at `pc` begins, `retired` instructions in.
    #[inline(always)]
    fn block(&mut self, _cpu: &mut Cpu, _env: &Env, _pc: u64, _retired: u64) {}
    /// The later instruction of the block the taken branch at `index` goes
    /// on at inside the block, if it does (with plugins, see
    /// `Hooks::skips`); otherwise a taken branch leaves the block.
    #[inline(always)]
    fn skip(&self, _index: usize) -> Option<usize> {
        None
    }
    /// Before instruction `index`, at `pc`, runs, `retired` instructions in;
    /// false leaves the block before it.
    #[inline(always)]
    fn instruction(&mut self, _cpu: &mut Cpu, _env: &Env, _index: usize, _pc: u64, _retired: u64) -> bool {
        true
    }
}

/// Memory itself: [`access::load`] and [`access::store`].
struct Memory;

impl DataAccess for Memory {
    #[inline(always)]
    fn load(&mut self, cpu: &mut Cpu, env: &Env, vaddr: u64, size: u8, retired: u64) -> Result<u64, Trap> {
        access::load(cpu, env, vaddr, size, retired)
    }

    #[inline(always)]
    fn store(&mut self, cpu: &mut Cpu, env: &Env, vaddr: u64, size: u8, value: u64, retired: u64) -> Result<(), Trap> {
        access::store(cpu, env, vaddr, size, value, retired)
    }
}

/// Executes `block` from `state.pc` (its start) until it ends, leaves
/// through a jump or taken branch, or `retired` reaches `stop_at`. The caller
/// makes sure some budget is left.
///
/// On return `pc`, the registers and the counters reflect exactly the
/// instructions that retired. An exception comes back with the address of the
/// instruction that raised it, which has not retired; the caller takes the trap.
///
/// `block_pc` is where the block was entered; with plugins, `resume_at` is
/// the instruction a compiled block left the block at, for a load or store
/// it could not make, where the first pass goes on (see [`resume`]).
#[inline(always)]
fn execute<M: DataAccess>(
    cpu: &mut Cpu,
    env: &Env,
    block: &Block,
    block_pc: u64,
    resume_at: Option<usize>,
    stop_at: u64,
    memory: &mut M,
) -> Result<(), (Trap, u64)> {
    let mut first = resume_at.unwrap_or(0);
    // `retired` at the start of the current pass over the block, less the
    // instructions a forward branch skipped in it (so it may wrap below
    // zero early in a run: wrapping arithmetic throughout): a taken branch
    // back to the block's start runs it again without leaving here.
    let mut start_retired = cpu.arch.retired - first as u64;
    // A pass that starts the block, not one that resumes it, is a run of it.
    let mut fresh = resume_at.is_none();
    let len = block.insts.len() as u64;

    let end_pc = 'block: loop {
        if std::mem::replace(&mut fresh, true) {
            memory.block(cpu, env, block_pc, start_retired);
        }
        // The pass runs from here: a forward branch inside the block (with
        // plugins) moves it on.
        let mut skip_to = std::mem::take(&mut first);
        let insts = &block.insts[..stop_at.wrapping_sub(start_retired).min(len) as usize];
        for (index, inst) in insts.iter().enumerate() {
            if M::OBSERVES && index < skip_to {
                continue;
            }
            if !memory.instruction(
                cpu,
                env,
                index,
                block_pc.wrapping_add(u64::from(inst.offset)),
                start_retired.wrapping_add(index as u64),
            ) {
                cpu.arch.retired = start_retired.wrapping_add(index as u64);
                break 'block block_pc.wrapping_add(u64::from(inst.offset));
            }
            // Operands that only some operations need are macros, so that
            // they are computed in those arms alone rather than hoisted in
            // front of the dispatch for every instruction.
            // The address of this instruction.
            macro_rules! pc {
                () => {
                    block_pc.wrapping_add(u64::from(inst.offset))
                };
            }
            // The address after it.
            macro_rules! next {
                () => {
                    pc!().wrapping_add(u64::from(inst.len))
                };
            }
            // The second source register's value.
            macro_rules! b {
                () => {
                    cpu.arch.x[usize::from(inst.rs2)]
                };
            }
            // Instructions retired before this one: what a device it
            // reaches sees as the time of the access.
            macro_rules! now {
                () => {
                    start_retired.wrapping_add(index as u64)
                };
            }
            // Counters are brought up to date only where something can observe them.
            macro_rules! sync_counters {
                () => {
                    cpu.arch.retired = start_retired.wrapping_add(index as u64)
                };
            }
            macro_rules! fault {
                ($trap:expr) => {{
                    sync_counters!();
                    cpu.arch.pc = pc!();
                    return Err(($trap, pc!()));
                }};
            }
            macro_rules! try_mem {
                ($access:expr) => {
                    match $access {
                        Ok(value) => value,
                        Err(trap) => fault!(trap),
                    }
                };
            }
            // Leaves the block for `target` after this instruction retires.
            macro_rules! jump {
                ($target:expr) => {{
                    cpu.arch.retired = start_retired.wrapping_add(index as u64) + 1;
                    break 'block $target;
                }};
            }
            // Conditional branches do not end blocks: a taken one leaves it,
            // or, back to the block's own start (a loop), runs it again while
            // budget remains and nobody asks for attention.
            macro_rules! taken {
                ($cond:expr, $offset:expr) => {
                    if $cond {
                        if let Some(to) = memory.skip(index).filter(|&to| to < insts.len()) {
                            // With plugins: on inside the block, as compiled
                            // code goes (see `Hooks::skips`), unless the
                            // budget ends the pass first.
                            start_retired = start_retired.wrapping_sub((to - index - 1) as u64);
                            skip_to = to;
                            continue;
                        }
                        let target = pc!().wrapping_add($offset);
                        let retired = start_retired.wrapping_add(index as u64) + 1;
                        if target == block_pc && retired < stop_at && !env.control.attention_pending() {
                            start_retired = retired;
                            continue 'block;
                        }
                        jump!(target);
                    }
                };
            }
            let rd = usize::from(inst.rd);
            let rs1 = usize::from(inst.rs1);
            let imm = i64::from(inst.imm) as u64;
            let a = cpu.arch.x[rs1];
            // Floating point: with mstatus.FS Off every F and D instruction
            // is illegal; one that changes the F state makes FS Dirty.
            macro_rules! fp_on {
                () => {
                    if cpu.arch.csr.mstatus & mstatus::FS == 0 {
                        fault!(illegal(inst));
                    }
                };
            }
            macro_rules! fp_dirty {
                () => {
                    cpu.arch.csr.mstatus |= mstatus::FS_DIRTY | mstatus::SD
                };
            }
            // The instruction's rounding mode; a reserved one is illegal.
            macro_rules! rm {
                () => {
                    match Rounding::select(inst.rounding_mode(), cpu.arch.frm) {
                        Some(rm) => rm,
                        None => fault!(illegal(inst)),
                    }
                };
            }
            macro_rules! fa {
                () => {
                    cpu.arch.f[rs1 & 31]
                };
            }
            macro_rules! fb {
                () => {
                    cpu.arch.f[usize::from(inst.rs2) & 31]
                };
            }
            macro_rules! set_f {
                ($value:expr) => {{
                    let value = $value;
                    cpu.arch.f[rd & 31] = value;
                    fp_dirty!();
                }};
            }
            macro_rules! fp_arith {
                ($operation:ident, $float:ty) => {{
                    fp_on!();
                    let rm = rm!();
                    set_f!(fpu::$operation::<$float>(fa!(), fb!(), rm, &mut cpu.arch.fflags));
                }};
            }
            macro_rules! fp_unary {
                ($operation:path) => {{
                    fp_on!();
                    let rm = rm!();
                    set_f!($operation(fa!(), rm, &mut cpu.arch.fflags));
                }};
            }
            macro_rules! fp_fma {
                ($float:ty, $negate_product:expr, $negate_addend:expr) => {{
                    fp_on!();
                    let rm = rm!();
                    let c = cpu.arch.f[usize::from(inst.rs3())];
                    let result =
                        fpu::fma::<$float>(fa!(), fb!(), c, $negate_product, $negate_addend, rm, &mut cpu.arch.fflags);
                    set_f!(result);
                }};
            }
            macro_rules! fp_sign {
                ($float:ty, $kind:expr) => {{
                    fp_on!();
                    set_f!(fpu::inject_sign::<$float>(fa!(), fb!(), $kind));
                }};
            }
            macro_rules! fp_min_max {
                ($float:ty, $max:expr) => {{
                    fp_on!();
                    set_f!(fpu::min_max::<$float>(fa!(), fb!(), $max, &mut cpu.arch.fflags));
                }};
            }
            // Integer results: FS becomes Dirty only if a flag was raised.
            macro_rules! fp_to_x {
                ($value:expr) => {{
                    let before = cpu.arch.fflags;
                    cpu.arch.x[rd] = $value;
                    if cpu.arch.fflags != before {
                        fp_dirty!();
                    }
                }};
            }
            macro_rules! fp_to_int {
                ($float:ty, $to:expr) => {{
                    fp_on!();
                    let rm = rm!();
                    fp_to_x!(fpu::to_int::<$float>(fa!(), $to, rm, &mut cpu.arch.fflags));
                }};
            }
            macro_rules! fp_from_int {
                ($float:ty, $from:expr) => {{
                    fp_on!();
                    let rm = rm!();
                    set_f!(fpu::from_int::<$float>(a, $from, rm, &mut cpu.arch.fflags));
                }};
            }
            macro_rules! fp_compare {
                ($float:ty, $compare:expr) => {{
                    fp_on!();
                    fp_to_x!(fpu::compare::<$float>(fa!(), fb!(), $compare, &mut cpu.arch.fflags));
                }};
            }
            match inst.op {
                Op::Lui => cpu.arch.x[rd] = imm,
                Op::Auipc => cpu.arch.x[rd] = pc!().wrapping_add(imm),
                Op::Jal => {
                    cpu.arch.x[rd] = next!();
                    jump!(pc!().wrapping_add(imm));
                }
                Op::Jalr => {
                    cpu.arch.x[rd] = next!();
                    jump!(a.wrapping_add(imm) & !1);
                }
                Op::Beq => taken!(a == b!(), imm),
                Op::Bne => taken!(a != b!(), imm),
                Op::Blt => taken!((a as i64) < (b!() as i64), imm),
                Op::Bge => taken!((a as i64) >= (b!() as i64), imm),
                Op::Bltu => taken!(a < b!(), imm),
                Op::Bgeu => taken!(a >= b!(), imm),
                Op::Lb => cpu.arch.x[rd] = try_mem!(memory.load(cpu, env, a.wrapping_add(imm), 1, now!())) as i8 as u64,
                Op::Lh => {
                    cpu.arch.x[rd] = try_mem!(memory.load(cpu, env, a.wrapping_add(imm), 2, now!())) as i16 as u64
                }
                Op::Lw => {
                    cpu.arch.x[rd] = try_mem!(memory.load(cpu, env, a.wrapping_add(imm), 4, now!())) as i32 as u64
                }
                Op::Ld => cpu.arch.x[rd] = try_mem!(memory.load(cpu, env, a.wrapping_add(imm), 8, now!())),
                Op::Lbu => cpu.arch.x[rd] = try_mem!(memory.load(cpu, env, a.wrapping_add(imm), 1, now!())),
                Op::Lhu => cpu.arch.x[rd] = try_mem!(memory.load(cpu, env, a.wrapping_add(imm), 2, now!())),
                Op::Lwu => cpu.arch.x[rd] = try_mem!(memory.load(cpu, env, a.wrapping_add(imm), 4, now!())),
                Op::Sb => try_mem!(memory.store(cpu, env, a.wrapping_add(imm), 1, b!(), now!())),
                Op::Sh => try_mem!(memory.store(cpu, env, a.wrapping_add(imm), 2, b!(), now!())),
                Op::Sw => try_mem!(memory.store(cpu, env, a.wrapping_add(imm), 4, b!(), now!())),
                Op::Sd => try_mem!(memory.store(cpu, env, a.wrapping_add(imm), 8, b!(), now!())),
                Op::Addi => cpu.arch.x[rd] = a.wrapping_add(imm),
                Op::Slti => cpu.arch.x[rd] = u64::from((a as i64) < (imm as i64)),
                Op::Sltiu => cpu.arch.x[rd] = u64::from(a < imm),
                Op::Xori => cpu.arch.x[rd] = a ^ imm,
                Op::Ori => cpu.arch.x[rd] = a | imm,
                Op::Andi => cpu.arch.x[rd] = a & imm,
                Op::Slli => cpu.arch.x[rd] = a << (imm & 63),
                Op::Srli => cpu.arch.x[rd] = a >> (imm & 63),
                Op::Srai => cpu.arch.x[rd] = ((a as i64) >> (imm & 63)) as u64,
                Op::Add => cpu.arch.x[rd] = a.wrapping_add(b!()),
                Op::Sub => cpu.arch.x[rd] = a.wrapping_sub(b!()),
                Op::Sll => cpu.arch.x[rd] = a << (b!() & 63),
                Op::Slt => cpu.arch.x[rd] = u64::from((a as i64) < (b!() as i64)),
                Op::Sltu => cpu.arch.x[rd] = u64::from(a < b!()),
                Op::Xor => cpu.arch.x[rd] = a ^ b!(),
                Op::Srl => cpu.arch.x[rd] = a >> (b!() & 63),
                Op::Sra => cpu.arch.x[rd] = ((a as i64) >> (b!() & 63)) as u64,
                Op::Or => cpu.arch.x[rd] = a | b!(),
                Op::And => cpu.arch.x[rd] = a & b!(),
                Op::Addiw => cpu.arch.x[rd] = sext32(a.wrapping_add(imm)),
                Op::Slliw => cpu.arch.x[rd] = sext32((a as u32 as u64) << (imm & 31)),
                Op::Srliw => cpu.arch.x[rd] = sext32(u64::from(a as u32 >> (imm & 31))),
                Op::Sraiw => cpu.arch.x[rd] = ((a as i32) >> (imm & 31)) as u64,
                Op::Addw => cpu.arch.x[rd] = sext32(a.wrapping_add(b!())),
                Op::Subw => cpu.arch.x[rd] = sext32(a.wrapping_sub(b!())),
                Op::Sllw => cpu.arch.x[rd] = sext32((a as u32 as u64) << (b!() & 31)),
                Op::Srlw => cpu.arch.x[rd] = sext32(u64::from(a as u32 >> (b!() & 31))),
                Op::Sraw => cpu.arch.x[rd] = ((a as i32) >> (b!() & 31)) as u64,
                Op::Mul => cpu.arch.x[rd] = a.wrapping_mul(b!()),
                Op::Mulh => cpu.arch.x[rd] = ((i128::from(a as i64) * i128::from(b!() as i64)) >> 64) as u64,
                Op::Mulhsu => cpu.arch.x[rd] = ((i128::from(a as i64) * i128::from(b!())) >> 64) as u64,
                Op::Mulhu => cpu.arch.x[rd] = ((u128::from(a) * u128::from(b!())) >> 64) as u64,
                Op::Div => cpu.arch.x[rd] = div(a as i64, b!() as i64) as u64,
                Op::Divu => cpu.arch.x[rd] = a.checked_div(b!()).unwrap_or(u64::MAX),
                Op::Rem => cpu.arch.x[rd] = rem(a as i64, b!() as i64) as u64,
                Op::Remu => cpu.arch.x[rd] = if b!() == 0 { a } else { a % b!() },
                Op::Mulw => cpu.arch.x[rd] = sext32(a.wrapping_mul(b!())),
                Op::Divw => cpu.arch.x[rd] = i64::from(div32(a as i32, b!() as i32)) as u64,
                Op::Divuw => {
                    cpu.arch.x[rd] = sext32(u64::from((a as u32).checked_div(b!() as u32).unwrap_or(u32::MAX)))
                }
                Op::Remw => cpu.arch.x[rd] = i64::from(rem32(a as i32, b!() as i32)) as u64,
                Op::Remuw => {
                    let (a, b) = (a as u32, b!() as u32);
                    cpu.arch.x[rd] = sext32(u64::from(if b == 0 { a } else { a % b }));
                }
                // Harts on other host threads must see this hart's accesses in the
                // order RVWMO requires around a fence; a full host fence is enough.
                Op::Fence => fence(Ordering::SeqCst),
                // Stores invalidate translated code as they happen; fence.i
                // (which ends its block) also has the run loop check blocks
                // read before it (see `Hart::checked_since_fence_i`).
                Op::FenceI => {
                    cpu.fence_i = true;
                    cpu.recheck = true;
                }
                Op::Ecall => {
                    let exception = match cpu.arch.privilege {
                        Privilege::User => Exception::EnvironmentCallFromU,
                        Privilege::Supervisor => Exception::EnvironmentCallFromS,
                        Privilege::Machine => Exception::EnvironmentCallFromM,
                    };
                    fault!(Trap::new(exception, 0));
                }
                // mtval may be the address or zero (privileged spec 3.1.16); zero, as QEMU does.
                Op::Ebreak => fault!(Trap::new(Exception::Breakpoint, 0)),
                Op::Mret => {
                    if cpu.arch.privilege != Privilege::Machine {
                        fault!(illegal(inst));
                    }
                    cpu.arch.mret();
                    cpu.recheck = true;
                    jump!(cpu.arch.pc);
                }
                Op::Sret => {
                    let trapped =
                        cpu.arch.privilege == Privilege::Supervisor && cpu.arch.csr.mstatus & mstatus::TSR != 0;
                    if cpu.arch.privilege == Privilege::User || trapped {
                        fault!(illegal(inst));
                    }
                    cpu.arch.sret();
                    cpu.recheck = true;
                    jump!(cpu.arch.pc);
                }
                Op::Wfi => {
                    // With S-mode present, U-mode may not wait, and S-mode
                    // only while mstatus.TW is clear (privileged spec
                    // 3.1.6.6), as on QEMU.
                    let trapped = match cpu.arch.privilege {
                        Privilege::User => true,
                        Privilege::Supervisor => cpu.arch.csr.mstatus & mstatus::TW != 0,
                        Privilege::Machine => false,
                    };
                    if trapped {
                        fault!(illegal(inst));
                    }
                    cpu.arch.waiting = true;
                    cpu.recheck = true;
                }
                Op::SfenceVma => {
                    let trapped =
                        cpu.arch.privilege == Privilege::Supervisor && cpu.arch.csr.mstatus & mstatus::TVM != 0;
                    if cpu.arch.privilege == Privilege::User || trapped {
                        fault!(illegal(inst));
                    }
                    let vaddr = (inst.rs1 != 0).then(|| cpu.arch.x[usize::from(inst.rs1)]);
                    let asid = (inst.rs2 != 0).then(|| cpu.arch.x[usize::from(inst.rs2)]);
                    cpu.sfence_vma(vaddr, asid);
                    cpu.recheck = true;
                }
                Op::Csrrw | Op::Csrrs | Op::Csrrc | Op::Csrrwi | Op::Csrrsi | Op::Csrrci => {
                    sync_counters!();
                    if let Err(trap) = csr_op(cpu, env, inst, a) {
                        fault!(trap);
                    }
                    cpu.recheck = true;
                }
                Op::LrW | Op::LrD => {
                    let size = if inst.op == Op::LrW { 4 } else { 8 };
                    let value = try_mem!(memory.load_reserved(cpu, env, a, size));
                    cpu.arch.x[rd] = if size == 4 { sext32(value) } else { value };
                }
                Op::ScW | Op::ScD => {
                    let size = if inst.op == Op::ScW { 4 } else { 8 };
                    let ok = try_mem!(memory.store_conditional(cpu, env, a, size, b!()));
                    cpu.arch.x[rd] = u64::from(!ok);
                }
                Op::AmoswapW
                | Op::AmoaddW
                | Op::AmoxorW
                | Op::AmoandW
                | Op::AmoorW
                | Op::AmominW
                | Op::AmomaxW
                | Op::AmominuW
                | Op::AmomaxuW
                | Op::AmoswapD
                | Op::AmoaddD
                | Op::AmoxorD
                | Op::AmoandD
                | Op::AmoorD
                | Op::AmominD
                | Op::AmomaxD
                | Op::AmominuD
                | Op::AmomaxuD => cpu.arch.x[rd] = try_mem!(memory.amo(cpu, env, inst.op, a, b!(), now!())),
                Op::Illegal => fault!(illegal(inst)),
                // F and D.
                Op::Flw => {
                    fp_on!();
                    let value = try_mem!(memory.load(cpu, env, a.wrapping_add(imm), 4, now!()));
                    set_f!(fpu::box_single(value));
                }
                Op::Fld => {
                    fp_on!();
                    let value = try_mem!(memory.load(cpu, env, a.wrapping_add(imm), 8, now!()));
                    set_f!(value);
                }
                Op::Fsw => {
                    fp_on!();
                    try_mem!(memory.store(cpu, env, a.wrapping_add(imm), 4, fb!(), now!()));
                }
                Op::Fsd => {
                    fp_on!();
                    try_mem!(memory.store(cpu, env, a.wrapping_add(imm), 8, fb!(), now!()));
                }
                Op::FaddS => fp_arith!(add, f32),
                Op::FsubS => fp_arith!(sub, f32),
                Op::FmulS => fp_arith!(mul, f32),
                Op::FdivS => fp_arith!(div, f32),
                Op::FaddD => fp_arith!(add, f64),
                Op::FsubD => fp_arith!(sub, f64),
                Op::FmulD => fp_arith!(mul, f64),
                Op::FdivD => fp_arith!(div, f64),
                Op::FsqrtS => fp_unary!(fpu::sqrt::<f32>),
                Op::FsqrtD => fp_unary!(fpu::sqrt::<f64>),
                Op::FcvtSD => fp_unary!(fpu::narrow),
                Op::FcvtDS => fp_unary!(fpu::widen),
                Op::FmaddS => fp_fma!(f32, false, false),
                Op::FmsubS => fp_fma!(f32, false, true),
                Op::FnmsubS => fp_fma!(f32, true, false),
                Op::FnmaddS => fp_fma!(f32, true, true),
                Op::FmaddD => fp_fma!(f64, false, false),
                Op::FmsubD => fp_fma!(f64, false, true),
                Op::FnmsubD => fp_fma!(f64, true, false),
                Op::FnmaddD => fp_fma!(f64, true, true),
                Op::FsgnjS => fp_sign!(f32, SignInjection::Copy),
                Op::FsgnjnS => fp_sign!(f32, SignInjection::Negate),
                Op::FsgnjxS => fp_sign!(f32, SignInjection::Xor),
                Op::FsgnjD => fp_sign!(f64, SignInjection::Copy),
                Op::FsgnjnD => fp_sign!(f64, SignInjection::Negate),
                Op::FsgnjxD => fp_sign!(f64, SignInjection::Xor),
                Op::FminS => fp_min_max!(f32, false),
                Op::FmaxS => fp_min_max!(f32, true),
                Op::FminD => fp_min_max!(f64, false),
                Op::FmaxD => fp_min_max!(f64, true),
                Op::FcvtWS => fp_to_int!(f32, Int::W),
                Op::FcvtWuS => fp_to_int!(f32, Int::Wu),
                Op::FcvtLS => fp_to_int!(f32, Int::L),
                Op::FcvtLuS => fp_to_int!(f32, Int::Lu),
                Op::FcvtWD => fp_to_int!(f64, Int::W),
                Op::FcvtWuD => fp_to_int!(f64, Int::Wu),
                Op::FcvtLD => fp_to_int!(f64, Int::L),
                Op::FcvtLuD => fp_to_int!(f64, Int::Lu),
                Op::FcvtSW => fp_from_int!(f32, Int::W),
                Op::FcvtSWu => fp_from_int!(f32, Int::Wu),
                Op::FcvtSL => fp_from_int!(f32, Int::L),
                Op::FcvtSLu => fp_from_int!(f32, Int::Lu),
                Op::FcvtDW => fp_from_int!(f64, Int::W),
                Op::FcvtDWu => fp_from_int!(f64, Int::Wu),
                Op::FcvtDL => fp_from_int!(f64, Int::L),
                Op::FcvtDLu => fp_from_int!(f64, Int::Lu),
                Op::FeqS => fp_compare!(f32, Compare::Eq),
                Op::FltS => fp_compare!(f32, Compare::Lt),
                Op::FleS => fp_compare!(f32, Compare::Le),
                Op::FeqD => fp_compare!(f64, Compare::Eq),
                Op::FltD => fp_compare!(f64, Compare::Lt),
                Op::FleD => fp_compare!(f64, Compare::Le),
                Op::FclassS => {
                    fp_on!();
                    cpu.arch.x[rd] = fpu::classify::<f32>(fa!());
                }
                Op::FclassD => {
                    fp_on!();
                    cpu.arch.x[rd] = fpu::classify::<f64>(fa!());
                }
                // fmv.x.w takes the low 32 bits whether or not they are NaN-boxed.
                Op::FmvXW => {
                    fp_on!();
                    cpu.arch.x[rd] = sext32(fa!());
                }
                Op::FmvXD => {
                    fp_on!();
                    cpu.arch.x[rd] = fa!();
                }
                Op::FmvWX => {
                    fp_on!();
                    set_f!(fpu::box_single(a));
                }
                Op::FmvDX => {
                    fp_on!();
                    set_f!(a);
                }
            }
        }
        cpu.arch.retired = start_retired.wrapping_add(insts.len() as u64);
        let last = &insts[insts.len() - 1];
        break block_pc.wrapping_add(u64::from(last.offset) + u64::from(last.len));
    };
    cpu.arch.pc = end_pc;
    Ok(())
}

/// The interpreter's way to memory while a block has hooks: memory itself,
/// with the counts and calls the hooks ask for around each instruction
/// (see [`DataAccess`]).
pub(crate) struct Instrumented<'a> {
    pub(crate) hooks: &'a Hooks,
    pub(crate) plugins: &'a mut HartPlugins,
    /// The instruction running: its index and address.
    index: usize,
    pc: u64,
    /// Plugins were called before it: one may have stopped the machine.
    called: bool,
}

impl<'a> Instrumented<'a> {
    pub(crate) fn new(hooks: &'a Hooks, plugins: &'a mut HartPlugins) -> Instrumented<'a> {
        Instrumented { hooks, plugins, index: 0, pc: 0, called: false }
    }

    /// After an access of `size` bytes at `vaddr` that went through.
    #[cold]
    fn accessed(&mut self, cpu: &mut Cpu, env: &Env, vaddr: u64, size: u8, value: u64, kind: MemoryKind) {
        let at = &self.hooks.insts[self.index];
        if at.memory.is_empty() {
            return;
        }
        let access = if kind.writes() { Access::Store } else { Access::Load };
        let paddr = access::physical(cpu, env, vaddr, size, access);
        let target = if env.ram.offset(paddr, u64::from(size)).is_some() { Target::Ram } else { Target::Device };
        let event = MemoryEvent { vaddr, paddr, size, value, kind, target };
        self.plugins.accessed(cpu, env, at, self.pc, &event);
    }
}

impl DataAccess for Instrumented<'_> {
    const OBSERVES: bool = true;

    #[inline(always)]
    fn load(&mut self, cpu: &mut Cpu, env: &Env, vaddr: u64, size: u8, retired: u64) -> Result<u64, Trap> {
        let value = access::load(cpu, env, vaddr, size, retired)?;
        self.accessed(cpu, env, vaddr, size, value, MemoryKind::Load);
        Ok(value)
    }

    #[inline(always)]
    fn store(&mut self, cpu: &mut Cpu, env: &Env, vaddr: u64, size: u8, value: u64, retired: u64) -> Result<(), Trap> {
        access::store(cpu, env, vaddr, size, value, retired)?;
        let value = if size == 8 { value } else { value & ((1 << (8 * u32::from(size))) - 1) };
        self.accessed(cpu, env, vaddr, size, value, MemoryKind::Store);
        Ok(())
    }

    fn load_reserved(&mut self, cpu: &mut Cpu, env: &Env, vaddr: u64, size: u8) -> Result<u64, Trap> {
        let value = access::load_reserved(cpu, env, vaddr, size)?;
        self.accessed(cpu, env, vaddr, size, value, MemoryKind::LoadReserved);
        Ok(value)
    }

    fn store_conditional(&mut self, cpu: &mut Cpu, env: &Env, vaddr: u64, size: u8, value: u64) -> Result<bool, Trap> {
        let stored = access::store_conditional(cpu, env, vaddr, size, value)?;
        if stored {
            let value = if size == 8 { value } else { value & 0xffff_ffff };
            self.accessed(cpu, env, vaddr, size, value, MemoryKind::StoreConditional);
        }
        Ok(stored)
    }

    fn amo(&mut self, cpu: &mut Cpu, env: &Env, op: Op, vaddr: u64, operand: u64, retired: u64) -> Result<u64, Trap> {
        let old = access::amo(cpu, env, op, vaddr, operand, retired)?;
        if let Some(memory) = op.memory() {
            let value = if memory.size == 8 { old } else { old & 0xffff_ffff };
            self.accessed(cpu, env, vaddr, memory.size, value, memory.kind);
        }
        Ok(old)
    }

    #[inline(always)]
    fn skip(&self, index: usize) -> Option<usize> {
        self.hooks.skips.get(index).copied().flatten()
    }

    #[inline(always)]
    fn block(&mut self, cpu: &mut Cpu, env: &Env, pc: u64, retired: u64) {
        cpu.arch.retired = retired;
        self.plugins.before(cpu, env, &self.hooks.block, pc, true);
    }

    /// A callback that stops the machine (a fast-forward marker, say)
    /// stops the hart right after the instruction it was called before:
    /// the block is left before the next one. So does the end of the run in
    /// local time, which callbacks move on with the cycles they add.
    #[inline(always)]
    fn instruction(&mut self, cpu: &mut Cpu, env: &Env, index: usize, pc: u64, retired: u64) -> bool {
        if std::mem::take(&mut self.called) && env.control.attention_pending() {
            return false;
        }
        // Callbacks may add cycles: the run ends where local time does (the
        // dispatcher hands back to `Hart::run`, which ends it).
        if self.plugins.cycle_reached(cpu, retired) {
            cpu.recheck = true;
            return false;
        }
        self.index = index;
        self.pc = pc;
        cpu.arch.retired = retired;
        let at = &self.hooks.insts[index];
        self.called = !at.calls.is_empty();
        self.plugins.before(cpu, env, at, pc, false);
        true
    }
}

fn div(a: i64, b: i64) -> i64 {
    if b == 0 { -1 } else { a.wrapping_div(b) }
}

fn rem(a: i64, b: i64) -> i64 {
    if b == 0 { a } else { a.wrapping_rem(b) }
}

fn div32(a: i32, b: i32) -> i32 {
    if b == 0 { -1 } else { a.wrapping_div(b) }
}

fn rem32(a: i32, b: i32) -> i32 {
    if b == 0 { a } else { a.wrapping_rem(b) }
}
