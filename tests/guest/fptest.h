/*
 * fptest.h - shared helpers of the F/D test programs (fp_*.c).
 *
 * Every case loads its operands as raw 64-bit register images with
 * fmv.d.x (so a single-precision operand can be given NaN-boxed or not),
 * clears fflags, runs ONE instruction, then reads fflags and the result
 * (fmv.x.d for an FP destination, so the NaN-boxing of single results is
 * visible).  It prints one line with the operands and, for each result, its
 * bit pattern and the flags it raised:
 *
 *   op operands | rne R F | rtz R F | rdn R F | rup R F | rmm R F | dyn ok
 *       instructions with a rounding mode: the five static modes; "dyn ok"
 *       means the same instruction with rm = dyn and frm = 0..4 gave the
 *       same five results and flags (otherwise they are printed);
 *   op operands -> R F
 *       instructions without one.
 *
 * Values: single-precision registers print as 8 hex digits when they are
 * NaN-boxed (upper 32 bits all ones) and as all 16 digits when they are
 * not; doubles and integer registers as 16 hex digits.
 * Flags F: "-" for none, else the letters of the raised flags in the order
 * V (NV, invalid) Z (DZ, divide by zero) O (OF) U (UF) X (NX, inexact).
 *
 * Operand tables for single precision hold 32-bit patterns, which are
 * NaN-boxed before use; a table value with non-zero upper 32 bits is used
 * as the register image as it is (to test non-boxed inputs), and so is
 * every value of a column of kind K_SR.
 *
 * The programs are built with -march=rv64imafdc (see the Makefile); crt0
 * leaves mstatus.FS = Off, so main calls fp_enable() before anything else.
 */
#ifndef POLYHART_GUEST_FPTEST_H
#define POLYHART_GUEST_FPTEST_H

#include "runtime.h"

#define MSTATUS_FS      (3UL << 13)
#define MSTATUS_FS_INIT (1UL << 13)
#define MSTATUS_SD      (1UL << 63)

/* mstatus.FS = Initial: FP instructions and the FP CSRs become legal. */
static inline void fp_enable(void)
{
    clear_csr(mstatus, MSTATUS_FS);
    set_csr(mstatus, MSTATUS_FS_INIT);
}

static inline void set_frm(uint64_t m)
{
    __asm__ volatile("fsrm %0" : : "r"(m));
}

/* Operand / result kinds, for printing. */
#define K_S 's'     /* single: table values below 2^32 are NaN-boxed */
#define K_SR 'S'    /* single: the table value is the register image */
#define K_D 'd'     /* double */
#define K_I 'i'     /* integer register */

static inline uint64_t box_s(uint64_t v)
{
    return (v >> 32) ? v : (v | 0xffffffff00000000UL);
}

static inline uint64_t fp_operand(int kind, uint64_t v)
{
    return kind == K_S ? box_s(v) : v;
}

static void put_val(int kind, uint64_t v)
{
    if ((kind == K_S || kind == K_SR) && (v >> 32) == 0xffffffffUL)
        printf("%08lx", v & 0xffffffffUL);
    else
        printf("%016lx", v);
}

static void put_flags(uint64_t f)
{
    static const char names[5] = {'X', 'U', 'O', 'Z', 'V'};
    if (f == 0) {
        putchar('-');
        return;
    }
    for (int i = 4; i >= 0; i--)
        if (f & (1UL << i))
            putchar(names[i]);
    if (f >> 5)
        printf("?%lx", f);
}

/* Results of one instruction in the five static modes (0..4) and with
   rm = dyn and frm = 0..4 (5..9). */
struct rmres {
    uint64_t v[10], f[10];
};

static const char *const rm_names[5] = {"rne", "rtz", "rdn", "rup", "rmm"};

static void __attribute__((unused)) put_rmres(int rkind, const struct rmres *r)
{
    int same = 1;
    for (int m = 0; m < 5; m++) {
        printf(" | %s ", rm_names[m]);
        put_val(rkind, r->v[m]);
        putchar(' ');
        put_flags(r->f[m]);
        if (r->v[m] != r->v[5 + m] || r->f[m] != r->f[5 + m])
            same = 0;
    }
    if (same) {
        puts(" | dyn ok");
        return;
    }
    printf(" | DYN DIFFERS:");
    for (int m = 0; m < 5; m++) {
        printf(" frm=%d ", m);
        put_val(rkind, r->v[5 + m]);
        putchar(' ');
        put_flags(r->f[5 + m]);
    }
    putchar('\n');
}

/* The line's head: the mnemonic padded to 9 columns, then the operands. */
static void put_head(const char *name, const char *kinds, int nops,
                     const uint64_t *ops)
{
    printf("%-9s", name);
    for (int i = 0; i < nops; i++) {
        putchar(' ');
        put_val(kinds[i], ops[i]);
    }
}

/*
 * The instruction templates.  INSN is the mnemonic; the destination is
 * ft3 (FP) or %[v] (integer), the sources ft0/ft1/ft2 (FP) or %[a] (integer).
 */
#define FP_CLOBBERS "ft0", "ft1", "ft2", "ft3"

/* FP destination: rm-form instruction text is INSN " ft3, SRCS, RM" */
#define ASM_TO_F(text, dst_v, dst_f, a, b, c)                               \
    __asm__ volatile("fmv.d.x ft0, %[a]\n\t"                                \
                     "fmv.d.x ft1, %[b]\n\t"                                \
                     "fmv.d.x ft2, %[c]\n\t"                                \
                     "fsflags zero\n\t"                                     \
                     text "\n\t"                                            \
                     "frflags %[f]\n\t"                                     \
                     "fmv.x.d %[v], ft3"                                    \
                     : [v] "=&r"(dst_v), [f] "=&r"(dst_f)                   \
                     : [a] "r"(a), [b] "r"(b), [c] "r"(c)                   \
                     : FP_CLOBBERS)

/* Integer destination %[v]. */
#define ASM_TO_X(text, dst_v, dst_f, a, b, c)                               \
    __asm__ volatile("fmv.d.x ft0, %[a]\n\t"                                \
                     "fmv.d.x ft1, %[b]\n\t"                                \
                     "fmv.d.x ft2, %[c]\n\t"                                \
                     "fsflags zero\n\t"                                     \
                     text "\n\t"                                            \
                     "frflags %[f]"                                         \
                     : [v] "=&r"(dst_v), [f] "=&r"(dst_f)                   \
                     : [a] "r"(a), [b] "r"(b), [c] "r"(c)                   \
                     : FP_CLOBBERS)

/* Integer source %[a], FP destination ft3. */
#define ASM_X_TO_F(text, dst_v, dst_f, a, b, c)                             \
    __asm__ volatile("fsflags zero\n\t"                                     \
                     text "\n\t"                                            \
                     "frflags %[f]\n\t"                                     \
                     "fmv.x.d %[v], ft3"                                    \
                     : [v] "=&r"(dst_v), [f] "=&r"(dst_f)                   \
                     : [a] "r"(a), [b] "r"(b), [c] "r"(c)                   \
                     : FP_CLOBBERS)

/*
 * DEF_RM(fn, ASM, INSN, OPERANDS): a function fn(struct rmres *, a, b, c)
 * running "INSN OPERANDS, <rm>" in all five static modes and dyn.
 */
#define RM_CASE(ASM, insn, operands, rm, i)                                 \
    ASM(insn " " operands ", " rm, r->v[i], r->f[i], a, b, c)

#define DEF_RM(fn, ASM, insn, operands)                                     \
    static void __attribute__((noinline))                                   \
    fn(struct rmres *r, uint64_t a, uint64_t b, uint64_t c)                 \
    {                                                                       \
        RM_CASE(ASM, insn, operands, "rne", 0);                             \
        RM_CASE(ASM, insn, operands, "rtz", 1);                             \
        RM_CASE(ASM, insn, operands, "rdn", 2);                             \
        RM_CASE(ASM, insn, operands, "rup", 3);                             \
        RM_CASE(ASM, insn, operands, "rmm", 4);                             \
        for (int m = 0; m < 5; m++) {                                       \
            set_frm(m);                                                     \
            RM_CASE(ASM, insn, operands, "dyn", 5 + m);                     \
        }                                                                   \
        set_frm(0);                                                         \
    }

/*
 * The same for instructions that the assembler only accepts without a
 * rounding mode (the exact conversions fcvt.d.s, fcvt.d.w, fcvt.d.wu: it
 * encodes rm = rne), built with .insn: "PRE <rm number> POST".
 */
#define RM_CASE_I(ASM, pre, post, rm, i)                                    \
    ASM(pre rm post, r->v[i], r->f[i], a, b, c)

#define DEF_RM_INSN(fn, ASM, pre, post)                                     \
    static void __attribute__((noinline))                                   \
    fn(struct rmres *r, uint64_t a, uint64_t b, uint64_t c)                 \
    {                                                                       \
        RM_CASE_I(ASM, pre, post, "0", 0);                                  \
        RM_CASE_I(ASM, pre, post, "1", 1);                                  \
        RM_CASE_I(ASM, pre, post, "2", 2);                                  \
        RM_CASE_I(ASM, pre, post, "3", 3);                                  \
        RM_CASE_I(ASM, pre, post, "4", 4);                                  \
        for (int m = 0; m < 5; m++) {                                       \
            set_frm(m);                                                     \
            RM_CASE_I(ASM, pre, post, "7", 5 + m);                          \
        }                                                                   \
        set_frm(0);                                                         \
    }

/* Instructions without a rounding mode: one result. */
#define DEF_NORM(fn, ASM, text)                                             \
    static void __attribute__((noinline))                                   \
    fn(uint64_t *v, uint64_t *f, uint64_t a, uint64_t b, uint64_t c)        \
    {                                                                       \
        ASM(text, *v, *f, a, b, c);                                         \
    }

typedef void rm_fn(struct rmres *, uint64_t, uint64_t, uint64_t);
typedef void norm_fn(uint64_t *, uint64_t *, uint64_t, uint64_t, uint64_t);

/*
 * Run fn on each row of a table of operands (nops per row) and print the
 * lines.  kinds: one kind letter (K_S, K_SR, K_D, K_I) per operand, then
 * the result's kind.
 */
static void __attribute__((noinline, unused))
run_rm(const char *name, rm_fn *fn, const char *kinds, const uint64_t *tab,
       int rows)
{
    int nops = (int)strlen(kinds) - 1;
    for (int i = 0; i < rows; i++) {
        uint64_t ops[3] = {0, 0, 0};
        for (int k = 0; k < nops; k++)
            ops[k] = fp_operand(kinds[k], tab[i * nops + k]);
        struct rmres r;
        fn(&r, ops[0], ops[1], ops[2]);
        put_head(name, kinds, nops, ops);
        put_rmres(kinds[nops], &r);
    }
}

static void __attribute__((noinline, unused))
run_norm(const char *name, norm_fn *fn, const char *kinds, const uint64_t *tab,
         int rows)
{
    int nops = (int)strlen(kinds) - 1;
    for (int i = 0; i < rows; i++) {
        uint64_t ops[3] = {0, 0, 0}, v, f;
        for (int k = 0; k < nops; k++)
            ops[k] = fp_operand(kinds[k], tab[i * nops + k]);
        fn(&v, &f, ops[0], ops[1], ops[2]);
        put_head(name, kinds, nops, ops);
        printf(" -> ");
        put_val(kinds[nops], v);
        putchar(' ');
        put_flags(f);
        putchar('\n');
    }
}

#define ROWS(tab) ((int)(sizeof(tab) / sizeof((tab)[0])))

#endif
