/*
 * fp_fma.c - the fused multiply-add instructions (.s and .d):
 *   fmadd = a*b + c, fmsub = a*b - c, fnmadd = -(a*b) - c, fnmsub = -(a*b) + c
 * with one rounding (cases where a separate multiply and add would give a
 * different result or overflow), all rounding modes, signs of zero results
 * (exact zero: +0, rdn -0; zero product + zero addend of the same sign keeps
 * it), and NV: 0 * inf + qNaN sets NV (the spec requires it even with a
 * quiet NaN addend), inf - inf, sNaN operands.  Except for the last four
 * rows of each table (the signs of 0 * 1 +- 0, operands as they are), the
 * first operand is written negated for fnmadd/fnmsub and the addend for
 * fmsub/fnmadd, so that every row computes the same a*b + c with all four
 * instructions.  Output format: see fptest.h.
 * Expected values: QEMU, checked against an exact-rational model.
 */
#include "fptest.h"

static const uint64_t t_fmadd_s[][3] = {
    {0x3fc00000, 0x40400000, 0x3e800000},  /* exact */
    {0x3f800800, 0x3f800800, 0xbf801000},  /* fused: the product's low bits survive (separate mul+add gives 0) */
    {0x3f800001, 0x3f800001, 0xbf800002},  /* = the rounding error of (1+ulp)^2 */
    {0x3f800000, 0x3f800000, 0x33800000},  /* 1 + half ulp: tie */
    {0x3f800000, 0xbf800000, 0xb3800000},  /* -1 - half ulp: tie */
    {0x40400000, 0x3eaaaaab, 0x00000000},  /* 3 * rne(1/3) + 0 */
    {0x0d800000, 0x0d800000, 0x3f800000},  /* 1 + tiny product: sticky only */
    {0x7f7fffff, 0x40000000, 0xff7fffff},  /* 2max - max = max: no overflow when fused */
    {0x7f7fffff, 0x3f800000, 0x7f7fffff},  /* overflow */
    {0x00800000, 0x3f000001, 0x00000000},  /* tiny inexact: UF */
    {0x3f800000, 0x3f800000, 0xbf800000},  /* exact zero: +0, rdn -0 */
    {0x00000000, 0x7f800000, 0x7fc12345},  /* 0 * inf + qNaN: NV */
    {0x7f800000, 0x00000000, 0x3f800000},  /* inf * 0 + 1: NV */
    {0x7f800000, 0x3f800000, 0xff800000},  /* inf + -inf (before the op's negations) */
    {0x3f800000, 0x3f800000, 0x7f800001},  /* sNaN addend: NV */
    {0x7fc12345, 0x3f800000, 0x3f800000},  /* qNaN: canonical, no flags */
    {0x3f800000, 0xffa00000, 0x7fc00000},  /* sNaN multiplicand: NV */
    {0x00000000, 0x3f800000, 0x00000000},  /* signed zeros, operands as they are */
    {0x00000000, 0x3f800000, 0x80000000},  /* signed zeros, operands as they are */
    {0x80000000, 0x3f800000, 0x00000000},  /* signed zeros, operands as they are */
    {0x80000000, 0x3f800000, 0x80000000},  /* signed zeros, operands as they are */
};
static const uint64_t t_fmsub_s[][3] = {
    {0x3fc00000, 0x40400000, 0x3e800000},  /* exact */
    {0x3f800800, 0x3f800800, 0x3f801000},  /* fused: the product's low bits survive (separate mul+add gives 0) */
    {0x3f800001, 0x3f800001, 0x3f800002},  /* = the rounding error of (1+ulp)^2 */
    {0x3f800000, 0x3f800000, 0xb3800000},  /* 1 + half ulp: tie */
    {0x3f800000, 0xbf800000, 0x33800000},  /* -1 - half ulp: tie */
    {0x40400000, 0x3eaaaaab, 0x80000000},  /* 3 * rne(1/3) + 0 */
    {0x0d800000, 0x0d800000, 0xbf800000},  /* 1 + tiny product: sticky only */
    {0x7f7fffff, 0x40000000, 0x7f7fffff},  /* 2max - max = max: no overflow when fused */
    {0x7f7fffff, 0x3f800000, 0xff7fffff},  /* overflow */
    {0x00800000, 0x3f000001, 0x80000000},  /* tiny inexact: UF */
    {0x3f800000, 0x3f800000, 0x3f800000},  /* exact zero: +0, rdn -0 */
    {0x00000000, 0x7f800000, 0xffc12345},  /* 0 * inf + qNaN: NV */
    {0x7f800000, 0x00000000, 0xbf800000},  /* inf * 0 + 1: NV */
    {0x7f800000, 0x3f800000, 0x7f800000},  /* inf + -inf (before the op's negations) */
    {0x3f800000, 0x3f800000, 0xff800001},  /* sNaN addend: NV */
    {0x7fc12345, 0x3f800000, 0xbf800000},  /* qNaN: canonical, no flags */
    {0x3f800000, 0xffa00000, 0xffc00000},  /* sNaN multiplicand: NV */
    {0x00000000, 0x3f800000, 0x00000000},  /* signed zeros, operands as they are */
    {0x00000000, 0x3f800000, 0x80000000},  /* signed zeros, operands as they are */
    {0x80000000, 0x3f800000, 0x00000000},  /* signed zeros, operands as they are */
    {0x80000000, 0x3f800000, 0x80000000},  /* signed zeros, operands as they are */
};
static const uint64_t t_fnmadd_s[][3] = {
    {0xbfc00000, 0x40400000, 0x3e800000},  /* exact */
    {0xbf800800, 0x3f800800, 0x3f801000},  /* fused: the product's low bits survive (separate mul+add gives 0) */
    {0xbf800001, 0x3f800001, 0x3f800002},  /* = the rounding error of (1+ulp)^2 */
    {0xbf800000, 0x3f800000, 0xb3800000},  /* 1 + half ulp: tie */
    {0xbf800000, 0xbf800000, 0x33800000},  /* -1 - half ulp: tie */
    {0xc0400000, 0x3eaaaaab, 0x80000000},  /* 3 * rne(1/3) + 0 */
    {0x8d800000, 0x0d800000, 0xbf800000},  /* 1 + tiny product: sticky only */
    {0xff7fffff, 0x40000000, 0x7f7fffff},  /* 2max - max = max: no overflow when fused */
    {0xff7fffff, 0x3f800000, 0xff7fffff},  /* overflow */
    {0x80800000, 0x3f000001, 0x80000000},  /* tiny inexact: UF */
    {0xbf800000, 0x3f800000, 0x3f800000},  /* exact zero: +0, rdn -0 */
    {0x80000000, 0x7f800000, 0xffc12345},  /* 0 * inf + qNaN: NV */
    {0xff800000, 0x00000000, 0xbf800000},  /* inf * 0 + 1: NV */
    {0xff800000, 0x3f800000, 0x7f800000},  /* inf + -inf (before the op's negations) */
    {0xbf800000, 0x3f800000, 0xff800001},  /* sNaN addend: NV */
    {0xffc12345, 0x3f800000, 0xbf800000},  /* qNaN: canonical, no flags */
    {0xbf800000, 0xffa00000, 0xffc00000},  /* sNaN multiplicand: NV */
    {0x00000000, 0x3f800000, 0x00000000},  /* signed zeros, operands as they are */
    {0x00000000, 0x3f800000, 0x80000000},  /* signed zeros, operands as they are */
    {0x80000000, 0x3f800000, 0x00000000},  /* signed zeros, operands as they are */
    {0x80000000, 0x3f800000, 0x80000000},  /* signed zeros, operands as they are */
};
static const uint64_t t_fnmsub_s[][3] = {
    {0xbfc00000, 0x40400000, 0x3e800000},  /* exact */
    {0xbf800800, 0x3f800800, 0xbf801000},  /* fused: the product's low bits survive (separate mul+add gives 0) */
    {0xbf800001, 0x3f800001, 0xbf800002},  /* = the rounding error of (1+ulp)^2 */
    {0xbf800000, 0x3f800000, 0x33800000},  /* 1 + half ulp: tie */
    {0xbf800000, 0xbf800000, 0xb3800000},  /* -1 - half ulp: tie */
    {0xc0400000, 0x3eaaaaab, 0x00000000},  /* 3 * rne(1/3) + 0 */
    {0x8d800000, 0x0d800000, 0x3f800000},  /* 1 + tiny product: sticky only */
    {0xff7fffff, 0x40000000, 0xff7fffff},  /* 2max - max = max: no overflow when fused */
    {0xff7fffff, 0x3f800000, 0x7f7fffff},  /* overflow */
    {0x80800000, 0x3f000001, 0x00000000},  /* tiny inexact: UF */
    {0xbf800000, 0x3f800000, 0xbf800000},  /* exact zero: +0, rdn -0 */
    {0x80000000, 0x7f800000, 0x7fc12345},  /* 0 * inf + qNaN: NV */
    {0xff800000, 0x00000000, 0x3f800000},  /* inf * 0 + 1: NV */
    {0xff800000, 0x3f800000, 0xff800000},  /* inf + -inf (before the op's negations) */
    {0xbf800000, 0x3f800000, 0x7f800001},  /* sNaN addend: NV */
    {0xffc12345, 0x3f800000, 0x3f800000},  /* qNaN: canonical, no flags */
    {0xbf800000, 0xffa00000, 0x7fc00000},  /* sNaN multiplicand: NV */
    {0x00000000, 0x3f800000, 0x00000000},  /* signed zeros, operands as they are */
    {0x00000000, 0x3f800000, 0x80000000},  /* signed zeros, operands as they are */
    {0x80000000, 0x3f800000, 0x00000000},  /* signed zeros, operands as they are */
    {0x80000000, 0x3f800000, 0x80000000},  /* signed zeros, operands as they are */
};
static const uint64_t t_fmadd_d[][3] = {
    {0x3ff8000000000000, 0x4008000000000000, 0x3fd0000000000000},  /* exact */
    {0x3ff0000004000000, 0x3ff0000002000000, 0xbff0000006000000},  /* fused: the product's low bits survive (separate mul+add gives 0) */
    {0x3ff0000000000001, 0x3ff0000000000001, 0xbff0000000000002},  /* = the rounding error of (1+ulp)^2 */
    {0x3ff0000000000000, 0x3ff0000000000000, 0x3ca0000000000000},  /* 1 + half ulp: tie */
    {0x3ff0000000000000, 0xbff0000000000000, 0xbca0000000000000},  /* -1 - half ulp: tie */
    {0x4008000000000000, 0x3fd5555555555555, 0x0000000000000000},  /* 3 * rne(1/3) + 0 */
    {0x39b0000000000000, 0x39b0000000000000, 0x3ff0000000000000},  /* 1 + tiny product: sticky only */
    {0x7fefffffffffffff, 0x4000000000000000, 0xffefffffffffffff},  /* 2max - max = max: no overflow when fused */
    {0x7fefffffffffffff, 0x3ff0000000000000, 0x7fefffffffffffff},  /* overflow */
    {0x0010000000000000, 0x3fe0000000000001, 0x0000000000000000},  /* tiny inexact: UF */
    {0x3ff0000000000000, 0x3ff0000000000000, 0xbff0000000000000},  /* exact zero: +0, rdn -0 */
    {0x0000000000000000, 0x7ff0000000000000, 0x7ff8000000012345},  /* 0 * inf + qNaN: NV */
    {0x7ff0000000000000, 0x0000000000000000, 0x3ff0000000000000},  /* inf * 0 + 1: NV */
    {0x7ff0000000000000, 0x3ff0000000000000, 0xfff0000000000000},  /* inf + -inf (before the op's negations) */
    {0x3ff0000000000000, 0x3ff0000000000000, 0x7ff0000000000001},  /* sNaN addend: NV */
    {0x7ff8000000012345, 0x3ff0000000000000, 0x3ff0000000000000},  /* qNaN: canonical, no flags */
    {0x3ff0000000000000, 0xfff4000000000000, 0x7ff8000000000000},  /* sNaN multiplicand: NV */
    {0x0000000000000000, 0x3ff0000000000000, 0x0000000000000000},  /* signed zeros, operands as they are */
    {0x0000000000000000, 0x3ff0000000000000, 0x8000000000000000},  /* signed zeros, operands as they are */
    {0x8000000000000000, 0x3ff0000000000000, 0x0000000000000000},  /* signed zeros, operands as they are */
    {0x8000000000000000, 0x3ff0000000000000, 0x8000000000000000},  /* signed zeros, operands as they are */
};
static const uint64_t t_fmsub_d[][3] = {
    {0x3ff8000000000000, 0x4008000000000000, 0x3fd0000000000000},  /* exact */
    {0x3ff0000004000000, 0x3ff0000002000000, 0x3ff0000006000000},  /* fused: the product's low bits survive (separate mul+add gives 0) */
    {0x3ff0000000000001, 0x3ff0000000000001, 0x3ff0000000000002},  /* = the rounding error of (1+ulp)^2 */
    {0x3ff0000000000000, 0x3ff0000000000000, 0xbca0000000000000},  /* 1 + half ulp: tie */
    {0x3ff0000000000000, 0xbff0000000000000, 0x3ca0000000000000},  /* -1 - half ulp: tie */
    {0x4008000000000000, 0x3fd5555555555555, 0x8000000000000000},  /* 3 * rne(1/3) + 0 */
    {0x39b0000000000000, 0x39b0000000000000, 0xbff0000000000000},  /* 1 + tiny product: sticky only */
    {0x7fefffffffffffff, 0x4000000000000000, 0x7fefffffffffffff},  /* 2max - max = max: no overflow when fused */
    {0x7fefffffffffffff, 0x3ff0000000000000, 0xffefffffffffffff},  /* overflow */
    {0x0010000000000000, 0x3fe0000000000001, 0x8000000000000000},  /* tiny inexact: UF */
    {0x3ff0000000000000, 0x3ff0000000000000, 0x3ff0000000000000},  /* exact zero: +0, rdn -0 */
    {0x0000000000000000, 0x7ff0000000000000, 0xfff8000000012345},  /* 0 * inf + qNaN: NV */
    {0x7ff0000000000000, 0x0000000000000000, 0xbff0000000000000},  /* inf * 0 + 1: NV */
    {0x7ff0000000000000, 0x3ff0000000000000, 0x7ff0000000000000},  /* inf + -inf (before the op's negations) */
    {0x3ff0000000000000, 0x3ff0000000000000, 0xfff0000000000001},  /* sNaN addend: NV */
    {0x7ff8000000012345, 0x3ff0000000000000, 0xbff0000000000000},  /* qNaN: canonical, no flags */
    {0x3ff0000000000000, 0xfff4000000000000, 0xfff8000000000000},  /* sNaN multiplicand: NV */
    {0x0000000000000000, 0x3ff0000000000000, 0x0000000000000000},  /* signed zeros, operands as they are */
    {0x0000000000000000, 0x3ff0000000000000, 0x8000000000000000},  /* signed zeros, operands as they are */
    {0x8000000000000000, 0x3ff0000000000000, 0x0000000000000000},  /* signed zeros, operands as they are */
    {0x8000000000000000, 0x3ff0000000000000, 0x8000000000000000},  /* signed zeros, operands as they are */
};
static const uint64_t t_fnmadd_d[][3] = {
    {0xbff8000000000000, 0x4008000000000000, 0x3fd0000000000000},  /* exact */
    {0xbff0000004000000, 0x3ff0000002000000, 0x3ff0000006000000},  /* fused: the product's low bits survive (separate mul+add gives 0) */
    {0xbff0000000000001, 0x3ff0000000000001, 0x3ff0000000000002},  /* = the rounding error of (1+ulp)^2 */
    {0xbff0000000000000, 0x3ff0000000000000, 0xbca0000000000000},  /* 1 + half ulp: tie */
    {0xbff0000000000000, 0xbff0000000000000, 0x3ca0000000000000},  /* -1 - half ulp: tie */
    {0xc008000000000000, 0x3fd5555555555555, 0x8000000000000000},  /* 3 * rne(1/3) + 0 */
    {0xb9b0000000000000, 0x39b0000000000000, 0xbff0000000000000},  /* 1 + tiny product: sticky only */
    {0xffefffffffffffff, 0x4000000000000000, 0x7fefffffffffffff},  /* 2max - max = max: no overflow when fused */
    {0xffefffffffffffff, 0x3ff0000000000000, 0xffefffffffffffff},  /* overflow */
    {0x8010000000000000, 0x3fe0000000000001, 0x8000000000000000},  /* tiny inexact: UF */
    {0xbff0000000000000, 0x3ff0000000000000, 0x3ff0000000000000},  /* exact zero: +0, rdn -0 */
    {0x8000000000000000, 0x7ff0000000000000, 0xfff8000000012345},  /* 0 * inf + qNaN: NV */
    {0xfff0000000000000, 0x0000000000000000, 0xbff0000000000000},  /* inf * 0 + 1: NV */
    {0xfff0000000000000, 0x3ff0000000000000, 0x7ff0000000000000},  /* inf + -inf (before the op's negations) */
    {0xbff0000000000000, 0x3ff0000000000000, 0xfff0000000000001},  /* sNaN addend: NV */
    {0xfff8000000012345, 0x3ff0000000000000, 0xbff0000000000000},  /* qNaN: canonical, no flags */
    {0xbff0000000000000, 0xfff4000000000000, 0xfff8000000000000},  /* sNaN multiplicand: NV */
    {0x0000000000000000, 0x3ff0000000000000, 0x0000000000000000},  /* signed zeros, operands as they are */
    {0x0000000000000000, 0x3ff0000000000000, 0x8000000000000000},  /* signed zeros, operands as they are */
    {0x8000000000000000, 0x3ff0000000000000, 0x0000000000000000},  /* signed zeros, operands as they are */
    {0x8000000000000000, 0x3ff0000000000000, 0x8000000000000000},  /* signed zeros, operands as they are */
};
static const uint64_t t_fnmsub_d[][3] = {
    {0xbff8000000000000, 0x4008000000000000, 0x3fd0000000000000},  /* exact */
    {0xbff0000004000000, 0x3ff0000002000000, 0xbff0000006000000},  /* fused: the product's low bits survive (separate mul+add gives 0) */
    {0xbff0000000000001, 0x3ff0000000000001, 0xbff0000000000002},  /* = the rounding error of (1+ulp)^2 */
    {0xbff0000000000000, 0x3ff0000000000000, 0x3ca0000000000000},  /* 1 + half ulp: tie */
    {0xbff0000000000000, 0xbff0000000000000, 0xbca0000000000000},  /* -1 - half ulp: tie */
    {0xc008000000000000, 0x3fd5555555555555, 0x0000000000000000},  /* 3 * rne(1/3) + 0 */
    {0xb9b0000000000000, 0x39b0000000000000, 0x3ff0000000000000},  /* 1 + tiny product: sticky only */
    {0xffefffffffffffff, 0x4000000000000000, 0xffefffffffffffff},  /* 2max - max = max: no overflow when fused */
    {0xffefffffffffffff, 0x3ff0000000000000, 0x7fefffffffffffff},  /* overflow */
    {0x8010000000000000, 0x3fe0000000000001, 0x0000000000000000},  /* tiny inexact: UF */
    {0xbff0000000000000, 0x3ff0000000000000, 0xbff0000000000000},  /* exact zero: +0, rdn -0 */
    {0x8000000000000000, 0x7ff0000000000000, 0x7ff8000000012345},  /* 0 * inf + qNaN: NV */
    {0xfff0000000000000, 0x0000000000000000, 0x3ff0000000000000},  /* inf * 0 + 1: NV */
    {0xfff0000000000000, 0x3ff0000000000000, 0xfff0000000000000},  /* inf + -inf (before the op's negations) */
    {0xbff0000000000000, 0x3ff0000000000000, 0x7ff0000000000001},  /* sNaN addend: NV */
    {0xfff8000000012345, 0x3ff0000000000000, 0x3ff0000000000000},  /* qNaN: canonical, no flags */
    {0xbff0000000000000, 0xfff4000000000000, 0x7ff8000000000000},  /* sNaN multiplicand: NV */
    {0x0000000000000000, 0x3ff0000000000000, 0x0000000000000000},  /* signed zeros, operands as they are */
    {0x0000000000000000, 0x3ff0000000000000, 0x8000000000000000},  /* signed zeros, operands as they are */
    {0x8000000000000000, 0x3ff0000000000000, 0x0000000000000000},  /* signed zeros, operands as they are */
    {0x8000000000000000, 0x3ff0000000000000, 0x8000000000000000},  /* signed zeros, operands as they are */
};

DEF_RM(do_fmadd_s, ASM_TO_F, "fmadd.s", "ft3, ft0, ft1, ft2")
DEF_RM(do_fmsub_s, ASM_TO_F, "fmsub.s", "ft3, ft0, ft1, ft2")
DEF_RM(do_fnmadd_s, ASM_TO_F, "fnmadd.s", "ft3, ft0, ft1, ft2")
DEF_RM(do_fnmsub_s, ASM_TO_F, "fnmsub.s", "ft3, ft0, ft1, ft2")
DEF_RM(do_fmadd_d, ASM_TO_F, "fmadd.d", "ft3, ft0, ft1, ft2")
DEF_RM(do_fmsub_d, ASM_TO_F, "fmsub.d", "ft3, ft0, ft1, ft2")
DEF_RM(do_fnmadd_d, ASM_TO_F, "fnmadd.d", "ft3, ft0, ft1, ft2")
DEF_RM(do_fnmsub_d, ASM_TO_F, "fnmsub.d", "ft3, ft0, ft1, ft2")

static void __attribute__((noinline)) tests(void)
{
    run_rm("fmadd.s", do_fmadd_s, "ssss", t_fmadd_s[0], ROWS(t_fmadd_s));
    run_rm("fmsub.s", do_fmsub_s, "ssss", t_fmsub_s[0], ROWS(t_fmsub_s));
    run_rm("fnmadd.s", do_fnmadd_s, "ssss", t_fnmadd_s[0], ROWS(t_fnmadd_s));
    run_rm("fnmsub.s", do_fnmsub_s, "ssss", t_fnmsub_s[0], ROWS(t_fnmsub_s));
    run_rm("fmadd.d", do_fmadd_d, "dddd", t_fmadd_d[0], ROWS(t_fmadd_d));
    run_rm("fmsub.d", do_fmsub_d, "dddd", t_fmsub_d[0], ROWS(t_fmsub_d));
    run_rm("fnmadd.d", do_fnmadd_d, "dddd", t_fnmadd_d[0], ROWS(t_fnmadd_d));
    run_rm("fnmsub.d", do_fnmsub_d, "dddd", t_fnmsub_d[0], ROWS(t_fnmsub_d));
}

int main(void)
{
    fp_enable();
    puts("fp_fma: flags V=NV Z=DZ O=OF U=UF X=NX");
    tests();
    puts("fp_fma: done");
    return 0;
}
