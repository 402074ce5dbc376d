//! A in compiled code.
//!
//! An AMO whose address is physical (no paging, no PMP), aligned and in RAM
//! is a host atomic read-modify-write (sequentially consistent, as the
//! interpreter's); afterwards, as the interpreter does, a reservation on
//! the line is broken and code on it invalidated, out of line when the
//! line carries such a mark. Everything else, LR and SC included, calls
//! the interpreter's code through [`atomic_helper`], faults and all.

use cranelift_codegen::ir::{AtomicRmwOp, BlockArg, InstBuilder, Value, types};

use super::abi::{BlockExit, HELPER_OUT_OFFSET, helper_result};
use super::memory::Fit;
use super::translator::{ExitTarget, Translator};
use crate::cpu::Cpu;
use crate::decode::{AmoOp, Inst, MemoryKind, Op};
use crate::env::Env;
use crate::memory::access::{self, sext32};
use crate::memory::{MARK_CODE, MARK_RESERVED};
use crate::trap::Trap;

/// The interpreter's code for the atomic operation `op` (its `execute`
/// arm): from the address, `x[rs2]` and the instructions retired before it
/// (the time a device sees), the value for `rd`, or the trap.
fn exact(cpu: &mut Cpu, env: &Env, op: Op, address: u64, operand: u64, retired: u64) -> Result<u64, Trap> {
    let memory = op.memory().expect("an atomic operation accesses memory");
    let word = |value: u64| if memory.size == 4 { sext32(value) } else { value };
    match memory.kind {
        MemoryKind::LoadReserved => access::load_reserved(cpu, env, address, memory.size).map(word),
        MemoryKind::StoreConditional => {
            access::store_conditional(cpu, env, address, memory.size, operand).map(|ok| u64::from(!ok))
        }
        _ => access::amo(cpu, env, op, address, operand, retired),
    }
}

/// The host operation and width of an AMO.
fn host_atomic(op: Op) -> Option<(AtomicRmwOp, i64)> {
    let rmw = match op.amo()? {
        AmoOp::Swap => AtomicRmwOp::Xchg,
        AmoOp::Add => AtomicRmwOp::Add,
        AmoOp::Xor => AtomicRmwOp::Xor,
        AmoOp::And => AtomicRmwOp::And,
        AmoOp::Or => AtomicRmwOp::Or,
        AmoOp::Min => AtomicRmwOp::Smin,
        AmoOp::Max => AtomicRmwOp::Smax,
        AmoOp::MinU => AtomicRmwOp::Umin,
        AmoOp::MaxU => AtomicRmwOp::Umax,
    };
    Some((rmw, i64::from(op.memory()?.size)))
}

helper! {
    /// Called by compiled code for an LR, SC or AMO: [`exact`] for the
    /// operation at index `op` of [`Op::ALL`], the value for `rd` left in
    /// [`super::Frame::helper_out`], or the trap in `Cpu::jit_trap`.
    ///
    /// # Safety
    /// As [`super::lockstep::load_helper`]'s `state` and `env`.
    unsafe fn atomic_helper(
        cpu: *mut Cpu,
        env: *const Env,
        op: u64,
        address: u64,
        operand: u64,
        retired: u64,
    ) -> u32 {
        // SAFETY: as the function's contract says.
        let (cpu, env) = unsafe { (&mut *cpu, &*env) };
        let op = Op::ALL[op as usize];
        let result = exact(cpu, env, op, address, operand, retired);
        helper_result(cpu, result)
    }
}

helper! {
    /// Called by compiled code after an inline AMO on a line that holds a
    /// reservation or code: what the interpreter does after its AMOs.
    ///
    /// # Safety
    /// As [`atomic_helper`]'s `env`.
    unsafe fn after_store_helper(env: *const Env, offset: u64, size: u64) {
        // SAFETY: as the function's contract says.
        let env = unsafe { &*env };
        access::after_atomic_store(env, offset, size as u8);
    }
}

impl Translator<'_> {
    /// Emits an LR, SC or AMO; returns the value for `rd`.
    pub(super) fn atomic(&mut self, index: usize, inst: &Inst, at: i64) -> Value {
        let address = self.read(inst.rs1);
        let operand = self.read(inst.rs2);
        let merge = self.b.create_block();
        let result = self.b.append_block_param(merge, types::I64);
        let slow = self.b.create_block();
        if let Some((rmw, size)) = host_atomic(inst.op) {
            let (host, offset) = self.ram_access(index, address, address, size, Fit::Aligned, slow);
            let offset = offset.expect("an AMO belongs to no RAM group: its offset comes back");
            let old = if size == 4 {
                let narrow = self.b.ins().ireduce(types::I32, operand);
                let old = self.b.ins().atomic_rmw(types::I32, self.flags, rmw, host, narrow);
                self.b.ins().sextend(types::I64, old)
            } else {
                self.b.ins().atomic_rmw(types::I64, self.flags, rmw, host, operand)
            };
            let marked = self.line_marked(offset, MARK_CODE | MARK_RESERVED);
            let after = self.b.create_block();
            self.b.ins().brif(marked, after, &[], merge, &[BlockArg::Value(old)]);

            self.b.switch_to_block(after);
            let size = self.b.ins().iconst(types::I64, size);
            let env = self.env();
            let helper = self.b.ins().iconst(self.pointer, after_store_helper as *const () as usize as i64);
            let signature = self.b.import_signature(self.atomic_signatures.after_store.clone());
            self.b.ins().call_indirect(signature, helper, &[env, offset, size]);
            self.b.ins().jump(merge, &[BlockArg::Value(old)]);
        } else {
            self.b.ins().jump(slow, &[]);
        }

        self.b.switch_to_block(slow);
        // An operation's discriminant is its index in `Op::ALL` (both come
        // from the table in order).
        let op = self.b.ins().iconst(types::I64, i64::from(inst.op as u8));
        let env = self.env();
        let retired = self.retired_at(index);
        let helper = self.b.ins().iconst(self.pointer, atomic_helper as *const () as usize as i64);
        let signature = self.b.import_signature(self.atomic_signatures.exact.clone());
        let call = self.b.ins().call_indirect(signature, helper, &[self.state, env, op, address, operand, retired]);
        let status = self.b.inst_results(call)[0];
        self.exit_if(status, ExitTarget::Offset(at), index, BlockExit::Trapped);
        let value = self.b.ins().load(types::I64, self.flags, self.state, HELPER_OUT_OFFSET);
        self.b.ins().jump(merge, &[BlockArg::Value(value)]);

        self.b.switch_to_block(merge);
        result
    }
}
