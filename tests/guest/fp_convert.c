/*
 * fp_convert.c - the F/D conversions, in all rounding modes:
 *   fcvt.{w,wu,l,lu}.{s,d}  float -> integer: round per mode, NX when not
 *       an integer; out of range (also after rounding, e.g. 2^31 - 0.5 in
 *       rne) and +-inf saturate with NV only; NaN gives the largest
 *       positive value (2^31-1, 2^32-1, 2^63-1, 2^64-1) whatever its sign;
 *       negative values to unsigned: 0, with NX only if they round to 0
 *       (-0.5 rtz) and NV if not (-1, -0.5 rdn); the 32-bit results are
 *       sign-extended into the 64-bit register (fcvt.wu of 4e9 and of NaN)
 *   fcvt.{s,d}.{w,wu,l,lu}  integer -> float: the W forms read the low 32
 *       bits only; rounding of large 64-bit integers (ties included)
 *   fcvt.s.d  rounding, overflow, underflow (tininess after rounding),
 *       NaNs -> canonical NaN (NV for sNaN)
 *   fcvt.d.s  exact; canonical NaN; NV for sNaN; a non-boxed input is NaN
 * Output format: see fptest.h.
 * Expected values: QEMU, checked against an exact-rational model.
 */
#include "fptest.h"

static const uint64_t t_f2i_s[][1] = {
    {0x00000000},  /* 0 */
    {0x80000000},  /* -0 */
    {0x3f000000},  /* 0.5 */
    {0x3fc00000},  /* 1.5 */
    {0x40200000},  /* 2.5 */
    {0xbf000000},  /* -0.5: unsigned rtz 0 with NX only */
    {0xbfc00000},  /* -1.5 */
    {0xc0200000},  /* -2.5 */
    {0x3f333333},  /* ~0.7 */
    {0xbf333333},  /* ~-0.7 */
    {0x3f800000},  /* 1 */
    {0xbf800000},  /* -1: unsigned NV */
    {0x00800000},  /* min normal */
    {0x80000001},  /* -min subnormal */
    {0x4effffff},  /* 2^31 - 128 */
    {0x4f000000},  /* 2^31: w NV */
    {0xcf000000},  /* -2^31 */
    {0xcf000001},  /* -2^31 - 256: w NV */
    {0x4f6e6b28},  /* ~4e9: wu is sign-extended */
    {0x4f800000},  /* 2^32: wu NV */
    {0x5effffff},  /* 2^63 - 2^39 */
    {0x5f000000},  /* 2^63: l NV */
    {0xdf000000},  /* -2^63 */
    {0x5f7fffff},  /* 2^64 - 2^40 */
    {0x5f800000},  /* 2^64: lu NV */
    {0x7149f2ca},  /* ~1e30 */
    {0xf149f2ca},  /* ~-1e30 */
    {0x7f800000},  /* inf */
    {0xff800000},  /* -inf */
    {0x7fc00000},  /* qNaN: max positive, NV */
    {0xffc00000},  /* -qNaN */
    {0x7f800001},  /* sNaN */
    {0x3f800000},  /* not NaN-boxed: NaN */
};
static const uint64_t t_f2i_d[][1] = {
    {0x0000000000000000},  /* 0 */
    {0x8000000000000000},  /* -0 */
    {0x3fe0000000000000},  /* 0.5 */
    {0x3ff8000000000000},  /* 1.5 */
    {0x4004000000000000},  /* 2.5 */
    {0xbfe0000000000000},  /* -0.5: unsigned rtz 0 with NX only */
    {0xbff8000000000000},  /* -1.5 */
    {0xc004000000000000},  /* -2.5 */
    {0x3fe6666666666666},  /* ~0.7 */
    {0xbfe6666666666666},  /* ~-0.7 */
    {0x3ff0000000000000},  /* 1 */
    {0xbff0000000000000},  /* -1: unsigned NV */
    {0x0010000000000000},  /* min normal */
    {0x8000000000000001},  /* -min subnormal */
    {0x41dfffffffe00000},  /* 2^31 - 0.5: w rne tie to 2^31 NV, rtz NX */
    {0x41e0000000000000},  /* 2^31: w NV */
    {0xc1e0000000000000},  /* -2^31 */
    {0xc1e0000000100000},  /* -2^31 - 0.5: w rdn NV */
    {0xc1e0000000200000},  /* -2^31 - 1: w NV */
    {0x41edcd6500000000},  /* 4e9: wu is sign-extended */
    {0x41effffffff00000},  /* 2^32 - 0.5: wu rne tie to 2^32 NV */
    {0x41f0000000000000},  /* 2^32: wu NV */
    {0x43dfffffffffffff},  /* 2^63 - 1024 */
    {0x43e0000000000000},  /* 2^63: l NV */
    {0xc3e0000000000000},  /* -2^63 */
    {0xc3e0000000000001},  /* -2^63 - 2048: l NV */
    {0x43efffffffffffff},  /* 2^64 - 2048 */
    {0x43f0000000000000},  /* 2^64: lu NV */
    {0x4325ee2a2eb5a5c4},  /* non-integer above 2^51 */
    {0x7e37e43c8800759c},  /* 1e300 */
    {0xfe37e43c8800759c},  /* -1e300 */
    {0x7ff0000000000000},  /* inf */
    {0xfff0000000000000},  /* -inf */
    {0x7ff8000000000000},  /* qNaN: max positive, NV */
    {0xfff8000000000000},  /* -qNaN */
    {0x7ff0000000000001},  /* sNaN */
};
static const uint64_t t_i2f[][1] = {
    {0x0000000000000000},  /* 0 */
    {0x0000000000000001},  /* 1 */
    {0xffffffffffffffff},  /* -1 / all ones */
    {0x000000007fffffff},  /* 2^31 - 1 */
    {0x0000000080000000},  /* w: -2^31, wu: 2^31 */
    {0x00000000ffffffff},  /* w: -1, wu: 2^32 - 1 */
    {0x1234567880000001},  /* w/wu ignore the upper 32 bits */
    {0xffffffff00000005},  /* w/wu: 5 */
    {0x0000000001000001},  /* 2^24 + 1: single tie, even below */
    {0x0000000001000003},  /* 2^24 + 3: single tie, odd below */
    {0x0000000001000005},
    {0x000000007fffffc0},  /* single tie */
    {0x000000007fffffc1},
    {0x0020000000000001},  /* 2^53 + 1: double tie */
    {0x0020000000000003},
    {0x7fffffffffffffff},  /* 2^63 - 1 */
    {0x8000000000000000},  /* l: -2^63, lu: 2^63 */
    {0x8000008000000000},  /* lu: 2^63 + 2^39, a single tie */
    {0x800000c000000000},  /* l: -(2^63 - 3*2^38), a single tie, even below */
    {0x8000000000000400},  /* lu: 2^63 + 2^10 (double tie) */
    {0x123456789abcdef0},
    {0xedcba98765432110},
    {0xfffffffffffffc00},  /* lu: 2^64 - 1024 */
};
static const uint64_t t_s_d[][1] = {
    {0x3fd5555555555555},  /* 1/3 */
    {0xbfd5555555555555},  /* -1/3 */
    {0x3ff0000010000000},  /* 1 + 2^-24: tie */
    {0x3ff0000010000004},  /* just above the tie */
    {0x3ff0000030000000},  /* tie, odd below */
    {0x3ff8000000000000},  /* exact */
    {0x7fefffffffffffff},  /* double max: OF */
    {0xffefffffffffffff},  /* -double max: OF */
    {0x47effffff0000000},  /* single max + half ulp: tie to 2^128, OF in rne */
    {0x47efffffe0000000},  /* single max */
    {0x36a0000000000000},  /* single min subnormal, exact */
    {0x37a16c262777579c},  /* ~1e-40: subnormal, UF */
    {0x3690000000000000},  /* 2^-150: tie with 0 */
    {0xb690000000000000},  /* -2^-150 */
    {0x380fffffe0000000},  /* 2^-126 - 2^-150: tiny, rounds to min normal in rne: UF */
    {0x380ffffff0000000},  /* 2^-126 - 2^-151: not tiny after rounding in rne: no UF */
    {0x0000000000000001},  /* double min subnormal */
    {0x8000000000000000},  /* -0 */
    {0x7ff0000000000000},  /* inf */
    {0xfff0000000000000},  /* -inf */
    {0x7ff8000000012345},  /* qNaN with payload: canonical */
    {0xfff8000000000000},  /* -qNaN */
    {0x7ff0000000000001},  /* sNaN: NV */
    {0x7ff0010000000000},  /* sNaN whose payload fits a single: NV */
};
static const uint64_t t_d_s[][1] = {
    {0x3f800000},  /* 1 */
    {0x3eaaaaab},  /* 1/3 */
    {0x00000001},  /* min subnormal: normal as a double */
    {0x807fffff},  /* -max subnormal */
    {0x7f7fffff},  /* max */
    {0x7f800000},  /* inf */
    {0x80000000},  /* -0 */
    {0x7fc01234},  /* qNaN with payload: canonical, no flags */
    {0x7f800001},  /* sNaN: NV */
    {0xffa00000},  /* -sNaN: NV */
    {0x13f800000},  /* not NaN-boxed: canonical NaN, no flags */
    {0xfffffffe3f800000},  /* not NaN-boxed */
};

DEF_RM(do_fcvt_w_s, ASM_TO_X, "fcvt.w.s", "%[v], ft0")
DEF_RM(do_fcvt_wu_s, ASM_TO_X, "fcvt.wu.s", "%[v], ft0")
DEF_RM(do_fcvt_l_s, ASM_TO_X, "fcvt.l.s", "%[v], ft0")
DEF_RM(do_fcvt_lu_s, ASM_TO_X, "fcvt.lu.s", "%[v], ft0")
DEF_RM(do_fcvt_w_d, ASM_TO_X, "fcvt.w.d", "%[v], ft0")
DEF_RM(do_fcvt_wu_d, ASM_TO_X, "fcvt.wu.d", "%[v], ft0")
DEF_RM(do_fcvt_l_d, ASM_TO_X, "fcvt.l.d", "%[v], ft0")
DEF_RM(do_fcvt_lu_d, ASM_TO_X, "fcvt.lu.d", "%[v], ft0")
DEF_RM(do_fcvt_s_w, ASM_X_TO_F, "fcvt.s.w", "ft3, %[a]")
DEF_RM(do_fcvt_s_wu, ASM_X_TO_F, "fcvt.s.wu", "ft3, %[a]")
DEF_RM(do_fcvt_s_l, ASM_X_TO_F, "fcvt.s.l", "ft3, %[a]")
DEF_RM(do_fcvt_s_lu, ASM_X_TO_F, "fcvt.s.lu", "ft3, %[a]")
/* fcvt.d.w ft3, %[a], rm */
DEF_RM_INSN(do_fcvt_d_w, ASM_X_TO_F, ".insn r 0x53, ", ", 0x69, ft3, %[a], x0")
/* fcvt.d.wu ft3, %[a], rm */
DEF_RM_INSN(do_fcvt_d_wu, ASM_X_TO_F, ".insn r 0x53, ", ", 0x69, ft3, %[a], x1")
DEF_RM(do_fcvt_d_l, ASM_X_TO_F, "fcvt.d.l", "ft3, %[a]")
DEF_RM(do_fcvt_d_lu, ASM_X_TO_F, "fcvt.d.lu", "ft3, %[a]")
DEF_RM(do_fcvt_s_d, ASM_TO_F, "fcvt.s.d", "ft3, ft0")
/* fcvt.d.s ft3, ft0, rm */
DEF_RM_INSN(do_fcvt_d_s, ASM_TO_F, ".insn r 0x53, ", ", 0x21, ft3, ft0, x0")

static void __attribute__((noinline)) tests(void)
{
    run_rm("fcvt.w.s", do_fcvt_w_s, "si", t_f2i_s[0], ROWS(t_f2i_s));
    run_rm("fcvt.wu.s", do_fcvt_wu_s, "si", t_f2i_s[0], ROWS(t_f2i_s));
    run_rm("fcvt.l.s", do_fcvt_l_s, "si", t_f2i_s[0], ROWS(t_f2i_s));
    run_rm("fcvt.lu.s", do_fcvt_lu_s, "si", t_f2i_s[0], ROWS(t_f2i_s));
    run_rm("fcvt.w.d", do_fcvt_w_d, "di", t_f2i_d[0], ROWS(t_f2i_d));
    run_rm("fcvt.wu.d", do_fcvt_wu_d, "di", t_f2i_d[0], ROWS(t_f2i_d));
    run_rm("fcvt.l.d", do_fcvt_l_d, "di", t_f2i_d[0], ROWS(t_f2i_d));
    run_rm("fcvt.lu.d", do_fcvt_lu_d, "di", t_f2i_d[0], ROWS(t_f2i_d));
    run_rm("fcvt.s.w", do_fcvt_s_w, "is", t_i2f[0], ROWS(t_i2f));
    run_rm("fcvt.s.wu", do_fcvt_s_wu, "is", t_i2f[0], ROWS(t_i2f));
    run_rm("fcvt.s.l", do_fcvt_s_l, "is", t_i2f[0], ROWS(t_i2f));
    run_rm("fcvt.s.lu", do_fcvt_s_lu, "is", t_i2f[0], ROWS(t_i2f));
    run_rm("fcvt.d.w", do_fcvt_d_w, "id", t_i2f[0], ROWS(t_i2f));
    run_rm("fcvt.d.wu", do_fcvt_d_wu, "id", t_i2f[0], ROWS(t_i2f));
    run_rm("fcvt.d.l", do_fcvt_d_l, "id", t_i2f[0], ROWS(t_i2f));
    run_rm("fcvt.d.lu", do_fcvt_d_lu, "id", t_i2f[0], ROWS(t_i2f));
    run_rm("fcvt.s.d", do_fcvt_s_d, "ds", t_s_d[0], ROWS(t_s_d));
    run_rm("fcvt.d.s", do_fcvt_d_s, "sd", t_d_s[0], ROWS(t_d_s));
}

int main(void)
{
    fp_enable();
    puts("fp_convert: flags V=NV Z=DZ O=OF U=UF X=NX");
    tests();
    puts("fp_convert: done");
    return 0;
}
