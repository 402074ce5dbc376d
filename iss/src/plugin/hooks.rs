//! What a block carries of the plugins' plans ([`Hooks`]): plain data,
//! read by both tiers.

use crate::decode::Inst;
use crate::jit::analysis::forward_skips;

/// A call a plan asked for: which plugin's observer, with what tag.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Call {
    pub(crate) plugin: u16,
    pub(crate) tag: u64,
}

/// An inline count a plan asked for.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Count {
    pub(crate) counter: u32,
    pub(crate) amount: u64,
}

/// What happens at one point of a block: before it, or at one instruction.
#[derive(Clone, Debug, Default)]
pub(crate) struct At {
    /// Calls before it.
    pub(crate) calls: Vec<Call>,
    /// Counts before it.
    pub(crate) counts: Vec<Count>,
    /// Calls after each memory access (instructions only).
    pub(crate) memory: Vec<Call>,
}

impl At {
    pub(crate) fn has_calls(&self) -> bool {
        !self.calls.is_empty() || !self.memory.is_empty()
    }
}

/// A block's instrumentation: what every installed plugin planned for it.
/// Every block translated while plugins are installed has one, empty or not
/// (both tiers then form and leave blocks alike, see [`super`]).
#[derive(Clone, Debug)]
pub(crate) struct Hooks {
    pub(crate) block: At,
    pub(crate) insts: Box<[At]>,
    /// Some plan asked for a call: the block runs in the interpreter.
    pub(crate) calls: bool,
    /// Per instruction, the later instruction of the block its taken
    /// branch goes to, if any: the interpreter goes on there inside the
    /// block, as compiled code does, so that both tiers run the same blocks.
    pub(crate) skips: Box<[Option<usize>]>,
}

impl Hooks {
    /// Nothing planned yet for a block of `insts`.
    pub(crate) fn new(insts: &[Inst]) -> Hooks {
        Hooks {
            block: At::default(),
            insts: vec![At::default(); insts.len()].into_boxed_slice(),
            calls: false,
            skips: forward_skips(insts).into_boxed_slice(),
        }
    }

    /// Whether a plan asked for calls, which only the interpreter makes.
    pub(crate) fn has_calls(&self) -> bool {
        self.calls
    }
}
