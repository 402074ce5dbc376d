//! The frame: what compiled code reads and leaves besides the architectural
//! state, at fixed offsets from the [`crate::cpu::Cpu`] it is given.

use crate::memory::pmp::Access;

/// What compiled code needs besides the architectural state, kept in
/// [`crate::cpu::Cpu::frame`] so that a block takes the state as its only
/// parameter and reaches everything at fixed offsets from it: nothing else
/// stays live in host registers for the whole block, where it would crowd
/// out the guest's registers. [`super::Jit::enter`] fills it for each run. While
/// compiled code runs, only the last four fields change (results and counts
/// that compiled code and the helpers leave); the others hold (a change of
/// privilege or `mstatus` that would change `span` ends a block in the run
/// loop).
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct Frame {
    /// The hart's `Env`, for the helpers.
    pub(super) env: usize,
    /// The hart's lockstep log (a `Lockstep`'s address), for the helpers;
    /// 0 outside lockstep.
    pub(super) lockstep: usize,
    /// The first slot of the hart's jump cache, where exits look for the
    /// next block's code.
    pub(super) jump_slots: usize,
    /// Host address of RAM's first byte.
    pub(super) ram_host: usize,
    /// Address of the marks of RAM's first line (a byte per 64-byte line,
    /// see `Translator::line_marked`).
    pub(super) ram_marks: usize,
    /// Guest physical address of RAM's first byte.
    pub(super) ram_base: u64,
    /// Compiled code accesses RAM directly at offsets (from `ram_base`)
    /// below this: RAM's size less 7 while loads and stores are plain
    /// physical ones, 0 while they are checked (paging or PMP) and in
    /// lockstep.
    pub(super) span: u64,
    /// The `retired` count no pass through a block may end beyond: the
    /// end of the run's slice (see [`super::SLICE`]).
    pub(super) limit: u64,
    /// The hart's fast TLBs for loads and for stores (and AMOs).
    pub(super) tlb_load: usize,
    pub(super) tlb_store: usize,
    /// What the tag of a fast TLB entry must carry besides the page number
    /// for compiled code to use it: [`crate::memory::mmu::fast_context`] of the
    /// data context while accesses are checked; [`crate::memory::mmu::FAST_NONE`],
    /// which no entry matches, while they are not (or in lockstep, where
    /// every access takes the helpers).
    pub(super) tlb_context: u64,
    /// The hart's plugin counters ([`crate::plugin::Counter`]), which
    /// compiled code adds to inline; 0 without plugins.
    pub(super) counters: usize,
    /// Where a helper that gives a value (a load, an atomic) leaves it for
    /// compiled code. Not a stack slot of the block's: Cranelift computed
    /// such a slot's address at the function's entry and kept it live
    /// (spilled) through the whole block.
    pub(super) helper_out: u64,
    /// The operands of an F/D operation's exact path, for its helper: its
    /// f registers' bits (or `x[rs1]`). Stored by the slow path itself, as
    /// arguments would be bit casts of loop-invariant registers, which
    /// Cranelift hoists to the function's entry and keeps on the stack.
    pub(super) helper_in: [u64; 3],
    /// The guest address of the access a [`super::BlockExit::Slow`] exit left to the run loop.
    pub(super) slow_address: u64,
    /// The access's size in bytes, plus [`SLOW_STORE`] for a store.
    pub(super) slow_kind: u64,
    /// The address the block that left for the access was entered at: with
    /// plugins, the interpreter goes on with that block where it left.
    pub(super) slow_block: u64,
    /// Jumps compiled code made straight into the next block's code during
    /// this run, for the run loop to count ([`super::JitStats::chain_hits`]).
    pub(super) chains: u64,
}

/// In [`Frame::slow_kind`]: the access is a store.
pub(super) const SLOW_STORE: u64 = 0x100;

impl Frame {
    /// See [`Frame::chains`].
    pub(crate) fn chains(&self) -> u64 {
        self.chains
    }

    /// The access the [`super::BlockExit::Slow`] exit just taken at `pc` left to the run loop.
    pub(crate) fn slow_access(&self, pc: u64) -> SlowAccess {
        let access = if self.slow_kind & SLOW_STORE != 0 { Access::Store } else { Access::Load };
        SlowAccess { pc, address: self.slow_address, size: self.slow_kind as u8, access, block_pc: self.slow_block }
    }
}

/// A load or store a [`super::BlockExit::Slow`] exit left to the run loop.
#[derive(Copy, Clone, Debug)]
pub(crate) struct SlowAccess {
    /// The instruction's address.
    pub(crate) pc: u64,
    /// Where the block that left for it was entered.
    pub(crate) block_pc: u64,
    pub(super) address: u64,
    pub(super) size: u8,
    pub(super) access: Access,
}
