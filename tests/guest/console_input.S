/*
 * console_input.S - waits in wfi for a byte of console input, woken by the
 * UART's received-data interrupt through PLIC source 10, and exits with the
 * byte as its status.
 *
 * mie.MEIE is set and mstatus.MIE is not, so wfi wakes without a trap; the
 * program claims source 10 from hart 0's M context, reads the byte (which
 * lowers the UART's line) and completes the claim.  A claim that returns
 * anything but 10 exits with status 255.
 *
 * Not in manifest.txt: it needs input.  Without any it waits for ever: QEMU
 * waits, polyhart stops with status 125 (deadlock) once its input has
 * closed.  tests/cli.rs and the runner's unit tests run it.
 */
    .option norvc
    .text
    .globl main
main:
    la      a0, msg
    call    puts
    li      t0, 0x0c000000          /* PLIC: priorities */
    li      t1, 1
    sw      t1, 4*10(t0)            /* source 10: priority 1 */
    li      t0, 0x0c002000          /* context 0's enables */
    li      t1, 1 << 10
    sw      t1, 0(t0)
    li      t2, 0x0c200000          /* context 0: threshold, claim/complete */
    sw      zero, 0(t2)
    li      t3, 0x10000000          /* UART */
    li      t1, 1
    sb      t1, 1(t3)               /* IER: received data available */
    li      t1, 1 << 11
    csrw    mie, t1                 /* MEIE only */
1:  wfi
    csrr    t1, mip
    srli    t1, t1, 11
    andi    t1, t1, 1
    beqz    t1, 1b                  /* woken without MEIP: wait again */
    lw      a0, 4(t2)               /* claim */
    li      t1, 10
    bne     a0, t1, 2f
    lbu     s0, 0(t3)               /* RBR */
    sw      a0, 4(t2)               /* complete */
    csrw    mie, zero
    mv      a0, s0
    call    exit
2:  li      a0, 255
    call    exit

    .section .rodata
msg:
    .asciz  "console_input: waiting for a byte"
