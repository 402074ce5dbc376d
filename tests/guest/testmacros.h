/*
 * testmacros.h - check macros shared by the assembly test programs.
 *
 * Conventions while a test runs:
 *   s11  number of the current check (counts up from 1 over the program)
 *   s10  name of the current section (a string)
 *   a0   the value a CHECK compares; t6 is clobbered by CHECK
 *
 * On a mismatch the program prints
 *   FAIL: <prog> check <n> (<section>): got 0x..., expected 0x...
 * and exits with status n (capped at 254; 255 is the unexpected-trap status).
 * Sections print "<prog>: <section> ok" when they finish, and the program
 * prints "PASS" at the end and returns 0 from main.
 *
 * Usage:
 *     TESTS_BEGIN "rv64i"          (this is main's prologue)
 *     SECTION "branches"
 *       ... li a0, ...; CHECK 5 ...
 *     DONE
 *     TESTS_END                    (main's epilogue; emits check_failed too)
 */

/* Start of main: keep ra/s0-s5/s10/s11 of the caller, name the program. */
.macro TESTS_BEGIN prog
    .pushsection .rodata
test_prog_name:
    .asciz  "\prog"
    .popsection
    .text
    .balign 4
    .globl  main
main:
    addi    sp, sp, -80
    sd      ra, 0(sp)
    sd      s10, 8(sp)
    sd      s11, 16(sp)
    sd      s0, 24(sp)
    sd      s1, 32(sp)
    sd      s2, 40(sp)
    sd      s3, 48(sp)
    sd      s4, 56(sp)
    sd      s5, 64(sp)
    li      s11, 0
.endm

.macro SECTION name
    .pushsection .rodata
.Lsection_name\@:
    .asciz  "\name"
    .popsection
    la      s10, .Lsection_name\@
.endm

/* Check number s11+1: a0 must equal the constant `exp`. */
.macro CHECK exp
    addi    s11, s11, 1
    li      t6, \exp
    beq     a0, t6, .Lcheck_ok\@
    j       check_failed
.Lcheck_ok\@:
.endm

/* Same, for a value held in another register. */
.macro CHECK_REG reg, exp
    mv      a0, \reg
    CHECK   \exp
.endm

/* Check that a0 equals register `reg` (for values only known at run time). */
.macro CHECK_EQ_REG reg
    addi    s11, s11, 1
    mv      t6, \reg
    beq     a0, t6, .Lcheck_ok\@
    j       check_failed
.Lcheck_ok\@:
.endm

/* Print "<prog>: <section> ok".  Clobbers caller-saved registers. */
.macro DONE
    la      a0, test_done_fmt
    la      a1, test_prog_name
    mv      a2, s10
    call    printf
.endm

/* End of main: print PASS, return 0; followed by the shared failure path. */
.macro TESTS_END
    la      a0, test_pass_msg
    call    puts
    li      a0, 0
    ld      ra, 0(sp)
    ld      s10, 8(sp)
    ld      s11, 16(sp)
    ld      s0, 24(sp)
    ld      s1, 32(sp)
    ld      s2, 40(sp)
    ld      s3, 48(sp)
    ld      s4, 56(sp)
    ld      s5, 64(sp)
    addi    sp, sp, 80
    ret

/* a0 = value seen, t6 = value expected, s11 = check number, s10 = section */
check_failed:
    mv      a4, a0                  /* printf(fmt, prog, n, section, got, expected) */
    mv      a5, t6
    la      a0, test_fail_fmt
    la      a1, test_prog_name
    mv      a2, s11
    mv      a3, s10
    call    printf
    mv      a0, s11
    li      t0, 254
    bleu    a0, t0, 1f
    mv      a0, t0
1:  call    exit

    .pushsection .rodata
test_done_fmt:
    .asciz  "%s: %s ok\n"
test_pass_msg:
    .asciz  "PASS"
test_fail_fmt:
    .asciz  "FAIL: %s check %d (%s): got 0x%lx, expected 0x%lx\n"
    .popsection
.endm
