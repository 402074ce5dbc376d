/*
 * fp_arith.c - F and D arithmetic: fadd/fsub/fmul/fdiv/fsqrt (.s and .d).
 *
 * Every case runs in the five static rounding modes and with rm = dyn for
 * frm = rne..rmm (see fptest.h for the output format).  The operands were
 * chosen so that the modes differ: exact ties (rne vs rmm), results just
 * above/below a tie, sticky bits, and the flags:
 *   NV  inf - inf, 0 * inf, 0/0, inf/inf, sqrt of a negative, sNaN operands
 *   DZ  x/0 (not inf/0, not sNaN/0)
 *   OF  max + max, max * 2, max / 0.5, max + half an ulp (a tie that rounds
 *       to even = 2^(emax+1)): inf or max finite depending on mode and sign
 *   UF  tiny and inexact, with tininess detected AFTER rounding: a product
 *       2^emin - 2^(emin-p-1) is not tiny in rne/rup/rmm (it rounds to the
 *       min normal with unbounded exponent: NX only) but is in rtz/rdn;
 *       (2-ulp) * 2^(emin-1) = 2^emin - 2^(emin-p) is tiny (exact with
 *       unbounded exponent) but rounds to the min normal: UF|NX; a tiny
 *       exact result raises nothing
 *   NX  inexact results
 * NaN results are the canonical NaN whatever the inputs' payloads; signed
 * zeros: x + -x = +0 except in rdn (-0), -0 + -0 = -0, sqrt(-0) = -0.
 * Single results are NaN-boxed (8 hex digits in the output).
 * Expected values: QEMU, checked against an exact-rational model.
 */
#include "fptest.h"

static const uint64_t t_fadd_s[][2] = {
    {0x3f800000, 0x33800000},  /* 1 + half ulp: tie, even below */
    {0x3f800001, 0x33800000},  /* tie, odd below */
    {0x3f800000, 0x33c00000},  /* 1 + 3/4 ulp */
    {0x3f800000, 0x2f800000},  /* 1 + tiny: sticky only */
    {0xbf800000, 0xb3800000},  /* negative tie */
    {0x3f800000, 0xb2800000},  /* 1 - quarter ulp(below 1) */
    {0x3fc00000, 0x3e800000},  /* exact */
    {0x40490fdc, 0xc0490fdc},  /* x + -x: +0, rdn -0 */
    {0x80000000, 0x80000000},  /* -0 + -0 = -0 */
    {0x00000000, 0x80000000},  /* +0 + -0: +0, rdn -0 */
    {0x7f800000, 0xff800000},  /* inf - inf: NV */
    {0x7f800000, 0x3f800000},  /* inf */
    {0x7fc12345, 0x3f800000},  /* qNaN with payload: canonical */
    {0x7f800001, 0x3f800000},  /* sNaN: NV */
    {0x3f800000, 0xffa00000},  /* negative sNaN with payload: NV */
    {0x7fc12345, 0x7f800001},  /* qNaN + sNaN: NV */
    {0x7f7fffff, 0x7f7fffff},  /* overflow */
    {0xff7fffff, 0xff7fffff},  /* negative overflow */
    {0x7f7fffff, 0x73000000},  /* max + half ulp: tie with 2^(emax+1) */
    {0x7f7fffff, 0x72ffffff},  /* max + less than half ulp */
    {0x00000001, 0x00000001},  /* subnormals, exact */
    {0x00800000, 0x80000001},  /* min normal - min subnormal: exact */
};
static const uint64_t t_fsub_s[][2] = {
    {0x3f800000, 0x3f800000},  /* x - x: +0, rdn -0 */
    {0x3f800000, 0x33800000},  /* 1 - 2^-p: exact */
    {0x3f800000, 0x32800000},  /* 1 - quarter ulp(below 1) */
    {0x80000000, 0x00000000},  /* -0 - +0 = -0 */
    {0x00000000, 0x00000000},  /* +0 - +0: +0, rdn -0 */
    {0x7f800000, 0x7f800000},  /* inf - inf: NV */
    {0xff800000, 0x7f800000},  /* -inf */
    {0x4b800001, 0x3f000000},  /* 2^p + 2 - 0.5 (ulp 2) */
    {0xff7fffff, 0x7f7fffff},  /* negative overflow */
    {0x7fc00000, 0x7fc00000},  /* canonical NaN */
};
static const uint64_t t_fmul_s[][2] = {
    {0x3f800800, 0x3f800800},  /* (1+2^-j)(1+2^-k), j+k = p: 1 + 2^-j + 2^-k + half ulp, a tie */
    {0x3f800001, 0x3f800001},  /* (1+ulp)^2 */
    {0x40400000, 0x3eaaaaab},  /* 3 * rne(1/3) */
    {0x7f7fffff, 0x40000000},  /* max * 2: overflow */
    {0xff7fffff, 0x40000000},  /* -max * 2: overflow */
    {0x00800001, 0x3f000000},  /* tiny, tie on the subnormal grid: UF */
    {0x00800000, 0x3f000000},  /* tiny but exact: no UF */
    {0x3fffffff, 0x00400000},  /* (2-ulp)*2^(emin-1): tiny, rounds to min normal, UF */
    {0x3f118e00, 0x00e12000},  /* = 2^emin - 2^(emin-p-1): tiny before rounding, not after (rne/rup/rmm) */
    {0x00000001, 0x3f000000},  /* half the min subnormal: tie with 0 */
    {0x80000001, 0x3f000000},  /* negative */
    {0x00000001, 0x00000001},  /* total underflow */
    {0x7f800000, 0x00000000},  /* inf * 0: NV */
    {0x00000000, 0xff800000},  /* 0 * -inf: NV */
    {0x80000000, 0x3f800000},  /* -0 * 1 = -0 */
    {0x80000000, 0xbf800000},  /* -0 * -1 = +0 */
    {0x00000000, 0xff7fffff},  /* 0 * -max = -0 */
    {0x3f800000, 0x7fc12345},  /* canonical NaN */
    {0x3f800000, 0x7f800001},  /* sNaN: NV */
};
static const uint64_t t_fdiv_s[][2] = {
    {0x3f800000, 0x40400000},  /* 1/3 */
    {0xbf800000, 0x40400000},  /* -1/3 */
    {0x40000000, 0x40400000},  /* 2/3 */
    {0x3f800000, 0x3e800000},  /* exact */
    {0x3f800000, 0x00000000},  /* 1/0: DZ */
    {0xbf800000, 0x00000000},  /* -1/0: DZ */
    {0x3f800000, 0x80000000},  /* 1/-0: DZ */
    {0x00000000, 0x00000000},  /* 0/0: NV */
    {0x7f800000, 0x7f800000},  /* inf/inf: NV */
    {0x7f800000, 0x80000000},  /* inf/-0 = -inf, no DZ */
    {0x00000000, 0x3f800000},  /* 0/1 */
    {0x80000000, 0x40000000},  /* -0/2 = -0 */
    {0x3f800000, 0xff800000},  /* 1/-inf = -0 */
    {0x7f7fffff, 0x3f000000},  /* overflow */
    {0x00800000, 0x40400000},  /* underflow */
    {0x00000001, 0x7f7fffff},  /* total underflow */
    {0x00000005, 0x40000000},  /* 2.5 min subnormals: a tie on the subnormal grid */
    {0x7fc00000, 0x00000000},  /* qNaN/0: no flags */
    {0x7f800001, 0x00000000},  /* sNaN/0: NV only */
};
static const uint64_t t_fsqrt_s[][1] = {
    {0x40000000},  /* sqrt 2 */
    {0x40800000},  /* exact */
    {0x40400000},  /* sqrt 3 */
    {0x3f800001},  /* sqrt(1+ulp) */
    {0x7f7fffff},  /* sqrt max */
    {0x00000001},  /* min subnormal (.d: exact root) */
    {0x00000003},  /* subnormal */
    {0x00200000},  /* 2^(emin-2): exact root */
    {0xbf800000},  /* sqrt(-1): NV */
    {0x80000000},  /* sqrt(-0) = -0 */
    {0x00000000},  /* +0 */
    {0x7f800000},  /* +inf */
    {0xff800000},  /* -inf: NV */
    {0x80000001},  /* negative subnormal: NV */
    {0x7f800001},  /* sNaN: NV */
    {0x7fc12345},  /* qNaN: canonical */
};
static const uint64_t t_fadd_d[][2] = {
    {0x3ff0000000000000, 0x3ca0000000000000},  /* 1 + half ulp: tie, even below */
    {0x3ff0000000000001, 0x3ca0000000000000},  /* tie, odd below */
    {0x3ff0000000000000, 0x3ca8000000000000},  /* 1 + 3/4 ulp */
    {0x3ff0000000000000, 0x3c20000000000000},  /* 1 + tiny: sticky only */
    {0xbff0000000000000, 0xbca0000000000000},  /* negative tie */
    {0x3ff0000000000000, 0xbc80000000000000},  /* 1 - quarter ulp(below 1) */
    {0x3ff8000000000000, 0x3fd0000000000000},  /* exact */
    {0x400921fb78121fb8, 0xc00921fb78121fb8},  /* x + -x: +0, rdn -0 */
    {0x8000000000000000, 0x8000000000000000},  /* -0 + -0 = -0 */
    {0x0000000000000000, 0x8000000000000000},  /* +0 + -0: +0, rdn -0 */
    {0x7ff0000000000000, 0xfff0000000000000},  /* inf - inf: NV */
    {0x7ff0000000000000, 0x3ff0000000000000},  /* inf */
    {0x7ff8000000012345, 0x3ff0000000000000},  /* qNaN with payload: canonical */
    {0x7ff0000000000001, 0x3ff0000000000000},  /* sNaN: NV */
    {0x3ff0000000000000, 0xfff4000000000000},  /* negative sNaN with payload: NV */
    {0x7ff8000000012345, 0x7ff0000000000001},  /* qNaN + sNaN: NV */
    {0x7fefffffffffffff, 0x7fefffffffffffff},  /* overflow */
    {0xffefffffffffffff, 0xffefffffffffffff},  /* negative overflow */
    {0x7fefffffffffffff, 0x7c90000000000000},  /* max + half ulp: tie with 2^(emax+1) */
    {0x7fefffffffffffff, 0x7c8fffffffffffff},  /* max + less than half ulp */
    {0x0000000000000001, 0x0000000000000001},  /* subnormals, exact */
    {0x0010000000000000, 0x8000000000000001},  /* min normal - min subnormal: exact */
};
static const uint64_t t_fsub_d[][2] = {
    {0x3ff0000000000000, 0x3ff0000000000000},  /* x - x: +0, rdn -0 */
    {0x3ff0000000000000, 0x3ca0000000000000},  /* 1 - 2^-p: exact */
    {0x3ff0000000000000, 0x3c80000000000000},  /* 1 - quarter ulp(below 1) */
    {0x8000000000000000, 0x0000000000000000},  /* -0 - +0 = -0 */
    {0x0000000000000000, 0x0000000000000000},  /* +0 - +0: +0, rdn -0 */
    {0x7ff0000000000000, 0x7ff0000000000000},  /* inf - inf: NV */
    {0xfff0000000000000, 0x7ff0000000000000},  /* -inf */
    {0x4340000000000001, 0x3fe0000000000000},  /* 2^p + 2 - 0.5 (ulp 2) */
    {0xffefffffffffffff, 0x7fefffffffffffff},  /* negative overflow */
    {0x7ff8000000000000, 0x7ff8000000000000},  /* canonical NaN */
};
static const uint64_t t_fmul_d[][2] = {
    {0x3ff0000004000000, 0x3ff0000002000000},  /* (1+2^-j)(1+2^-k), j+k = p: 1 + 2^-j + 2^-k + half ulp, a tie */
    {0x3ff0000000000001, 0x3ff0000000000001},  /* (1+ulp)^2 */
    {0x4008000000000000, 0x3fd5555555555555},  /* 3 * rne(1/3) */
    {0x7fefffffffffffff, 0x4000000000000000},  /* max * 2: overflow */
    {0xffefffffffffffff, 0x4000000000000000},  /* -max * 2: overflow */
    {0x0010000000000001, 0x3fe0000000000000},  /* tiny, tie on the subnormal grid: UF */
    {0x0010000000000000, 0x3fe0000000000000},  /* tiny but exact: no UF */
    {0x3fffffffffffffff, 0x0008000000000000},  /* (2-ulp)*2^(emin-1): tiny, rounds to min normal, UF */
    {0x3feffff800000000, 0x0010000400010000},  /* = 2^emin - 2^(emin-p-1): tiny before rounding, not after (rne/rup/rmm) */
    {0x0000000000000001, 0x3fe0000000000000},  /* half the min subnormal: tie with 0 */
    {0x8000000000000001, 0x3fe0000000000000},  /* negative */
    {0x0000000000000001, 0x0000000000000001},  /* total underflow */
    {0x7ff0000000000000, 0x0000000000000000},  /* inf * 0: NV */
    {0x0000000000000000, 0xfff0000000000000},  /* 0 * -inf: NV */
    {0x8000000000000000, 0x3ff0000000000000},  /* -0 * 1 = -0 */
    {0x8000000000000000, 0xbff0000000000000},  /* -0 * -1 = +0 */
    {0x0000000000000000, 0xffefffffffffffff},  /* 0 * -max = -0 */
    {0x3ff0000000000000, 0x7ff8000000012345},  /* canonical NaN */
    {0x3ff0000000000000, 0x7ff0000000000001},  /* sNaN: NV */
};
static const uint64_t t_fdiv_d[][2] = {
    {0x3ff0000000000000, 0x4008000000000000},  /* 1/3 */
    {0xbff0000000000000, 0x4008000000000000},  /* -1/3 */
    {0x4000000000000000, 0x4008000000000000},  /* 2/3 */
    {0x3ff0000000000000, 0x3fd0000000000000},  /* exact */
    {0x3ff0000000000000, 0x0000000000000000},  /* 1/0: DZ */
    {0xbff0000000000000, 0x0000000000000000},  /* -1/0: DZ */
    {0x3ff0000000000000, 0x8000000000000000},  /* 1/-0: DZ */
    {0x0000000000000000, 0x0000000000000000},  /* 0/0: NV */
    {0x7ff0000000000000, 0x7ff0000000000000},  /* inf/inf: NV */
    {0x7ff0000000000000, 0x8000000000000000},  /* inf/-0 = -inf, no DZ */
    {0x0000000000000000, 0x3ff0000000000000},  /* 0/1 */
    {0x8000000000000000, 0x4000000000000000},  /* -0/2 = -0 */
    {0x3ff0000000000000, 0xfff0000000000000},  /* 1/-inf = -0 */
    {0x7fefffffffffffff, 0x3fe0000000000000},  /* overflow */
    {0x0010000000000000, 0x4008000000000000},  /* underflow */
    {0x0000000000000001, 0x7fefffffffffffff},  /* total underflow */
    {0x0000000000000005, 0x4000000000000000},  /* 2.5 min subnormals: a tie on the subnormal grid */
    {0x7ff8000000000000, 0x0000000000000000},  /* qNaN/0: no flags */
    {0x7ff0000000000001, 0x0000000000000000},  /* sNaN/0: NV only */
};
static const uint64_t t_fsqrt_d[][1] = {
    {0x4000000000000000},  /* sqrt 2 */
    {0x4010000000000000},  /* exact */
    {0x4008000000000000},  /* sqrt 3 */
    {0x3ff0000000000001},  /* sqrt(1+ulp) */
    {0x7fefffffffffffff},  /* sqrt max */
    {0x0000000000000001},  /* min subnormal (.d: exact root) */
    {0x0000000000000003},  /* subnormal */
    {0x0004000000000000},  /* 2^(emin-2): exact root */
    {0xbff0000000000000},  /* sqrt(-1): NV */
    {0x8000000000000000},  /* sqrt(-0) = -0 */
    {0x0000000000000000},  /* +0 */
    {0x7ff0000000000000},  /* +inf */
    {0xfff0000000000000},  /* -inf: NV */
    {0x8000000000000001},  /* negative subnormal: NV */
    {0x7ff0000000000001},  /* sNaN: NV */
    {0x7ff8000000012345},  /* qNaN: canonical */
};

DEF_RM(do_fadd_s, ASM_TO_F, "fadd.s", "ft3, ft0, ft1")
DEF_RM(do_fsub_s, ASM_TO_F, "fsub.s", "ft3, ft0, ft1")
DEF_RM(do_fmul_s, ASM_TO_F, "fmul.s", "ft3, ft0, ft1")
DEF_RM(do_fdiv_s, ASM_TO_F, "fdiv.s", "ft3, ft0, ft1")
DEF_RM(do_fsqrt_s, ASM_TO_F, "fsqrt.s", "ft3, ft0")
DEF_RM(do_fadd_d, ASM_TO_F, "fadd.d", "ft3, ft0, ft1")
DEF_RM(do_fsub_d, ASM_TO_F, "fsub.d", "ft3, ft0, ft1")
DEF_RM(do_fmul_d, ASM_TO_F, "fmul.d", "ft3, ft0, ft1")
DEF_RM(do_fdiv_d, ASM_TO_F, "fdiv.d", "ft3, ft0, ft1")
DEF_RM(do_fsqrt_d, ASM_TO_F, "fsqrt.d", "ft3, ft0")

static void __attribute__((noinline)) tests(void)
{
    run_rm("fadd.s", do_fadd_s, "sss", t_fadd_s[0], ROWS(t_fadd_s));
    run_rm("fsub.s", do_fsub_s, "sss", t_fsub_s[0], ROWS(t_fsub_s));
    run_rm("fmul.s", do_fmul_s, "sss", t_fmul_s[0], ROWS(t_fmul_s));
    run_rm("fdiv.s", do_fdiv_s, "sss", t_fdiv_s[0], ROWS(t_fdiv_s));
    run_rm("fsqrt.s", do_fsqrt_s, "ss", t_fsqrt_s[0], ROWS(t_fsqrt_s));
    run_rm("fadd.d", do_fadd_d, "ddd", t_fadd_d[0], ROWS(t_fadd_d));
    run_rm("fsub.d", do_fsub_d, "ddd", t_fsub_d[0], ROWS(t_fsub_d));
    run_rm("fmul.d", do_fmul_d, "ddd", t_fmul_d[0], ROWS(t_fmul_d));
    run_rm("fdiv.d", do_fdiv_d, "ddd", t_fdiv_d[0], ROWS(t_fdiv_d));
    run_rm("fsqrt.d", do_fsqrt_d, "dd", t_fsqrt_d[0], ROWS(t_fsqrt_d));
}

int main(void)
{
    fp_enable();
    puts("fp_arith: flags V=NV Z=DZ O=OF U=UF X=NX");
    tests();
    puts("fp_arith: done");
    return 0;
}
