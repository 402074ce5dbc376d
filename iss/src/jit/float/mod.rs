//! F and D in compiled code.
//!
//! The f registers a block uses live in Cranelift variables of type `f64`
//! holding the register's bits (a single NaN-boxed), loaded on entry and
//! stored at every exit like the integer registers.
//!
//! Each operation with rounding or flags first tries an inline host-FPU
//! path, taken only where [`crate::fpu`]'s own fast path would return the
//! host's result without deciding any flag: rounding to nearest-even, NX
//! already set in `fflags`, and a result that is normal and finite (so no
//! other flag can rise and no NaN needs making canonical). NX is sticky and
//! nothing inside a block clears it, so whether it is set is read once per
//! pass through the block. Operations whose host result is exact and
//! raises nothing (comparisons and min/max of ordered values, widening,
//! conversions to integers that are exact or with NX set, conversions from
//! integers that cannot round) take the inline path in any rounding mode;
//! sign injection, moves, loads and stores are always inline. Everything
//! else calls [`float_helper`], which runs the interpreter's `fpu` call.
//!
//! `mstatus.FS` and `frm` change only through CSR instructions, which end
//! blocks before them and are never compiled. So the first F/D
//! instruction of a pass checks FS for the ones after it (Off: the
//! illegal-instruction trap there, as the interpreter raises it), the first
//! one that writes an f register makes FS Dirty for the later ones, and
//! `frm` is read once per call. Where forward branches inside the block
//! land, the checks are made again, since a branch may have skipped them
//! (see `BlockFloat::fs_checked`). A reserved rounding mode traps as in the
//! interpreter: one in the instruction always, a dynamic one when `frm`
//! holds one (checked at the first instruction that uses `frm`).

use std::mem::offset_of;

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::immediates::{Ieee32, Ieee64};
use cranelift_codegen::ir::{BlockArg, InstBuilder, MemFlagsData, Value, types};

use super::abi::{BlockExit, HELPER_IN_OFFSET};
use super::translator::{ExitTarget, Loaded, Translator};
use crate::cpu::Cpu;
use crate::csr::mstatus;
use crate::decode::{self, Format, Inst, Op};
use crate::fpu::{self, Compare, Int, Rounding, flags};
use crate::trap::{Exception, Trap};
use state::GATE_BIAS;

pub(super) mod state;

const MSTATUS_OFFSET: i32 = offset_of!(Cpu, arch.csr.mstatus) as i32;
const FFLAGS_OFFSET: i32 = offset_of!(Cpu, arch.fflags) as i32;
const FRM_OFFSET: i32 = offset_of!(Cpu, arch.frm) as i32;
/// The upper half of an f register holding a NaN-boxed single.
const BOX: u64 = 0xffff_ffff_0000_0000;
/// What a single reads as from an f register that is not NaN-boxed.
const CANONICAL_NAN_32: i64 = 0x7fc0_0000;
/// Below this magnitude a value rounded to an integer is an exact `i64`
/// (the bound [`fpu::to_int`]'s host path uses).
const TWO_TO_62: f64 = 4_611_686_018_427_387_904.0;

/// Whether the JIT compiles F/D operation `op`: those it emits itself, and
/// those with an exact path to call.
pub(super) fn supported(op: Op) -> bool {
    use Op::*;
    matches!(
        op,
        Flw | Fld | Fsw | Fsd | FmvXW | FmvXD | FmvWX | FmvDX | FsgnjS | FsgnjnS | FsgnjxS | FsgnjD | FsgnjnD | FsgnjxD
    ) || computation(op).is_some()
}

/// The rounding mode of an instruction, as compiled code knows it.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Mode {
    /// The instruction's `rm` field names it (or it has none: the value
    /// then goes unused).
    Static(Rounding),
    /// `frm`'s, known valid (the compiled code has checked).
    Dynamic,
}

/// The interpreter's computation of an F/D operation: its `fpu` call, with
/// the register operands (f registers' bits, or `x[rs1]` for conversions
/// from integers), accruing flags in `fflags`.
type Exact = fn(fflags: &mut u8, rm: Rounding, a: u64, b: u64, c: u64) -> u64;

/// What compiled code can do inline for an operation with an exact path.
#[derive(Copy, Clone)]
enum Fast {
    Add,
    Sub,
    Mul,
    Div,
    Sqrt,
    Fma {
        negate_product: bool,
        negate_addend: bool,
    },
    /// `fcvt.s.d`.
    Narrow,
    /// `fcvt.d.s`.
    Widen,
    Min,
    Max,
    Compare(FloatCC),
    ToInt(Int),
    FromInt(Int),
}

/// An operation with an exact path: that path, the inline one if any, and
/// whether its format is single precision.
#[derive(Copy, Clone)]
struct Computation {
    exact: Exact,
    fast: Option<Fast>,
    single: bool,
}

/// The operations that round or raise flags: each with the interpreter's
/// `fpu` call (`execute`'s arm for it) and its inline path.
fn computation(op: Op) -> Option<Computation> {
    use Op::*;
    let (exact, fast, single): (Exact, Option<Fast>, bool) = match op {
        FaddS => (|f, rm, a, b, _| fpu::add::<f32>(a, b, rm, f), Some(Fast::Add), true),
        FsubS => (|f, rm, a, b, _| fpu::sub::<f32>(a, b, rm, f), Some(Fast::Sub), true),
        FmulS => (|f, rm, a, b, _| fpu::mul::<f32>(a, b, rm, f), Some(Fast::Mul), true),
        FdivS => (|f, rm, a, b, _| fpu::div::<f32>(a, b, rm, f), Some(Fast::Div), true),
        FaddD => (|f, rm, a, b, _| fpu::add::<f64>(a, b, rm, f), Some(Fast::Add), false),
        FsubD => (|f, rm, a, b, _| fpu::sub::<f64>(a, b, rm, f), Some(Fast::Sub), false),
        FmulD => (|f, rm, a, b, _| fpu::mul::<f64>(a, b, rm, f), Some(Fast::Mul), false),
        FdivD => (|f, rm, a, b, _| fpu::div::<f64>(a, b, rm, f), Some(Fast::Div), false),
        FsqrtS => (|f, rm, a, _, _| fpu::sqrt::<f32>(a, rm, f), Some(Fast::Sqrt), true),
        FsqrtD => (|f, rm, a, _, _| fpu::sqrt::<f64>(a, rm, f), Some(Fast::Sqrt), false),
        FcvtSD => (|f, rm, a, _, _| fpu::narrow(a, rm, f), Some(Fast::Narrow), false),
        FcvtDS => (|f, rm, a, _, _| fpu::widen(a, rm, f), Some(Fast::Widen), true),
        FmaddS => (|f, rm, a, b, c| fpu::fma::<f32>(a, b, c, false, false, rm, f), Some(fma(false, false)), true),
        FmsubS => (|f, rm, a, b, c| fpu::fma::<f32>(a, b, c, false, true, rm, f), Some(fma(false, true)), true),
        FnmsubS => (|f, rm, a, b, c| fpu::fma::<f32>(a, b, c, true, false, rm, f), Some(fma(true, false)), true),
        FnmaddS => (|f, rm, a, b, c| fpu::fma::<f32>(a, b, c, true, true, rm, f), Some(fma(true, true)), true),
        FmaddD => (|f, rm, a, b, c| fpu::fma::<f64>(a, b, c, false, false, rm, f), Some(fma(false, false)), false),
        FmsubD => (|f, rm, a, b, c| fpu::fma::<f64>(a, b, c, false, true, rm, f), Some(fma(false, true)), false),
        FnmsubD => (|f, rm, a, b, c| fpu::fma::<f64>(a, b, c, true, false, rm, f), Some(fma(true, false)), false),
        FnmaddD => (|f, rm, a, b, c| fpu::fma::<f64>(a, b, c, true, true, rm, f), Some(fma(true, true)), false),
        FminS => (|f, _, a, b, _| fpu::min_max::<f32>(a, b, false, f), Some(Fast::Min), true),
        FmaxS => (|f, _, a, b, _| fpu::min_max::<f32>(a, b, true, f), Some(Fast::Max), true),
        FminD => (|f, _, a, b, _| fpu::min_max::<f64>(a, b, false, f), Some(Fast::Min), false),
        FmaxD => (|f, _, a, b, _| fpu::min_max::<f64>(a, b, true, f), Some(Fast::Max), false),
        FcvtWS => (|f, rm, a, _, _| fpu::to_int::<f32>(a, Int::W, rm, f), Some(Fast::ToInt(Int::W)), true),
        FcvtWuS => (|f, rm, a, _, _| fpu::to_int::<f32>(a, Int::Wu, rm, f), Some(Fast::ToInt(Int::Wu)), true),
        FcvtLS => (|f, rm, a, _, _| fpu::to_int::<f32>(a, Int::L, rm, f), Some(Fast::ToInt(Int::L)), true),
        FcvtLuS => (|f, rm, a, _, _| fpu::to_int::<f32>(a, Int::Lu, rm, f), Some(Fast::ToInt(Int::Lu)), true),
        FcvtWD => (|f, rm, a, _, _| fpu::to_int::<f64>(a, Int::W, rm, f), Some(Fast::ToInt(Int::W)), false),
        FcvtWuD => (|f, rm, a, _, _| fpu::to_int::<f64>(a, Int::Wu, rm, f), Some(Fast::ToInt(Int::Wu)), false),
        FcvtLD => (|f, rm, a, _, _| fpu::to_int::<f64>(a, Int::L, rm, f), Some(Fast::ToInt(Int::L)), false),
        FcvtLuD => (|f, rm, a, _, _| fpu::to_int::<f64>(a, Int::Lu, rm, f), Some(Fast::ToInt(Int::Lu)), false),
        FcvtSW => (|f, rm, a, _, _| fpu::from_int::<f32>(a, Int::W, rm, f), Some(Fast::FromInt(Int::W)), true),
        FcvtSWu => (|f, rm, a, _, _| fpu::from_int::<f32>(a, Int::Wu, rm, f), Some(Fast::FromInt(Int::Wu)), true),
        FcvtSL => (|f, rm, a, _, _| fpu::from_int::<f32>(a, Int::L, rm, f), Some(Fast::FromInt(Int::L)), true),
        FcvtSLu => (|f, rm, a, _, _| fpu::from_int::<f32>(a, Int::Lu, rm, f), Some(Fast::FromInt(Int::Lu)), true),
        FcvtDW => (|f, rm, a, _, _| fpu::from_int::<f64>(a, Int::W, rm, f), Some(Fast::FromInt(Int::W)), false),
        FcvtDWu => (|f, rm, a, _, _| fpu::from_int::<f64>(a, Int::Wu, rm, f), Some(Fast::FromInt(Int::Wu)), false),
        FcvtDL => (|f, rm, a, _, _| fpu::from_int::<f64>(a, Int::L, rm, f), Some(Fast::FromInt(Int::L)), false),
        FcvtDLu => (|f, rm, a, _, _| fpu::from_int::<f64>(a, Int::Lu, rm, f), Some(Fast::FromInt(Int::Lu)), false),
        FeqS => (|f, _, a, b, _| fpu::compare::<f32>(a, b, Compare::Eq, f), Some(Fast::Compare(FloatCC::Equal)), true),
        FltS => {
            (|f, _, a, b, _| fpu::compare::<f32>(a, b, Compare::Lt, f), Some(Fast::Compare(FloatCC::LessThan)), true)
        }
        FleS => (
            |f, _, a, b, _| fpu::compare::<f32>(a, b, Compare::Le, f),
            Some(Fast::Compare(FloatCC::LessThanOrEqual)),
            true,
        ),
        FeqD => (|f, _, a, b, _| fpu::compare::<f64>(a, b, Compare::Eq, f), Some(Fast::Compare(FloatCC::Equal)), false),
        FltD => {
            (|f, _, a, b, _| fpu::compare::<f64>(a, b, Compare::Lt, f), Some(Fast::Compare(FloatCC::LessThan)), false)
        }
        FleD => (
            |f, _, a, b, _| fpu::compare::<f64>(a, b, Compare::Le, f),
            Some(Fast::Compare(FloatCC::LessThanOrEqual)),
            false,
        ),
        FclassS => {
            return Some(Computation { exact: |_, _, a, _, _| fpu::classify::<f32>(a), fast: None, single: true });
        }
        FclassD => {
            return Some(Computation { exact: |_, _, a, _, _| fpu::classify::<f64>(a), fast: None, single: false });
        }
        _ => return None,
    };
    Some(Computation { exact, fast, single })
}

const fn fma(negate_product: bool, negate_addend: bool) -> Fast {
    Fast::Fma { negate_product, negate_addend }
}

helper! {
    /// Called by compiled code for the exact path of an F/D operation: runs
    /// `exact` (an [`Exact`]) on the hart's `fflags` with rounding mode `rm`
    /// and returns its result. Like the interpreter, makes FS Dirty when a
    /// flag was raised (an f-register result makes it Dirty anyway, inline).
    ///
    /// # Safety
    /// `state` is the pointer the compiled block was called with (see
    /// [`crate::run::Dispatcher::run`]), valid and not otherwise in use during the
    /// call; `exact` is an [`Exact`] cast to an integer; `rm` is a rounding
    /// mode's number (0 to 4). The operands are in the frame's `helper_in`.
    unsafe fn float_helper(cpu: *mut Cpu, exact: usize, rm: u64) -> u64 {
        // SAFETY: as the function's contract says.
        let cpu = unsafe { &mut *cpu };
        let [a, b, c] = cpu.frame.helper_in;
        // SAFETY: `exact` is the address of an `Exact` (the contract), and an
        // integer made from a function pointer turns back into it.
        let exact = unsafe { std::mem::transmute::<usize, Exact>(exact) };
        // Compiled code raises the illegal-instruction trap for the reserved
        // modes instead of calling here.
        let rm = Rounding::select(rm as u8, 0).unwrap_or(Rounding::NearestEven);
        let before = cpu.arch.fflags;
        let value = exact(&mut cpu.arch.fflags, rm, a, b, c);
        if cpu.arch.fflags != before {
            cpu.arch.csr.mstatus |= mstatus::FS_DIRTY | mstatus::SD;
        }
        value
    }
}

helper! {
    /// Called by compiled code for an illegal F/D instruction (FS Off, or a
    /// reserved rounding mode): leaves the trap, with `tval` the instruction's
    /// bits, for the run loop; the block then exits with [`BlockExit::Trapped`].
    ///
    /// # Safety
    /// As [`float_helper`]'s `state`.
    unsafe fn illegal_helper(cpu: *mut Cpu, tval: u64) {
        // SAFETY: as the function's contract says.
        let cpu = unsafe { &mut *cpu };
        cpu.jit_trap = Some(Trap::new(Exception::IllegalInstruction, tval));
    }
}

impl Translator<'_> {
    /// On entry to a block: `frm`, if it has F/D instructions.
    pub(super) fn block_entry_float(&mut self, insts: &[Inst]) {
        self.float.any = insts.iter().any(|inst| inst.op.precision().is_some());
        if self.float.any {
            let frm = self.b.ins().uload8(types::I64, self.flags, self.state, FRM_OFFSET);
            let nearest_even = self.b.ins().icmp_imm_s(IntCC::Equal, frm, 0);
            self.float.frm = Some((frm, nearest_even));
        }
    }

    /// Where paths join (see [`state::BlockFloat::fs_checked`]): the checks are
    /// made again on the way on.
    pub(super) fn join_float(&mut self) {
        (self.float.fs_checked, self.float.fs_dirty, self.float.frm_checked) = (false, false, false);
    }

    /// At the start of each pass through a block: whether NX is set.
    pub(super) fn pass_start_float(&mut self) {
        self.join_float();
        if self.float.any {
            let fflags = self.b.ins().uload8(types::I64, self.flags, self.state, FFLAGS_OFFSET);
            let nx = self.b.ins().band_imm_s(fflags, i64::from(flags::NX));
            self.float.nx = Some(self.b.ins().icmp_imm_s(IntCC::NotEqual, nx, 0));
            // NX is bit 0 and nearest-even is 0: NX set with nearest-even is
            // exactly the NX bit above `frm`.
            const { assert!(flags::NX == 1) };
            let (frm, _) = self.frm();
            let nx_nearest_even = self.b.ins().icmp(IntCC::UnsignedGreaterThan, nx, frm);
            let nx_set = self.nx();
            let (open, closed) = (self.b.ins().iconst(types::I64, 0), self.b.ins().iconst(types::I64, GATE_BIAS));
            self.float.gate_nx = Some(self.b.ins().select(nx_set, open, closed));
            self.float.gate_dynamic = Some(self.b.ins().select(nx_nearest_even, open, closed));
        }
    }

    fn frm(&self) -> (Value, Value) {
        self.float.frm.expect("a block with F/D instructions reads frm on entry")
    }

    fn nx(&self) -> Value {
        self.float.nx.expect("a block with F/D instructions reads fflags at each pass")
    }

    /// Emits an F or D instruction; `true` if it ends the block (one with a
    /// reserved rounding mode always traps).
    pub(super) fn float(&mut self, index: usize, inst: &Inst, at: i64) -> bool {
        use Op::*;
        // FS and `frm` are checked, and FS made dirty, at the first F or D
        // instruction (first write, first dynamic rounding mode) of each
        // pass and after each place forward branches land (see
        // `BlockFloat::fs_checked`): a change to either ends a block in the
        // run loop. In a block that loops, every pass does it again
        // (cheaper than telling the first pass from the others).
        if !self.float.fs_checked {
            self.float.fs_checked = true;
            let status = self.b.ins().load(types::I64, self.flags, self.state, MSTATUS_OFFSET);
            let fs = self.b.ins().band_imm_s(status, mstatus::FS as i64);
            let off = self.b.ins().icmp_imm_s(IntCC::Equal, fs, 0);
            self.illegal_if(off, index, at, inst);
        }
        let mode = if inst.op.format().has_rounding_mode() {
            match inst.rounding_mode() {
                7 => {
                    if !self.float.frm_checked {
                        self.float.frm_checked = true;
                        let (frm, _) = self.frm();
                        let reserved = self.b.ins().icmp_imm_u(IntCC::UnsignedGreaterThan, frm, 4);
                        self.illegal_if(reserved, index, at, inst);
                    }
                    Mode::Dynamic
                }
                rm => match Rounding::select(rm, 0) {
                    Some(rounding) => Mode::Static(rounding),
                    None => {
                        self.illegal(index, at, inst);
                        return true;
                    }
                },
            }
        } else {
            Mode::Static(Rounding::NearestEven)
        };
        let imm = i64::from(inst.imm);
        match inst.op {
            Flw => {
                let base = self.read(inst.rs1);
                let raw = self.load(index, at, base, imm, 4);
                let bits = self.b.ins().bor_imm_u(raw, BOX as i64);
                let value = self.f_from_bits(bits);
                self.f_write(inst.rd, value);
            }
            Fld => {
                let base = self.read(inst.rs1);
                let value = self.load_as(index, at, base, imm, 8, Loaded::Float);
                self.f_write(inst.rd, value);
            }
            Fsw => {
                let base = self.read(inst.rs1);
                let value = self.f_bits(inst.rs2);
                self.store(index, at, base, imm, 4, value);
            }
            Fsd => {
                let base = self.read(inst.rs1);
                let value = self.f_read(inst.rs2);
                self.store(index, at, base, imm, 8, value);
            }
            // fmv.x.w takes the low 32 bits whether or not they are NaN-boxed.
            FmvXW => {
                let bits = self.f_bits(inst.rs1);
                let value = self.sext32(bits);
                self.write(inst.rd, value);
            }
            FmvXD => {
                let bits = self.f_bits(inst.rs1);
                self.write(inst.rd, bits);
            }
            FmvWX | FmvDX => {
                let a = self.read(inst.rs1);
                let bits = if inst.op == FmvWX { self.b.ins().bor_imm_u(a, BOX as i64) } else { a };
                let value = self.f_from_bits(bits);
                self.f_write(inst.rd, value);
            }
            FsgnjS | FsgnjnS | FsgnjxS | FsgnjD | FsgnjnD | FsgnjxD => {
                let value = self.sign_injection(inst);
                self.f_write(inst.rd, value);
            }
            op => {
                let computation = computation(op).expect("supported() admits only F/D operations compiled here");
                self.computed(inst, mode, computation);
            }
        }
        false
    }

    /// f register `r`'s variable.
    fn f_read(&mut self, r: u8) -> Value {
        self.b.use_var(self.fvars[usize::from(r & 31)])
    }

    /// f register `r`'s bits as an integer.
    fn f_bits(&mut self, r: u8) -> Value {
        let value = self.f_read(r);
        self.b.ins().bitcast(types::I64, MemFlagsData::new(), value)
    }

    fn f_from_bits(&mut self, bits: Value) -> Value {
        self.b.ins().bitcast(types::F64, MemFlagsData::new(), bits)
    }

    /// Sets f register `r`; the path's first such write makes FS Dirty (and
    /// SD set), for all that follow it (see [`state::BlockFloat::fs_checked`]).
    fn f_write(&mut self, r: u8, value: Value) {
        self.b.def_var(self.fvars[usize::from(r & 31)], value);
        if !self.float.fs_dirty {
            self.float.fs_dirty = true;
            let status = self.b.ins().load(types::I64, self.flags, self.state, MSTATUS_OFFSET);
            let dirty = self.b.ins().bor_imm_u(status, (mstatus::FS_DIRTY | mstatus::SD) as i64);
            self.b.ins().store(self.flags, dirty, self.state, MSTATUS_OFFSET);
        }
    }

    /// Leaves the block with the illegal-instruction trap of `inst`.
    fn illegal(&mut self, index: usize, at: i64, inst: &Inst) {
        let tval = self.b.ins().iconst(types::I64, decode::illegal(inst).tval as i64);
        let helper = self.b.ins().iconst(self.pointer, illegal_helper as *const () as usize as i64);
        let signature = self.b.import_signature(self.float.illegal_signature.clone());
        self.b.ins().call_indirect(signature, helper, &[self.state, tval]);
        self.exit(ExitTarget::Offset(at), index, BlockExit::Trapped);
    }

    /// Leaves the block with the illegal-instruction trap of `inst` when
    /// `condition` holds, else carries on.
    fn illegal_if(&mut self, condition: Value, index: usize, at: i64, inst: &Inst) {
        let (trap, stay) = (self.b.create_block(), self.b.create_block());
        self.b.set_cold_block(trap);
        self.b.ins().brif(condition, trap, &[], stay, &[]);
        self.b.switch_to_block(trap);
        self.illegal(index, at, inst);
        self.b.switch_to_block(stay);
    }

    /// `fsgnj`, `fsgnjn`, `fsgnjx`: bit operations, exact inline. A single
    /// that is not NaN-boxed reads as the canonical NaN.
    fn sign_injection(&mut self, inst: &Inst) -> Value {
        use Op::*;
        let same = inst.rs1 == inst.rs2;
        match inst.op {
            // `fmv.d`, `fneg.d` and `fabs.d` are these with both sources equal.
            FsgnjD if same => return self.f_read(inst.rs1),
            FsgnjnD if same => {
                let a = self.f_read(inst.rs1);
                return self.b.ins().fneg(a);
            }
            FsgnjxD if same => {
                let a = self.f_read(inst.rs1);
                return self.b.ins().fabs(a);
            }
            _ => {}
        }
        let single = matches!(inst.op, FsgnjS | FsgnjnS | FsgnjxS);
        let (a, b) = (self.f_bits(inst.rs1), self.f_bits(inst.rs2));
        let (a, b, sign) = if single { (self.unbox_bits(a), self.unbox_bits(b), 1i64 << 31) } else { (a, b, i64::MIN) };
        let magnitude = self.b.ins().band_imm_s(a, !sign);
        let new_sign = match inst.op {
            FsgnjS | FsgnjD => self.b.ins().band_imm_s(b, sign),
            FsgnjnS | FsgnjnD => {
                let not_b = self.b.ins().bnot(b);
                self.b.ins().band_imm_s(not_b, sign)
            }
            _ => {
                let both = self.b.ins().bxor(a, b);
                self.b.ins().band_imm_s(both, sign)
            }
        };
        let bits = self.b.ins().bor(magnitude, new_sign);
        let bits = if single { self.b.ins().bor_imm_u(bits, BOX as i64) } else { bits };
        self.f_from_bits(bits)
    }

    /// A single's bits (zero-extended) from an f register's: the canonical
    /// NaN unless NaN-boxed.
    fn unbox_bits(&mut self, register: Value) -> Value {
        let boxed = self.b.ins().icmp_imm_u(IntCC::UnsignedGreaterThanOrEqual, register, BOX as i64);
        let low = self.b.ins().band_imm_u(register, 0xffff_ffff);
        let nan = self.b.ins().iconst(types::I64, CANONICAL_NAN_32);
        self.b.ins().select(boxed, low, nan)
    }

    /// An operand in the format: `(value, boxed)`, where for a single
    /// `boxed` says whether the register holds a NaN-boxed one (else it
    /// reads as the canonical NaN, which the inline paths leave to the exact
    /// one) and the value is its low half as an `f32`.
    fn operand(&mut self, register: Value, single: bool) -> (Value, Option<Value>) {
        if !single {
            return (register, None);
        }
        let bits = self.b.ins().bitcast(types::I64, MemFlagsData::new(), register);
        let boxed = self.b.ins().icmp_imm_u(IntCC::UnsignedGreaterThanOrEqual, bits, BOX as i64);
        let low = self.b.ins().ireduce(types::I32, bits);
        (self.b.ins().bitcast(types::F32, MemFlagsData::new(), low), Some(boxed))
    }

    /// A single's register value, NaN-boxed.
    fn rebox(&mut self, value: Value) -> Value {
        let low = self.b.ins().bitcast(types::I32, MemFlagsData::new(), value);
        let wide = self.b.ins().uextend(types::I64, low);
        let boxed = self.b.ins().bor_imm_u(wide, BOX as i64);
        self.f_from_bits(boxed)
    }

    /// The conjunction of the conditions given.
    fn all(&mut self, conditions: &[Option<Value>]) -> Option<Value> {
        let mut result = None;
        for &condition in conditions.iter().flatten() {
            result = Some(match result {
                Some(others) => self.b.ins().band(others, condition),
                None => condition,
            });
        }
        result
    }

    /// The biased exponent of `x` plus `gate` (see
    /// [`state::BlockFloat::gate_dynamic`]), and the exponent's largest value
    /// (infinities and NaNs). Tests on it take a few integer instructions
    /// with small immediates, where float compares need a mask and two
    /// constants.
    fn exponent(&mut self, x: Value, single: bool, gate: Value) -> (Value, i64) {
        let (ty, fraction_bits, all_ones) = if single { (types::I32, 23, 0xff) } else { (types::I64, 52, 0x7ff) };
        let bits = self.b.ins().bitcast(ty, MemFlagsData::new(), x);
        let shifted = self.b.ins().ushr_imm_u(bits, fraction_bits);
        let exponent = self.b.ins().band_imm_u(shifted, all_ones);
        let gate = if single { self.b.ins().ireduce(types::I32, gate) } else { gate };
        (self.b.ins().iadd(exponent, gate), all_ones)
    }

    /// Neither infinite nor NaN, and `gate` open.
    fn finite(&mut self, x: Value, single: bool, gate: Value) -> Value {
        let (exponent, all_ones) = self.exponent(x, single, gate);
        self.b.ins().icmp_imm_u(IntCC::UnsignedLessThan, exponent, all_ones)
    }

    /// Finite and at least twice the least normal magnitude: inside what
    /// `fpu`'s `normal` accepts (finite, above the least normal), short of
    /// the one binade just above it, where an exact path costs nothing
    /// that matters; and `gate` open.
    fn normal(&mut self, x: Value, single: bool, gate: Value) -> Value {
        let (exponent, all_ones) = self.exponent(x, single, gate);
        let above_one = self.b.ins().iadd_imm_s(exponent, -2);
        self.b.ins().icmp_imm_u(IntCC::UnsignedLessThanOrEqual, above_one, all_ones - 3)
    }

    fn float_const(&mut self, single: bool, double: f64, float: f32) -> Value {
        if single {
            self.b.ins().f32const(Ieee32::with_bits(float.to_bits()))
        } else {
            self.b.ins().f64const(Ieee64::with_bits(double.to_bits()))
        }
    }

    /// The gate of the inline paths that round (nearest-even in effect and
    /// NX set: see [`state::BlockFloat::gate_dynamic`]); `None` where the mode is
    /// another one.
    fn rounding_gate(&mut self, mode: Mode) -> Option<Value> {
        let gate = match mode {
            Mode::Static(Rounding::NearestEven) => self.float.gate_nx,
            Mode::Static(_) => return None,
            Mode::Dynamic => self.float.gate_dynamic,
        };
        Some(gate.expect("gates are made at each pass"))
    }

    /// An operation that rounds or raises flags: its inline path where that
    /// applies, else [`float_helper`].
    fn computed(&mut self, inst: &Inst, mode: Mode, computation: Computation) {
        let fp_destination = inst.op.format().fp_destination();
        let result_type = if fp_destination { types::F64 } else { types::I64 };
        let (slow, merge) = (self.b.create_block(), self.b.create_block());
        let result = self.b.append_block_param(merge, result_type);
        let operands = self.float_operands(inst);
        self.b.set_cold_block(slow);
        match self.fast_path(mode, computation, operands) {
            Some((gate, ok, value)) => {
                // Each condition is its own compare and branch (a `band`
                // of them becomes setcc chains); the gate is a value made
                // once per pass.
                for condition in [gate, ok].into_iter().flatten() {
                    let go = self.b.create_block();
                    self.b.ins().brif(condition, go, &[], slow, &[]);
                    self.b.switch_to_block(go);
                }
                self.b.ins().jump(merge, &[BlockArg::Value(value)]);
            }
            None => {
                self.b.ins().jump(slow, &[]);
            }
        }

        self.b.switch_to_block(slow);
        let value = self.call_exact(computation.exact, mode, operands);
        let value = if fp_destination { self.f_from_bits(value) } else { value };
        self.b.ins().jump(merge, &[BlockArg::Value(value)]);

        self.b.switch_to_block(merge);
        if fp_destination {
            self.f_write(inst.rd, result);
        } else {
            self.write(inst.rd, result);
        }
    }

    /// The register operands of an operation with an exact path: f
    /// registers (as `f64`), or `x[rs1]` for conversions from integers;
    /// zero where there is none.
    fn float_operands(&mut self, inst: &Inst) -> [Value; 3] {
        let zero = |this: &mut Self| this.b.ins().iconst(types::I64, 0);
        match inst.op.format() {
            Format::IntToFp => [self.read(inst.rs1), zero(self), zero(self)],
            Format::FpR4 => [self.f_read(inst.rs1), self.f_read(inst.rs2), self.f_read(inst.rs3())],
            Format::FpR | Format::FpR2 | Format::FpCmp => [self.f_read(inst.rs1), self.f_read(inst.rs2), zero(self)],
            _ => [self.f_read(inst.rs1), zero(self), zero(self)],
        }
    }

    /// Calls [`float_helper`] for `exact`; the result comes back as the
    /// register's bits.
    fn call_exact(&mut self, exact: Exact, mode: Mode, operands: [Value; 3]) -> Value {
        let rm = match mode {
            Mode::Static(rounding) => self.b.ins().iconst(types::I64, rounding as i64),
            Mode::Dynamic => self.frm().0,
        };
        for (index, operand) in operands.into_iter().enumerate() {
            // An f64 is stored as it is: its bits, with no cast to hoist.
            let offset = HELPER_IN_OFFSET + 8 * index as i32;
            self.b.ins().store(self.flags, operand, self.state, offset);
        }
        let exact = self.b.ins().iconst(types::I64, exact as usize as i64);
        let helper = self.b.ins().iconst(self.pointer, float_helper as *const () as usize as i64);
        let signature = self.b.import_signature(self.float.signature.clone());
        let call = self.b.ins().call_indirect(signature, helper, &[self.state, exact, rm]);
        self.b.inst_results(call)[0]
    }

    /// Emits the inline path of an operation. Returns what the mode and
    /// `fflags` require of it (the gate), the condition on its operands and
    /// result under which that result is exactly the exact path's (`None`:
    /// always), and the result, as the register holds it; `None` if the
    /// operation has no inline path in this mode on this host. Host operations never trap,
    /// so the inline path is computed before anything is decided: one
    /// branch takes it or the exact path.
    fn fast_path(
        &mut self,
        mode: Mode,
        computation: Computation,
        operands: [Value; 3],
    ) -> Option<(Option<Value>, Option<Value>, Value)> {
        let Computation { fast, single, .. } = computation;
        let fast = fast?;
        // What the mode and `fflags` require of the inline path. Where it
        // checks the result's (or operand's) exponent, the rounding gate
        // goes into that check (`rounding`).
        let rounding = match fast {
            Fast::Fma { .. } if !self.float.fma => return None,
            Fast::Add | Fast::Sub | Fast::Mul | Fast::Div | Fast::Sqrt | Fast::Fma { .. } | Fast::Narrow => {
                Some(self.rounding_gate(mode)?)
            }
            _ => None,
        };
        let gate = match fast {
            // Exact conversions: any mode.
            Fast::FromInt(Int::W | Int::Wu) if !single => None,
            Fast::FromInt(_) => {
                let rounding = self.rounding_gate(mode)?;
                Some(self.b.ins().icmp_imm_s(IntCC::Equal, rounding, 0))
            }
            Fast::ToInt(_) if !self.float.round => return None,
            Fast::ToInt(_) => match mode {
                Mode::Static(Rounding::NearestMax) => return None,
                Mode::Static(_) => None,
                Mode::Dynamic => Some(self.frm().1),
            },
            _ => None,
        };
        let rounding = || rounding.expect("an inline path that rounds has its gate");
        let rebox = |this: &mut Self, value: Value| if single { this.rebox(value) } else { value };
        let (ok, value) = match fast {
            Fast::Add | Fast::Sub | Fast::Mul | Fast::Div => {
                let (x, x_boxed) = self.operand(operands[0], single);
                let (y, y_boxed) = self.operand(operands[1], single);
                let (r, accepted) = match fast {
                    // Sums are never tiny and inexact, and an exact zero sum
                    // has the host's sign: finite is enough (`fpu::add`).
                    Fast::Add => {
                        let r = self.b.ins().fadd(x, y);
                        (r, self.finite(r, single, rounding()))
                    }
                    Fast::Sub => {
                        let r = self.b.ins().fsub(x, y);
                        (r, self.finite(r, single, rounding()))
                    }
                    Fast::Mul => {
                        let r = self.b.ins().fmul(x, y);
                        (r, self.normal(r, single, rounding()))
                    }
                    _ => {
                        let r = self.b.ins().fdiv(x, y);
                        (r, self.normal(r, single, rounding()))
                    }
                };
                let ok = self.all(&[x_boxed, y_boxed, Some(accepted)]);
                (ok, rebox(self, r))
            }
            Fast::Sqrt => {
                // A positive normal operand has a normal root.
                let (x, boxed) = self.operand(operands[0], single);
                let normal = self.normal(x, single, rounding());
                let zero = self.float_const(single, 0.0, 0.0);
                let positive = self.b.ins().fcmp(FloatCC::GreaterThan, x, zero);
                let r = self.b.ins().sqrt(x);
                let ok = self.all(&[boxed, Some(normal), Some(positive)]);
                (ok, rebox(self, r))
            }
            Fast::Fma { negate_product, negate_addend } => {
                let (x, x_boxed) = self.operand(operands[0], single);
                let (y, y_boxed) = self.operand(operands[1], single);
                let (z, z_boxed) = self.operand(operands[2], single);
                let x = if negate_product { self.b.ins().fneg(x) } else { x };
                let z = if negate_addend { self.b.ins().fneg(z) } else { z };
                let r = self.b.ins().fma(x, y, z);
                let normal = self.normal(r, single, rounding());
                let ok = self.all(&[x_boxed, y_boxed, z_boxed, Some(normal)]);
                (ok, rebox(self, r))
            }
            Fast::Narrow => {
                let r = self.b.ins().fdemote(types::F32, operands[0]);
                let normal = self.normal(r, true, rounding());
                (Some(normal), self.rebox(r))
            }
            Fast::Widen => {
                let (x, boxed) = self.operand(operands[0], true);
                let not_nan = self.b.ins().fcmp(FloatCC::Ordered, x, x);
                let r = self.b.ins().fpromote(types::F64, x);
                (self.all(&[boxed, Some(not_nan)]), r)
            }
            // Without NaNs nothing raises a flag, and the host's order is
            // RISC-V's, -0 below +0 for min and max included.
            Fast::Min => {
                let (x, y, ok) = self.ordered_operands(operands, single);
                let r = self.b.ins().fmin(x, y);
                (ok, rebox(self, r))
            }
            Fast::Max => {
                let (x, y, ok) = self.ordered_operands(operands, single);
                let r = self.b.ins().fmax(x, y);
                (ok, rebox(self, r))
            }
            Fast::Compare(cc) => {
                let (x, y, ok) = self.ordered_operands(operands, single);
                let c = self.b.ins().fcmp(cc, x, y);
                (ok, self.b.ins().uextend(types::I64, c))
            }
            Fast::ToInt(to) => self.convert_to_int(mode, single, to, operands[0]),
            Fast::FromInt(from) => {
                let a = operands[0];
                let ty = if single { types::F32 } else { types::F64 };
                let r = match from {
                    Int::W => {
                        let wide = self.sext32(a);
                        self.b.ins().fcvt_from_sint(ty, wide)
                    }
                    Int::Wu => {
                        let wide = self.b.ins().band_imm_u(a, 0xffff_ffff);
                        self.b.ins().fcvt_from_sint(ty, wide)
                    }
                    Int::L => self.b.ins().fcvt_from_sint(ty, a),
                    Int::Lu => self.b.ins().fcvt_from_uint(ty, a),
                };
                (None, rebox(self, r))
            }
        };
        Some((gate, ok, value))
    }

    /// The first two operands, and the condition that both are numbers
    /// (and, for singles, NaN-boxed).
    fn ordered_operands(&mut self, operands: [Value; 3], single: bool) -> (Value, Value, Option<Value>) {
        let (x, x_boxed) = self.operand(operands[0], single);
        let (y, y_boxed) = self.operand(operands[1], single);
        let ordered = self.b.ins().fcmp(FloatCC::Ordered, x, y);
        (x, y, self.all(&[x_boxed, y_boxed, Some(ordered)]))
    }

    /// The inline conversion to an integer (`fpu::to_int`'s host path):
    /// below 2^62 in magnitude the host rounds to an exact integer, which
    /// is the result if `to` holds it and no flag needs raising (it equals
    /// the operand, or NX is set already).
    fn convert_to_int(&mut self, mode: Mode, single: bool, to: Int, register: Value) -> (Option<Value>, Value) {
        let (x, boxed) = self.operand(register, single);
        let x = if single { self.b.ins().fpromote(types::F64, x) } else { x };
        let rounded = match mode {
            Mode::Static(Rounding::TowardZero) => self.b.ins().trunc(x),
            Mode::Static(Rounding::Down) => self.b.ins().floor(x),
            Mode::Static(Rounding::Up) => self.b.ins().ceil(x),
            // Nearest-even: the gate has seen to a dynamic one.
            _ => self.b.ins().nearest(x),
        };
        let magnitude = self.b.ins().fabs(x);
        let bound = self.b.ins().f64const(Ieee64::with_bits(TWO_TO_62.to_bits()));
        let small = self.b.ins().fcmp(FloatCC::LessThan, magnitude, bound);
        let value = self.b.ins().fcvt_to_sint_sat(types::I64, rounded);
        let in_range = match to {
            Int::W => {
                let narrow = self.sext32(value);
                Some(self.b.ins().icmp(IntCC::Equal, narrow, value))
            }
            Int::Wu => Some(self.b.ins().icmp_imm_u(IntCC::UnsignedLessThanOrEqual, value, 0xffff_ffff)),
            Int::L => None,
            Int::Lu => Some(self.b.ins().icmp_imm_s(IntCC::SignedGreaterThanOrEqual, value, 0)),
        };
        let exact = self.b.ins().fcmp(FloatCC::Equal, rounded, x);
        let nx = self.nx();
        let no_flag = self.b.ins().bor(exact, nx);
        let ok = self.all(&[boxed, Some(small), in_range, Some(no_flag)]);
        let result = match to {
            Int::W | Int::Wu => self.sext32(value),
            Int::L | Int::Lu => value,
        };
        (ok, result)
    }
}
