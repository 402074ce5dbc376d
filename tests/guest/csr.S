/*
 * csr.S - Zicsr instructions and the machine-mode CSRs a bare-metal program
 * relies on.
 *
 *  - all six CSR instructions on mscratch, including the forms that must
 *    not write (csrrs/csrrc with rs1 = x0, csrrsi/csrrci with uimm = 0) and
 *    the read-less csrw (rd = x0)
 *  - mhartid, the I/M/A/C bits of misa, the M-level bits of mie are writable
 *  - mtvec: direct and vectored mode read back, reserved modes (2, 3) are
 *    not accepted, and in vectored mode an interrupt goes to base + 4*cause
 *    while an exception goes to base
 *  - cycle/instret/time (and the m-counters) advance.  Only properties are
 *    printed: QEMU without -icount derives minstret/mcycle from host ticks,
 *    so their deltas are not reproducible there.  (Under -icount shift=0,
 *    QEMU's minstret delta around 100 instructions is exactly 101.)
 */
#include "testmacros.h"

    .option norvc

#define MSIP0   0x2000000

    TESTS_BEGIN "csr"

/* ------------------------------------------------------------------ */
    SECTION "mscratch"
    li      t0, 0x0123456789abcdef
    csrw    mscratch, t0
    csrr    a0, mscratch
    CHECK   0x0123456789abcdef
    li      t1, 0x5555
    csrrw   a0, mscratch, t1        /* returns the old value */
    CHECK   0x0123456789abcdef
    csrr    a0, mscratch
    CHECK   0x5555
    li      t1, 0xf00a
    csrrs   a0, mscratch, t1        /* set bits */
    CHECK   0x5555
    csrr    a0, mscratch
    CHECK   0xf55f
    li      t1, 0x0f0f
    csrrc   a0, mscratch, t1        /* clear bits */
    CHECK   0xf55f
    csrr    a0, mscratch
    CHECK   0xf050
    csrrwi  a0, mscratch, 0x1f      /* immediate forms: 5-bit zero-extended */
    CHECK   0xf050
    csrr    a0, mscratch
    CHECK   0x1f
    csrrci  a0, mscratch, 0x3
    CHECK   0x1f
    csrrsi  a0, mscratch, 0x10
    CHECK   0x1c
    csrr    a0, mscratch
    CHECK   0x1c
    li      t0, -1
    csrw    mscratch, t0
    csrrs   a0, mscratch, x0        /* rs1 = x0: read only */
    CHECK   -1
    csrrc   a0, mscratch, x0
    CHECK   -1
    csrrsi  a0, mscratch, 0
    CHECK   -1
    csrrci  a0, mscratch, 0
    csrr    a0, mscratch
    CHECK   -1
    csrrwi  a0, mscratch, 0         /* csrrwi with 0 does write */
    CHECK   -1
    csrr    a0, mscratch
    CHECK   0
    li      t0, 77
    csrrw   x0, mscratch, t0        /* rd = x0 */
    csrr    a0, mscratch
    CHECK   77
    /* rd == rs1 */
    li      a0, 88
    csrrw   a0, mscratch, a0
    CHECK   77
    csrr    a0, mscratch
    CHECK   88
    csrw    mscratch, zero
    DONE

/* ------------------------------------------------------------------ */
    SECTION "ids"
    csrr    a0, mhartid
    CHECK   0
    csrr    s0, misa
    /* print I, M, A, C and MXL; the other extension bits vary between
       machines and are deliberately not shown */
    la      a0, misa_fmt
    srli    a1, s0, 8
    andi    a1, a1, 1
    srli    a2, s0, 12
    andi    a2, a2, 1
    andi    a3, s0, 1
    srli    a4, s0, 2
    andi    a4, a4, 1
    srli    a5, s0, 62
    call    printf
    li      t0, (1 << 8) | (1 << 12) | (1 << 0) | (1 << 2)
    and     a0, s0, t0
    CHECK   (1 << 8) | (1 << 12) | (1 << 0) | (1 << 2)
    srli    a0, s0, 62
    CHECK   2                       /* MXL = 64-bit */
    /* mie: which interrupt enable bits stick (mstatus.MIE is off) */
    li      t0, -1
    csrw    mie, t0
    csrr    s1, mie
    csrw    mie, zero
    /* only the M-level bits are printed: which S/H-level bits exist
       depends on the extensions the machine has (QEMU 7.2 shows 0x3eee) */
    la      a0, mie_fmt
    srli    a1, s1, 3
    andi    a1, a1, 1
    srli    a2, s1, 7
    andi    a2, a2, 1
    srli    a3, s1, 11
    andi    a3, a3, 1
    call    printf
    li      t0, 0x888
    and     a0, s1, t0
    CHECK   0x888                   /* MSIE, MTIE, MEIE at least */
    DONE

/* ------------------------------------------------------------------ */
    SECTION "mtvec"
    csrr    s1, mtvec               /* crt0's handler, restored below */
    la      t0, vec_table
    csrw    mtvec, t0               /* direct */
    csrr    a0, mtvec
    CHECK_EQ_REG t0
    ori     t1, t0, 1               /* vectored */
    csrw    mtvec, t1
    csrr    a0, mtvec
    CHECK_EQ_REG t1
    ori     t2, t0, 2               /* reserved mode */
    csrw    mtvec, t2
    csrr    s0, mtvec
    ori     t2, t0, 3               /* reserved mode */
    csrw    mtvec, t2
    csrr    t3, mtvec
    la      a0, mtvec_fmt
    andi    a1, s0, 3
    andi    a2, t3, 3
    call    printf

    /* vectored mode: an exception goes to the base */
    la      t0, vec_table
    ori     t0, t0, 1
    csrw    mtvec, t0
    la      t0, vec_hits
    sd      zero, 0(t0)
    ecall
    la      t0, vec_hits
    ld      a0, 0(t0)
    CHECK   0x1                     /* entry 0 */
    csrr    a0, mcause
    CHECK   11

    /* ... and a machine software interrupt to base + 4 * 3 */
    la      t0, vec_hits
    sd      zero, 0(t0)
    li      t0, 8                   /* MSIE */
    csrw    mie, t0
    li      t1, MSIP0
    li      t0, 1
    sw      t0, 0(t1)               /* pending, but mstatus.MIE = 0 */
    li      t2, 1000
1:  addi    t2, t2, -1              /* not taken while MIE = 0 */
    bnez    t2, 1b
    la      t0, vec_hits
    ld      a0, 0(t0)
    CHECK   0
    csrsi   mstatus, 8              /* MIE = 1: taken right away */
    nop
    nop
    csrci   mstatus, 8
    csrw    mie, zero
    la      t0, vec_hits
    ld      a0, 0(t0)
    CHECK   0x8                     /* entry 3 */
    csrr    a0, mcause
    CHECK   0x8000000000000003
    csrw    mtvec, s1
    DONE

/* ------------------------------------------------------------------ */
    SECTION "counters"
    /* each counter must advance over ~30000 instructions */
    rdcycle  s0
    rdinstret s1
    rdtime  s2
    csrr    s3, mcycle
    csrr    s4, minstret
    li      t0, 10000
1:  addi    t0, t0, -1
    nop
    bnez    t0, 1b
    rdcycle  t0
    sltu    a1, s0, t0
    rdinstret t0
    sltu    a2, s1, t0
    rdtime  t0
    sltu    a3, s2, t0
    csrr    t0, mcycle
    sltu    a4, s3, t0
    csrr    t0, minstret
    sltu    a5, s4, t0
    la      a0, counters_fmt
    mv      s5, a1
    and     s5, s5, a2
    and     s5, s5, a3
    and     s5, s5, a4
    and     s5, s5, a5
    call    printf
    mv      a0, s5
    CHECK   1

    /* time agrees with the CLINT's mtime (both are the same clock) */
    rdtime  s0
    li      t0, 0x200bff8
    ld      s1, 0(t0)
    rdtime  s2
    sltu    a0, s1, s0              /* mtime >= earlier time */
    CHECK   0
    sltu    a0, s2, s1              /* later time >= mtime */
    CHECK   0

    /* minstret around a block of 100 instructions: it advances; the exact
       delta is not printed (host-tick based on QEMU, see the top) */
    csrr    s0, minstret
    .rept 100
    addi    t0, t0, 1
    .endr
    csrr    s1, minstret
    sub     a0, s1, s0
    sltu    a0, zero, a0
    la      a1, yes_str
    la      a2, no_str
    bnez    a0, 2f
    mv      a1, a2
2:  la      a0, minstret_fmt
    call    printf
    DONE

    TESTS_END

/*
 * Vector table for vectored mode: entry n handles cause n (interrupts);
 * entry 0 gets all exceptions.  Each entry records 1 << n in vec_hits.
 */
    .balign 64
vec_table:
    j       vec_exception           /* 0 */
    j       vec_unexpected          /* 1 */
    j       vec_unexpected          /* 2 */
    j       vec_msi                 /* 3: machine software interrupt */
    j       vec_unexpected          /* 4 */
    j       vec_unexpected          /* 5 */
    j       vec_unexpected          /* 6 */
    j       vec_unexpected          /* 7: machine timer */
    j       vec_unexpected          /* 8 */
    j       vec_unexpected          /* 9 */
    j       vec_unexpected          /* 10 */
    j       vec_unexpected          /* 11: machine external */

vec_exception:                      /* only the ecall above comes here */
    csrw    mscratch, t0
    la      t0, vec_hits
    ld      t1, 0(t0)
    ori     t1, t1, 1
    sd      t1, 0(t0)
    csrr    t0, mepc
    addi    t0, t0, 4
    csrw    mepc, t0
    csrr    t0, mscratch
    mret

vec_msi:
    csrw    mscratch, t0
    la      t0, vec_hits
    ld      t1, 0(t0)
    ori     t1, t1, 8
    sd      t1, 0(t0)
    li      t0, MSIP0               /* acknowledge: clear msip */
    sw      zero, 0(t0)
    csrr    t0, mscratch
    mret

vec_unexpected:
    j       default_trap_entry

    .section .rodata
misa_fmt:
    .asciz  "misa: I=%lu M=%lu A=%lu C=%lu MXL=%lu\n"
mie_fmt:
    .asciz  "mie writable: MSIE=%lu MTIE=%lu MEIE=%lu\n"
mtvec_fmt:
    .asciz  "mtvec: modes 0 and 1 read back, mode 2 -> %lu, mode 3 -> %lu\n"
counters_fmt:
    .asciz  "advanced: cycle=%lu instret=%lu time=%lu mcycle=%lu minstret=%lu\n"
minstret_fmt:
    .asciz  "minstret advanced over 100 instructions: %s\n"
yes_str:
    .asciz  "yes"
no_str:
    .asciz  "no"

    .bss
    .balign 8
vec_hits:
    .space  8
