/*
 * rv64i.S - every RV64I base instruction, checked against constants.
 *
 * The whole file is assembled with .option norvc so that every instruction
 * really uses its 32-bit encoding (the assembler would otherwise compress
 * many of them).  Checks are numbered in order; a failure prints the check
 * number and section and exits with that number (see testmacros.h).
 */
#include "testmacros.h"

    .option norvc

/* rd = op(v1, v2) for register-register ops, checked against exp */
.macro TEST_RR op, exp, v1, v2
    li      a1, \v1
    li      a2, \v2
    \op     a0, a1, a2
    CHECK   \exp
.endm

/* rd = op(v1, imm) for register-immediate ops */
.macro TEST_RI op, exp, v1, imm
    li      a1, \v1
    \op     a0, a1, \imm
    CHECK   \exp
.endm

/* Branch `op` on (v1, v2): a0 = 1 if taken (forward), 0 if not. */
.macro TEST_BR op, taken, v1, v2
    li      a1, \v1
    li      a2, \v2
    li      a0, 0
    \op     a1, a2, .Ltaken\@
    j       .Ldone\@
.Ltaken\@:
    li      a0, 1
.Ldone\@:
    CHECK   \taken
.endm

/* The same as a backward branch: jump over the target first. */
.macro TEST_BR_BACK op, taken, v1, v2
    li      a1, \v1
    li      a2, \v2
    li      a0, 0
    j       .Lbranch\@
.Ltaken\@:
    li      a0, 1
    j       .Ldone\@
.Lbranch\@:
    \op     a1, a2, .Ltaken\@
.Ldone\@:
    CHECK   \taken
.endm

/* Load with `op` from load_data+off, check the value. */
.macro TEST_LD op, exp, off
    la      a1, load_data
    \op     a0, \off(a1)
    CHECK   \exp
.endm

    TESTS_BEGIN "rv64i"

/* ------------------------------------------------------------------ */
    SECTION "lui/auipc"
    lui     a0, 0
    CHECK   0
    lui     a0, 0x12345
    CHECK   0x12345000
    lui     a0, 0x7ffff
    CHECK   0x7ffff000
    lui     a0, 0x80000             /* bit 31 set: sign-extended */
    CHECK   0xffffffff80000000
    lui     a0, 0xfffff
    CHECK   0xfffffffffffff000

1:  auipc   a0, 0                   /* a0 = address of this instruction */
    la      t0, 1b
    CHECK_EQ_REG t0
2:  auipc   a0, 1                   /* + 0x1000 */
    la      t0, 2b
    li      t1, 0x1000
    add     t0, t0, t1
    CHECK_EQ_REG t0
3:  auipc   a0, 0xfffff             /* - 0x1000 */
    la      t0, 3b
    li      t1, -0x1000
    add     t0, t0, t1
    CHECK_EQ_REG t0
4:  auipc   a0, 0x80000             /* - 2 GiB: wraps below zero */
    la      t0, 4b
    li      t1, 0xffffffff80000000
    add     t0, t0, t1
    CHECK_EQ_REG t0
    DONE

/* ------------------------------------------------------------------ */
    SECTION "jal/jalr"
    li      a0, 0
    jal     ra, 1f                  /* forward jal writes the link */
    li      a0, 99                  /* skipped */
1:  la      t0, 1b - 4
    mv      t1, ra
    mv      a0, t1
    CHECK_EQ_REG t0

    li      a0, 0
    j       3f
2:  li      a0, 7                   /* backward jal target */
    j       4f
3:  jal     x0, 2b                  /* jal x0: no link written */
4:  CHECK   7

    la      t0, 5f
    jalr    t1, 0(t0)               /* plain jalr, link in t1 */
    li      a0, 99
5:  la      t2, 5b - 4
    mv      a0, t1
    CHECK_EQ_REG t2

    la      t0, 6f - 8
    jalr    t1, 8(t0)               /* positive offset */
    li      a0, 99
6:  la      t0, 7f + 12
    jalr    t1, -12(t0)             /* negative offset (lands on 7:) */
    li      a0, 99
7:  la      t0, 8f + 1              /* odd target: bit 0 is cleared */
    jalr    t1, 0(t0)
    li      a0, 99
8:  la      t0, 9f
    jalr    t0, 0(t0)               /* rd == rs1: target uses old value */
    li      a0, 99
9:  la      t1, 9b - 4
    mv      a0, t0
    CHECK_EQ_REG t1

    /* call/ret through a small function: a0 = a0 * 2 + 1 */
    li      a0, 20
    jal     ra, double_plus_one
    CHECK   41
    DONE

/* ------------------------------------------------------------------ */
    SECTION "branches"
    TEST_BR beq, 1, 0, 0
    TEST_BR beq, 0, 0, 1
    TEST_BR beq, 1, -1, -1
    TEST_BR beq, 0, 0x8000000000000000, 0
    TEST_BR beq, 0, 0x100000000, 0  /* differs only above bit 31 */
    TEST_BR bne, 0, 0, 0
    TEST_BR bne, 1, 0, 1
    TEST_BR bne, 1, 0x100000000, 0
    TEST_BR bne, 0, -5, -5

    TEST_BR blt, 1, -1, 0
    TEST_BR blt, 0, 0, -1
    TEST_BR blt, 0, 5, 5
    TEST_BR blt, 1, 0x8000000000000000, 0x7fffffffffffffff
    TEST_BR blt, 0, 0x7fffffffffffffff, 0x8000000000000000
    TEST_BR blt, 1, -2, -1
    TEST_BR bge, 0, -1, 0
    TEST_BR bge, 1, 0, -1
    TEST_BR bge, 1, 5, 5
    TEST_BR bge, 0, 0x8000000000000000, 0x7fffffffffffffff
    TEST_BR bge, 1, 0x7fffffffffffffff, 0x8000000000000000
    TEST_BR bge, 1, -1, -2

    TEST_BR bltu, 0, -1, 0          /* all-ones is the largest unsigned */
    TEST_BR bltu, 1, 0, -1
    TEST_BR bltu, 0, 5, 5
    TEST_BR bltu, 0, 0x8000000000000000, 0x7fffffffffffffff
    TEST_BR bltu, 1, 0x7fffffffffffffff, 0x8000000000000000
    TEST_BR bltu, 1, 0xffffffff, 0x100000000
    TEST_BR bgeu, 1, -1, 0
    TEST_BR bgeu, 0, 0, -1
    TEST_BR bgeu, 1, 5, 5
    TEST_BR bgeu, 1, 0x8000000000000000, 0x7fffffffffffffff
    TEST_BR bgeu, 0, 0x7fffffffffffffff, 0x8000000000000000

    TEST_BR_BACK beq, 1, 3, 3
    TEST_BR_BACK bne, 0, 3, 3
    TEST_BR_BACK blt, 1, -3, 3
    TEST_BR_BACK bge, 0, -3, 3
    TEST_BR_BACK bltu, 0, -3, 3
    TEST_BR_BACK bgeu, 1, -3, 3

    /* a counted loop with a backward bnez */
    li      a0, 0
    li      a1, 10
1:  addi    a0, a0, 3
    addi    a1, a1, -1
    bnez    a1, 1b
    CHECK   30
    DONE

/* ------------------------------------------------------------------ */
    SECTION "loads"
    /* load_data bytes: 80 01 7f ff  34 12 cd ab  78 56 34 12 f0 de bc 9a */
    TEST_LD lb,  0xffffffffffffff80, 0
    TEST_LD lb,  0x01, 1
    TEST_LD lb,  0x7f, 2
    TEST_LD lb,  0xffffffffffffffff, 3
    TEST_LD lbu, 0x80, 0
    TEST_LD lbu, 0xff, 3
    TEST_LD lh,  0x0180, 0
    TEST_LD lh,  0xffffffffffffff7f, 2
    TEST_LD lh,  0xffffffffffffabcd, 6
    TEST_LD lhu, 0xff7f, 2
    TEST_LD lhu, 0xabcd, 6
    TEST_LD lw,  0xffffffffff7f0180, 0
    TEST_LD lw,  0xffffffffabcd1234, 4
    TEST_LD lw,  0x12345678, 8
    TEST_LD lwu, 0xff7f0180, 0
    TEST_LD lwu, 0xabcd1234, 4
    TEST_LD ld,  0xabcd1234ff7f0180, 0
    TEST_LD ld,  0x9abcdef012345678, 8
    /* negative offsets */
    la      a1, load_data + 16
    lw      a0, -4(a1)
    CHECK   0xffffffff9abcdef0
    lbu     a0, -1(a1)
    CHECK   0x9a
    ld      a0, -16(a1)
    CHECK   0xabcd1234ff7f0180
    /* rd == rs1 */
    la      a0, load_data
    ld      a0, 8(a0)
    CHECK   0x9abcdef012345678
    DONE

/* ------------------------------------------------------------------ */
    SECTION "stores"
    la      a1, store_buf
    li      t0, 0x1111111111111111
    sd      t0, 0(a1)
    sd      t0, 8(a1)
    li      t1, 0xa5a5a5a5a5a5a5a5
    sb      t1, 0(a1)               /* only the low byte is stored */
    ld      a0, 0(a1)
    CHECK   0x11111111111111a5
    sh      t1, 2(a1)
    ld      a0, 0(a1)
    CHECK   0x11111111a5a511a5
    sw      t1, 4(a1)
    ld      a0, 0(a1)
    CHECK   0xa5a5a5a5a5a511a5
    li      t2, 0x0123456789abcdef
    sd      t2, 8(a1)
    ld      a0, 8(a1)
    CHECK   0x0123456789abcdef
    addi    a2, a1, 16
    sb      zero, -1(a2)            /* negative offset, byte 15 */
    sh      zero, -8(a2)            /* bytes 8..9 */
    ld      a0, 8(a1)
    CHECK   0x0023456789ab0000
    sw      zero, -16(a2)
    ld      a0, 0(a1)
    CHECK   0xa5a5a5a500000000
    /* what a store wrote reads back through every load width */
    li      t0, 0xfedcba9876543210
    sd      t0, 16(a1)
    lbu     a0, 23(a1)
    CHECK   0xfe
    lh      a0, 22(a1)
    CHECK   0xfffffffffffffedc
    lwu     a0, 16(a1)
    CHECK   0x76543210
    DONE

/* ------------------------------------------------------------------ */
    SECTION "alu immediate"
    TEST_RI addi, 0, 0, 0
    TEST_RI addi, 2047, 0, 2047
    TEST_RI addi, 0xfffffffffffff800, 0, -2048
    TEST_RI addi, 0x8000000000000000, 0x7fffffffffffffff, 1   /* wraps */
    TEST_RI addi, 0x7fffffffffffffff, 0x8000000000000000, -1
    TEST_RI addi, 0x100000000, 0xffffffff, 1  /* no 32-bit wrap */
    TEST_RI slti, 1, -1, 0
    TEST_RI slti, 0, 0, -1
    TEST_RI slti, 0, 5, 5
    TEST_RI slti, 1, 0x8000000000000000, -2048
    TEST_RI slti, 0, 0x7fffffffffffffff, 2047
    TEST_RI sltiu, 1, 0, 1          /* seqz */
    TEST_RI sltiu, 0, 1, 1
    TEST_RI sltiu, 1, 0xfffffffffffffffe, -1  /* imm sign-extends to max */
    TEST_RI sltiu, 0, -1, -1
    TEST_RI sltiu, 0, 0x800, 0x7ff
    TEST_RI xori, 0xfffffffffffffff0, 0xf, -1 /* not */
    TEST_RI xori, 0x00ff00ff00ff070f, 0x00ff00ff00ff00f0, 0x7ff
    TEST_RI ori,  0xfffffffffffff800, 0, -2048
    TEST_RI ori,  0x1234567f, 0x12345670, 0xf
    TEST_RI andi, 0x70, 0x12345670, 0xf0
    TEST_RI andi, 0xff00ff00ff00f800, 0xff00ff00ff00ff00, -2048
    TEST_RI slli, 0x8000000000000001, 0x8000000000000001, 0
    TEST_RI slli, 2, 1, 1
    TEST_RI slli, 0x80000000, 1, 31
    TEST_RI slli, 0x100000000, 1, 32
    TEST_RI slli, 0x8000000000000000, 1, 63
    TEST_RI slli, 0xfffffffe00000000, 0xffffffff, 33
    TEST_RI srli, 0x8000000000000000, 0x8000000000000000, 0
    TEST_RI srli, 0x4000000000000000, 0x8000000000000000, 1
    TEST_RI srli, 0x100000000, 0x8000000000000000, 31
    TEST_RI srli, 0x80000000, 0x8000000000000000, 32
    TEST_RI srli, 1, 0x8000000000000000, 63
    TEST_RI srli, 1, -1, 63
    TEST_RI srai, 0x8000000000000000, 0x8000000000000000, 0
    TEST_RI srai, 0xc000000000000000, 0x8000000000000000, 1
    TEST_RI srai, 0xffffffff00000000, 0x8000000000000000, 31
    TEST_RI srai, 0xffffffff80000000, 0x8000000000000000, 32
    TEST_RI srai, 0xffffffffffffffff, 0x8000000000000000, 63
    TEST_RI srai, 0, 0x7fffffffffffffff, 63
    TEST_RI srai, 0x3fffffff, 0x7fffffffffffffff, 33
    DONE

/* ------------------------------------------------------------------ */
    SECTION "alu register"
    TEST_RR add, 0, 0, 0
    TEST_RR add, 0x8000000000000000, 0x7fffffffffffffff, 1
    TEST_RR add, 0, -1, 1
    TEST_RR add, 0x100000000, 0xffffffff, 1
    TEST_RR sub, 0, 5, 5
    TEST_RR sub, 0xffffffffffffffff, 0, 1
    TEST_RR sub, 0x7fffffffffffffff, 0x8000000000000000, 1
    TEST_RR sub, 0x8000000000000000, 0, 0x8000000000000000
    TEST_RR sll, 0x100000000, 1, 32
    TEST_RR sll, 0x8000000000000000, 1, 63
    TEST_RR sll, 1, 1, 64           /* only rs2[5:0] counts: 64 -> 0 */
    TEST_RR sll, 2, 1, 65
    TEST_RR sll, 0x8000000000000000, 1, -1
    TEST_RR sll, 0xfffffffff0000000, 0xffffffffffffff, 28
    TEST_RR srl, 1, 0x8000000000000000, 63
    TEST_RR srl, 0x80000000, 0x8000000000000000, 32
    TEST_RR srl, 0x8000000000000000, 0x8000000000000000, 64
    TEST_RR srl, 1, -1, -1
    TEST_RR sra, 0xffffffffffffffff, 0x8000000000000000, 63
    TEST_RR sra, 0xffffffff80000000, 0x8000000000000000, 32
    TEST_RR sra, 0x8000000000000000, 0x8000000000000000, 0x40
    TEST_RR sra, 0x7fff0000, 0x7fff000000000000, 0xffffffffffffffe0 /* 32 */
    TEST_RR slt, 1, -1, 0
    TEST_RR slt, 0, 0, -1
    TEST_RR slt, 0, 7, 7
    TEST_RR slt, 1, 0x8000000000000000, 0x7fffffffffffffff
    TEST_RR slt, 0, 0x7fffffffffffffff, 0x8000000000000000
    TEST_RR sltu, 0, -1, 0
    TEST_RR sltu, 1, 0, -1
    TEST_RR sltu, 0, 7, 7
    TEST_RR sltu, 0, 0x8000000000000000, 0x7fffffffffffffff
    TEST_RR sltu, 1, 0x7fffffffffffffff, 0x8000000000000000
    TEST_RR sltu, 1, 0xffffffff, 0x100000000
    TEST_RR xor, 0xff0ff00f0f0ff00f, 0x00ff00ff00ff00ff, 0xfff0f0f00ff0f0f0
    TEST_RR or,  0xfffff0fff0fff0ff, 0x00ff00ff00ff00ff, 0xfff0f00ff00ff0f0
    TEST_RR and, 0x00f0000f000f00f0, 0x00ff00ff00ff00ff, 0xfff0f00ff00ff0f0
    /* operand registers shared with the destination */
    li      a0, 21
    add     a0, a0, a0
    CHECK   42
    li      a0, 0x5a5a
    xor     a0, a0, a0
    CHECK   0
    li      a0, 12345
    sub     a0, a0, a0
    CHECK   0
    DONE

/* ------------------------------------------------------------------ */
    SECTION "word ops"
    TEST_RI addiw, 0xffffffff80000000, 0x7fffffff, 1      /* 32-bit wrap */
    TEST_RI addiw, 0x7fffffff, 0xffffffff80000000, -1
    TEST_RI addiw, 0x00000000, 0xffffffff, 1
    TEST_RI addiw, 0xffffffff80000000, 0x123456780000000, 0  /* sext.w */
    TEST_RI addiw, 0x7ff, 0xfffffffe00000000, 2047           /* upper ignored */
    TEST_RI addiw, 0xfffffffffffff800, 0, -2048
    TEST_RI slliw, 0xffffffff80000000, 1, 31
    TEST_RI slliw, 0x12345678, 0x12345678, 0
    TEST_RI slliw, 0xffffffffabcd0000, 0xffffffff1234abcd, 16
    TEST_RI slliw, 0, 0x100000000, 1
    TEST_RI srliw, 0xffffffff80000000, 0x80000000, 0      /* shift 0 still sign-extends */
    TEST_RI srliw, 0x40000000, 0x80000000, 1
    TEST_RI srliw, 1, 0x80000000, 31
    TEST_RI srliw, 0x7fffffff, 0xfffffffffffffffe, 1     /* upper bits ignored */
    TEST_RI sraiw, 0xffffffffc0000000, 0x80000000, 1
    TEST_RI sraiw, 0xffffffffffffffff, 0x80000000, 31
    TEST_RI sraiw, 0x3fffffff, 0xffffffff7fffffff, 1     /* bit 31 is the sign */
    TEST_RI sraiw, 0x1234, 0x1234, 0
    TEST_RR addw, 0xffffffff80000000, 0x7fffffff, 1
    TEST_RR addw, 0, 0xffffffff, 1
    TEST_RR addw, 0x2, 0x7777777700000001, 0x8888888800000001
    TEST_RR subw, 0x7fffffff, 0x80000000, 1
    TEST_RR subw, 0xffffffffffffffff, 0, 1
    TEST_RR subw, 0, 0x1234567800000000, 0
    TEST_RR sllw, 0xffffffff80000000, 1, 31
    TEST_RR sllw, 1, 1, 32                /* only rs2[4:0] counts */
    TEST_RR sllw, 2, 1, 33
    TEST_RR sllw, 0xffffffffffff0000, 0xffffffff, 16
    TEST_RR srlw, 1, 0x80000000, 31
    TEST_RR srlw, 0xffffffff80000000, 0x80000000, 32
    TEST_RR srlw, 0x7fffffff, 0xffffffffffffffff, 33
    TEST_RR srlw, 0xffff, 0xabcdef00ffff0000, 16
    TEST_RR sraw, 0xffffffffffffffff, 0x80000000, 31
    TEST_RR sraw, 0xffffffff80000000, 0x80000000, 64
    TEST_RR sraw, 0xffffffffc0000000, 0x80000000, 33
    TEST_RR sraw, 0x7fff, 0x000000007fff0000, 16
    DONE

/* ------------------------------------------------------------------ */
    SECTION "x0"
    li      a0, 5
    addi    x0, a0, 1
    lui     x0, 0x12345
    auipc   x0, 0x1
    add     x0, a0, a0
    la      a1, load_data
    ld      x0, 0(a1)
    slli    x0, a0, 3
    mv      a0, x0
    CHECK   0
    jal     x0, 1f                  /* jal/jalr with rd = x0 */
1:  la      t0, 2f
    jalr    x0, 0(t0)
2:  mv      a0, zero
    CHECK   0
    /* x0 as a source reads zero even right after a "write" */
    li      t0, 77
    addi    x0, t0, 0
    add     a0, x0, t0
    CHECK   77
    DONE

/* ------------------------------------------------------------------ */
    SECTION "fence"
    /* ordering only; on a single hart these must simply execute */
    fence
    fence   rw, rw
    fence   r, r
    fence   w, w
    fence   i, o
    fence   iorw, iorw
    fence.tso
    li      a0, 1
    CHECK   1
    DONE

    TESTS_END

/* a0 = a0 * 2 + 1, via shifts; returns with plain jalr */
double_plus_one:
    slli    a0, a0, 1
    addi    a0, a0, 1
    jalr    x0, 0(ra)

    .section .rodata
    .balign 8
load_data:
    .byte   0x80, 0x01, 0x7f, 0xff, 0x34, 0x12, 0xcd, 0xab
    .byte   0x78, 0x56, 0x34, 0x12, 0xf0, 0xde, 0xbc, 0x9a

    .bss
    .balign 8
store_buf:
    .space  32
