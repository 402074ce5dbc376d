/*
 * rv64m.S - the RV64M multiply/divide instructions.
 *
 * Covers the signed/unsigned high-half products, the W forms (which use only
 * the low 32 bits of the operands and sign-extend the 32-bit result), and the
 * architecturally defined corner cases that never trap:
 *   x / 0        = -1 (all ones), x % 0 = x   (also for the W forms,
 *                                              on the low 32 bits)
 *   INT_MIN / -1 = INT_MIN,        INT_MIN % -1 = 0   (64- and 32-bit)
 * Expected values were computed with exact integer arithmetic.
 */
#include "testmacros.h"

    .option norvc

.macro TEST_RR op, exp, v1, v2
    li      a1, \v1
    li      a2, \v2
    \op     a0, a1, a2
    CHECK   \exp
.endm

    TESTS_BEGIN "rv64m"

/* ------------------------------------------------------------------ */
    SECTION "mul"
    TEST_RR mul, 0x0000000000000000, 0, 0
    TEST_RR mul, 0x0000000000000015, 3, 7
    TEST_RR mul, 0x0000000000000001, -1, -1
    TEST_RR mul, 0xffffffffffffffeb, -3, 7
    TEST_RR mul, 0xfffffffffffffffe, 0x7fffffffffffffff, 2
    TEST_RR mul, 0x8000000000000000, 0x8000000000000000, -1
    TEST_RR mul, 0x0000000200000001, 0x100000001, 0x100000001
    TEST_RR mul, 0x2236d88fe5618cf0, 0x123456789abcdef0, 0x0fedcba987654321
    DONE

/* ------------------------------------------------------------------ */
    SECTION "mulh/mulhsu/mulhu"
    TEST_RR mulh, 0x0000000000000000, 0, 0
    TEST_RR mulh, 0x0000000000000000, 3, 7
    TEST_RR mulh, 0x0000000000000000, -1, -1
    TEST_RR mulh, 0xffffffffffffffff, -1, 1
    TEST_RR mulh, 0x4000000000000000, 0x8000000000000000, 0x8000000000000000
    TEST_RR mulh, 0x0000000000000000, 0x8000000000000000, -1
    TEST_RR mulh, 0x3fffffffffffffff, 0x7fffffffffffffff, 0x7fffffffffffffff
    TEST_RR mulh, 0xc000000000000000, 0x8000000000000000, 0x7fffffffffffffff
    TEST_RR mulh, 0xffeb49923cc09532, 0x123456789abcdef0, 0xfedcba9876543210
    TEST_RR mulhsu, 0x0000000000000000, 0, 0
    TEST_RR mulhsu, 0xffffffffffffffff, -1, -1
    TEST_RR mulhsu, 0x0000000000000001, 2, -1
    TEST_RR mulhsu, 0xffffffffffffffff, -2, 1
    TEST_RR mulhsu, 0x8000000000000000, 0x8000000000000000, -1
    TEST_RR mulhsu, 0x7ffffffffffffffe, 0x7fffffffffffffff, -1
    TEST_RR mulhsu, 0xffffffffffffffff, -1, 0x8000000000000000
    TEST_RR mulhsu, 0x121fa00ad77d7422, 0x123456789abcdef0, 0xfedcba9876543210
    TEST_RR mulhu, 0x0000000000000000, 0, 0
    TEST_RR mulhu, 0xfffffffffffffffe, -1, -1
    TEST_RR mulhu, 0x0000000000000001, 2, -1
    TEST_RR mulhu, 0x0000000000000001, 0x8000000000000000, 2
    TEST_RR mulhu, 0x3fffffffffffffff, 0x7fffffffffffffff, 0x7fffffffffffffff
    TEST_RR mulhu, 0x121fa00ad77d7422, 0x123456789abcdef0, 0xfedcba9876543210
    DONE

/* ------------------------------------------------------------------ */
    SECTION "mulw"
    TEST_RR mulw, 0x0000000000000015, 3, 7
    TEST_RR mulw, 0xfffffffffffffffe, 0x7fffffff, 2
    TEST_RR mulw, 0x000000000000000f, 0x100000003, 0x100000005
    TEST_RR mulw, 0x0000000000000001, -1, -1
    TEST_RR mulw, 0xffffffff80000000, 0x80000000, 0xffffffff
    TEST_RR mulw, 0xffffffffe242d208, 0x12345678, 0x9abcdef
    DONE

/* ------------------------------------------------------------------ */
    SECTION "div/divu"
    TEST_RR div, 0x0000000000000003, 20, 6
    TEST_RR div, 0xfffffffffffffffd, -20, 6
    TEST_RR div, 0xfffffffffffffffd, 20, -6
    TEST_RR div, 0x0000000000000003, -20, -6
    TEST_RR div, 0x0000000000000000, 0, 5
    TEST_RR div, 0xffffffffffffffff, 7, 0
    TEST_RR div, 0xffffffffffffffff, -7, 0
    TEST_RR div, 0x8000000000000000, 0x8000000000000000, -1
    TEST_RR div, 0x8000000000000000, 0x8000000000000000, 1
    TEST_RR div, 0x8000000000000001, 0x7fffffffffffffff, -1
    TEST_RR div, 0x0000000000000000, 5, 20
    TEST_RR divu, 0x0000000000000003, 20, 6
    TEST_RR divu, 0x2aaaaaaaaaaaaaa7, -20, 6
    TEST_RR divu, 0xffffffffffffffff, 7, 0
    TEST_RR divu, 0xffffffffffffffff, 0, 0
    TEST_RR divu, 0xffffffffffffffff, -1, 1
    TEST_RR divu, 0x0000000000000000, 0x8000000000000000, -1
    TEST_RR divu, 0x7fffffffffffffff, -1, 2
    DONE

/* ------------------------------------------------------------------ */
    SECTION "rem/remu"
    TEST_RR rem, 0x0000000000000002, 20, 6
    TEST_RR rem, 0xfffffffffffffffe, -20, 6
    TEST_RR rem, 0x0000000000000002, 20, -6
    TEST_RR rem, 0xfffffffffffffffe, -20, -6
    TEST_RR rem, 0x0000000000000007, 7, 0
    TEST_RR rem, 0xfffffffffffffff9, -7, 0
    TEST_RR rem, 0x0000000000000000, 0x8000000000000000, -1
    TEST_RR rem, 0xfffffffffffffffe, 0x8000000000000000, 3
    TEST_RR rem, 0x0000000000000005, 5, 20
    TEST_RR remu, 0x0000000000000002, 20, 6
    TEST_RR remu, 0x0000000000000002, -20, 6
    TEST_RR remu, 0x0000000000000007, 7, 0
    TEST_RR remu, 0xffffffffffffffff, -1, 0
    TEST_RR remu, 0x8000000000000000, 0x8000000000000000, -1
    TEST_RR remu, 0x00000000ffffffff, -1, 0x100000000
    DONE

/* ------------------------------------------------------------------ */
    SECTION "divw/divuw"
    TEST_RR divw, 0x0000000000000003, 20, 6
    TEST_RR divw, 0xfffffffffffffffd, -20, 6
    TEST_RR divw, 0xfffffffffffffffd, 20, -6
    TEST_RR divw, 0xffffffff80000000, 0x80000000, -1
    TEST_RR divw, 0xffffffff80000000, 0xffffffff80000000, -1
    TEST_RR divw, 0xffffffffffffffff, 7, 0
    TEST_RR divw, 0x0000000000000003, 0xffffffff00000014, 6
    TEST_RR divw, 0xffffffff80000000, 0x80000000, 1
    TEST_RR divw, 0x0000000000000007, 0x123456780000000f, 0xabcdef0000000002
    TEST_RR divuw, 0x0000000000000003, 20, 6
    TEST_RR divuw, 0xffffffffffffffff, 0xffffffff, 1
    TEST_RR divuw, 0xffffffff80000000, 0x80000000, 1
    TEST_RR divuw, 0xffffffffffffffff, 7, 0
    TEST_RR divuw, 0x000000007fffffff, 0xffffffff, 2
    TEST_RR divuw, 0x0000000000000007, 0x123456780000000f, 0xabcdef0000000002
    TEST_RR divuw, 0x000000002aaaaaa7, -20, 6
    DONE

/* ------------------------------------------------------------------ */
    SECTION "remw/remuw"
    TEST_RR remw, 0x0000000000000002, 20, 6
    TEST_RR remw, 0xfffffffffffffffe, -20, 6
    TEST_RR remw, 0x0000000000000002, 20, -6
    TEST_RR remw, 0x0000000000000000, 0x80000000, -1
    TEST_RR remw, 0x0000000000000007, 7, 0
    TEST_RR remw, 0xffffffff9abcdef0, 0x123456789abcdef0, 0
    TEST_RR remw, 0x0000000000000002, 0xffffffff00000014, 6
    TEST_RR remw, 0xfffffffffffffff1, 0x80000001, 0x10
    TEST_RR remuw, 0x0000000000000002, 20, 6
    TEST_RR remuw, 0x0000000000000002, -20, 6
    TEST_RR remuw, 0x0000000000000007, 7, 0
    TEST_RR remuw, 0xffffffff9abcdef0, 0x123456789abcdef0, 0
    TEST_RR remuw, 0x0000000000000000, 0xfffffff5, 7
    TEST_RR remuw, 0x0000000000000001, 0x80000001, 0x100000010
    DONE

/* ------------------------------------------------------------------ */
    SECTION "register reuse"
    /* rd aliasing a source; an implementation that fuses mulh+mul or
       div+rem pairs must notice when the first result feeds the second */
    li      a0, 7
    mul     a0, a0, a0
    CHECK   49
    li      a1, -9
    div     a0, a1, a1
    CHECK   1
    li      a1, 100
    li      a2, 7
    div     a3, a1, a2
    rem     a0, a1, a2
    CHECK   2
    mv      a0, a3
    CHECK   14
    li      a1, 100
    li      a2, 7
    div     a1, a1, a2              /* a1 = 14 feeds the rem */
    rem     a0, a1, a2
    CHECK   0
    li      a1, 0x123456789abcdef0
    li      a2, 0x0fedcba987654321
    mulhu   a3, a1, a2
    mul     a0, a1, a2
    CHECK   0x2236d88fe5618cf0
    mv      a0, a3
    CHECK   0x0121fa00ad77d742
    li      a1, -1
    remuw   a1, a1, a1
    mv      a0, a1
    CHECK   0
    DONE

    TESTS_END
