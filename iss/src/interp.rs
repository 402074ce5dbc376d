//! The interpreter: executes a pre-decoded [`Block`] without decoding again.
//!
//! One `match` per instruction over the operation; operands are already
//! unpacked. RAM is reached inline through [`Ram`]; everything else
//! (devices, watched or code pages, faults) leaves the hot path through
//! functions marked `#[cold]`.

use std::sync::atomic::{Ordering, fence};

use crate::cache::{Block, JumpCache};
use crate::csr::{self, CsrFile, mstatus};
use crate::decode::{self, AmoOp, CsrAccess, Inst, Op};
use crate::fpu::{self, Compare, Int, Rounding, SignInjection};
use crate::hart::{Env, HartState, INHIBIT_CY, INHIBIT_IR, Privilege};
use crate::jit::{self, JitStats};
use crate::memory::{Amo, PAGE_SHIFT, StoreMarks, crosses_page};
use crate::mmu::Access;
use crate::pmp::Pmp;
use crate::trap::{Exception, Trap};

/// Why [`run_blocks`] handed control back to the hart's run loop.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Handback {
    /// The instruction budget is spent.
    Budget,
    /// The next block is not in the jump cache.
    Miss,
    /// Another thread asked for attention, or an instruction may have made an
    /// interrupt deliverable.
    Event,
    /// Lockstep found compiled code and the interpreter disagreeing (see
    /// [`jit::lockstep`]).
    Divergence,
}

/// What [`run_blocks`] keeps from one call to the next (the hart holds it).
#[derive(Debug)]
pub(crate) struct Pending {
    /// Where the interpreter last stopped inside a block because the budget
    /// ran out (1, no pc, when it did not). The rest of that block then
    /// starts a block of its own, and as each slice ends somewhere else, such
    /// tails would turn hot one after another and be compiled for nothing: a
    /// run of the block at `resume_pc` does not make it hotter (once).
    resume_pc: u64,
    /// A load or store that compiled code left to the interpreter and that
    /// is not made yet (see [`jit::SLOW`]).
    slow_access: Option<jit::SlowAccess>,
}

impl Pending {
    /// Nothing pending.
    pub(crate) fn new() -> Pending {
        Pending { resume_pc: 1, slow_access: None }
    }
}

/// Executes blocks from the hart's jump cache one after another, for as long
/// as the next block is there and nothing needs the run loop's attention, and
/// at most until `retired` reaches `stop_at`. Counts jump-cache hits in
/// `hits` and what compiled code did in `jit_stats`.
pub(crate) fn run_blocks(
    state: &mut HartState,
    env: &Env,
    jump_cache: &JumpCache,
    stop_at: u64,
    pending: &mut Pending,
    hits: &mut u64,
    jit_stats: &mut JitStats,
) -> Result<Handback, (Trap, u64)> {
    let trace_exec = tracing::enabled!(target: "exec", tracing::Level::TRACE);
    loop {
        if state.recheck || env.control.attention_pending() {
            return Ok(Handback::Event);
        }
        if state.retired >= stop_at {
            return Ok(Handback::Budget);
        }
        if !jump_cache.contains(state.pc) {
            return Ok(Handback::Miss);
        }
        let block = jump_cache.slot_block(state.pc);
        *hits += 1;
        if trace_exec {
            tracing::trace!(target: "exec", hart = state.csr.mhartid, pc = format_args!("{:#x}", state.pc), "block");
        }
        if let Some(access) = pending.slow_access.take_if(|access| access.pc == state.pc) {
            // The interpreter makes the access, that instruction alone; the
            // next block then starts after it, so a loop that reads a device
            // stays compiled but for the read.
            env.count_slow_access();
            execute(state, env, block, state.retired + 1, &mut Memory)?;
            jit::after_slow_access(state, env, &access);
            continue;
        }
        if let Some(jit) = &env.jit
            && state.retired + block.insts.len() as u64 <= stop_at
            && let Some(code) =
                jit.code(block, state.pc, state.pc != std::mem::replace(&mut pending.resume_pc, 1), state.data_checked)
        {
            let seat = env.seat.as_deref().expect("a hart with a JIT has a seat at it");
            let Some(_running) = jit.sit(seat, block) else {
                // Retired just now: the next lookup translates it again.
                continue;
            };
            let status = match &env.lockstep {
                None => {
                    // SAFETY: `code` was compiled for this block, which the
                    // jump cache holds for `state.pc` in the hart's current
                    // fetch context; it gets the hart's own state,
                    // environment and jump cache, which nothing else uses
                    // during the call, and it touches them only at their
                    // fields' offsets and through the helpers, which take
                    // these same pointers.
                    unsafe { jit.enter(code, state, env, stop_at, jump_cache) }
                }
                Some(lockstep) => match lockstep.run(state, env, block, code, stop_at, jit_stats) {
                    Some(status) => status,
                    None => return Ok(Handback::Divergence),
                },
            };
            jit_stats.chain_hits += state.frame.chains();
            match status {
                jit::DONE => jit_stats.exits_to_next_block += 1,
                jit::STOPPED => jit_stats.exits_stopped += 1,
                jit::SLOW => pending.slow_access = Some(state.frame.slow_access(state.pc)),
                _ => {
                    jit_stats.exits_trapped += 1;
                    let trap = state.jit_trap.take().expect("a trapped block leaves its trap");
                    return Err((trap, state.pc));
                }
            }
            continue;
        }
        let start = state.pc;
        execute(state, env, block, stop_at, &mut Memory)?;
        if state.retired >= stop_at && state.pc != start && state.pc.wrapping_sub(start) < block.code_size() {
            pending.resume_pc = state.pc;
        }
    }
}

/// Executes one block that is not in the jump cache, within the budget.
pub(crate) fn execute_once(state: &mut HartState, env: &Env, block: &Block, stop_at: u64) -> Result<(), (Trap, u64)> {
    if state.retired >= stop_at {
        return Ok(());
    }
    execute(state, env, block, stop_at, &mut Memory)
}

/// Executes `block` as [`execute`] does, with its loads and stores (integer
/// and floating point) answered by `memory`: lockstep replays the compiled
/// code's accesses this way.
pub(crate) fn execute_with(
    state: &mut HartState,
    env: &Env,
    block: &Block,
    stop_at: u64,
    memory: &mut impl DataAccess,
) -> Result<(), (Trap, u64)> {
    execute(state, env, block, stop_at, memory)
}

/// How [`execute`] reaches data memory for plain loads and stores.
pub(crate) trait DataAccess {
    /// As [`load`].
    fn load(&mut self, state: &mut HartState, env: &Env, vaddr: u64, size: u8, retired: u64) -> Result<u64, Trap>;
    /// As [`store`].
    fn store(
        &mut self,
        state: &mut HartState,
        env: &Env,
        vaddr: u64,
        size: u8,
        value: u64,
        retired: u64,
    ) -> Result<(), Trap>;
}

/// Memory itself: [`load`] and [`store`].
struct Memory;

impl DataAccess for Memory {
    #[inline(always)]
    fn load(&mut self, state: &mut HartState, env: &Env, vaddr: u64, size: u8, retired: u64) -> Result<u64, Trap> {
        load(state, env, vaddr, size, retired)
    }

    #[inline(always)]
    fn store(
        &mut self,
        state: &mut HartState,
        env: &Env,
        vaddr: u64,
        size: u8,
        value: u64,
        retired: u64,
    ) -> Result<(), Trap> {
        store(state, env, vaddr, size, value, retired)
    }
}

/// Executes `block` from `state.pc` (its start) until it ends, leaves
/// through a jump or taken branch, or `retired` reaches `stop_at`. The caller
/// makes sure some budget is left.
///
/// On return `pc`, the registers and the counters reflect exactly the
/// instructions that retired. An exception comes back with the address of the
/// instruction that raised it, which has not retired; the caller takes the trap.
#[inline(always)]
fn execute<M: DataAccess>(
    state: &mut HartState,
    env: &Env,
    block: &Block,
    stop_at: u64,
    memory: &mut M,
) -> Result<(), (Trap, u64)> {
    // `retired` at the start of the current pass over the block: a taken
    // branch back to the block's start runs it again without leaving here.
    let mut start_retired = state.retired;
    let block_pc = state.pc;
    let len = block.insts.len() as u64;

    let end_pc = 'block: loop {
        let insts = &block.insts[..(stop_at - start_retired).min(len) as usize];
        for (index, inst) in insts.iter().enumerate() {
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
                    state.x[usize::from(inst.rs2)]
                };
            }
            // Instructions retired before this one: what a device it
            // reaches sees as the time of the access.
            macro_rules! now {
                () => {
                    start_retired + index as u64
                };
            }
            // Counters are brought up to date only where something can observe them.
            macro_rules! sync_counters {
                () => {
                    state.retired = start_retired + index as u64
                };
            }
            macro_rules! fault {
                ($trap:expr) => {{
                    sync_counters!();
                    state.pc = pc!();
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
                    state.retired = start_retired + index as u64 + 1;
                    break 'block $target;
                }};
            }
            // Conditional branches do not end blocks: a taken one leaves it,
            // or, back to the block's own start (a loop), runs it again while
            // budget remains and nobody asks for attention.
            macro_rules! taken {
                ($cond:expr, $offset:expr) => {
                    if $cond {
                        let target = pc!().wrapping_add($offset);
                        let retired = start_retired + index as u64 + 1;
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
            let a = state.x[rs1];
            // Floating point: with mstatus.FS Off every F and D instruction
            // is illegal; one that changes the F state makes FS Dirty.
            macro_rules! fp_on {
                () => {
                    if state.csr.mstatus & mstatus::FS == 0 {
                        fault!(illegal(inst));
                    }
                };
            }
            macro_rules! fp_dirty {
                () => {
                    state.csr.mstatus |= mstatus::FS_DIRTY | mstatus::SD
                };
            }
            // The instruction's rounding mode; a reserved one is illegal.
            macro_rules! rm {
                () => {
                    match Rounding::select(inst.rounding_mode(), state.frm) {
                        Some(rm) => rm,
                        None => fault!(illegal(inst)),
                    }
                };
            }
            macro_rules! fa {
                () => {
                    state.f[rs1 & 31]
                };
            }
            macro_rules! fb {
                () => {
                    state.f[usize::from(inst.rs2) & 31]
                };
            }
            macro_rules! set_f {
                ($value:expr) => {{
                    let value = $value;
                    state.f[rd & 31] = value;
                    fp_dirty!();
                }};
            }
            macro_rules! fp_arith {
                ($operation:ident, $float:ty) => {{
                    fp_on!();
                    let rm = rm!();
                    set_f!(fpu::$operation::<$float>(fa!(), fb!(), rm, &mut state.fflags));
                }};
            }
            macro_rules! fp_unary {
                ($operation:path) => {{
                    fp_on!();
                    let rm = rm!();
                    set_f!($operation(fa!(), rm, &mut state.fflags));
                }};
            }
            macro_rules! fp_fma {
                ($float:ty, $negate_product:expr, $negate_addend:expr) => {{
                    fp_on!();
                    let rm = rm!();
                    let c = state.f[usize::from(inst.rs3())];
                    let result =
                        fpu::fma::<$float>(fa!(), fb!(), c, $negate_product, $negate_addend, rm, &mut state.fflags);
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
                    set_f!(fpu::min_max::<$float>(fa!(), fb!(), $max, &mut state.fflags));
                }};
            }
            // Integer results: FS becomes Dirty only if a flag was raised.
            macro_rules! fp_to_x {
                ($value:expr) => {{
                    let before = state.fflags;
                    state.x[rd] = $value;
                    if state.fflags != before {
                        fp_dirty!();
                    }
                }};
            }
            macro_rules! fp_to_int {
                ($float:ty, $to:expr) => {{
                    fp_on!();
                    let rm = rm!();
                    fp_to_x!(fpu::to_int::<$float>(fa!(), $to, rm, &mut state.fflags));
                }};
            }
            macro_rules! fp_from_int {
                ($float:ty, $from:expr) => {{
                    fp_on!();
                    let rm = rm!();
                    set_f!(fpu::from_int::<$float>(a, $from, rm, &mut state.fflags));
                }};
            }
            macro_rules! fp_compare {
                ($float:ty, $compare:expr) => {{
                    fp_on!();
                    fp_to_x!(fpu::compare::<$float>(fa!(), fb!(), $compare, &mut state.fflags));
                }};
            }
            match inst.op {
                Op::Lui => state.x[rd] = imm,
                Op::Auipc => state.x[rd] = pc!().wrapping_add(imm),
                Op::Jal => {
                    state.x[rd] = next!();
                    jump!(pc!().wrapping_add(imm));
                }
                Op::Jalr => {
                    state.x[rd] = next!();
                    jump!(a.wrapping_add(imm) & !1);
                }
                Op::Beq => taken!(a == b!(), imm),
                Op::Bne => taken!(a != b!(), imm),
                Op::Blt => taken!((a as i64) < (b!() as i64), imm),
                Op::Bge => taken!((a as i64) >= (b!() as i64), imm),
                Op::Bltu => taken!(a < b!(), imm),
                Op::Bgeu => taken!(a >= b!(), imm),
                Op::Lb => state.x[rd] = try_mem!(memory.load(state, env, a.wrapping_add(imm), 1, now!())) as i8 as u64,
                Op::Lh => state.x[rd] = try_mem!(memory.load(state, env, a.wrapping_add(imm), 2, now!())) as i16 as u64,
                Op::Lw => state.x[rd] = try_mem!(memory.load(state, env, a.wrapping_add(imm), 4, now!())) as i32 as u64,
                Op::Ld => state.x[rd] = try_mem!(memory.load(state, env, a.wrapping_add(imm), 8, now!())),
                Op::Lbu => state.x[rd] = try_mem!(memory.load(state, env, a.wrapping_add(imm), 1, now!())),
                Op::Lhu => state.x[rd] = try_mem!(memory.load(state, env, a.wrapping_add(imm), 2, now!())),
                Op::Lwu => state.x[rd] = try_mem!(memory.load(state, env, a.wrapping_add(imm), 4, now!())),
                Op::Sb => try_mem!(memory.store(state, env, a.wrapping_add(imm), 1, b!(), now!())),
                Op::Sh => try_mem!(memory.store(state, env, a.wrapping_add(imm), 2, b!(), now!())),
                Op::Sw => try_mem!(memory.store(state, env, a.wrapping_add(imm), 4, b!(), now!())),
                Op::Sd => try_mem!(memory.store(state, env, a.wrapping_add(imm), 8, b!(), now!())),
                Op::Addi => state.x[rd] = a.wrapping_add(imm),
                Op::Slti => state.x[rd] = u64::from((a as i64) < (imm as i64)),
                Op::Sltiu => state.x[rd] = u64::from(a < imm),
                Op::Xori => state.x[rd] = a ^ imm,
                Op::Ori => state.x[rd] = a | imm,
                Op::Andi => state.x[rd] = a & imm,
                Op::Slli => state.x[rd] = a << (imm & 63),
                Op::Srli => state.x[rd] = a >> (imm & 63),
                Op::Srai => state.x[rd] = ((a as i64) >> (imm & 63)) as u64,
                Op::Add => state.x[rd] = a.wrapping_add(b!()),
                Op::Sub => state.x[rd] = a.wrapping_sub(b!()),
                Op::Sll => state.x[rd] = a << (b!() & 63),
                Op::Slt => state.x[rd] = u64::from((a as i64) < (b!() as i64)),
                Op::Sltu => state.x[rd] = u64::from(a < b!()),
                Op::Xor => state.x[rd] = a ^ b!(),
                Op::Srl => state.x[rd] = a >> (b!() & 63),
                Op::Sra => state.x[rd] = ((a as i64) >> (b!() & 63)) as u64,
                Op::Or => state.x[rd] = a | b!(),
                Op::And => state.x[rd] = a & b!(),
                Op::Addiw => state.x[rd] = sext32(a.wrapping_add(imm)),
                Op::Slliw => state.x[rd] = sext32((a as u32 as u64) << (imm & 31)),
                Op::Srliw => state.x[rd] = sext32(u64::from(a as u32 >> (imm & 31))),
                Op::Sraiw => state.x[rd] = ((a as i32) >> (imm & 31)) as u64,
                Op::Addw => state.x[rd] = sext32(a.wrapping_add(b!())),
                Op::Subw => state.x[rd] = sext32(a.wrapping_sub(b!())),
                Op::Sllw => state.x[rd] = sext32((a as u32 as u64) << (b!() & 31)),
                Op::Srlw => state.x[rd] = sext32(u64::from(a as u32 >> (b!() & 31))),
                Op::Sraw => state.x[rd] = ((a as i32) >> (b!() & 31)) as u64,
                Op::Mul => state.x[rd] = a.wrapping_mul(b!()),
                Op::Mulh => state.x[rd] = ((i128::from(a as i64) * i128::from(b!() as i64)) >> 64) as u64,
                Op::Mulhsu => state.x[rd] = ((i128::from(a as i64) * i128::from(b!())) >> 64) as u64,
                Op::Mulhu => state.x[rd] = ((u128::from(a) * u128::from(b!())) >> 64) as u64,
                Op::Div => state.x[rd] = div(a as i64, b!() as i64) as u64,
                Op::Divu => state.x[rd] = a.checked_div(b!()).unwrap_or(u64::MAX),
                Op::Rem => state.x[rd] = rem(a as i64, b!() as i64) as u64,
                Op::Remu => state.x[rd] = if b!() == 0 { a } else { a % b!() },
                Op::Mulw => state.x[rd] = sext32(a.wrapping_mul(b!())),
                Op::Divw => state.x[rd] = i64::from(div32(a as i32, b!() as i32)) as u64,
                Op::Divuw => state.x[rd] = sext32(u64::from((a as u32).checked_div(b!() as u32).unwrap_or(u32::MAX))),
                Op::Remw => state.x[rd] = i64::from(rem32(a as i32, b!() as i32)) as u64,
                Op::Remuw => {
                    let (a, b) = (a as u32, b!() as u32);
                    state.x[rd] = sext32(u64::from(if b == 0 { a } else { a % b }));
                }
                // Harts on other host threads must see this hart's accesses in the
                // order RVWMO requires around a fence; a full host fence is enough.
                Op::Fence => fence(Ordering::SeqCst),
                // Stores invalidate translated code as they happen; fence.i
                // (which ends its block) also has the run loop check blocks
                // read before it (see `Hart::checked_since_fence_i`).
                Op::FenceI => {
                    state.fence_i = true;
                    state.recheck = true;
                }
                Op::Ecall => {
                    let exception = match state.privilege {
                        Privilege::User => Exception::EnvironmentCallFromU,
                        Privilege::Supervisor => Exception::EnvironmentCallFromS,
                        Privilege::Machine => Exception::EnvironmentCallFromM,
                    };
                    fault!(Trap::new(exception, 0));
                }
                // mtval may be the address or zero (privileged spec 3.1.16); zero, as QEMU does.
                Op::Ebreak => fault!(Trap::new(Exception::Breakpoint, 0)),
                Op::Mret => {
                    if state.privilege != Privilege::Machine {
                        fault!(illegal(inst));
                    }
                    state.mret();
                    state.recheck = true;
                    jump!(state.pc);
                }
                Op::Sret => {
                    let trapped = state.privilege == Privilege::Supervisor && state.csr.mstatus & mstatus::TSR != 0;
                    if state.privilege == Privilege::User || trapped {
                        fault!(illegal(inst));
                    }
                    state.sret();
                    state.recheck = true;
                    jump!(state.pc);
                }
                Op::Wfi => {
                    // With S-mode present, U-mode may not wait, and S-mode
                    // only while mstatus.TW is clear (privileged spec
                    // 3.1.6.6), as on QEMU.
                    let trapped = match state.privilege {
                        Privilege::User => true,
                        Privilege::Supervisor => state.csr.mstatus & mstatus::TW != 0,
                        Privilege::Machine => false,
                    };
                    if trapped {
                        fault!(illegal(inst));
                    }
                    state.waiting = true;
                    state.recheck = true;
                }
                Op::SfenceVma => {
                    let trapped = state.privilege == Privilege::Supervisor && state.csr.mstatus & mstatus::TVM != 0;
                    if state.privilege == Privilege::User || trapped {
                        fault!(illegal(inst));
                    }
                    // Flushing every translation is allowed for any rs1/rs2.
                    state.flush_translations = true;
                    state.recheck = true;
                }
                Op::Csrrw | Op::Csrrs | Op::Csrrc | Op::Csrrwi | Op::Csrrsi | Op::Csrrci => {
                    sync_counters!();
                    if let Err(trap) = csr_op(state, env, inst, a) {
                        fault!(trap);
                    }
                    state.recheck = true;
                }
                Op::LrW | Op::LrD => {
                    let size = if inst.op == Op::LrW { 4 } else { 8 };
                    let value = try_mem!(load_reserved(state, env, a, size));
                    state.x[rd] = if size == 4 { sext32(value) } else { value };
                }
                Op::ScW | Op::ScD => {
                    let size = if inst.op == Op::ScW { 4 } else { 8 };
                    let ok = try_mem!(store_conditional(state, env, a, size, b!()));
                    state.x[rd] = u64::from(!ok);
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
                | Op::AmomaxuD => state.x[rd] = try_mem!(amo(state, env, inst.op, a, b!(), now!())),
                Op::Illegal => fault!(illegal(inst)),
                // F and D.
                Op::Flw => {
                    fp_on!();
                    let value = try_mem!(memory.load(state, env, a.wrapping_add(imm), 4, now!()));
                    set_f!(fpu::box_single(value));
                }
                Op::Fld => {
                    fp_on!();
                    let value = try_mem!(memory.load(state, env, a.wrapping_add(imm), 8, now!()));
                    set_f!(value);
                }
                Op::Fsw => {
                    fp_on!();
                    try_mem!(memory.store(state, env, a.wrapping_add(imm), 4, fb!(), now!()));
                }
                Op::Fsd => {
                    fp_on!();
                    try_mem!(memory.store(state, env, a.wrapping_add(imm), 8, fb!(), now!()));
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
                    state.x[rd] = fpu::classify::<f32>(fa!());
                }
                Op::FclassD => {
                    fp_on!();
                    state.x[rd] = fpu::classify::<f64>(fa!());
                }
                // fmv.x.w takes the low 32 bits whether or not they are NaN-boxed.
                Op::FmvXW => {
                    fp_on!();
                    state.x[rd] = sext32(fa!());
                }
                Op::FmvXD => {
                    fp_on!();
                    state.x[rd] = fa!();
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
        state.retired = start_retired + insts.len() as u64;
        let last = &insts[insts.len() - 1];
        break block_pc.wrapping_add(u64::from(last.offset) + u64::from(last.len));
    };
    state.pc = end_pc;
    Ok(())
}

#[inline(always)]
pub(crate) fn sext32(value: u64) -> u64 {
    value as i32 as i64 as u64
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

/// The illegal-instruction trap for `inst`, with its encoding in `tval`
/// (the 16-bit one for a compressed instruction).
#[cold]
pub(crate) fn illegal(inst: &Inst) -> Trap {
    let bits = match inst.op {
        Op::Illegal => inst.imm as u32,
        _ if inst.len == 2 => u32::from(decode::compress(inst).unwrap_or(0)),
        _ => inst.encode(),
    };
    Trap::new(Exception::IllegalInstruction, u64::from(bits))
}

#[inline(always)]
pub(crate) fn load(state: &mut HartState, env: &Env, vaddr: u64, size: u8, retired: u64) -> Result<u64, Trap> {
    if state.data_checked && !state.tlb.load_window.covers(vaddr, size) {
        return load_virtual(state, env, vaddr, size, retired);
    }
    load_physical(state, env, vaddr, size, retired, vaddr)
}

/// The physical address of a data access of `size` bytes within one page,
/// through the TLB, which checks paging and PMP permissions.
fn translate_data(state: &mut HartState, env: &Env, vaddr: u64, size: u8, access: Access) -> Result<u64, Trap> {
    let ctx = state.data_context();
    state.tlb.translate(&env.ram, Pmp::new(&state.csr), vaddr, size, access, &ctx).map(|physical| physical.addr)
}

/// A load that paging or PMP checks; a misaligned one across two pages is
/// made of byte loads, since the pages need not be adjacent in physical memory.
#[inline(never)]
fn load_virtual(state: &mut HartState, env: &Env, vaddr: u64, size: u8, retired: u64) -> Result<u64, Trap> {
    if !crosses_page(vaddr, size) {
        let addr = translate_data(state, env, vaddr, size, Access::Load)?;
        return load_physical(state, env, addr, size, retired, vaddr);
    }
    let mut value = 0;
    for i in 0..u64::from(size) {
        let addr = translate_data(state, env, vaddr.wrapping_add(i), 1, Access::Load)?;
        value |= load_physical(state, env, addr, 1, retired, vaddr.wrapping_add(i))? << (8 * i);
    }
    Ok(value)
}

/// A load from physical address `addr`; a fault reports `vaddr`.
#[inline(always)]
fn load_physical(state: &HartState, env: &Env, addr: u64, size: u8, retired: u64, vaddr: u64) -> Result<u64, Trap> {
    match env.ram.offset(addr, u64::from(size)) {
        Some(offset) => Ok(env.ram.read(offset, size)),
        None => load_bus(state, env, addr, size, retired, vaddr),
    }
}

#[cold]
fn load_bus(state: &HartState, env: &Env, addr: u64, size: u8, retired: u64, vaddr: u64) -> Result<u64, Trap> {
    env.bus
        .read(&state.access_context_at(retired), addr, size)
        .map_err(|_| Trap::new(Exception::LoadAccessFault, vaddr))
}

#[inline(always)]
pub(crate) fn store(
    state: &mut HartState,
    env: &Env,
    vaddr: u64,
    size: u8,
    value: u64,
    retired: u64,
) -> Result<(), Trap> {
    if state.data_checked && !state.tlb.store_window.covers(vaddr, size) {
        return store_virtual(state, env, vaddr, size, value, retired);
    }
    store_physical(state, env, vaddr, size, value, retired, vaddr)
}

/// A store that paging or PMP checks. One across two pages translates both
/// before it writes a byte, so a fault leaves memory untouched.
#[inline(never)]
fn store_virtual(state: &mut HartState, env: &Env, vaddr: u64, size: u8, value: u64, retired: u64) -> Result<(), Trap> {
    if !crosses_page(vaddr, size) {
        let addr = translate_data(state, env, vaddr, size, Access::Store)?;
        return store_physical(state, env, addr, size, value, retired, vaddr);
    }
    let mut addrs = [0u64; 8];
    for (i, addr) in addrs.iter_mut().enumerate().take(usize::from(size)) {
        *addr = translate_data(state, env, vaddr.wrapping_add(i as u64), 1, Access::Store)?;
    }
    for (i, &addr) in addrs.iter().enumerate().take(usize::from(size)) {
        store_physical(state, env, addr, 1, value >> (8 * i), retired, vaddr.wrapping_add(i as u64))?;
    }
    Ok(())
}

/// A store to physical address `addr`; a fault reports `vaddr`.
#[inline(always)]
fn store_physical(
    state: &HartState,
    env: &Env,
    addr: u64,
    size: u8,
    value: u64,
    retired: u64,
    vaddr: u64,
) -> Result<(), Trap> {
    match env.ram.offset(addr, u64::from(size)) {
        Some(offset) => {
            if env.ram.store_is_plain(offset, u64::from(size)) {
                env.ram.write(offset, size, value);
                Ok(())
            } else {
                store_marked(state, env, addr, offset, size, value, retired, vaddr)
            }
        }
        None => store_bus(state, env, addr, size, value, retired, vaddr),
    }
}

#[cold]
fn store_bus(
    state: &HartState,
    env: &Env,
    addr: u64,
    size: u8,
    value: u64,
    retired: u64,
    vaddr: u64,
) -> Result<(), Trap> {
    env.bus
        .write(&state.access_context_at(retired), addr, size, value)
        .map_err(|_| Trap::new(Exception::StoreAccessFault, vaddr))
}

/// A store to RAM lines that hold code or are watched by the machine.
#[cold]
#[allow(clippy::too_many_arguments)]
fn store_marked(
    state: &HartState,
    env: &Env,
    addr: u64,
    offset: u64,
    size: u8,
    value: u64,
    retired: u64,
    vaddr: u64,
) -> Result<(), Trap> {
    let StoreMarks { code, watch, reserved } = env.ram.store_marks(offset, u64::from(size));
    if watch {
        store_bus(state, env, addr, size, value, retired, vaddr)?;
    } else {
        env.ram.write(offset, size, value);
    }
    if reserved {
        env.ram.break_reservations(offset, u64::from(size));
    }
    if code {
        invalidate_code(env, offset, u64::from(size));
    }
    Ok(())
}

/// Drops the translations of the pages `[offset, offset + len)` of RAM
/// touches (RAM starts on a page boundary, so RAM pages are guest pages). The marks go before the blocks do: a hart translating the page
/// meanwhile either marks it again after this or has its block refused by the
/// cache (see [`crate::cache::TranslationCache::insert`]).
#[cold]
fn invalidate_code(env: &Env, offset: u64, len: u64) {
    let first = offset >> PAGE_SHIFT;
    let last = (offset + len - 1) >> PAGE_SHIFT;
    for page in first..=last {
        if env.ram.take_code_marks(page << PAGE_SHIFT) {
            env.cache.invalidate_page((env.ram.base() >> PAGE_SHIFT) + page);
        }
    }
}

/// The physical address an LR, SC or AMO at `vaddr` works on: aligned
/// (checked first, as the spec's exception priority says) and translated.
fn atomic_address(state: &mut HartState, env: &Env, vaddr: u64, size: u8, access: Access) -> Result<u64, Trap> {
    let misaligned = match access {
        Access::Load => Exception::LoadAddressMisaligned,
        _ => Exception::StoreAddressMisaligned,
    };
    if !vaddr.is_multiple_of(u64::from(size)) {
        return Err(Trap::new(misaligned, vaddr));
    }
    if state.data_checked { translate_data(state, env, vaddr, size, access) } else { Ok(vaddr) }
}

/// The RAM offset an LR or SC at `vaddr` works on: reservations exist only
/// in RAM, so anything else is an access fault.
fn atomic_target(state: &mut HartState, env: &Env, vaddr: u64, size: u8, access: Access) -> Result<u64, Trap> {
    let fault = match access {
        Access::Load => Exception::LoadAccessFault,
        _ => Exception::StoreAccessFault,
    };
    let addr = atomic_address(state, env, vaddr, size, access)?;
    env.ram.offset(addr, u64::from(size)).ok_or(Trap::new(fault, vaddr))
}

/// An AMO outside RAM: the bus performs it as one read-modify-write if the
/// device there supports atomics (an external region does), else it is a
/// store/AMO access fault.
#[cold]
fn amo_bus(state: &HartState, env: &Env, amo: Amo, addr: u64, vaddr: u64, retired: u64) -> Result<u64, Trap> {
    env.bus
        .atomic(&state.access_context_at(retired), addr, amo)
        .map_err(|_| Trap::new(Exception::StoreAccessFault, vaddr))
}

pub(crate) fn load_reserved(state: &mut HartState, env: &Env, addr: u64, size: u8) -> Result<u64, Trap> {
    let offset = atomic_target(state, env, addr, size, Access::Load)?;
    let stamp = env.ram.reserve(offset);
    fence(Ordering::SeqCst);
    let value = env.ram.read(offset, size);
    state.reservation = Some((addr, size, value, stamp));
    Ok(value)
}

/// SC succeeds when this hart holds a reservation for exactly this address and
/// size, no store has broken it since (stores to a reserved line leave the
/// fast path and break reservations: [`crate::Ram::break_reservations`]), and
/// memory still holds the value LR read; the compare-and-swap makes the last
/// check and the store one atomic step against other harts.
pub(crate) fn store_conditional(
    state: &mut HartState,
    env: &Env,
    addr: u64,
    size: u8,
    value: u64,
) -> Result<bool, Trap> {
    let offset = atomic_target(state, env, addr, size, Access::Store)?;
    let Some((reserved, reserved_size, expected, stamp)) = state.reservation.take() else {
        return Ok(false);
    };
    if reserved != addr || reserved_size != size || !env.ram.reservation_intact(offset, stamp) {
        return Ok(false);
    }
    let ok = match size {
        4 => env.ram.atomic_u32(offset).is_some_and(|cell| {
            cell.compare_exchange(expected as u32, value as u32, Ordering::SeqCst, Ordering::SeqCst).is_ok()
        }),
        _ => env
            .ram
            .atomic_u64(offset)
            .is_some_and(|cell| cell.compare_exchange(expected, value, Ordering::SeqCst, Ordering::SeqCst).is_ok()),
    };
    if ok {
        after_atomic_store(env, offset, size);
    }
    Ok(ok)
}

pub(crate) fn after_atomic_store(env: &Env, offset: u64, size: u8) {
    let marks = env.ram.store_marks(offset, u64::from(size));
    if marks.reserved {
        env.ram.break_reservations(offset, u64::from(size));
    }
    if marks.code {
        invalidate_code(env, offset, u64::from(size));
    }
}

/// `amo` on the atomic `cell` (an `AtomicU32` or `AtomicU64`) with
/// `operand` of its width; the old value. Signed minimum and maximum have
/// no host instruction: a compare-and-swap loop applies [`Amo::apply`].
macro_rules! host_amo {
    ($cell:expr, $amo:expr, $operand:expr, $size:expr) => {{
        let (cell, b, order) = ($cell, $operand, Ordering::SeqCst);
        match $amo {
            AmoOp::Swap => cell.swap(b, order),
            AmoOp::Add => cell.fetch_add(b, order),
            AmoOp::Xor => cell.fetch_xor(b, order),
            AmoOp::And => cell.fetch_and(b, order),
            AmoOp::Or => cell.fetch_or(b, order),
            AmoOp::MinU => cell.fetch_min(b, order),
            AmoOp::MaxU => cell.fetch_max(b, order),
            AmoOp::Min | AmoOp::Max => {
                let amo = Amo { op: $amo, size: $size, operand: u64::from(b) };
                match cell.fetch_update(order, order, |old| Some(amo.apply(u64::from(old)) as _)) {
                    Ok(old) | Err(old) => old,
                }
            }
        }
    }};
}

/// The AMO `op` at `vaddr` with `operand` (`x[rs2]`), made once
/// `retired` instructions have retired: a host atomic read-modify-write on
/// RAM, or the bus's on a device. Returns the value for `rd`: the old
/// value, sign-extended from a word.
pub(crate) fn amo(
    state: &mut HartState,
    env: &Env,
    op: Op,
    vaddr: u64,
    operand: u64,
    retired: u64,
) -> Result<u64, Trap> {
    let (Some(amo), Some(memory)) = (op.amo(), op.memory()) else {
        unreachable!("amo() is called for AMOs only");
    };
    let size = memory.size;
    let physical = atomic_address(state, env, vaddr, size, Access::Store)?;
    let old = match env.ram.offset(physical, u64::from(size)) {
        None => amo_bus(state, env, Amo { op: amo, size, operand }, physical, vaddr, retired)?,
        Some(offset) => {
            let fault = Trap::new(Exception::StoreAccessFault, vaddr);
            let old = if size == 4 {
                let cell = env.ram.atomic_u32(offset).ok_or(fault)?;
                u64::from(host_amo!(cell, amo, operand as u32, size))
            } else {
                let cell = env.ram.atomic_u64(offset).ok_or(fault)?;
                host_amo!(cell, amo, operand, size)
            };
            after_atomic_store(env, offset, size);
            old
        }
    };
    Ok(if size == 4 { sext32(old) } else { old })
}

/// `csrrw`, `csrrs`, `csrrc` and their immediate forms (Zicsr): an
/// instruction that would write reads nothing when `rd` is `x0`
/// (`csrrw`/`csrrwi`), and one that writes nothing when its source is `x0`
/// or zero (`csrrs`/`csrrc` and immediates) still reads.
fn csr_op(state: &mut HartState, env: &Env, inst: &Inst, rs1_value: u64) -> Result<(), Trap> {
    let CsrAccess { csr: number, reads, writes } = inst.csr_access().expect("a CSR instruction");
    let source = match inst.op {
        Op::Csrrwi | Op::Csrrsi | Op::Csrrci => u64::from(inst.rs1),
        _ => rs1_value,
    };
    CsrFile::check_access(number, state.privilege, writes).map_err(|_| illegal(inst))?;
    if matches!(number, csr::MIP | csr::SIP) {
        state.sync_supervisor_timer(env);
    }
    let old = if reads { read_csr(state, env, number).ok_or_else(|| illegal(inst))? } else { 0 };
    if writes {
        // Read-modify-write of mip/sip works on the software-written bits, not
        // on the lines devices drive (privileged spec 3.1.9, on SEIP).
        let base = match number {
            csr::MIP => state.csr.mip,
            csr::SIP => state.csr.mip & state.csr.mideleg,
            _ => old,
        };
        let value = match inst.op {
            Op::Csrrs | Op::Csrrsi => base | source,
            Op::Csrrc | Op::Csrrci => base & !source,
            _ => source,
        };
        let timer = state.supervisor_timer_compare();
        if !write_csr(state, number, value) {
            return Err(illegal(inst));
        }
        state.update_translation();
        if number == csr::SATP || csr::is_pmp(number) {
            state.flush_translations = true;
        }
        if state.supervisor_timer_compare() != timer {
            // The run budget was cut to the old Sstc deadline: let the
            // caller compute a new one.
            env.control.request_exit();
        }
    }
    state.x[usize::from(inst.rd)] = old;
    Ok(())
}

/// Reads a CSR for a CSR instruction: the storage CSRs of [`CsrFile`], plus
/// those that depend on the rest of the hart (counters, time, `mip`).
/// `None` if it does not exist or the mode may not read it.
fn read_csr(state: &HartState, env: &Env, number: u16) -> Option<u64> {
    // A counter is readable in S-mode if mcounteren allows it, in U-mode if
    // scounteren allows it too.
    let counter_allowed = |bit: u16| match state.privilege {
        Privilege::Machine => true,
        Privilege::Supervisor => state.csr.mcounteren >> bit & 1 == 1,
        Privilege::User => (state.csr.mcounteren & state.csr.scounteren) >> bit & 1 == 1,
    };
    match number {
        csr::CYCLE if counter_allowed(0) => Some(state.mcycle()),
        csr::TIME if counter_allowed(1) => Some(env.bus.time(&state.access_context_at(state.retired))),
        csr::INSTRET if counter_allowed(2) => Some(state.minstret()),
        0xc03..=0xc1f if counter_allowed(number - 0xc00) => Some(0),
        csr::CYCLE | csr::TIME | csr::INSTRET | 0xc03..=0xc1f => None,
        csr::MCYCLE => Some(state.mcycle()),
        csr::MINSTRET => Some(state.minstret()),
        csr::MCOUNTINHIBIT => Some(state.mcountinhibit),
        csr::FFLAGS | csr::FRM | csr::FCSR if state.csr.mstatus & mstatus::FS == 0 => None,
        csr::FFLAGS => Some(u64::from(state.fflags)),
        csr::FRM => Some(u64::from(state.frm)),
        csr::FCSR => Some(u64::from(state.frm) << 5 | u64::from(state.fflags)),
        csr::MIP => Some(state.csr.mip | env.control.lines()),
        csr::SIP => Some((state.csr.mip | env.control.lines()) & state.csr.mideleg),
        csr::SATP if satp_trapped(state) => None,
        csr::STIMECMP if stimecmp_trapped(state) => None,
        _ => state.csr.read(number),
    }
}

/// Below M-mode, `stimecmp` exists only while `mcounteren.TM` and
/// `menvcfg.STCE` are both set (Sstc).
fn stimecmp_trapped(state: &HartState) -> bool {
    let enabled = state.csr.mcounteren & csr::COUNTEREN_TM != 0 && state.csr.menvcfg & csr::menvcfg::STCE != 0;
    state.privilege != Privilege::Machine && !enabled
}

/// `mstatus.TVM` makes `satp` accesses from S-mode illegal.
fn satp_trapped(state: &HartState) -> bool {
    state.privilege == Privilege::Supervisor && state.csr.mstatus & mstatus::TVM != 0
}

/// Writes a CSR for a CSR instruction; `false` if it does not exist. The
/// writing instruction retires after the write, so a counter is set such that
/// the next instruction reads exactly `value`.
fn write_csr(state: &mut HartState, number: u16, value: u64) -> bool {
    match number {
        csr::MCYCLE if state.mcountinhibit & INHIBIT_CY != 0 => state.frozen_cycle = value,
        csr::MINSTRET if state.mcountinhibit & INHIBIT_IR != 0 => state.frozen_instret = value,
        csr::MCYCLE => state.cycle_offset = value.wrapping_sub(state.cycle() + 1),
        csr::MINSTRET => state.instret_offset = value.wrapping_sub(state.retired + 1),
        csr::MCOUNTINHIBIT => {
            // Stopping a counter freezes its value now; starting it again
            // resumes from there with the next instruction. Bit 1 (time)
            // is read-only zero.
            let value = value & 0xffff_fffd;
            let (starting, stopping) = (state.mcountinhibit & !value, value & !state.mcountinhibit);
            if stopping & INHIBIT_CY != 0 {
                state.frozen_cycle = state.mcycle();
            }
            if stopping & INHIBIT_IR != 0 {
                state.frozen_instret = state.minstret();
            }
            state.mcountinhibit = value;
            if starting & INHIBIT_CY != 0 {
                state.cycle_offset = state.frozen_cycle.wrapping_sub(state.cycle() + 1);
            }
            if starting & INHIBIT_IR != 0 {
                state.instret_offset = state.frozen_instret.wrapping_sub(state.retired + 1);
            }
        }
        csr::SATP if satp_trapped(state) => return false,
        csr::STIMECMP if stimecmp_trapped(state) => return false,
        csr::FFLAGS | csr::FRM | csr::FCSR if state.csr.mstatus & mstatus::FS == 0 => return false,
        csr::FFLAGS | csr::FRM | csr::FCSR => {
            match number {
                csr::FFLAGS => state.fflags = value as u8 & 0x1f,
                csr::FRM => state.frm = value as u8 & 7,
                _ => (state.frm, state.fflags) = (value as u8 >> 5 & 7, value as u8 & 0x1f),
            }
            state.csr.mstatus |= mstatus::FS_DIRTY | mstatus::SD;
        }
        _ => return state.csr.write(number, value),
    }
    true
}
