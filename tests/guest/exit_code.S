/*
 * exit_code.S - a failure status must reach the host: prints one line and
 * exits through the test finisher with code 42 ((42 << 16) | 0x3333), so
 * the emulator's (and QEMU's) exit status is 42.
 */
    .option norvc
    .text
    .globl main
main:
    addi    sp, sp, -16
    sd      ra, 0(sp)
    la      a0, msg
    call    puts
    li      a0, 42
    call    exit                    /* runtime.c: writes 0x2a3333 */

    .section .rodata
msg:
    .asciz  "exit_code: exiting with status 42"
