/*
 * compressed.S - every RV64C instruction, written with explicit c. mnemonics.
 *
 * Also covers the alignment cases that trip up instruction fetch:
 *  - 32-bit instructions at addresses that are 2 mod 4,
 *  - branches and jumps (compressed and 32-bit) to 2-mod-4 targets,
 *  - a 32-bit instruction that straddles a 4 KiB page boundary,
 *  - link values of c.jalr (pc + 2) versus jalr (pc + 4),
 *  - c.ebreak taken by a local trap handler (mepc = its address, the
 *    handler resumes 2 bytes later).
 * Only x8..x15 (s0, s1, a0..a5) are usable with the 3-bit register fields.
 */
#include "testmacros.h"

    .option rvc

    TESTS_BEGIN "compressed"

/* ------------------------------------------------------------------ */
    SECTION "immediates"
    c.li    a0, 0
    CHECK   0
    c.li    a0, 31
    CHECK   31
    c.li    a0, -32
    CHECK   -32
    c.li    a0, 10
    c.addi  a0, 31
    CHECK   41
    c.addi  a0, -32
    CHECK   9
    c.lui   a0, 1
    CHECK   0x1000
    c.lui   a0, 0x1f
    CHECK   0x1f000
    c.lui   a0, 0xfffff             /* nzimm = -1: sign-extended */
    CHECK   0xfffffffffffff000
    c.lui   a0, 0xfffe0             /* the most negative value */
    CHECK   0xfffffffffffe0000
    /* c.addiw: 32-bit add, result sign-extended; imm 0 is sext.w */
    li      a0, 0x7fffffff
    c.addiw a0, 1
    CHECK   0xffffffff80000000
    li      a0, 0x1234567880000000
    c.addiw a0, 0
    CHECK   0xffffffff80000000
    li      a0, 0
    c.addiw a0, -32
    CHECK   -32
    c.nop
    c.li    a0, 7
    c.nop
    CHECK   7
    DONE

/* ------------------------------------------------------------------ */
    SECTION "shifts and logic"
    li      a0, 1
    c.slli  a0, 63
    CHECK   0x8000000000000000
    li      s1, 0xff
    c.slli  s1, 32
    CHECK_REG s1, 0xff00000000
    li      a0, 0x8000000000000000
    c.srli  a0, 63
    CHECK   1
    li      a0, 0x8000000000000000
    c.srli  a0, 32
    CHECK   0x80000000
    li      a0, 0x8000000000000000
    c.srai  a0, 63
    CHECK   -1
    li      a0, 0x8000000000000000
    c.srai  a0, 1
    CHECK   0xc000000000000000
    li      a0, 0x7000000000000000
    c.srai  a0, 60
    CHECK   7
    li      a0, 0x12345678
    c.andi  a0, 0x1f
    CHECK   0x18
    li      a0, 0x12345678
    c.andi  a0, -16                 /* imm sign-extends */
    CHECK   0x12345670
    li      a0, 0xff00
    li      a1, 0x0ff0
    c.xor   a0, a1
    CHECK   0xf0f0
    li      a0, 0xff00
    c.or    a0, a1
    CHECK   0xfff0
    li      a0, 0xff00
    c.and   a0, a1
    CHECK   0x0f00
    li      s0, 10
    li      a5, 25
    c.sub   s0, a5
    CHECK_REG s0, -15
    DONE

/* ------------------------------------------------------------------ */
    SECTION "add/mv and word ops"
    li      a0, 40
    li      t0, 2
    c.add   a0, t0                  /* full 5-bit register fields */
    CHECK   42
    li      t3, 0x7fffffffffffffff
    li      t4, 1
    c.add   t3, t4
    CHECK_REG t3, 0x8000000000000000
    li      t5, 0x55
    c.mv    a0, t5
    CHECK   0x55
    c.mv    t6, a0
    CHECK_REG t6, 0x55
    li      a0, 0x7fffffff
    li      a1, 1
    c.addw  a0, a1
    CHECK   0xffffffff80000000
    li      a0, 0x1111111100000005
    li      a1, 0x2222222200000003
    c.addw  a0, a1
    CHECK   8
    li      a0, 0
    li      a1, 1
    c.subw  a0, a1
    CHECK   -1
    li      a0, 0x80000000
    li      a1, 1
    c.subw  a0, a1
    CHECK   0x7fffffff
    DONE

/* ------------------------------------------------------------------ */
    SECTION "loads and stores"
    la      s0, mem_buf
    li      a0, 0x0123456789abcdef
    c.sd    a0, 0(s0)
    li      a0, 0xfedcba9876543210
    c.sd    a0, 248(s0)             /* largest c.sd offset */
    c.ld    a1, 0(s0)
    CHECK_REG a1, 0x0123456789abcdef
    c.ld    a2, 248(s0)
    CHECK_REG a2, 0xfedcba9876543210
    c.lw    a3, 0(s0)               /* 0x89abcdef, sign-extended */
    CHECK_REG a3, 0xffffffff89abcdef
    c.lw    a4, 4(s0)
    CHECK_REG a4, 0x01234567
    li      a0, 0x80000001
    c.sw    a0, 124(s0)             /* largest c.sw offset */
    c.lw    a5, 124(s0)
    CHECK_REG a5, 0xffffffff80000001
    c.sw    a0, 4(s0)
    c.ld    a0, 0(s0)
    CHECK   0x8000000189abcdef

    /* stack-pointer relative forms, with a 512-byte frame */
    c.addi16sp sp, -512             /* most negative c.addi16sp */
    li      t0, 0x1122334455667788
    c.sdsp  t0, 0(sp)
    c.sdsp  t0, 504(sp)             /* largest c.sdsp offset */
    li      t1, 0xcafef00d
    c.swsp  t1, 252(sp)             /* largest c.swsp offset */
    c.ldsp  t2, 504(sp)
    CHECK_REG t2, 0x1122334455667788
    c.lwsp  t2, 252(sp)
    CHECK_REG t2, 0xffffffffcafef00d
    c.lwsp  t2, 4(sp)
    CHECK_REG t2, 0x11223344
    c.ldsp  t2, 0(sp)
    CHECK_REG t2, 0x1122334455667788
    /* c.addi4spn: rd' = sp + nzuimm */
    c.addi4spn a0, sp, 4
    sub     a0, a0, sp
    CHECK   4
    c.addi4spn a1, sp, 1020         /* largest */
    sub     a0, a1, sp
    CHECK   1020
    mv      s1, sp
    c.addi16sp sp, 496              /* largest positive */
    sub     a0, sp, s1
    CHECK   496
    c.addi16sp sp, 16
    DONE

/* ------------------------------------------------------------------ */
    SECTION "jumps and branches"
    li      a0, 0
    c.j     1f
    c.li    a0, 1                   /* skipped */
1:  CHECK   0

    li      a1, 0
    li      a0, 0
    c.beqz  a1, 2f                  /* taken */
    c.li    a0, 1
2:  CHECK   0
    li      a1, 5
    c.beqz  a1, 3f                  /* not taken */
    c.li    a0, 2
3:  CHECK   2
    li      a1, 0x100000000         /* only upper bits set: non-zero */
    c.li    a0, 0
    c.bnez  a1, 4f                  /* taken */
    c.li    a0, 3
4:  CHECK   0
    c.li    a1, 0
    c.bnez  a1, 5f                  /* not taken */
    c.li    a0, 4
5:  CHECK   4

    /* backward c.bnez loop */
    c.li    a0, 0
    c.li    a1, 10
6:  c.addi  a0, 2
    c.addi  a1, -1
    c.bnez  a1, 6b
    CHECK   20

    /* c.jr and c.jalr, link = address of c.jalr + 2 */
    la      t0, 7f
    c.li    a0, 0
    c.jr    t0
    c.li    a0, 1
7:  CHECK   0
    la      t1, add_three
    c.li    a0, 4
    la      s1, 8f
8:  c.jalr  t1                      /* ra = 8b + 2 */
    CHECK   7
    mv      a0, ra
    addi    s1, s1, 2
    CHECK_EQ_REG s1
    la      ra, add_three           /* c.jalr ra: jumps to the old ra */
    c.li    a0, 1
    la      s1, 11f
11: c.jalr  ra
    CHECK   4
    mv      a0, ra
    addi    s1, s1, 2
    CHECK_EQ_REG s1
    la      t1, add_three
    la      s1, 9f
9:  jalr    ra, 0(t1)               /* 32-bit (may be at either alignment) */
    mv      a0, ra
    addi    s1, s1, 4
    CHECK_EQ_REG s1
    DONE

/* ------------------------------------------------------------------ */
    SECTION "2-mod-4 addresses"
    .balign 4
    c.li    a0, 1
    .option push
    .option norvc
misaligned32:                       /* 2 mod 4: a 32-bit instruction */
    addi    a0, a0, 100
    lui     a1, 0x12345             /* and the next one too */
    .option pop
    CHECK   101
    CHECK_REG a1, 0x12345000
    la      a0, misaligned32
    andi    a0, a0, 3
    CHECK   2                       /* (the layout really is 2 mod 4) */

    /* c.j to a 2-mod-4 target */
    .balign 4
    c.li    a0, 0
    c.j     target_c_j              /* at 2 mod 4 */
    c.li    a0, 9
    c.nop
    c.nop
target_c_j:                         /* 2 (c.li) + 2 (c.j) + 2 + 2 + 2 = 10: 2 mod 4 */
    c.addi  a0, 5
    CHECK   5

    /* a 32-bit beq to a 2-mod-4 target */
    .balign 4
    .option push
    .option norvc
    li      a0, 0
    beq     zero, zero, target_beq
    li      a0, 1
    .option pop
    c.nop
target_beq:                         /* 4 + 4 + 4 + 2 = 14: 2 mod 4 */
    .option push
    .option norvc
    addi    a0, a0, 6
    .option pop
    CHECK   6
    la      a0, target_beq
    andi    a0, a0, 3
    CHECK   2

    /* jalr (32-bit) to a 2-mod-4 function whose code mixes sizes */
    la      t0, odd_function
    andi    a0, t0, 3
    CHECK   2
    li      a0, 10
    jalr    ra, 0(t0)
    CHECK   0x1000

    /*
     * A 32-bit instruction that straddles a 4 KiB page boundary.  The code
     * is copied into .bss so that it ends up at page offset 0xffa without
     * padding the ELF file with 4 KiB of alignment.
     */
    la      t0, straddle_buf
    li      t1, 0x1000
    add     t0, t0, t1
    li      t1, -0x1000
    and     t0, t0, t1              /* t0 = first page boundary inside */
    addi    s1, t0, -6              /* copy destination: page offset 0xffa */
    la      t1, straddle_template
    la      t2, straddle_template_end
    mv      t3, s1
10: lh      t4, 0(t1)
    sh      t4, 0(t3)
    addi    t1, t1, 2
    addi    t3, t3, 2
    bltu    t1, t2, 10b
    fence.i
    li      a0, 1
    jalr    ra, 0(s1)
    CHECK   42
    li      t0, 0xfff
    and     a0, s1, t0
    CHECK   0xffa
    DONE

/* ------------------------------------------------------------------ */
    SECTION "c.ebreak"
    la      t0, local_trap
    csrrw   s1, mtvec, t0
    la      t0, trap_record
    sd      zero, 0(t0)
    sd      zero, 8(t0)
    c.li    a0, 0
ebreak_site:
    c.ebreak
    c.li    a0, 3                   /* resumed here, 2 bytes later */
    csrw    mtvec, s1
    CHECK   3
    la      t0, trap_record
    ld      a0, 0(t0)               /* mcause: breakpoint */
    CHECK   3
    ld      a0, 8(t0)               /* mepc: the c.ebreak itself */
    la      t1, ebreak_site
    CHECK_EQ_REG t1
    DONE

    TESTS_END

/* a0 += 3, entered by c.jalr/jalr */
    .balign 2
add_three:
    c.addi  a0, 3
    c.jr    ra

/* Starts at 2 mod 4: a0 = (a0 + 6) << 8, mixing 16/32-bit code. */
    .balign 4
    c.nop
odd_function:
    c.addi  a0, 6
    .option push
    .option norvc
    slli    a0, a0, 8               /* 32-bit, at 0 mod 4 */
    .option pop
    c.nop
    .option push
    .option norvc
    addi    a0, a0, 0               /* 32-bit, at 2 mod 4 */
    .option pop
    c.jr    ra

/* Records mcause/mepc and resumes after the 2-byte c.ebreak. */
    .balign 4
local_trap:
    csrr    t0, mcause
    la      t1, trap_record
    sd      t0, 0(t1)
    csrr    t0, mepc
    sd      t0, 8(t1)
    addi    t0, t0, 2
    csrw    mepc, t0
    mret

/*
 * Copied so that it starts at page offset 0xffa: the 32-bit addiw then
 * occupies 0xffe..0x1001, its halves on two different pages.
 */
    .balign 2
straddle_template:
    c.li    a0, 5                   /* 0xffa */
    c.nop                           /* 0xffc */
    .option push
    .option norvc
    addiw   a0, a0, 37              /* 0xffe .. 0x1001 */
    .option pop
    c.jr    ra                      /* next page, offset 2 */
straddle_template_end:

    .bss
    .balign 8
trap_record:
    .space  16
mem_buf:
    .space  256
    .balign 16
straddle_buf:
    .space  4096 + 16
