//! What the F and D instructions of one block share while it is
//! translated: the host's FP features, the helpers' signatures, and what
//! the code emitted so far on the current path has checked.

use cranelift_codegen::ir::{AbiParam, Signature, Value, types};
use cranelift_jit::JITModule;
use cranelift_module::Module;

use crate::jit::abi::helper_signature;

/// What the F and D instructions of one block share.
pub(crate) struct BlockFloat {
    /// The host has FMA; without it fused multiply-adds take the exact path.
    pub(super) fma: bool,
    /// The host rounds to integral values in one instruction (SSE4.1 on
    /// x86-64); without it conversions to integers take the exact path.
    pub(super) round: bool,
    /// `float_helper`'s signature.
    pub(super) signature: Signature,
    /// `illegal_helper`'s signature.
    pub(super) illegal_signature: Signature,
    /// The block has F/D instructions.
    pub(super) any: bool,
    /// What the code emitted so far on the current path did since the pass
    /// began or the last place forward branches land (see
    /// [`crate::jit::translator::Translator::skips`]): checked FS (done by the first F/D
    /// instruction on the path), made FS Dirty (the first that writes an f
    /// register), checked that `frm` is no reserved mode (the first whose
    /// rounding mode is `frm`'s). FS and `frm` change only by instructions
    /// that are never compiled.
    pub(super) fs_checked: bool,
    pub(super) fs_dirty: bool,
    pub(super) frm_checked: bool,
    /// `frm`, and whether it says nearest-even, read on entry.
    pub(super) frm: Option<(Value, Value)>,
    /// Whether NX was set when the current pass through the block began.
    pub(super) nx: Option<Value>,
    /// The gates of the inline paths that round, made at the start of the
    /// pass: 0 where `fflags` and the mode allow them, [`GATE_BIAS`] where
    /// not. For nearest-even named by the instruction (NX set) and for the
    /// dynamic mode (NX set and `frm` nearest-even).
    pub(super) gate_nx: Option<Value>,
    pub(super) gate_dynamic: Option<Value>,
}

/// Added to the result's exponent by a closed gate (see
/// [`BlockFloat::gate_dynamic`]): far above any exponent, so the range check
/// that decides for the inline result decides against it, and one compare
/// and branch stands for both.
pub(super) const GATE_BIAS: i64 = 1 << 16;

impl BlockFloat {
    pub(crate) fn new(module: &JITModule) -> BlockFloat {
        let pointer = module.target_config().pointer_type();
        let mut signature = helper_signature(module);
        signature.params.push(AbiParam::new(pointer));
        signature.params.extend([types::I64; 2].map(AbiParam::new));
        signature.returns.push(AbiParam::new(types::I64));
        let mut illegal_signature = helper_signature(module);
        illegal_signature.params.extend([AbiParam::new(pointer), AbiParam::new(types::I64)]);
        let isa = module.isa();
        BlockFloat {
            fma: isa.has_native_fma(),
            round: isa.has_round(),
            signature,
            illegal_signature,
            any: false,
            fs_checked: false,
            fs_dirty: false,
            frm_checked: false,
            frm: None,
            nx: None,
            gate_nx: None,
            gate_dynamic: None,
        }
    }
}
