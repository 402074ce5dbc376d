/*
 * smc.S - self-modifying code.  Emulators that cache decoded or translated
 * code must notice stores to it (at the latest at fence.i).
 *
 *  1. patch a function that already ran, fence.i, call it again
 *  2. patch the very next instruction of the running code (same page, same
 *     straight-line block)
 *  3. a loop that rewrites an instruction of its own body, 100 times
 *  4. a loop that re-patches a function 1000 times
 *  5. code generated into .bss, run, regenerated, run again
 *  6. a 4-byte instruction replaced by two 2-byte ones (the instruction
 *     boundaries change)
 * Replacement instructions are copied from templates assembled below, so no
 * encodings are hand-written except the addi immediate field.
 */
#include "testmacros.h"

    .option norvc

/* encoding of addi a0, a0, 0; or in (imm << 20) for other immediates */
#define ADDI_A0_A0  0x00050513          /* addi a0, a0, 0 */

    TESTS_BEGIN "smc"

/* ------------------------------------------------------------------ */
    SECTION "patch a called function"
    call    patchable
    CHECK   1
    la      t0, patchable
    la      t1, tmpl_li_a0_2
    lw      t2, 0(t1)
    sw      t2, 0(t0)
    fence.i
    call    patchable
    CHECK   2
    DONE

/* ------------------------------------------------------------------ */
    SECTION "patch the next instruction"
    /* the store hits the instruction right after fence.i, on this page */
    la      t0, 1f
    la      t1, tmpl_li_a0_7
    lw      t2, 0(t1)
    li      a0, 0
    sw      t2, 0(t0)
    fence.i
1:  li      a0, 3                   /* replaced by li a0, 7 */
    CHECK   7
    /* the same, with the patched instruction a few instructions ahead */
    la      t0, 2f
    la      t1, tmpl_li_a0_2
    lw      t2, 0(t1)
    sw      t2, 0(t0)
    fence.i
    nop
    nop
2:  li      a0, 5                   /* replaced by li a0, 2 */
    CHECK   2
    DONE

/* ------------------------------------------------------------------ */
    SECTION "loop rewriting itself"
    li      s2, 0                   /* i */
    li      a0, 0
3:  addi    t2, s2, 1               /* patch: addi a0, a0, i + 1 */
    slli    t2, t2, 20
    li      t1, ADDI_A0_A0
    or      t1, t1, t2
    la      t0, 4f
    sw      t1, 0(t0)
    fence.i
4:  addi    a0, a0, 0               /* rewritten on every iteration */
    addi    s2, s2, 1
    li      t3, 100
    blt     s2, t3, 3b
    CHECK   5050                    /* 1 + 2 + ... + 100 */
    DONE

/* ------------------------------------------------------------------ */
    SECTION "re-patched function"
    li      s2, 0                   /* i = 0 .. 999 */
    li      s3, 0                   /* sum */
5:  slli    t2, s2, 20              /* add_imm: addi a0, a0, i */
    li      t1, ADDI_A0_A0
    or      t1, t1, t2
    la      t0, add_imm
    sw      t1, 0(t0)
    fence.i
    li      a0, 1
    call    add_imm                 /* a0 = 1 + i */
    add     s3, s3, a0
    addi    s2, s2, 1
    li      t3, 1000
    blt     s2, t3, 5b
    mv      a0, s3
    CHECK   500500                  /* sum of 1 + i, i < 1000 */
    DONE

/* ------------------------------------------------------------------ */
    SECTION "generated code in .bss"
    la      a0, code_buf
    la      a1, tmpl_gen1
    la      a2, tmpl_gen1_end
    call    copy_code
    fence.i
    li      a0, 10
    la      t0, code_buf
    jalr    ra, 0(t0)               /* (10 + 5) << 1 */
    CHECK   30
    la      a0, code_buf
    la      a1, tmpl_gen2
    la      a2, tmpl_gen2_end
    call    copy_code
    fence.i
    li      a0, 10
    la      t0, code_buf
    jalr    ra, 0(t0)               /* 0x123 */
    CHECK   0x123
    DONE

/* ------------------------------------------------------------------ */
    SECTION "instruction boundaries change"
    call    reshape                 /* li a0, 1 (4 bytes); ret */
    CHECK   1
    la      a0, reshape
    la      a1, tmpl_two_c
    la      a2, tmpl_two_c_end
    call    copy_code               /* c.li a0, 9; c.addi a0, 1 */
    fence.i
    call    reshape
    CHECK   10
    la      a0, reshape
    la      a1, tmpl_li_a0_2
    addi    a2, a1, 4
    call    copy_code               /* and back to one 4-byte li */
    fence.i
    call    reshape
    CHECK   2
    DONE

    TESTS_END

/* copy_code(dst = a0, src = a1, end = a2): halfword copy (2-byte aligned) */
copy_code:
1:  bgeu    a1, a2, 2f
    lh      t0, 0(a1)
    sh      t0, 0(a0)
    addi    a0, a0, 2
    addi    a1, a1, 2
    j       1b
2:  ret

/* The functions that get patched. */
patchable:
    li      a0, 1
    ret

add_imm:
    addi    a0, a0, 0
    ret

reshape:
    li      a0, 1
    ret

/* Templates: assembled but never executed in place. */
tmpl_li_a0_2:
    li      a0, 2
tmpl_li_a0_7:
    li      a0, 7
tmpl_gen1:
    addi    a0, a0, 5
    slli    a0, a0, 1
    ret
tmpl_gen1_end:
tmpl_gen2:
    li      a0, 0x123
    ret
tmpl_gen2_end:
    .option push
    .option rvc
tmpl_two_c:
    c.li    a0, 9
    c.addi  a0, 1
tmpl_two_c_end:
    .option pop

    .bss
    .balign 8
code_buf:
    .space  64
