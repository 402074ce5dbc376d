use super::soft::{self, BinaryFormat, F32, F64, Int};
use super::{Compare, Host, Rounding, flags};

/// xorshift64*: deterministic operands.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Operands that reach every case: specials, the edges of the normal
    /// and subnormal ranges, small integers, and random bits.
    fn operand<F: BinaryFormat>(&mut self) -> u64 {
        let r = self.next();
        let sign = if r & 1 != 0 { F::SIGN } else { 0 };
        let frac = self.next() & F::FRAC_MASK;
        let max_field = (1u64 << F::EXP) - 1;
        let magnitude = match r >> 1 & 15 {
            0 => 0,
            1 => F::INF,
            2 => F::INF | (1 + frac % (F::QUIET - 1)),     // signaling NaN
            3 => F::NAN | frac,                            // quiet NaN, any payload
            4 => frac,                                     // subnormal
            5 => 1 << F::FRAC | frac,                      // smallest binade
            6 => (max_field - 1) << F::FRAC | frac,        // largest binade
            7 => (self.next() % 64 + 1) << F::FRAC | frac, // near the bottom
            8 => (max_field - 2 - self.next() % 64) << F::FRAC | frac, // near the top
            // Small integers and simple fractions: exact results.
            9 | 10 => {
                let value = (self.next() % 4096) as f64 / [1.0, 2.0, 4.0, 0.5][(r >> 8 & 3) as usize];
                if F::EXP == 8 { u64::from((value as f32).to_bits()) } else { value.to_bits() }
            }
            _ => self.next() & (F::SIGN - 1),
        };
        sign | magnitude
    }
}

const ITERATIONS: usize = 200_000;

fn check_fast_matches_exact<H: Host>(seed: u64) {
    let mut rng = Rng(seed);
    for _ in 0..ITERATIONS {
        let (a, b, c) = (rng.operand::<H::Binary>(), rng.operand::<H::Binary>(), rng.operand::<H::Binary>());
        let (ra, rb, rc) = (H::rebox(a), H::rebox(b), H::rebox(c));
        let rm = Rounding::ALL[(rng.next() % 5) as usize];
        let preset = [0, flags::NX, flags::NV | flags::NX][(rng.next() % 3) as usize];
        let cases: [(&str, u64, (u64, u8)); 8] = [
            ("add", super::add::<H>(ra, rb, rm, &mut { preset }), soft::add::<H::Binary>(a, b, rm)),
            ("sub", super::sub::<H>(ra, rb, rm, &mut { preset }), soft::sub::<H::Binary>(a, b, rm)),
            ("mul", super::mul::<H>(ra, rb, rm, &mut { preset }), soft::mul::<H::Binary>(a, b, rm)),
            ("div", super::div::<H>(ra, rb, rm, &mut { preset }), soft::div::<H::Binary>(a, b, rm)),
            ("sqrt", super::sqrt::<H>(ra, rm, &mut { preset }), soft::sqrt::<H::Binary>(a, rm)),
            (
                "fma",
                super::fma::<H>(ra, rb, rc, false, false, rm, &mut { preset }),
                soft::fma::<H::Binary>(a, b, c, false, false, rm),
            ),
            (
                "fnmsub",
                super::fma::<H>(ra, rb, rc, true, false, rm, &mut { preset }),
                soft::fma::<H::Binary>(a, b, c, true, false, rm),
            ),
            (
                "fnmadd",
                super::fma::<H>(ra, rb, rc, true, true, rm, &mut { preset }),
                soft::fma::<H::Binary>(a, b, c, true, true, rm),
            ),
        ];
        // Run each again to get the flags (the values above discard them).
        for (name, value, (bits, raised)) in cases {
            assert_eq!(value, H::rebox(bits), "{name}({a:#x}, {b:#x}, {c:#x}) {rm:?}");
            let mut fflags = preset;
            let _ = match name {
                "add" => super::add::<H>(ra, rb, rm, &mut fflags),
                "sub" => super::sub::<H>(ra, rb, rm, &mut fflags),
                "mul" => super::mul::<H>(ra, rb, rm, &mut fflags),
                "div" => super::div::<H>(ra, rb, rm, &mut fflags),
                "sqrt" => super::sqrt::<H>(ra, rm, &mut fflags),
                "fma" => super::fma::<H>(ra, rb, rc, false, false, rm, &mut fflags),
                "fnmsub" => super::fma::<H>(ra, rb, rc, true, false, rm, &mut fflags),
                _ => super::fma::<H>(ra, rb, rc, true, true, rm, &mut fflags),
            };
            assert_eq!(fflags, preset | raised, "{name}({a:#x}, {b:#x}, {c:#x}) {rm:?} flags");
        }
        for to in [Int::W, Int::Wu, Int::L, Int::Lu] {
            let mut fflags = preset;
            let value = super::to_int::<H>(ra, to, rm, &mut fflags);
            let (bits, raised) = soft::to_int::<H::Binary>(a, to, rm);
            assert_eq!((value, fflags), (bits, preset | raised), "to_int({a:#x}, {to:?}) {rm:?}");
            let integer = rng.next() >> (rng.next() % 64);
            let integer = if rng.next() & 1 != 0 { integer.wrapping_neg() } else { integer };
            let mut fflags = preset;
            let value = super::from_int::<H>(integer, to, rm, &mut fflags);
            let (bits, raised) = soft::from_int::<H::Binary>(integer, to, rm);
            assert_eq!((value, fflags), (H::rebox(bits), preset | raised), "from_int({integer:#x}, {to:?}) {rm:?}");
        }
    }
}

#[test]
fn fast_path_matches_exact_path_double() {
    check_fast_matches_exact::<f64>(0x1234_5678_9abc_def1);
}

#[test]
fn fast_path_matches_exact_path_single() {
    check_fast_matches_exact::<f32>(0x0fed_cba9_8765_4321);
}

#[test]
fn conversions_between_formats_match_exact_path() {
    let mut rng = Rng(77);
    for _ in 0..ITERATIONS {
        let rm = Rounding::ALL[(rng.next() % 5) as usize];
        let preset = [0, flags::NX][(rng.next() % 2) as usize];
        let d = rng.operand::<F64>();
        let mut fflags = preset;
        let narrowed = super::narrow(d, rm, &mut fflags);
        let (bits, raised) = soft::convert::<F64, F32>(d, rm);
        assert_eq!((narrowed, fflags), (f32::rebox(bits), preset | raised), "narrow({d:#x}) {rm:?}");
        let s = rng.operand::<F32>();
        let mut fflags = preset;
        let widened = super::widen(f32::rebox(s), rm, &mut fflags);
        let (bits, raised) = soft::convert::<F32, F64>(s, rm);
        assert_eq!((widened, fflags), (bits, preset | raised), "widen({s:#x})");
    }
}

/// The exact results in every mode, derived from the host's nearest-even
/// result `r` and the sign of `exact - r` (`Less`: the exact value is below
/// `r`), and whether the exact value is a tie (halfway to a neighbour).
fn expected_in_mode(r: f32, below: std::cmp::Ordering, tie: bool, rm: Rounding) -> f32 {
    use std::cmp::Ordering::*;
    let up = |x: f32| x.next_up();
    let down = |x: f32| x.next_down();
    match (rm, below) {
        (_, Equal) | (Rounding::NearestEven, _) => r,
        (Rounding::NearestMax, _) if !tie => r,
        // A tie went to the even neighbour; max magnitude may be the other.
        (Rounding::NearestMax, Less) => {
            if r > 0.0 {
                r
            } else {
                down(r)
            }
        }
        (Rounding::NearestMax, Greater) => {
            if r < 0.0 {
                r
            } else {
                up(r)
            }
        }
        (Rounding::Down, Less) => down(r),
        (Rounding::Down, Greater) => r,
        (Rounding::Up, Less) => r,
        (Rounding::Up, Greater) => up(r),
        (Rounding::TowardZero, Less) => {
            if r > 0.0 {
                down(r)
            } else {
                r
            }
        }
        (Rounding::TowardZero, Greater) => {
            if r < 0.0 {
                up(r)
            } else {
                r
            }
        }
    }
}

/// Singles against an independent oracle: products and quotients of singles
/// are compared exactly in doubles, so the direction the host rounded is
/// known and every mode's result follows.
#[test]
fn single_precision_directed_rounding_against_double_oracle() {
    let mut rng = Rng(99);
    let mut checked = 0;
    while checked < ITERATIONS {
        let (a, b) = (rng.operand::<F32>(), rng.operand::<F32>());
        let (x, y) = (f32::from_bits(a as u32), f32::from_bits(b as u32));
        for op in 0..3 {
            let r = match op {
                0 => x * y,
                1 => x / y,
                _ => x + y,
            };
            // Results in the normal range only: the oracle knows no underflow.
            if !r.is_finite() || r.abs() <= f32::MIN_POSITIVE || r.abs() >= f32::MAX / 2.0 {
                continue;
            }
            let (exact_minus_r, tie) = match op {
                0 => {
                    let exact = f64::from(x) * f64::from(y);
                    let diff = exact - f64::from(r);
                    (diff, diff.abs() == (f64::from(r.next_up()) - f64::from(r)).abs() / 2.0 && diff != 0.0)
                }
                // x/y - r has the sign of (x - r*y)*sign(y), and r*y is exact in a double.
                1 => ((f64::from(x) - f64::from(r) * f64::from(y)) * f64::from(y).signum(), false),
                _ => {
                    // Sums of singles are exact in a double when the exponents are close.
                    if (x.abs().log2() - y.abs().log2()).abs() > 20.0 {
                        continue;
                    }
                    let exact = f64::from(x) + f64::from(y);
                    let diff = exact - f64::from(r);
                    let ulp = if diff > 0.0 {
                        f64::from(r.next_up()) - f64::from(r)
                    } else {
                        f64::from(r) - f64::from(r.next_down())
                    };
                    (diff, diff.abs() * 2.0 == ulp && diff != 0.0)
                }
            };
            let below = exact_minus_r.partial_cmp(&0.0).unwrap();
            for rm in Rounding::ALL {
                let (bits, raised) = match op {
                    0 => soft::mul::<F32>(a, b, rm),
                    1 => soft::div::<F32>(a, b, rm),
                    _ => soft::add::<F32>(a, b, rm),
                };
                let expected = expected_in_mode(r, below, tie, rm);
                assert_eq!(bits as u32, expected.to_bits(), "op {op} {x:e} {y:e} {rm:?}");
                let inexact = below != std::cmp::Ordering::Equal;
                assert_eq!(raised, if inexact { flags::NX } else { 0 }, "op {op} {x:e} {y:e} {rm:?} flags");
            }
            checked += 1;
        }
    }
}

/// Nearest-even results of the exact path against the host FPU, every class.
#[test]
fn nearest_even_matches_host_values() {
    let mut rng = Rng(5);
    for _ in 0..ITERATIONS {
        let (a, b) = (rng.operand::<F64>(), rng.operand::<F64>());
        let (x, y) = (f64::from_bits(a), f64::from_bits(b));
        let host = [x + y, x * y, x / y, x.sqrt()];
        let soft = [
            soft::add::<F64>(a, b, Rounding::NearestEven).0,
            soft::mul::<F64>(a, b, Rounding::NearestEven).0,
            soft::div::<F64>(a, b, Rounding::NearestEven).0,
            soft::sqrt::<F64>(a, Rounding::NearestEven).0,
        ];
        for (h, s) in host.iter().zip(soft) {
            if h.is_nan() {
                assert_eq!(s, F64::NAN);
            } else {
                assert_eq!(s, h.to_bits(), "{x:e} {y:e}");
            }
        }
        let c = f64::from_bits(rng.operand::<F64>());
        let fused = soft::fma::<F64>(a, b, c.to_bits(), false, false, Rounding::NearestEven).0;
        let host = x.mul_add(y, c);
        assert_eq!(fused, if host.is_nan() { F64::NAN } else { host.to_bits() }, "fma {x:e} {y:e} {c:e}");
    }
}

#[test]
fn special_values_and_flags() {
    let d = |x: f64| x.to_bits();
    let rne = Rounding::NearestEven;
    // Invalid operations give the canonical NaN.
    assert_eq!(soft::add::<F64>(d(f64::INFINITY), d(f64::NEG_INFINITY), rne), (F64::NAN, flags::NV));
    assert_eq!(soft::mul::<F64>(d(0.0), d(f64::INFINITY), rne), (F64::NAN, flags::NV));
    assert_eq!(soft::div::<F64>(d(0.0), d(-0.0), rne), (F64::NAN, flags::NV));
    assert_eq!(soft::sqrt::<F64>(d(-1.0), rne), (F64::NAN, flags::NV));
    assert_eq!(soft::sqrt::<F64>(d(-0.0), rne), (d(-0.0), 0));
    // A quiet NaN operand propagates quietly, as the canonical NaN.
    assert_eq!(soft::add::<F64>(0x7ff8_dead_0000_0001, d(1.0), rne), (F64::NAN, 0));
    assert_eq!(soft::add::<F64>(0x7ff0_0000_0000_0001, d(1.0), rne), (F64::NAN, flags::NV));
    // ∞ × 0 + qNaN is invalid.
    assert_eq!(soft::fma::<F64>(d(f64::INFINITY), d(0.0), F64::NAN, false, false, rne), (F64::NAN, flags::NV));
    // Division by zero.
    assert_eq!(soft::div::<F64>(d(-3.0), d(0.0), rne), (d(f64::NEG_INFINITY), flags::DZ));
    // Overflow in each mode.
    let max = d(f64::MAX);
    let two = d(2.0);
    assert_eq!(soft::mul::<F64>(max, two, rne), (d(f64::INFINITY), flags::OF | flags::NX));
    assert_eq!(soft::mul::<F64>(max, two, Rounding::TowardZero), (max, flags::OF | flags::NX));
    assert_eq!(soft::mul::<F64>(max, two, Rounding::Down), (max, flags::OF | flags::NX));
    assert_eq!(soft::mul::<F64>(max | F64::SIGN, two, Rounding::Down), (d(f64::NEG_INFINITY), flags::OF | flags::NX));
    assert_eq!(soft::mul::<F64>(max | F64::SIGN, two, Rounding::Up), (max | F64::SIGN, flags::OF | flags::NX));
    // Signed zeros of exact zero sums.
    assert_eq!(soft::add::<F64>(d(1.5), d(-1.5), rne), (d(0.0), 0));
    assert_eq!(soft::add::<F64>(d(1.5), d(-1.5), Rounding::Down), (d(-0.0), 0));
    assert_eq!(soft::add::<F64>(d(-0.0), d(-0.0), rne), (d(-0.0), 0));
    assert_eq!(soft::add::<F64>(d(0.0), d(-0.0), Rounding::Down), (d(-0.0), 0));
}

#[test]
fn underflow_is_detected_after_rounding() {
    let rne = Rounding::NearestEven;
    // (1 + 2^-52) × (MIN_NORMAL - 2^-1074) = MIN_NORMAL × (1 - 2^-104): tiny
    // before rounding, but it rounds to MIN_NORMAL with an unbounded
    // exponent too, so it is not tiny after rounding: NX without UF.
    let largest_subnormal = f64::MIN_POSITIVE.next_down();
    let (bits, raised) = soft::mul::<F64>((1.0f64).next_up().to_bits(), largest_subnormal.to_bits(), rne);
    assert_eq!((bits, raised), (f64::MIN_POSITIVE.to_bits(), flags::NX));
    // MIN_NORMAL × (1 - 2^-53) needs one bit more than a subnormal has and
    // rounds up to MIN_NORMAL, but with an unbounded exponent it is exact
    // and below MIN_NORMAL: tiny and inexact, so UF.
    let below_one = (1.0f64).next_down();
    let (bits, raised) = soft::mul::<F64>(f64::MIN_POSITIVE.to_bits(), below_one.to_bits(), rne);
    assert_eq!((bits, raised), (f64::MIN_POSITIVE.to_bits(), flags::NX | flags::UF));
    // Exact subnormal results raise nothing.
    let (bits, raised) = soft::mul::<F64>(f64::MIN_POSITIVE.to_bits(), (0.5f64).to_bits(), rne);
    assert_eq!((bits, raised), ((f64::MIN_POSITIVE / 2.0).to_bits(), 0));
    // Rounding to zero underflows.
    let tiny = f64::from_bits(1);
    assert_eq!(soft::mul::<F64>(tiny.to_bits(), (0.25f64).to_bits(), rne), (0, flags::NX | flags::UF));
    assert_eq!(soft::mul::<F64>(tiny.to_bits(), (0.25f64).to_bits(), Rounding::Up), (1, flags::NX | flags::UF));
}

#[test]
fn integer_conversions_saturate() {
    let d = |x: f64| x.to_bits();
    let rtz = Rounding::TowardZero;
    assert_eq!(soft::to_int::<F64>(F64::NAN, Int::W, rtz), (0x7fff_ffff, flags::NV));
    assert_eq!(soft::to_int::<F64>(F64::NAN, Int::Wu, rtz), (u64::MAX, flags::NV));
    assert_eq!(soft::to_int::<F64>(d(f64::NEG_INFINITY), Int::L, rtz), (i64::MIN as u64, flags::NV));
    assert_eq!(soft::to_int::<F64>(d(f64::NEG_INFINITY), Int::Lu, rtz), (0, flags::NV));
    assert_eq!(soft::to_int::<F64>(d(-0.5), Int::Wu, rtz), (0, flags::NX));
    assert_eq!(soft::to_int::<F64>(d(-1.0), Int::Wu, rtz), (0, flags::NV));
    assert_eq!(soft::to_int::<F64>(d(4e9), Int::Wu, rtz), (4_000_000_000u32 as i32 as u64, 0));
    assert_eq!(soft::to_int::<F64>(d(3e9), Int::W, rtz), (0x7fff_ffff, flags::NV));
    assert_eq!(soft::to_int::<F64>(d(2.5), Int::L, Rounding::NearestEven), (2, flags::NX));
    assert_eq!(soft::to_int::<F64>(d(2.5), Int::L, Rounding::NearestMax), (3, flags::NX));
    assert_eq!(soft::to_int::<F64>(d(-2.5), Int::L, Rounding::Down), (-3i64 as u64, flags::NX));
    assert_eq!(soft::to_int::<F64>(d(1e300), Int::Lu, rtz), (u64::MAX, flags::NV));
    assert_eq!(soft::to_int::<F64>(d(-(2.0f64.powi(63))), Int::L, rtz), (i64::MIN as u64, 0));
    // 2^64 - 1 rounds to 2^64 in a double: out of range.
    assert_eq!(soft::from_int::<F64>(u64::MAX, Int::Lu, Rounding::NearestEven), (d(1.8446744073709552e19), flags::NX));
    assert_eq!(
        soft::from_int::<F64>(u64::MAX, Int::Lu, Rounding::TowardZero),
        ((2.0f64.powi(64)).next_down().to_bits(), flags::NX)
    );
    assert_eq!(
        soft::from_int::<F32>(u64::from(u32::MAX), Int::W, Rounding::NearestEven),
        (u64::from((-1.0f32).to_bits()), 0)
    );
}

#[test]
fn compare_min_max_classify() {
    let s = |x: f32| u64::from(x.to_bits()) | 0xffff_ffff_0000_0000;
    let mut fflags = 0;
    assert_eq!(super::compare::<f32>(s(-0.0), s(0.0), Compare::Eq, &mut fflags), 1);
    assert_eq!(super::compare::<f32>(s(f32::NAN), s(0.0), Compare::Eq, &mut fflags), 0);
    assert_eq!(fflags, 0);
    assert_eq!(super::compare::<f32>(s(f32::NAN), s(0.0), Compare::Le, &mut fflags), 0);
    assert_eq!(fflags, flags::NV);
    // A single that is not NaN-boxed reads as the canonical NaN.
    let mut fflags = 0;
    assert_eq!(super::min_max::<f32>(1.0f32.to_bits().into(), s(2.0), false, &mut fflags), s(2.0));
    assert_eq!(super::min_max::<f32>(s(-0.0), s(0.0), false, &mut fflags), s(-0.0));
    assert_eq!(super::min_max::<f32>(s(-0.0), s(0.0), true, &mut fflags), s(0.0));
    assert_eq!(super::min_max::<f32>(s(f32::NAN), s(f32::NAN), true, &mut fflags), s(f32::from_bits(0x7fc0_0000)));
    assert_eq!(fflags, 0);
    let classes = [
        f64::NEG_INFINITY,
        -1.0,
        -f64::from_bits(1),
        -0.0,
        0.0,
        f64::from_bits(1),
        1.0,
        f64::INFINITY,
        f64::from_bits(0x7ff0_0000_0000_0001),
        f64::NAN,
    ];
    for (bit, x) in classes.iter().enumerate() {
        assert_eq!(super::classify::<f64>(x.to_bits()), 1 << bit, "{x:e}");
    }
    assert_eq!(super::classify::<f32>(0x1234), 1 << 9);
}
