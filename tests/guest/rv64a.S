/*
 * rv64a.S - the RV64A atomics on a single hart.
 *
 *  - LR/SC: SC succeeds (rd = 0) right after a matching LR and fails
 *    (rd = 1, as QEMU reports, memory untouched) with no reservation, on a
 *    second SC after a successful one, and lr.w sign-extends.
 *  - every AMO in .w and .d form returns the old memory value (.w
 *    sign-extended to 64 bits) and stores op(old, rs2); .w ops use only the
 *    low 32 bits of rs2 and leave the neighbouring word alone.
 *  - the aq/rl encodings execute.
 * (multihart.S tests AMOs under contention.)
 */
#include "testmacros.h"

    .option norvc

/* buf = init (dword); a0 = op(a2 = x, (buf)); check a0 == old, buf == new */
.macro TEST_AMO op, init, x, old, new
    la      a1, amo_buf
    li      t0, \init
    sd      t0, 0(a1)
    li      a2, \x
    \op     a0, a2, (a1)
    CHECK   \old
    ld      a0, 0(a1)
    CHECK   \new
.endm

    TESTS_BEGIN "rv64a"

/* ------------------------------------------------------------------ */
    SECTION "lr/sc.w"
    la      a1, amo_buf
    li      t0, 0x5a5a5a5a80000000
    sd      t0, 0(a1)
    /* no LR has executed on this hart yet: the SC must fail */
    li      t1, 0x11
    sc.w    a0, t1, (a1)
    CHECK   1
    ld      a0, 0(a1)
    CHECK   0x5a5a5a5a80000000
    /* lr.w sign-extends the loaded word */
    lr.w    a0, (a1)
    CHECK   0xffffffff80000000
    li      t1, 0x1234
    sc.w    a0, t1, (a1)            /* succeeds, rd = 0 */
    CHECK   0
    ld      a0, 0(a1)
    CHECK   0x5a5a5a5a00001234
    li      t1, 0x5678
    sc.w    a0, t1, (a1)            /* reservation already used: fails */
    CHECK   1
    ld      a0, 0(a1)
    CHECK   0x5a5a5a5a00001234
    /* lr.w/sc.w on the upper word of the dword */
    addi    a3, a1, 4
    lr.w    a0, (a3)
    CHECK   0x5a5a5a5a
    li      t1, -2
    sc.w    a0, t1, (a3)
    CHECK   0
    ld      a0, 0(a1)
    CHECK   0xfffffffe00001234
    /* sc.w stores only the low 32 bits of rs2 */
    lr.w    a0, (a1)
    li      t1, 0x7777777700000042
    sc.w    a0, t1, (a1)
    CHECK   0
    ld      a0, 0(a1)
    CHECK   0xfffffffe00000042
    /* rd == rs2 on sc: the store uses the old rs2 */
    lr.w    a0, (a1)
    li      t2, 0x99
    sc.w    t2, t2, (a1)
    CHECK_REG t2, 0
    lw      a0, 0(a1)
    CHECK   0x99
    DONE

/* ------------------------------------------------------------------ */
    SECTION "lr/sc.d"
    la      a1, amo_buf
    li      t0, 0x8000000000000001
    sd      t0, 0(a1)
    li      t1, 0x1111
    sc.d    a0, t1, (a1)            /* the last SC consumed the reservation */
    CHECK   1
    lr.d    a0, (a1)
    CHECK   0x8000000000000001
    li      t1, 0x0123456789abcdef
    sc.d    a0, t1, (a1)
    CHECK   0
    ld      a0, 0(a1)
    CHECK   0x0123456789abcdef
    li      t1, 0
    sc.d    a0, t1, (a1)
    CHECK   1
    ld      a0, 0(a1)
    CHECK   0x0123456789abcdef
    /* an LR/SC increment loop, 100 times */
    sd      zero, 0(a1)
    li      t2, 100
1:  lr.d    t0, (a1)
    addi    t0, t0, 3
    sc.d    t1, t0, (a1)
    bnez    t1, 1b
    addi    t2, t2, -1
    bnez    t2, 1b
    ld      a0, 0(a1)
    CHECK   300
    DONE

/* ------------------------------------------------------------------ */
    SECTION "amo*.w"
    TEST_AMO amoswap.w, 0x5a5a5a5a12345678, 0x00000000deadbeef, 0x0000000012345678, 0x5a5a5a5adeadbeef
    TEST_AMO amoswap.w, 0x5a5a5a5a80000000, 0x1111111100000001, 0xffffffff80000000, 0x5a5a5a5a00000001
    TEST_AMO amoadd.w, 0x5a5a5a5a7fffffff, 0x0000000000000001, 0x000000007fffffff, 0x5a5a5a5a80000000
    TEST_AMO amoadd.w, 0x5a5a5a5affffffff, 0xffffffff00000001, 0xffffffffffffffff, 0x5a5a5a5a00000000
    TEST_AMO amoand.w, 0x5a5a5a5af0f0f0f0, 0xffffffffff00ff00, 0xfffffffff0f0f0f0, 0x5a5a5a5af000f000
    TEST_AMO amoor.w, 0x5a5a5a5a80000000, 0x0000000000000001, 0xffffffff80000000, 0x5a5a5a5a80000001
    TEST_AMO amoxor.w, 0x5a5a5a5affff0000, 0x00000000ffffffff, 0xffffffffffff0000, 0x5a5a5a5a0000ffff
    TEST_AMO amomax.w, 0x5a5a5a5affffffff, 0x0000000000000001, 0xffffffffffffffff, 0x5a5a5a5a00000001
    TEST_AMO amomax.w, 0x5a5a5a5a00000005, 0x00000000fffffffb, 0x0000000000000005, 0x5a5a5a5a00000005
    TEST_AMO amomax.w, 0x5a5a5a5a80000000, 0x000000007fffffff, 0xffffffff80000000, 0x5a5a5a5a7fffffff
    TEST_AMO amomin.w, 0x5a5a5a5affffffff, 0x0000000000000001, 0xffffffffffffffff, 0x5a5a5a5affffffff
    TEST_AMO amomin.w, 0x5a5a5a5a7fffffff, 0x0000000080000000, 0x000000007fffffff, 0x5a5a5a5a80000000
    TEST_AMO amomin.w, 0x5a5a5a5a00000003, 0xffffffff00000007, 0x0000000000000003, 0x5a5a5a5a00000003
    TEST_AMO amomaxu.w, 0x5a5a5a5affffffff, 0x0000000000000001, 0xffffffffffffffff, 0x5a5a5a5affffffff
    TEST_AMO amomaxu.w, 0x5a5a5a5a00000001, 0x0000000080000000, 0x0000000000000001, 0x5a5a5a5a80000000
    TEST_AMO amominu.w, 0x5a5a5a5affffffff, 0x0000000000000001, 0xffffffffffffffff, 0x5a5a5a5a00000001
    TEST_AMO amominu.w, 0x5a5a5a5a80000000, 0x000000007fffffff, 0xffffffff80000000, 0x5a5a5a5a7fffffff
    DONE

/* ------------------------------------------------------------------ */
    SECTION "amo*.d"
    TEST_AMO amoswap.d, 0x0123456789abcdef, 0xfedcba9876543210, 0x0123456789abcdef, 0xfedcba9876543210
    TEST_AMO amoadd.d, 0x7fffffffffffffff, 0x0000000000000001, 0x7fffffffffffffff, 0x8000000000000000
    TEST_AMO amoadd.d, 0xffffffffffffffff, 0x0000000000000002, 0xffffffffffffffff, 0x0000000000000001
    TEST_AMO amoand.d, 0xff00ff00ff00ff00, 0x0ff00ff00ff00ff0, 0xff00ff00ff00ff00, 0x0f000f000f000f00
    TEST_AMO amoor.d, 0x8000000000000000, 0x00000000ffffffff, 0x8000000000000000, 0x80000000ffffffff
    TEST_AMO amoxor.d, 0xaaaaaaaaaaaaaaaa, 0xffffffff00000000, 0xaaaaaaaaaaaaaaaa, 0x55555555aaaaaaaa
    TEST_AMO amomax.d, 0xffffffffffffffff, 0x0000000000000001, 0xffffffffffffffff, 0x0000000000000001
    TEST_AMO amomax.d, 0x8000000000000000, 0x7fffffffffffffff, 0x8000000000000000, 0x7fffffffffffffff
    TEST_AMO amomax.d, 0x00000000ffffffff, 0x0000000100000000, 0x00000000ffffffff, 0x0000000100000000
    TEST_AMO amomin.d, 0xffffffffffffffff, 0x0000000000000001, 0xffffffffffffffff, 0xffffffffffffffff
    TEST_AMO amomin.d, 0x8000000000000000, 0x7fffffffffffffff, 0x8000000000000000, 0x8000000000000000
    TEST_AMO amomaxu.d, 0xffffffffffffffff, 0x0000000000000001, 0xffffffffffffffff, 0xffffffffffffffff
    TEST_AMO amomaxu.d, 0x7fffffffffffffff, 0x8000000000000000, 0x7fffffffffffffff, 0x8000000000000000
    TEST_AMO amominu.d, 0xffffffffffffffff, 0x0000000000000001, 0xffffffffffffffff, 0x0000000000000001
    TEST_AMO amominu.d, 0x8000000000000000, 0x7fffffffffffffff, 0x8000000000000000, 0x7fffffffffffffff
    DONE

/* ------------------------------------------------------------------ */
    SECTION "amo misc"
    /* rd = x0: memory is still updated */
    la      a1, amo_buf
    li      t0, 40
    sd      t0, 0(a1)
    li      a2, 2
    amoadd.d x0, a2, (a1)
    ld      a0, 0(a1)
    CHECK   42
    /* rd == rs2: the operand is read before rd is written */
    li      a2, 8
    amoadd.d a2, a2, (a1)
    CHECK_REG a2, 42
    ld      a0, 0(a1)
    CHECK   50
    /* .w on the upper half of a dword */
    li      t0, 0x00000001fffffff0
    sd      t0, 0(a1)
    li      a2, 0x10
    addi    a3, a1, 4
    amoadd.w a0, a2, (a3)
    CHECK   1
    ld      a0, 0(a1)
    CHECK   0x00000011fffffff0
    DONE

/* ------------------------------------------------------------------ */
    SECTION "aq/rl"
    la      a1, amo_buf
    sd      zero, 0(a1)
    li      a2, 1
    amoadd.w.aq   x0, a2, (a1)
    amoadd.w.rl   x0, a2, (a1)
    amoadd.w.aqrl x0, a2, (a1)
    amoadd.d.aq   x0, a2, (a1)
    amoadd.d.rl   x0, a2, (a1)
    amoadd.d.aqrl x0, a2, (a1)
    amoswap.d.aqrl a0, a2, (a1)     /* old value 6, memory 1 */
    CHECK   6
    amoor.w.aq    x0, a2, (a1)
    amoxor.d.rl   x0, a2, (a1)      /* 1 ^ 1 = 0 */
    amomax.w.aqrl x0, a2, (a1)      /* max(0, 1) = 1 */
    amominu.d.aq  x0, zero, (a1)    /* 0 */
    amomaxu.w.rl  x0, a2, (a1)      /* 1 */
    amomin.d.aqrl x0, a2, (a1)      /* 1 */
    amoand.w.aq   x0, a2, (a1)      /* 1 */
    ld      a0, 0(a1)
    CHECK   1
    lr.w.aq     a0, (a1)
    CHECK   1
    li      t0, 2
    sc.w.rl     a0, t0, (a1)
    CHECK   0
    lr.d.aqrl   a0, (a1)
    CHECK   2
    li      t0, 3
    sc.d.aqrl   a0, t0, (a1)
    CHECK   0
    lr.w.aqrl   a0, (a1)
    li      t0, 4
    sc.w.aqrl   a0, t0, (a1)
    CHECK   0
    lr.d.aq     a0, (a1)
    li      t0, 5
    sc.d.rl     a0, t0, (a1)
    CHECK   0
    ld      a0, 0(a1)
    CHECK   5
    DONE

    TESTS_END

    .bss
    .balign 16
amo_buf:
    .space  16
