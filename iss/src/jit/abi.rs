//! The interface between compiled code and Rust: how Rust enters compiled
//! code (the trampoline's type, the exit statuses, the slice that bounds a
//! run), the signatures of blocks and helpers, the helpers every block may
//! call, and the offsets at which compiled code finds the hart's state and
//! frame.

use std::mem::offset_of;

use cranelift_codegen::ir::{AbiParam, Signature, types};
use cranelift_codegen::isa::CallConv;
use cranelift_jit::JITModule;
use cranelift_module::Module;

use super::frame::{Frame, SlowAccess};
use crate::cpu::Cpu;
use crate::env::Env;
use crate::memory::mmu::FastEntry;
use crate::memory::pmp::Pmp;

/// The trampoline from Rust into compiled code: the state and the block's
/// code, called in the `tail` convention.
pub(super) type EnterFn = unsafe extern "C" fn(*mut Cpu, *const u8) -> u32;

/// Why compiled code returned to the run loop: what a compiled block's
/// function returns (as a `u32`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum BlockExit {
    /// The block ran to an exit; `pc` and `retired` say where and how far.
    Done = 0,
    /// An instruction raised an exception: it is in `Cpu::jit_trap`, `pc`
    /// is the instruction's, `retired` counts those before it.
    Trapped = 1,
    /// The block stopped at its own start, before a pass that would have
    /// gone past the end of its slice (perhaps without running at all): the
    /// state is as it was at that start.
    Stopped = 2,
    /// The block stopped before a load or store that compiled code does not
    /// make itself (a device, a miss of the fast TLB, a misaligned checked
    /// access or store, a line holding code, watched bytes or a
    /// reservation): `pc` is the instruction's, `retired` counts those
    /// before it, and [`Frame::slow_address`] and [`Frame::slow_kind`] say
    /// what the access is. The run loop has the interpreter make it (see
    /// [`after_slow_access`]).
    ///
    /// Leaving rather than calling the interpreter's memory path from the
    /// block keeps calls out of most blocks: a value live across a call
    /// needs a callee-saved register or a stack slot, and every block would
    /// save and restore those around each chained jump. Compiled code made
    /// 6% fewer host instructions on bench_int, and Cranelift took 17% less
    /// time.
    Slow = 3,
}

impl BlockExit {
    /// The exit whose code compiled code returned.
    pub(crate) fn from_status(status: u32) -> BlockExit {
        debug_assert!(status <= BlockExit::Slow as u32, "compiled code returns a BlockExit");
        match status {
            0 => BlockExit::Done,
            1 => BlockExit::Trapped,
            2 => BlockExit::Stopped,
            _ => BlockExit::Slow,
        }
    }

    /// The code compiled code returns for this exit.
    pub(crate) const fn status(self) -> u32 {
        self as u32
    }
}

/// The most instructions compiled code retires before it returns to the run
/// loop, which then looks at the attention flag (interrupt lines, exit
/// requests: [`crate::HartControl`]) and enters compiled code again.
/// Compiled code checks its budget against a limit in the hart's own state,
/// a plain load and compare; another thread's request waits for the slice
/// to end (a few microseconds of host time), as a request from the hart's
/// own thread (a device access) returns through the run loop at once.
pub(crate) const SLICE: u64 = 1 << 14;

/// The signature of the functions compiled code calls back into Rust
/// (defined with [`helper!`]), parameters and results yet to add. On
/// x86-64 their calling convention is Windows x64's rather than the host's
/// System V: it keeps xmm6-xmm15 (and rsi, rdi) across calls where System
/// V keeps no vector register at all, so the values a block holds in
/// registers, f registers above all, stay there across the call on a slow
/// path instead of living on the stack for the whole block (bench_fp ran
/// its compiled code 1.6 times faster). AArch64's own convention already
/// keeps the low halves of v8-v15.
pub(super) fn helper_signature(module: &JITModule) -> Signature {
    let mut signature = module.make_signature();
    if cfg!(target_arch = "x86_64") {
        signature.call_conv = CallConv::WindowsFastcall;
    }
    signature
}

/// What a helper that gives a value returns to compiled code: the value in
/// [`Frame::helper_out`] and [`BlockExit::Done`], or the trap in
/// `Cpu::jit_trap` and [`BlockExit::Trapped`].
pub(super) fn helper_result(cpu: &mut Cpu, result: Result<u64, crate::trap::Trap>) -> u32 {
    match result {
        Ok(value) => {
            cpu.frame.helper_out = value;
            BlockExit::Done.status()
        }
        Err(trap) => {
            cpu.jit_trap = Some(trap);
            BlockExit::Trapped.status()
        }
    }
}

/// After the interpreter made a checked access that compiled code left to
/// it (see [`BlockExit::Slow`]): lets compiled code make the next ones to the same
/// page itself (see [`Tlb::fill_fast`]).
///
/// [`Tlb::fill_fast`]: crate::memory::mmu::Tlb::fill_fast
pub(crate) fn after_slow_access(cpu: &mut Cpu, env: &Env, slow: &SlowAccess) {
    if cpu.data_checked {
        let ctx = cpu.arch.data_context();
        cpu.tlb.fill_fast(&env.ram, Pmp::new(&cpu.arch.csr), slow.address, slow.size, slow.access, &ctx);
    }
}

pub(super) const X_OFFSET: i32 = offset_of!(Cpu, arch.x) as i32;
pub(super) const F_OFFSET: i32 = offset_of!(Cpu, arch.f) as i32;
pub(super) const PC_OFFSET: i32 = offset_of!(Cpu, arch.pc) as i32;
pub(super) const RETIRED_OFFSET: i32 = offset_of!(Cpu, arch.retired) as i32;
pub(super) const FRAME_OFFSET: usize = offset_of!(Cpu, frame);
pub(super) const ENV_OFFSET: i32 = (FRAME_OFFSET + offset_of!(Frame, env)) as i32;
pub(super) const JUMP_SLOTS_OFFSET: i32 = (FRAME_OFFSET + offset_of!(Frame, jump_slots)) as i32;
pub(super) const RAM_HOST_OFFSET: i32 = (FRAME_OFFSET + offset_of!(Frame, ram_host)) as i32;
pub(super) const RAM_MARKS_OFFSET: i32 = (FRAME_OFFSET + offset_of!(Frame, ram_marks)) as i32;
pub(super) const RAM_BASE_OFFSET: i32 = (FRAME_OFFSET + offset_of!(Frame, ram_base)) as i32;
pub(super) const SPAN_OFFSET: i32 = (FRAME_OFFSET + offset_of!(Frame, span)) as i32;
pub(super) const LIMIT_OFFSET: i32 = (FRAME_OFFSET + offset_of!(Frame, limit)) as i32;
pub(super) const TLB_LOAD_OFFSET: i32 = (FRAME_OFFSET + offset_of!(Frame, tlb_load)) as i32;
pub(super) const TLB_STORE_OFFSET: i32 = (FRAME_OFFSET + offset_of!(Frame, tlb_store)) as i32;
pub(super) const TLB_CONTEXT_OFFSET: i32 = (FRAME_OFFSET + offset_of!(Frame, tlb_context)) as i32;
pub(super) const HELPER_OUT_OFFSET: i32 = (FRAME_OFFSET + offset_of!(Frame, helper_out)) as i32;
pub(super) const HELPER_IN_OFFSET: i32 = (FRAME_OFFSET + offset_of!(Frame, helper_in)) as i32;
pub(super) const SLOW_ADDRESS_OFFSET: i32 = (FRAME_OFFSET + offset_of!(Frame, slow_address)) as i32;
pub(super) const SLOW_KIND_OFFSET: i32 = (FRAME_OFFSET + offset_of!(Frame, slow_kind)) as i32;
pub(super) const SLOW_BLOCK_OFFSET: i32 = (FRAME_OFFSET + offset_of!(Frame, slow_block)) as i32;
pub(super) const FAST_ENTRY_SIZE: i64 = std::mem::size_of::<FastEntry>() as i64;
pub(super) const FAST_TAG: i32 = offset_of!(FastEntry, tag) as i32;
pub(super) const FAST_ADDEND: i32 = offset_of!(FastEntry, addend) as i32;
pub(super) const CHAINS_OFFSET: i32 = (FRAME_OFFSET + offset_of!(Frame, chains)) as i32;
pub(super) const COUNTERS_OFFSET: i32 = (FRAME_OFFSET + offset_of!(Frame, counters)) as i32;

/// The signature of compiled blocks (see [`crate::cache::BlockCode`]).
pub(super) fn block_signature(module: &JITModule) -> Signature {
    let pointer = module.target_config().pointer_type();
    let mut signature = module.make_signature();
    signature.call_conv = CallConv::Tail;
    signature.params.push(AbiParam::new(pointer));
    signature.returns.push(AbiParam::new(types::I32));
    signature
}

/// Signatures of the atomic operations' helpers.
pub(super) struct AtomicSignatures {
    pub(super) exact: Signature,
    pub(super) after_store: Signature,
}

impl AtomicSignatures {
    pub(super) fn new(module: &JITModule) -> AtomicSignatures {
        let pointer = module.target_config().pointer_type();
        let mut exact = helper_signature(module);
        exact.params.extend([pointer, pointer, types::I64, types::I64, types::I64, types::I64].map(AbiParam::new));
        exact.returns.push(AbiParam::new(types::I32));
        let mut after_store = helper_signature(module);
        after_store.params.extend([pointer, types::I64, types::I64].map(AbiParam::new));
        AtomicSignatures { exact, after_store }
    }
}
