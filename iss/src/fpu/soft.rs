//! The exact path: IEEE 754 binary32 and binary64 arithmetic in integers,
//! with every rounding mode and exception flag as the RISC-V F and D
//! extensions define them.
//!
//! Every operation first works out its exact result as `sig × 2^exp` in a
//! `u128` (or a value whose low bit is "jammed" with every bit shifted out
//! below it, which rounds the same), then [`round`] turns that into the
//! target format once. RISC-V specifics: every NaN a computation produces is
//! the canonical NaN; tininess is detected after rounding; a conversion to an
//! integer that is out of range or NaN saturates and raises only NV.

use super::fcsr::{Rounding, flags};

/// A binary floating-point format, held in the low bits of a `u64`.
pub(crate) trait BinaryFormat {
    /// Exponent field width.
    const EXP: u32;
    /// Fraction field width (precision minus one).
    const FRAC: u32;
    /// The exponent bias.
    const BIAS: i32 = (1 << (Self::EXP - 1)) - 1;
    /// The smallest normal exponent.
    const EMIN: i32 = 1 - Self::BIAS;
    /// The sign bit.
    const SIGN: u64 = 1 << (Self::EXP + Self::FRAC);
    /// The fraction field.
    const FRAC_MASK: u64 = (1 << Self::FRAC) - 1;
    /// The all-ones exponent field: the bits of +infinity.
    const INF: u64 = ((1 << Self::EXP) - 1) << Self::FRAC;
    /// The quiet bit of a NaN.
    const QUIET: u64 = 1 << (Self::FRAC - 1);
    /// The canonical NaN RISC-V computations produce.
    const NAN: u64 = Self::INF | Self::QUIET;
    /// The largest finite magnitude.
    const MAX: u64 = Self::INF - 1;
}

/// binary32 (`.s`).
#[derive(Debug)]
pub(crate) enum F32 {}
/// binary64 (`.d`).
#[derive(Debug)]
pub(crate) enum F64 {}

impl BinaryFormat for F32 {
    const EXP: u32 = 8;
    const FRAC: u32 = 23;
}

impl BinaryFormat for F64 {
    const EXP: u32 = 11;
    const FRAC: u32 = 52;
}

/// A value taken apart.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Value {
    Zero,
    /// `sig × 2^exp`, `sig` nonzero.
    Finite {
        exp: i32,
        sig: u64,
    },
    Inf,
    Nan {
        signaling: bool,
    },
}

fn unpack<F: BinaryFormat>(bits: u64) -> (bool, Value) {
    let sign = bits & F::SIGN != 0;
    let field = (bits >> F::FRAC) as i32 & ((1 << F::EXP) - 1);
    let frac = bits & F::FRAC_MASK;
    let value = match field {
        0 if frac == 0 => Value::Zero,
        0 => Value::Finite { exp: F::EMIN - F::FRAC as i32, sig: frac },
        f if f == (1 << F::EXP) - 1 => {
            if frac == 0 {
                Value::Inf
            } else {
                Value::Nan { signaling: frac & F::QUIET == 0 }
            }
        }
        f => Value::Finite { exp: f - F::BIAS - F::FRAC as i32, sig: frac | 1 << F::FRAC },
    };
    (sign, value)
}

/// Whether `bits` is a signaling NaN of format `F`.
pub(crate) fn is_signaling<F: BinaryFormat>(bits: u64) -> bool {
    matches!(unpack::<F>(bits).1, Value::Nan { signaling: true })
}

/// Whether `bits` is a NaN of format `F`.
pub(crate) fn is_nan<F: BinaryFormat>(bits: u64) -> bool {
    bits & !F::SIGN > F::INF
}

fn signed<F: BinaryFormat>(sign: bool, magnitude: u64) -> u64 {
    if sign { magnitude | F::SIGN } else { magnitude }
}

/// The canonical NaN, with NV if the operation was invalid or an operand
/// signaling.
fn nan<F: BinaryFormat>(invalid: bool) -> (u64, u8) {
    (F::NAN, if invalid { flags::NV } else { 0 })
}

/// The sign of an exact zero sum of opposite-signed values: -0 when rounding
/// down, +0 otherwise.
fn zero_sum_sign(rm: Rounding) -> bool {
    rm == Rounding::Down
}

/// `sig >> shift` rounded to an integer as `rm` says for a value of sign
/// `sign`; and whether bits were lost.
fn shift_round(sig: u128, shift: i32, sign: bool, rm: Rounding) -> (u128, bool) {
    if shift <= 0 {
        return (sig << -shift, false);
    }
    let (kept, half, rest) = match shift {
        1..=127 => {
            let below = sig & ((1 << shift) - 1);
            let half = 1u128 << (shift - 1);
            (sig >> shift, below & half != 0, below & (half - 1) != 0)
        }
        128 => (0, sig >> 127 != 0, sig << 1 != 0),
        _ => (0, false, sig != 0),
    };
    let lost = half || rest;
    let up = match rm {
        Rounding::NearestEven => half && (rest || kept & 1 != 0),
        Rounding::NearestMax => half,
        Rounding::TowardZero => false,
        Rounding::Down => lost && sign,
        Rounding::Up => lost && !sign,
    };
    (kept + u128::from(up), lost)
}

/// Rounds `±sig × 2^exp` (`sig` nonzero, its low bit possibly jammed) to
/// format `F`: the result's bits and the flags raised (NX, UF after
/// rounding, OF).
fn round<F: BinaryFormat>(sign: bool, exp: i32, sig: u128, rm: Rounding) -> (u64, u8) {
    debug_assert!(sig != 0);
    let frac = F::FRAC as i32;
    let top = exp + 127 - sig.leading_zeros() as i32;
    let mut quantum = top.max(F::EMIN) - frac;
    let (mut kept, inexact) = shift_round(sig, quantum - exp, sign, rm);
    let mut raised = 0;
    if inexact {
        raised |= flags::NX;
        // Tiny after rounding: rounded to the format's precision with an
        // unbounded exponent, the magnitude is still below 2^EMIN.
        let tiny = top < F::EMIN - 1
            || top == F::EMIN - 1 && shift_round(sig, top - frac - exp, sign, rm).0 >> (frac + 1) == 0;
        if tiny {
            raised |= flags::UF;
        }
    }
    if kept >> (frac + 1) != 0 {
        kept >>= 1;
        quantum += 1;
    }
    let field = if kept >> frac != 0 { quantum + frac + F::BIAS } else { 0 };
    if field >= (1 << F::EXP) - 1 {
        let magnitude = match rm {
            Rounding::NearestEven | Rounding::NearestMax => F::INF,
            Rounding::TowardZero => F::MAX,
            Rounding::Down if sign => F::INF,
            Rounding::Up if !sign => F::INF,
            Rounding::Down | Rounding::Up => F::MAX,
        };
        return (signed::<F>(sign, magnitude), flags::OF | flags::NX);
    }
    let magnitude = (field as u64) << F::FRAC | (kept as u64 & F::FRAC_MASK);
    (signed::<F>(sign, magnitude), raised)
}

/// `sig >> shift`, with every bit shifted out ORed into the lowest bit.
fn shift_right_jam(sig: u128, shift: i32) -> u128 {
    match shift {
        ..=0 => sig,
        1..=127 => sig >> shift | u128::from(sig & ((1 << shift) - 1) != 0),
        _ => u128::from(sig != 0),
    }
}

/// Puts `sig` (nonzero) with its leading one at bit 125, leaving room for a
/// carry; returns the adjusted exponent.
fn align_high(exp: i32, sig: u128) -> (i32, u128) {
    let shift = sig.leading_zeros() as i32 - 2;
    (exp - shift, sig << shift)
}

/// The exact sum of two nonzero finite values, `None` if it is zero. The
/// smaller one may be jammed: once aligned at bit 125, only one that lies at
/// least two bits below the larger loses bits, and then the sum keeps its
/// leading one at bit 124 or above, far from the jammed bit.
fn exact_sum(a: (bool, i32, u128), b: (bool, i32, u128)) -> Option<(bool, i32, u128)> {
    let (a_exp, a_sig) = align_high(a.1, a.2);
    let (b_exp, b_sig) = align_high(b.1, b.2);
    let ((big_sign, exp, big), (small_sign, small)) = if a_exp >= b_exp {
        ((a.0, a_exp, a_sig), (b.0, shift_right_jam(b_sig, a_exp - b_exp)))
    } else {
        ((b.0, b_exp, b_sig), (a.0, shift_right_jam(a_sig, b_exp - a_exp)))
    };
    if big_sign == small_sign {
        return Some((big_sign, exp, big + small));
    }
    match big.cmp(&small) {
        std::cmp::Ordering::Greater => Some((big_sign, exp, big - small)),
        std::cmp::Ordering::Less => Some((small_sign, exp, small - big)),
        std::cmp::Ordering::Equal => None,
    }
}

/// `a + b`.
pub(crate) fn add<F: BinaryFormat>(a: u64, b: u64, rm: Rounding) -> (u64, u8) {
    let ((a_sign, a_val), (b_sign, b_val)) = (unpack::<F>(a), unpack::<F>(b));
    match (a_val, b_val) {
        (Value::Nan { signaling: x }, Value::Nan { signaling: y }) => nan::<F>(x || y),
        (Value::Nan { signaling }, _) | (_, Value::Nan { signaling }) => nan::<F>(signaling),
        (Value::Inf, Value::Inf) if a_sign != b_sign => nan::<F>(true),
        (Value::Inf, _) => (a, 0),
        (_, Value::Inf) => (b, 0),
        (Value::Zero, Value::Zero) => {
            let sign = if a_sign == b_sign { a_sign } else { zero_sum_sign(rm) };
            (signed::<F>(sign, 0), 0)
        }
        (Value::Zero, _) => (b, 0),
        (_, Value::Zero) => (a, 0),
        (Value::Finite { exp: ea, sig: ma }, Value::Finite { exp: eb, sig: mb }) => {
            match exact_sum((a_sign, ea, u128::from(ma)), (b_sign, eb, u128::from(mb))) {
                Some((sign, exp, sig)) => round::<F>(sign, exp, sig, rm),
                None => (signed::<F>(zero_sum_sign(rm), 0), 0),
            }
        }
    }
}

/// `a - b` (the host path subtracts by adding the negation itself).
#[cfg(test)]
pub(crate) fn sub<F: BinaryFormat>(a: u64, b: u64, rm: Rounding) -> (u64, u8) {
    add::<F>(a, b ^ F::SIGN, rm)
}

/// `a × b`.
pub(crate) fn mul<F: BinaryFormat>(a: u64, b: u64, rm: Rounding) -> (u64, u8) {
    let ((a_sign, a_val), (b_sign, b_val)) = (unpack::<F>(a), unpack::<F>(b));
    let sign = a_sign != b_sign;
    match (a_val, b_val) {
        (Value::Nan { signaling: x }, Value::Nan { signaling: y }) => nan::<F>(x || y),
        (Value::Nan { signaling }, _) | (_, Value::Nan { signaling }) => nan::<F>(signaling),
        (Value::Inf, Value::Zero) | (Value::Zero, Value::Inf) => nan::<F>(true),
        (Value::Inf, _) | (_, Value::Inf) => (signed::<F>(sign, F::INF), 0),
        (Value::Zero, _) | (_, Value::Zero) => (signed::<F>(sign, 0), 0),
        (Value::Finite { exp: ea, sig: ma }, Value::Finite { exp: eb, sig: mb }) => {
            round::<F>(sign, ea + eb, u128::from(ma) * u128::from(mb), rm)
        }
    }
}

/// `a ÷ b`.
pub(crate) fn div<F: BinaryFormat>(a: u64, b: u64, rm: Rounding) -> (u64, u8) {
    let ((a_sign, a_val), (b_sign, b_val)) = (unpack::<F>(a), unpack::<F>(b));
    let sign = a_sign != b_sign;
    match (a_val, b_val) {
        (Value::Nan { signaling: x }, Value::Nan { signaling: y }) => nan::<F>(x || y),
        (Value::Nan { signaling }, _) | (_, Value::Nan { signaling }) => nan::<F>(signaling),
        (Value::Inf, Value::Inf) | (Value::Zero, Value::Zero) => nan::<F>(true),
        (Value::Inf, _) => (signed::<F>(sign, F::INF), 0),
        // A finite nonzero dividend.
        (_, Value::Zero) => (signed::<F>(sign, F::INF), flags::DZ),
        (Value::Zero, _) | (_, Value::Inf) => (signed::<F>(sign, 0), 0),
        (Value::Finite { exp: ea, sig: ma }, Value::Finite { exp: eb, sig: mb }) => {
            // Both significands with their leading one at bit 63: the
            // quotient of `a << 64` by `b` has 64 or 65 bits.
            let (sa, sb) = (ma.leading_zeros() as i32, mb.leading_zeros() as i32);
            let dividend = u128::from(ma << sa) << 64;
            let divisor = u128::from(mb << sb);
            let quotient = dividend / divisor;
            let sig = quotient | u128::from(dividend % divisor != 0);
            round::<F>(sign, (ea - sa) - (eb - sb) - 64, sig, rm)
        }
    }
}

/// `√a`.
pub(crate) fn sqrt<F: BinaryFormat>(a: u64, rm: Rounding) -> (u64, u8) {
    match unpack::<F>(a) {
        (_, Value::Nan { signaling }) => nan::<F>(signaling),
        (_, Value::Zero) => (a, 0),
        (true, _) => nan::<F>(true),
        (false, Value::Inf) => (a, 0),
        (false, Value::Finite { exp, sig }) => {
            // Scale to about 2^124 with an even exponent: the root has 62 or
            // 63 bits, and a nonzero remainder is jammed.
            let mut shift = sig.leading_zeros() as i32 + 60;
            if (exp - shift) % 2 != 0 {
                shift += 1;
            }
            let scaled = u128::from(sig) << shift;
            let root = scaled.isqrt();
            let sig = root | u128::from(root * root != scaled);
            round::<F>(false, (exp - shift) / 2, sig, rm)
        }
    }
}

/// `±(a × b) ± c` with one rounding: `negate_product` flips the product's
/// sign, `negate_addend` the addend's (fmsub, fnmsub, fnmadd).
pub(crate) fn fma<F: BinaryFormat>(
    a: u64,
    b: u64,
    c: u64,
    negate_product: bool,
    negate_addend: bool,
    rm: Rounding,
) -> (u64, u8) {
    let ((a_sign, a_val), (b_sign, b_val)) = (unpack::<F>(a), unpack::<F>(b));
    let (c_sign, c_val) = unpack::<F>(c);
    let c_sign = c_sign != negate_addend;
    let p_sign = (a_sign != b_sign) != negate_product;
    let any_nan = [a_val, b_val, c_val].iter().any(|v| matches!(v, Value::Nan { .. }));
    let signaling = [a_val, b_val, c_val].contains(&Value::Nan { signaling: true });
    // ∞ × 0 is invalid even when the addend is a quiet NaN (F extension).
    let inf_times_zero = matches!((a_val, b_val), (Value::Inf, Value::Zero) | (Value::Zero, Value::Inf));
    if any_nan || inf_times_zero {
        return nan::<F>(signaling || inf_times_zero);
    }
    let product = match (a_val, b_val) {
        (Value::Inf, _) | (_, Value::Inf) => Value::Inf,
        (Value::Zero, _) | (_, Value::Zero) => Value::Zero,
        (Value::Finite { exp: ea, sig: ma }, Value::Finite { exp: eb, sig: mb }) => {
            return fma_finite::<F>((p_sign, ea + eb, u128::from(ma) * u128::from(mb)), (c_sign, c_val), rm);
        }
        _ => unreachable!("NaNs were handled above"),
    };
    match (product, c_val) {
        (Value::Inf, Value::Inf) if p_sign != c_sign => nan::<F>(true),
        (Value::Inf, _) => (signed::<F>(p_sign, F::INF), 0),
        (_, Value::Inf) => (signed::<F>(c_sign, F::INF), 0),
        (_, Value::Zero) => {
            let sign = if p_sign == c_sign { p_sign } else { zero_sum_sign(rm) };
            (signed::<F>(sign, 0), 0)
        }
        // A zero product plus a nonzero addend is the addend, exactly.
        _ => (signed::<F>(c_sign, c & !F::SIGN), 0),
    }
}

/// A nonzero finite product plus an addend that is not a NaN.
fn fma_finite<F: BinaryFormat>(product: (bool, i32, u128), addend: (bool, Value), rm: Rounding) -> (u64, u8) {
    match addend {
        (_, Value::Finite { exp, sig }) => match exact_sum(product, (addend.0, exp, u128::from(sig))) {
            Some((sign, exp, sig)) => round::<F>(sign, exp, sig, rm),
            None => (signed::<F>(zero_sum_sign(rm), 0), 0),
        },
        (sign, Value::Inf) => (signed::<F>(sign, F::INF), 0),
        _ => round::<F>(product.0, product.1, product.2, rm),
    }
}

/// Converts between formats (`fcvt.s.d`, `fcvt.d.s`).
pub(crate) fn convert<From: BinaryFormat, To: BinaryFormat>(a: u64, rm: Rounding) -> (u64, u8) {
    match unpack::<From>(a) {
        (_, Value::Nan { signaling }) => nan::<To>(signaling),
        (sign, Value::Inf) => (signed::<To>(sign, To::INF), 0),
        (sign, Value::Zero) => (signed::<To>(sign, 0), 0),
        (sign, Value::Finite { exp, sig }) => round::<To>(sign, exp, u128::from(sig), rm),
    }
}

/// An integer conversion's destination.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Int {
    /// `int32_t` (`.w`).
    W,
    /// `uint32_t` (`.wu`).
    Wu,
    /// `int64_t` (`.l`).
    L,
    /// `uint64_t` (`.lu`).
    Lu,
}

impl Int {
    /// The least and greatest values, as `i128`.
    pub(crate) fn range(self) -> (i128, i128) {
        match self {
            Int::W => (i32::MIN.into(), i32::MAX.into()),
            Int::Wu => (0, u32::MAX.into()),
            Int::L => (i64::MIN.into(), i64::MAX.into()),
            Int::Lu => (0, u64::MAX.into()),
        }
    }

    /// `value` as the destination register holds it: 32-bit results are
    /// sign-extended, unsigned ones too.
    pub(crate) fn register(self, value: i128) -> u64 {
        match self {
            Int::W | Int::Wu => value as i32 as u64,
            Int::L | Int::Lu => value as u64,
        }
    }
}

/// Converts to an integer (`fcvt.w.s` and the like): out of range values
/// and infinities saturate, NaN gives the greatest value, both with NV only.
pub(crate) fn to_int<F: BinaryFormat>(a: u64, to: Int, rm: Rounding) -> (u64, u8) {
    let (least, greatest) = to.range();
    let (sign, value) = unpack::<F>(a);
    let saturated = |negative: bool| (to.register(if negative { least } else { greatest }), flags::NV);
    match value {
        Value::Nan { .. } => saturated(false),
        Value::Inf => saturated(sign),
        Value::Zero => (0, 0),
        Value::Finite { exp, sig } => {
            // From 2^65 up nothing fits; below that the shift stays in range.
            if exp > 64 {
                return saturated(sign);
            }
            let (magnitude, inexact) = shift_round(u128::from(sig), -exp, sign, rm);
            let value = if sign { -(magnitude as i128) } else { magnitude as i128 };
            if value < least || value > greatest {
                return saturated(sign);
            }
            (to.register(value), if inexact { flags::NX } else { 0 })
        }
    }
}

/// Converts an integer to format `F` (`fcvt.s.w` and the like); `value` is
/// the source register, read as `from` says.
pub(crate) fn from_int<F: BinaryFormat>(value: u64, from: Int, rm: Rounding) -> (u64, u8) {
    let (sign, magnitude) = match from {
        Int::W => ((value as i32) < 0, u64::from((value as i32).unsigned_abs())),
        Int::Wu => (false, u64::from(value as u32)),
        Int::L => ((value as i64) < 0, (value as i64).unsigned_abs()),
        Int::Lu => (false, value),
    };
    if magnitude == 0 {
        return (0, 0);
    }
    round::<F>(sign, 0, u128::from(magnitude), rm)
}

/// The order of two non-NaN values as integers: -0 and +0 compare equal.
fn order_key<F: BinaryFormat>(bits: u64) -> i64 {
    let magnitude = (bits & !F::SIGN) as i64;
    if bits & F::SIGN != 0 { -magnitude } else { magnitude }
}

/// `feq`: quiet, NV only for a signaling NaN.
pub(crate) fn eq<F: BinaryFormat>(a: u64, b: u64) -> (bool, u8) {
    if is_nan::<F>(a) || is_nan::<F>(b) {
        let invalid = is_signaling::<F>(a) || is_signaling::<F>(b);
        return (false, if invalid { flags::NV } else { 0 });
    }
    (order_key::<F>(a) == order_key::<F>(b), 0)
}

/// `flt` (`or_equal` false) and `fle`: signaling, NV for any NaN.
pub(crate) fn less<F: BinaryFormat>(a: u64, b: u64, or_equal: bool) -> (bool, u8) {
    if is_nan::<F>(a) || is_nan::<F>(b) {
        return (false, flags::NV);
    }
    let (a, b) = (order_key::<F>(a), order_key::<F>(b));
    (if or_equal { a <= b } else { a < b }, 0)
}

/// `fmin` (`max` false) and `fmax`, as IEEE 754-2019 minimumNumber and
/// maximumNumber: a NaN operand yields the other, two NaNs the canonical
/// NaN, -0 is less than +0, and a signaling NaN raises NV.
pub(crate) fn min_max<F: BinaryFormat>(a: u64, b: u64, max: bool) -> (u64, u8) {
    let raised = if is_signaling::<F>(a) || is_signaling::<F>(b) { flags::NV } else { 0 };
    let result = match (is_nan::<F>(a), is_nan::<F>(b)) {
        (true, true) => F::NAN,
        (true, false) => b,
        (false, true) => a,
        (false, false) => {
            let (ka, kb) = (order_key::<F>(a), order_key::<F>(b));
            if ka == kb {
                // Equal values differ at most in the sign of zero.
                if max { a & b } else { a | b }
            } else if (ka < kb) != max {
                a
            } else {
                b
            }
        }
    };
    (result, raised)
}

/// `fclass`: one of ten bits.
pub(crate) fn classify<F: BinaryFormat>(a: u64) -> u64 {
    let (sign, value) = unpack::<F>(a);
    let bit = match (value, sign) {
        (Value::Inf, true) => 0,
        (Value::Finite { sig, .. }, true) if sig >> F::FRAC != 0 => 1,
        (Value::Finite { .. }, true) => 2,
        (Value::Zero, true) => 3,
        (Value::Zero, false) => 4,
        (Value::Finite { sig, .. }, false) if sig >> F::FRAC == 0 => 5,
        (Value::Finite { .. }, false) => 6,
        (Value::Inf, false) => 7,
        (Value::Nan { signaling: true }, _) => 8,
        (Value::Nan { signaling: false }, _) => 9,
    };
    1 << bit
}
