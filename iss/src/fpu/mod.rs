//! Floating point for the F and D extensions.
//!
//! Two paths give the same bits and flags. The fast path runs an operation on
//! the host FPU when its result is provably what the exact path
//! ([`soft`]) would give: rounding to nearest-even, a finite result in the
//! normal range (so no overflow or underflow can have happened and no NaN
//! needs making canonical), and an inexact flag that is either already set
//! (it is sticky, so nothing changes) or decided by an exact residual test
//! on the host (TwoSum for sums, an FMA or a wider product for the others).
//! Everything else, other rounding modes, NaNs, infinities, tiny results,
//! takes the exact path. `tests/fpu.rs` checks the two agree on random and
//! edge-case operands.

mod fcsr;
pub(crate) mod soft;

use std::ops::{Add, Div, Mul, Sub};

pub(crate) use soft::Int;
use soft::{BinaryFormat, F32, F64};

pub(crate) use fcsr::{Rounding, flags};

/// Upper half of a register holding a NaN-boxed single.
const BOX: u64 = 0xffff_ffff_0000_0000;

/// A host float type and the format it implements: what the fast path needs.
pub(crate) trait Host:
    Copy + PartialEq + PartialOrd + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> + Div<Output = Self>
{
    /// The exact path's format.
    type Binary: BinaryFormat;
    /// The smallest positive normal value.
    const MIN_NORMAL: Self;
    /// Magnitudes between `SAFE_LOW` and `SAFE_HIGH` leave the residual
    /// tests far from underflow and overflow.
    const SAFE_LOW: Self;
    /// See [`Host::SAFE_LOW`].
    const SAFE_HIGH: Self;
    /// The format's bits from a register: a single must be NaN-boxed, else it
    /// reads as the canonical NaN.
    fn unbox(register: u64) -> u64;
    /// The register value for the format's bits (NaN-boxed for a single).
    fn rebox(bits: u64) -> u64;
    /// The value of format bits.
    fn from_bits(bits: u64) -> Self;
    /// The format bits of a value.
    fn bits(self) -> u64;
    /// `|self|`.
    fn abs(self) -> Self;
    /// Neither infinite nor NaN.
    fn is_finite(self) -> bool;
    /// The correctly rounded square root.
    fn sqrt(self) -> Self;
    /// `self × a + b` with one rounding.
    fn mul_add(self, a: Self, b: Self) -> Self;
    /// Whether `x × y` equals `product` exactly (`product` normal, in the safe range).
    fn mul_exact(x: Self, y: Self, product: Self) -> bool;
    /// Whether `x ÷ y` equals `quotient` exactly (`x` in the safe range).
    fn div_exact(x: Self, y: Self, quotient: Self) -> bool;
    /// Whether `√x` equals `root` exactly (`x` in the safe range).
    fn sqrt_exact(x: Self, root: Self) -> bool;
    /// The value as a double, exactly.
    fn widen(self) -> f64;
    /// An `i64` rounded to this type, to nearest-even.
    fn from_i64(x: i64) -> Self;
    /// A `u64` rounded to this type, to nearest-even.
    fn from_u64(x: u64) -> Self;
}

impl Host for f64 {
    type Binary = F64;
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    const SAFE_LOW: f64 = 1.0e-270;
    const SAFE_HIGH: f64 = 1.0e300;

    #[inline(always)]
    fn unbox(register: u64) -> u64 {
        register
    }
    #[inline(always)]
    fn rebox(bits: u64) -> u64 {
        bits
    }
    #[inline(always)]
    fn from_bits(bits: u64) -> f64 {
        f64::from_bits(bits)
    }
    #[inline(always)]
    fn bits(self) -> u64 {
        self.to_bits()
    }
    #[inline(always)]
    fn abs(self) -> f64 {
        f64::abs(self)
    }
    #[inline(always)]
    fn is_finite(self) -> bool {
        f64::is_finite(self)
    }
    #[inline(always)]
    fn sqrt(self) -> f64 {
        f64::sqrt(self)
    }
    #[inline(always)]
    fn mul_add(self, a: f64, b: f64) -> f64 {
        f64::mul_add(self, a, b)
    }
    // The residual of a product, quotient or root of values in the safe range
    // is a multiple of about 2^-1000, so the FMA computing it cannot round a
    // nonzero residual to zero.
    #[inline(always)]
    fn mul_exact(x: f64, y: f64, product: f64) -> bool {
        x.mul_add(y, -product) == 0.0
    }
    #[inline(always)]
    fn div_exact(x: f64, y: f64, quotient: f64) -> bool {
        quotient.mul_add(y, -x) == 0.0
    }
    #[inline(always)]
    fn sqrt_exact(x: f64, root: f64) -> bool {
        root.mul_add(root, -x) == 0.0
    }
    #[inline(always)]
    fn widen(self) -> f64 {
        self
    }
    #[inline(always)]
    fn from_i64(x: i64) -> f64 {
        x as f64
    }
    #[inline(always)]
    fn from_u64(x: u64) -> f64 {
        x as f64
    }
}

impl Host for f32 {
    type Binary = F32;
    const MIN_NORMAL: f32 = f32::MIN_POSITIVE;
    const SAFE_LOW: f32 = 1.0e-30;
    const SAFE_HIGH: f32 = 1.0e30;

    #[inline(always)]
    fn unbox(register: u64) -> u64 {
        if register & BOX == BOX { register & 0xffff_ffff } else { F32::NAN }
    }
    #[inline(always)]
    fn rebox(bits: u64) -> u64 {
        bits | BOX
    }
    #[inline(always)]
    fn from_bits(bits: u64) -> f32 {
        f32::from_bits(bits as u32)
    }
    #[inline(always)]
    fn bits(self) -> u64 {
        u64::from(self.to_bits())
    }
    #[inline(always)]
    fn abs(self) -> f32 {
        f32::abs(self)
    }
    #[inline(always)]
    fn is_finite(self) -> bool {
        f32::is_finite(self)
    }
    #[inline(always)]
    fn sqrt(self) -> f32 {
        f32::sqrt(self)
    }
    #[inline(always)]
    fn mul_add(self, a: f32, b: f32) -> f32 {
        f32::mul_add(self, a, b)
    }
    // Products of two singles are exact in a double.
    #[inline(always)]
    fn mul_exact(x: f32, y: f32, product: f32) -> bool {
        f64::from(x) * f64::from(y) == f64::from(product)
    }
    #[inline(always)]
    fn div_exact(x: f32, y: f32, quotient: f32) -> bool {
        f64::from(quotient) * f64::from(y) == f64::from(x)
    }
    #[inline(always)]
    fn sqrt_exact(x: f32, root: f32) -> bool {
        f64::from(root) * f64::from(root) == f64::from(x)
    }
    #[inline(always)]
    fn widen(self) -> f64 {
        f64::from(self)
    }
    #[inline(always)]
    fn from_i64(x: i64) -> f32 {
        x as f32
    }
    #[inline(always)]
    fn from_u64(x: u64) -> f32 {
        x as f32
    }
}

/// Takes an exact-path result: accrues its flags, boxes its bits.
#[cold]
#[inline(never)]
fn exact<H: Host>((bits, raised): (u64, u8), fflags: &mut u8) -> u64 {
    *fflags |= raised;
    H::rebox(bits)
}

/// A fast-path result: normal and finite, so only NX can be raised.
#[inline(always)]
fn normal<H: Host>(r: H) -> bool {
    r.is_finite() && r.abs() > H::MIN_NORMAL
}

/// Inside the range where the residual tests are exact.
#[inline(always)]
fn safe<H: Host>(x: H) -> bool {
    let x = x.abs();
    x >= H::SAFE_LOW && x <= H::SAFE_HIGH
}

/// `a + b` (`fadd`); registers in, register out.
#[inline(always)]
pub(crate) fn add<H: Host>(a: u64, b: u64, rm: Rounding, fflags: &mut u8) -> u64 {
    let (a, b) = (H::unbox(a), H::unbox(b));
    if rm == Rounding::NearestEven {
        let (x, y) = (H::from_bits(a), H::from_bits(b));
        let r = x + y;
        // Sums are never tiny and inexact, and the sign of an exact zero sum
        // is the host's (+0 to nearest) too.
        if r.is_finite() {
            if *fflags & flags::NX != 0 {
                return H::rebox(r.bits());
            }
            // TwoSum gives the rounding error of x + y exactly unless an
            // intermediate overflows.
            if x.abs() <= H::SAFE_HIGH && y.abs() <= H::SAFE_HIGH {
                let yy = r - x;
                let error = (x - (r - yy)) + (y - yy);
                if error != H::from_bits(0) {
                    *fflags |= flags::NX;
                }
                return H::rebox(r.bits());
            }
        }
    }
    exact::<H>(soft::add::<H::Binary>(a, b, rm), fflags)
}

/// `a - b` (`fsub`).
#[inline(always)]
pub(crate) fn sub<H: Host>(a: u64, b: u64, rm: Rounding, fflags: &mut u8) -> u64 {
    let b = H::unbox(b) ^ <H::Binary as BinaryFormat>::SIGN;
    add::<H>(a, H::rebox(b), rm, fflags)
}

/// `a × b` (`fmul`).
#[inline(always)]
pub(crate) fn mul<H: Host>(a: u64, b: u64, rm: Rounding, fflags: &mut u8) -> u64 {
    let (a, b) = (H::unbox(a), H::unbox(b));
    if rm == Rounding::NearestEven {
        let (x, y) = (H::from_bits(a), H::from_bits(b));
        let r = x * y;
        if normal(r) {
            if *fflags & flags::NX == 0 && !(safe(r) && H::mul_exact(x, y, r)) {
                return exact::<H>(soft::mul::<H::Binary>(a, b, rm), fflags);
            }
            return H::rebox(r.bits());
        }
    }
    exact::<H>(soft::mul::<H::Binary>(a, b, rm), fflags)
}

/// `a ÷ b` (`fdiv`).
#[inline(always)]
pub(crate) fn div<H: Host>(a: u64, b: u64, rm: Rounding, fflags: &mut u8) -> u64 {
    let (a, b) = (H::unbox(a), H::unbox(b));
    if rm == Rounding::NearestEven {
        let (x, y) = (H::from_bits(a), H::from_bits(b));
        let r = x / y;
        if normal(r) {
            if *fflags & flags::NX == 0 && !(safe(x) && safe(r) && H::div_exact(x, y, r)) {
                return exact::<H>(soft::div::<H::Binary>(a, b, rm), fflags);
            }
            return H::rebox(r.bits());
        }
    }
    exact::<H>(soft::div::<H::Binary>(a, b, rm), fflags)
}

/// `√a` (`fsqrt`).
#[inline(always)]
pub(crate) fn sqrt<H: Host>(a: u64, rm: Rounding, fflags: &mut u8) -> u64 {
    let a = H::unbox(a);
    if rm == Rounding::NearestEven {
        let x = H::from_bits(a);
        // A positive normal operand has a normal root.
        if normal(x) && x > H::from_bits(0) {
            let r = x.sqrt();
            if *fflags & flags::NX == 0 && !(safe(x) && H::sqrt_exact(x, r)) {
                return exact::<H>(soft::sqrt::<H::Binary>(a, rm), fflags);
            }
            return H::rebox(r.bits());
        }
    }
    exact::<H>(soft::sqrt::<H::Binary>(a, rm), fflags)
}

/// The four fused multiply-adds: `(a × b) + c` with the product negated for
/// `fnmsub`/`fnmadd` and the addend for `fmsub`/`fnmadd`.
#[inline(always)]
pub(crate) fn fma<H: Host>(
    a: u64,
    b: u64,
    c: u64,
    negate_product: bool,
    negate_addend: bool,
    rm: Rounding,
    fflags: &mut u8,
) -> u64 {
    let (a, b, c) = (H::unbox(a), H::unbox(b), H::unbox(c));
    // With NX already set only overflow, underflow and invalid could change
    // the flags, and a normal result rules all three out.
    if rm == Rounding::NearestEven && *fflags & flags::NX != 0 {
        let sign = <H::Binary as BinaryFormat>::SIGN;
        let x = H::from_bits(if negate_product { a ^ sign } else { a });
        let z = H::from_bits(if negate_addend { c ^ sign } else { c });
        let r = x.mul_add(H::from_bits(b), z);
        if normal(r) {
            return H::rebox(r.bits());
        }
    }
    exact::<H>(soft::fma::<H::Binary>(a, b, c, negate_product, negate_addend, rm), fflags)
}

/// Converts to an integer register value (`fcvt.w.d` and the like).
#[inline(always)]
pub(crate) fn to_int<H: Host>(a: u64, to: Int, rm: Rounding, fflags: &mut u8) -> u64 {
    let a = H::unbox(a);
    let x = H::from_bits(a).widen();
    // Rounding to an integer is exact on the host, and below 2^62 in
    // magnitude the rounded value is an exact i64.
    if x.abs() < 4.611_686_018_427_388e18 {
        let rounded = match rm {
            Rounding::TowardZero => x as i64,
            Rounding::NearestEven => x.round_ties_even() as i64,
            Rounding::Down => x.floor() as i64,
            Rounding::Up => x.ceil() as i64,
            Rounding::NearestMax => x.round() as i64,
        };
        let (least, greatest) = to.range();
        let value = i128::from(rounded);
        if value >= least && value <= greatest {
            if rounded as f64 != x {
                *fflags |= flags::NX;
            }
            return to.register(value);
        }
    }
    let (value, raised) = soft::to_int::<H::Binary>(a, to, rm);
    *fflags |= raised;
    value
}

/// Converts an integer register value (`fcvt.d.w` and the like).
#[inline(always)]
pub(crate) fn from_int<H: Host>(value: u64, from: Int, rm: Rounding, fflags: &mut u8) -> u64 {
    let (r, exact_value) = match from {
        Int::W => (H::from_i64(i64::from(value as i32)), i128::from(value as i32)),
        Int::Wu => (H::from_i64(i64::from(value as u32)), i128::from(value as u32)),
        Int::L => (H::from_i64(value as i64), i128::from(value as i64)),
        Int::Lu => (H::from_u64(value), i128::from(value)),
    };
    // An exact conversion is the same in every mode; the host rounds to
    // nearest-even.
    let exact_result = r.widen() as i128 == exact_value;
    if exact_result || rm == Rounding::NearestEven {
        if !exact_result {
            *fflags |= flags::NX;
        }
        return H::rebox(r.bits());
    }
    exact::<H>(soft::from_int::<H::Binary>(value, from, rm), fflags)
}

/// `fcvt.s.d`.
#[inline(always)]
pub(crate) fn narrow(a: u64, rm: Rounding, fflags: &mut u8) -> u64 {
    let x = f64::from_bits(a);
    let r = x as f32;
    if normal(r) {
        let exact_result = f64::from(r) == x;
        if exact_result || rm == Rounding::NearestEven {
            if !exact_result {
                *fflags |= flags::NX;
            }
            return f32::rebox(f32::bits(r));
        }
    }
    exact::<f32>(soft::convert::<F64, F32>(a, rm), fflags)
}

/// `fcvt.d.s`: exact but for NaNs.
#[inline(always)]
pub(crate) fn widen(a: u64, rm: Rounding, fflags: &mut u8) -> u64 {
    let a = f32::unbox(a);
    let x = <f32 as Host>::from_bits(a);
    if !x.is_nan() {
        return f64::from(x).to_bits();
    }
    exact::<f64>(soft::convert::<F32, F64>(a, rm), fflags)
}

/// `feq` (`Compare::Eq`), `flt`, `fle`: 1 or 0.
#[inline(always)]
pub(crate) fn compare<H: Host>(a: u64, b: u64, compare: Compare, fflags: &mut u8) -> u64 {
    let (a, b) = (H::unbox(a), H::unbox(b));
    let (result, raised) = match compare {
        Compare::Eq => soft::eq::<H::Binary>(a, b),
        Compare::Lt => soft::less::<H::Binary>(a, b, false),
        Compare::Le => soft::less::<H::Binary>(a, b, true),
    };
    *fflags |= raised;
    u64::from(result)
}

/// Which comparison [`compare`] makes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Compare {
    /// `feq`.
    Eq,
    /// `flt`.
    Lt,
    /// `fle`.
    Le,
}

/// `fmin` (`max` false) and `fmax`.
#[inline(always)]
pub(crate) fn min_max<H: Host>(a: u64, b: u64, max: bool, fflags: &mut u8) -> u64 {
    let (result, raised) = soft::min_max::<H::Binary>(H::unbox(a), H::unbox(b), max);
    *fflags |= raised;
    H::rebox(result)
}

/// `fclass`.
#[inline(always)]
pub(crate) fn classify<H: Host>(a: u64) -> u64 {
    soft::classify::<H::Binary>(H::unbox(a))
}

/// Sign injection (`fsgnj`, `fsgnjn`, `fsgnjx`): `a`'s magnitude with a sign
/// made from `b`'s.
#[inline(always)]
pub(crate) fn inject_sign<H: Host>(a: u64, b: u64, kind: SignInjection) -> u64 {
    let sign = <H::Binary as BinaryFormat>::SIGN;
    let (a, b) = (H::unbox(a), H::unbox(b));
    let new_sign = match kind {
        SignInjection::Copy => b & sign,
        SignInjection::Negate => !b & sign,
        SignInjection::Xor => (a ^ b) & sign,
    };
    H::rebox(a & !sign | new_sign)
}

/// Which sign [`inject_sign`] gives.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum SignInjection {
    /// `fsgnj`: `b`'s sign.
    Copy,
    /// `fsgnjn`: the opposite of `b`'s sign.
    Negate,
    /// `fsgnjx`: the exclusive or of both signs.
    Xor,
}

/// A single's bits NaN-boxed into a register (`flw`, `fmv.w.x`).
#[inline(always)]
pub(crate) fn box_single(bits: u64) -> u64 {
    f32::rebox(bits & 0xffff_ffff)
}

#[cfg(test)]
mod tests;
