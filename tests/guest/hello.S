/*
 * hello.S - the smallest useful test: print "hello" on the UART and exit 0
 * through the test finisher.  It drives the devices directly (no printf) so
 * it works even when little else does.
 */
    .option norvc
    .text
    .globl main
main:
    la      a0, msg
    li      a1, 0x10000000          /* UART base */
1:  lbu     a2, 0(a0)
    beqz    a2, 3f
2:  lbu     a3, 5(a1)               /* LSR */
    andi    a3, a3, 0x20            /* THRE */
    beqz    a3, 2b
    sb      a2, 0(a1)               /* THR */
    addi    a0, a0, 1
    j       1b
3:  li      a1, 0x100000            /* SiFive test finisher */
    li      a2, 0x5555              /* pass */
    sw      a2, 0(a1)
4:  wfi
    j       4b

    .section .rodata
msg:
    .asciz  "hello\n"
