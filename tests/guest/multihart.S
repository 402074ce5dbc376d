/*
 * multihart.S - 4 harts (QEMU: -smp 4) updating shared memory.
 *
 * Every hart (crt0 calls secondary_main on harts 1..3 once hart 0 has
 * cleared .bss) adds 1 to a shared counter 1000 times with amoadd.w,
 * another 1000 times with an lr.w/sc.w loop, and sets its bit in a
 * check-in mask with amoor.w.  Hart 0 does the same, then waits (for a
 * bounded number of polls) until both counters reach 1000 * NHARTS and all
 * NHARTS bits are in, and prints the totals.  The other harts park in wfi.
 */
#include "testmacros.h"

    .option norvc

#define NHARTS      4
#define ITERATIONS  1000

    TESTS_BEGIN "multihart"

    SECTION "shared counters"
    csrr    a0, mhartid
    call    hart_work

    /* wait for everybody (bounded: ~50 million polls) */
    li      s0, 50000000
    li      s1, NHARTS * ITERATIONS
1:  la      t0, amo_counter
    lw      t1, 0(t0)
    lw      t2, 4(t0)               /* lrsc_counter */
    lw      t3, 8(t0)               /* checkin mask */
    bne     t1, s1, 2f
    bne     t2, s1, 2f
    li      t4, (1 << NHARTS) - 1
    beq     t3, t4, 3f
2:  addi    s0, s0, -1
    bnez    s0, 1b
3:  la      t0, amo_counter
    lw      a1, 0(t0)
    lw      a2, 4(t0)
    lw      a3, 8(t0)
    la      a0, totals_fmt
    call    printf
    la      t0, amo_counter
    lw      a0, 0(t0)
    CHECK   NHARTS * ITERATIONS
    lw      a0, 4(t0)
    CHECK   NHARTS * ITERATIONS
    lw      a0, 8(t0)
    CHECK   (1 << NHARTS) - 1
    DONE

    TESTS_END

/* Harts 1..: a0 = hartid; returning parks the hart (crt0). */
    .globl  secondary_main
secondary_main:
    addi    sp, sp, -16
    sd      ra, 0(sp)
    call    hart_work
    ld      ra, 0(sp)
    addi    sp, sp, 16
    ret

/* hart_work(a0 = hartid): the increments and the check-in (leaf). */
hart_work:
    la      t0, amo_counter
    li      t1, 1
    li      t2, ITERATIONS
1:  amoadd.w zero, t1, (t0)
    addi    t2, t2, -1
    bnez    t2, 1b

    addi    t0, t0, 4               /* lrsc_counter */
    li      t2, ITERATIONS
2:  lr.w    t3, (t0)
    addi    t3, t3, 1
    sc.w    t4, t3, (t0)
    bnez    t4, 2b                  /* lost the reservation: retry */
    addi    t2, t2, -1
    bnez    t2, 2b

    addi    t0, t0, 4               /* checkin mask */
    li      t1, 1
    sll     t1, t1, a0
    amoor.w zero, t1, (t0)
    ret

    .section .rodata
totals_fmt:
    .asciz  "multihart: amoadd total %d, lr/sc total %d, check-in mask 0x%x\n"

    .bss
    .balign 64
amo_counter:                        /* +0 amoadd, +4 lr/sc, +8 check-in */
    .space  64
