/*
 * fp_misc.c - the F/D instructions without rounding: classification,
 * min/max, compares, sign injection, moves, loads and stores, and
 * NaN-boxing of single-precision values in the 64-bit f registers.
 *
 *  - fclass.s/.d: all ten classes (a non-boxed .s input is a quiet NaN)
 *  - fmin/fmax: -0 < +0; one NaN operand gives the other operand, two give
 *    the canonical NaN; an sNaN operand sets NV (even when the result is
 *    the other operand)
 *  - feq is quiet (NV only for sNaN), flt/fle are signalling (NV for any
 *    NaN); -0 == +0
 *  - fsgnj/fsgnjn/fsgnjx work on the bits: NaN payloads kept, no flags;
 *    a non-boxed .s input is the canonical NaN 0x7fc00000
 *  - fmv.x.w takes the low 32 bits whatever the upper ones are and
 *    sign-extends them; fmv.w.x and flw write NaN-boxed values; fsw and
 *    fmv.x.w ignore the boxing; loads/stores move bits unchanged (sNaN
 *    payloads, no flags), also the compressed c.fld/c.fsd/c.fldsp/c.fsdsp
 *  - NaN-boxing: .s operations (fadd.s, fsqrt.s, fmadd.s, fcvt.d.s,
 *    fcvt.w.s, feq.s, fmin.s, fclass.s, fsgnj.s) reading a register whose
 *    upper 32 bits are not all ones see the canonical NaN; .d operations on
 *    a boxed single see a (negative, quiet) NaN
 * Output format: see fptest.h.
 * Expected values: QEMU, checked against an exact-rational model.
 */
#include "fptest.h"

/* A register image that is not NaN-boxed (upper half not all ones). */
#define NB(x)  (0x0000000100000000UL | (x))

/* ---- fclass ---------------------------------------------------------- */

static const uint64_t t_class_s[][1] = {
    {0xff800000}, {0xbf800000}, {0x807fffff}, {0x80000000}, {0x00000000},
    {0x00000001}, {0x7f7fffff}, {0x7f800000}, {0x7f800001}, {0x7fc00000},
    {0xffbfffff},                        /* negative sNaN */
    {0xffc12345},                        /* negative qNaN */
    {0x00800000},                        /* min normal */
    {0x000000003f800000UL},              /* not boxed: qNaN */
    {0xfffffffe00000000UL},              /* not boxed: qNaN */
};
static const uint64_t t_class_d[][1] = {
    {0xfff0000000000000}, {0xbff0000000000000}, {0x800fffffffffffff},
    {0x8000000000000000}, {0x0000000000000000}, {0x0000000000000001},
    {0x7fefffffffffffff}, {0x7ff0000000000000}, {0x7ff0000000000001},
    {0x7ff8000000000000}, {0xfff7ffffffffffff}, {0xfff8000000012345},
    {0x0010000000000000},
    {0xffffffff3f800000},                /* a boxed single: negative qNaN */
};

/* ---- fmin / fmax ----------------------------------------------------- */

static const uint64_t t_minmax_s[][2] = {
    {0x80000000, 0x00000000}, {0x00000000, 0x80000000},
    {0x3f800000, 0x40000000}, {0x40000000, 0x3f800000},
    {0xbf800000, 0xc0000000}, {0xff800000, 0x7f7fffff},
    {0x7f800000, 0x7f7fffff}, {0x00000001, 0x80000001},
    {0x3f800000, 0x7fc12345},            /* one qNaN: the other operand */
    {0xffc00000, 0xbf800000},
    {0x7fc00000, 0x7fc12345},            /* two NaNs: canonical */
    {0x7f800001, 0x3f800000},            /* sNaN: other operand, NV */
    {0xc0000000, 0xff800001},
    {0x7f800001, 0x7fc00000},            /* canonical, NV */
    {0xff800001, 0x7fa00000},
    {0x3f800000, 0x3f800000},
    {NB(0x3f800000), 0x40000000},        /* not boxed = canonical NaN */
    {0xc0000000, NB(0xbf800000)},
    {NB(0x3f800000), NB(0x3f800000)},
};
static const uint64_t t_minmax_d[][2] = {
    {0x8000000000000000, 0x0000000000000000},
    {0x0000000000000000, 0x8000000000000000},
    {0x3ff0000000000000, 0x4000000000000000},
    {0x4000000000000000, 0x3ff0000000000000},
    {0xbff0000000000000, 0xc000000000000000},
    {0xfff0000000000000, 0x7fefffffffffffff},
    {0x7ff0000000000000, 0x7fefffffffffffff},
    {0x0000000000000001, 0x8000000000000001},
    {0x3ff0000000000000, 0x7ff8000000012345},
    {0xfff8000000000000, 0xbff0000000000000},
    {0x7ff8000000000000, 0x7ff8000000012345},
    {0x7ff0000000000001, 0x3ff0000000000000},
    {0xc000000000000000, 0xfff0000000000001},
    {0x7ff0000000000001, 0x7ff8000000000000},
    {0xfff0000000000001, 0x7ff4000000000000},
    {0x3ff0000000000000, 0x3ff0000000000000},
    {0xffffffff3f800000, 0x4000000000000000},   /* a boxed single is a NaN */
};

/* ---- feq / flt / fle ------------------------------------------------- */

static const uint64_t t_cmp_s[][2] = {
    {0x3f800000, 0x3f800000}, {0x3f800000, 0x40000000},
    {0x40000000, 0x3f800000}, {0x80000000, 0x00000000},
    {0x00000000, 0x80000000}, {0xbf800000, 0x3f800000},
    {0xff800000, 0xff800000}, {0xff800000, 0x7f800000},
    {0x00000001, 0x00000002}, {0x80000001, 0x00000000},
    {0x7fc00000, 0x3f800000},            /* qNaN: feq quiet, flt/fle NV */
    {0x3f800000, 0xffc12345},
    {0x7fc00000, 0x7fc00000},
    {0x7f800001, 0x3f800000},            /* sNaN: NV for all three */
    {0x3f800000, 0xff800001},
    {NB(0x3f800000), 0x3f800000},        /* not boxed: canonical (quiet) NaN */
    {NB(0x3f800000), NB(0x3f800000)},
};
static const uint64_t t_cmp_d[][2] = {
    {0x3ff0000000000000, 0x3ff0000000000000},
    {0x3ff0000000000000, 0x4000000000000000},
    {0x4000000000000000, 0x3ff0000000000000},
    {0x8000000000000000, 0x0000000000000000},
    {0x0000000000000000, 0x8000000000000000},
    {0xbff0000000000000, 0x3ff0000000000000},
    {0xfff0000000000000, 0xfff0000000000000},
    {0xfff0000000000000, 0x7ff0000000000000},
    {0x0000000000000001, 0x0000000000000002},
    {0x8000000000000001, 0x0000000000000000},
    {0x7ff8000000000000, 0x3ff0000000000000},
    {0x3ff0000000000000, 0xfff8000000012345},
    {0x7ff8000000000000, 0x7ff8000000000000},
    {0x7ff0000000000001, 0x3ff0000000000000},
    {0x3ff0000000000000, 0xfff0000000000001},
};

/* ---- fsgnj ----------------------------------------------------------- */

static const uint64_t t_sgnj_s[][2] = {
    {0x3f800000, 0x40000000}, {0x3f800000, 0xc0000000},
    {0xbf800000, 0x40000000}, {0xbf800000, 0xc0000000},
    {0x7f800001, 0x80000000},            /* sNaN: bits kept, no NV */
    {0xffc12345, 0x00000000},
    {0x80000000, 0x80000000},            /* fsgnjx of equal: fabs */
    {NB(0xbf800000), 0xc0000000},        /* not boxed rs1: canonical NaN */
    {0xbf800000, NB(0xc0000000)},        /* not boxed rs2: sign of 0x7fc00000 */
};
static const uint64_t t_sgnj_d[][2] = {
    {0x3ff0000000000000, 0x4000000000000000},
    {0x3ff0000000000000, 0xc000000000000000},
    {0xbff0000000000000, 0x4000000000000000},
    {0xbff0000000000000, 0xc000000000000000},
    {0x7ff0000000000001, 0x8000000000000000},
    {0xfff8000000012345, 0x0000000000000000},
    {0x8000000000000000, 0x8000000000000000},
    {0xffffffff3f800000, 0x0000000000000000},  /* a boxed single: just bits */
};

/* ---- moves ----------------------------------------------------------- */

static const uint64_t t_fmv_x_w[][1] = {
    {0x3f800000}, {0x80000000}, {0xbf800000}, {0x7f800001}, {0x7fffffff},
    {0x123456789abcdef0UL},              /* not boxed: low 32 bits */
    {0x00000001ffffffffUL},
};
static const uint64_t t_fmv_w_x[][1] = {
    {0x0000000000000000}, {0x000000003f800000}, {0x00000000ff800001},
    {0x123456789abcdef0}, {0xffffffff7fffffff}, {0xffffffffffffffff},
};
static const uint64_t t_fmv_d[][1] = {
    {0x0000000000000000}, {0x8000000000000000}, {0x7ff0000000000001},
    {0x123456789abcdef0}, {0xffffffff3f800000}, {0xffffffffffffffff},
};

/* ---- NaN-boxing: single operations on non-boxed registers ------------- */

/* register images as they are (kind 'S'): the first four are not boxed */
static const uint64_t t_nb1[][1] = {
    {0x000000003f800000UL}, {0x000000013f800000UL}, {0xfffffffe3f800000UL},
    {0x7fffffff3f800000UL}, {0xffffffff3f800000UL},
};
static const uint64_t t_nb2[][2] = {
    {0x000000003f800000UL, 0xffffffff3f800000UL},
    {0xffffffff3f800000UL, 0xfffffffe40000000UL},
    {0x000000007f800001UL, 0xffffffff3f800000UL},  /* not an sNaN: quiet */
    {0xffffffff7f800001UL, 0xffffffff3f800000UL},  /* a boxed sNaN: NV */
};
static const uint64_t t_nb3[][3] = {
    {0xffffffff3f800000UL, 0xffffffff3f800000UL, 0x000000003f800000UL},
    {0x000000007f800000UL, 0xffffffff00000000UL, 0xffffffff3f800000UL},
};
/* boxed singles as .d operands: negative quiet NaNs */
static const uint64_t t_boxed_d[][2] = {
    {0xffffffff3f800000UL, 0x3ff0000000000000UL},
    {0x3ff0000000000000UL, 0xffffffff00000000UL},
};

/* instruction definitions */
DEF_NORM(do_fclass_s, ASM_TO_X, "fclass.s %[v], ft0")
DEF_NORM(do_fclass_d, ASM_TO_X, "fclass.d %[v], ft0")
DEF_NORM(do_fmin_s, ASM_TO_F, "fmin.s ft3, ft0, ft1")
DEF_NORM(do_fmax_s, ASM_TO_F, "fmax.s ft3, ft0, ft1")
DEF_NORM(do_fmin_d, ASM_TO_F, "fmin.d ft3, ft0, ft1")
DEF_NORM(do_fmax_d, ASM_TO_F, "fmax.d ft3, ft0, ft1")
DEF_NORM(do_feq_s, ASM_TO_X, "feq.s %[v], ft0, ft1")
DEF_NORM(do_flt_s, ASM_TO_X, "flt.s %[v], ft0, ft1")
DEF_NORM(do_fle_s, ASM_TO_X, "fle.s %[v], ft0, ft1")
DEF_NORM(do_feq_d, ASM_TO_X, "feq.d %[v], ft0, ft1")
DEF_NORM(do_flt_d, ASM_TO_X, "flt.d %[v], ft0, ft1")
DEF_NORM(do_fle_d, ASM_TO_X, "fle.d %[v], ft0, ft1")
DEF_NORM(do_fsgnj_s, ASM_TO_F, "fsgnj.s ft3, ft0, ft1")
DEF_NORM(do_fsgnjn_s, ASM_TO_F, "fsgnjn.s ft3, ft0, ft1")
DEF_NORM(do_fsgnjx_s, ASM_TO_F, "fsgnjx.s ft3, ft0, ft1")
DEF_NORM(do_fsgnj_d, ASM_TO_F, "fsgnj.d ft3, ft0, ft1")
DEF_NORM(do_fsgnjn_d, ASM_TO_F, "fsgnjn.d ft3, ft0, ft1")
DEF_NORM(do_fsgnjx_d, ASM_TO_F, "fsgnjx.d ft3, ft0, ft1")
DEF_NORM(do_fmv_x_w, ASM_TO_X, "fmv.x.w %[v], ft0")
DEF_NORM(do_fmv_w_x, ASM_X_TO_F, "fmv.w.x ft3, %[a]")
DEF_NORM(do_fmv_x_d, ASM_TO_X, "fmv.x.d %[v], ft0")
DEF_NORM(do_fmv_d_x, ASM_X_TO_F, "fmv.d.x ft3, %[a]")
DEF_NORM(do_fadd_s, ASM_TO_F, "fadd.s ft3, ft0, ft1")
DEF_NORM(do_fsqrt_s, ASM_TO_F, "fsqrt.s ft3, ft0")
DEF_NORM(do_fmadd_s, ASM_TO_F, "fmadd.s ft3, ft0, ft1, ft2")
DEF_NORM(do_fcvt_d_s, ASM_TO_F, "fcvt.d.s ft3, ft0")
DEF_NORM(do_fcvt_w_s, ASM_TO_X, "fcvt.w.s %[v], ft0, rne")
DEF_NORM(do_fadd_d, ASM_TO_F, "fadd.d ft3, ft0, ft1")
DEF_NORM(do_fcvt_s_d, ASM_TO_F, "fcvt.s.d ft3, ft0")

#define RUN(name, fn, kinds, tab) run_norm(name, fn, kinds, tab[0], ROWS(tab))

static void __attribute__((noinline)) ops(void)
{
    puts("-- fclass");
    RUN("fclass.s", do_fclass_s, "si", t_class_s);
    RUN("fclass.d", do_fclass_d, "di", t_class_d);
    puts("-- fmin/fmax");
    RUN("fmin.s", do_fmin_s, "sss", t_minmax_s);
    RUN("fmax.s", do_fmax_s, "sss", t_minmax_s);
    RUN("fmin.d", do_fmin_d, "ddd", t_minmax_d);
    RUN("fmax.d", do_fmax_d, "ddd", t_minmax_d);
    puts("-- feq/flt/fle");
    RUN("feq.s", do_feq_s, "ssi", t_cmp_s);
    RUN("flt.s", do_flt_s, "ssi", t_cmp_s);
    RUN("fle.s", do_fle_s, "ssi", t_cmp_s);
    RUN("feq.d", do_feq_d, "ddi", t_cmp_d);
    RUN("flt.d", do_flt_d, "ddi", t_cmp_d);
    RUN("fle.d", do_fle_d, "ddi", t_cmp_d);
    puts("-- fsgnj/fsgnjn/fsgnjx");
    RUN("fsgnj.s", do_fsgnj_s, "sss", t_sgnj_s);
    RUN("fsgnjn.s", do_fsgnjn_s, "sss", t_sgnj_s);
    RUN("fsgnjx.s", do_fsgnjx_s, "sss", t_sgnj_s);
    RUN("fsgnj.d", do_fsgnj_d, "ddd", t_sgnj_d);
    RUN("fsgnjn.d", do_fsgnjn_d, "ddd", t_sgnj_d);
    RUN("fsgnjx.d", do_fsgnjx_d, "ddd", t_sgnj_d);
    puts("-- moves");
    RUN("fmv.x.w", do_fmv_x_w, "si", t_fmv_x_w);
    RUN("fmv.w.x", do_fmv_w_x, "is", t_fmv_w_x);
    RUN("fmv.x.d", do_fmv_x_d, "di", t_fmv_d);
    RUN("fmv.d.x", do_fmv_d_x, "id", t_fmv_d);
    puts("-- NaN-boxing: non-boxed single operands are the canonical NaN");
    RUN("fsqrt.s", do_fsqrt_s, "SS", t_nb1);
    RUN("fcvt.d.s", do_fcvt_d_s, "Sd", t_nb1);
    RUN("fcvt.w.s", do_fcvt_w_s, "Si", t_nb1);
    RUN("fclass.s", do_fclass_s, "Si", t_nb1);
    RUN("fmv.x.w", do_fmv_x_w, "Si", t_nb1);
    RUN("fadd.s", do_fadd_s, "SSS", t_nb2);
    RUN("feq.s", do_feq_s, "SSi", t_nb2);
    RUN("fmin.s", do_fmin_s, "SSS", t_nb2);
    RUN("fsgnj.s", do_fsgnj_s, "SSS", t_nb2);
    RUN("fmadd.s", do_fmadd_s, "SSSS", t_nb3);
    puts("-- NaN-boxing: a boxed single is a NaN to the .d operations");
    RUN("fadd.d", do_fadd_d, "ddd", t_boxed_d);
    RUN("fcvt.s.d", do_fcvt_s_d, "ds", t_boxed_d);
}

/* ---- loads and stores ------------------------------------------------ */

static volatile uint64_t mem[8] __attribute__((aligned(64)));

static void show_mem(const char *what, uint64_t reg, uint64_t flags)
{
    printf("%-34s reg %016lx mem %016lx %016lx flags ", what, reg, mem[1],
           mem[0]);
    put_flags(flags);
    putchar('\n');
}

static void __attribute__((noinline)) loads_stores(void)
{
    uint64_t r, f;
    volatile uint64_t *m = mem;

    puts("-- loads and stores (reg = the f register as fmv.x.d reads it)");

    /* flw boxes, keeps an sNaN's payload, raises nothing */
    m[0] = 0x5555555500000000UL | 0x7f800001;
    m[1] = 0;
    __asm__ volatile("fmv.d.x ft0, zero\n\t"
                     "fsflags zero\n\t"
                     "flw ft0, 0(%[p])\n\t"
                     "frflags %[f]\n\t"
                     "fmv.x.d %[r], ft0"
                     : [r] "=&r"(r), [f] "=&r"(f) : [p] "r"(m) : "ft0", "memory");
    show_mem("flw sNaN", r, f);

    __asm__ volatile("fsflags zero\n\t"
                     "flw ft0, 4(%[p])\n\t"        /* upper half of m[0] */
                     "frflags %[f]\n\t"
                     "fmv.x.d %[r], ft0"
                     : [r] "=&r"(r), [f] "=&r"(f) : [p] "r"(m) : "ft0", "memory");
    show_mem("flw offset 4", r, f);

    /* fsw stores the low 32 bits of a non-boxed register as they are */
    m[0] = 0x1111111111111111UL;
    m[1] = 0x2222222222222222UL;
    __asm__ volatile("li t0, 0x123456787fa00001\n\t"
                     "fmv.d.x ft0, t0\n\t"
                     "fsflags zero\n\t"
                     "fsw ft0, 4(%[p])\n\t"
                     "frflags %[f]\n\t"
                     "fmv.x.d %[r], ft0"
                     : [r] "=&r"(r), [f] "=&r"(f) : [p] "r"(m) : "t0", "ft0", "memory");
    show_mem("fsw non-boxed at +4", r, f);

    /* fld / fsd with a negative offset */
    m[0] = 0x7ff0000000000001UL;
    m[1] = 0;
    __asm__ volatile("addi t0, %[p], 16\n\t"
                     "fsflags zero\n\t"
                     "fld ft0, -16(t0)\n\t"
                     "fsd ft0, -8(t0)\n\t"
                     "frflags %[f]\n\t"
                     "fmv.x.d %[r], ft0"
                     : [r] "=&r"(r), [f] "=&r"(f) : [p] "r"(m) : "t0", "ft0", "memory");
    show_mem("fld -16 / fsd -8 (sNaN)", r, f);

    /* compressed: c.fld/c.fsd (f8-f15, base x8-x15), c.fldsp/c.fsdsp */
    m[0] = 0xc00921fb54442d18UL;
    m[1] = 0;
    __asm__ volatile("mv a5, %[p]\n\t"
                     "fsflags zero\n\t"
                     "c.fld fa4, 0(a5)\n\t"
                     "c.fsd fa4, 8(a5)\n\t"
                     "frflags %[f]\n\t"
                     "fmv.x.d %[r], fa4"
                     : [r] "=&r"(r), [f] "=&r"(f) : [p] "r"(m) : "a5", "fa4", "memory");
    show_mem("c.fld 0 / c.fsd 8", r, f);

    m[0] = 0;
    m[1] = 0;
    __asm__ volatile("li t0, 0x0123456789abcdef\n\t"
                     "fmv.d.x fa2, t0\n\t"
                     "addi sp, sp, -32\n\t"
                     "c.fsdsp fa2, 24(sp)\n\t"
                     "c.fldsp fa3, 24(sp)\n\t"
                     "ld t1, 24(sp)\n\t"
                     "addi sp, sp, 32\n\t"
                     "sd t1, 0(%[p])\n\t"
                     "fmv.x.d %[r], fa3"
                     : [r] "=&r"(r) : [p] "r"(m) : "t0", "t1", "fa2", "fa3", "memory");
    show_mem("c.fsdsp 24 / c.fldsp 24 (sp)", r, 0);

    /* the compressed forms were really used: check their encodings */
    uint16_t enc[4];
    __asm__ volatile("la t0, 1f\n\t"
                     "lhu t1, 0(t0)\n\t"  "sh t1, 0(%[e])\n\t"
                     "lhu t1, 2(t0)\n\t"  "sh t1, 2(%[e])\n\t"
                     "lhu t1, 4(t0)\n\t"  "sh t1, 4(%[e])\n\t"
                     "lhu t1, 6(t0)\n\t"  "sh t1, 6(%[e])\n\t"
                     "j 2f\n"
                     "1:\n\t"
                     "c.fld fa4, 0(a5)\n\t"
                     "c.fsd fa4, 8(a5)\n\t"
                     "c.fsdsp fa2, 24(sp)\n\t"
                     "c.fldsp fa3, 24(sp)\n"
                     "2:"
                     : : [e] "r"(enc) : "t0", "t1", "memory");
    printf("encodings c.fld %04x c.fsd %04x c.fsdsp %04x c.fldsp %04x\n",
           enc[0], enc[1], enc[2], enc[3]);
}

int main(void)
{
    fp_enable();
    puts("fp_misc: flags V=NV Z=DZ O=OF U=UF X=NX");
    ops();
    loads_stores();
    puts("fp_misc: done");
    return 0;
}
