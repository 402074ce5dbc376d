/*
 * htif.S - exit through the Berkeley HTIF "tohost" protocol instead of the
 * SiFive test finisher: writing (code << 1) | 1 to tohost ends the
 * simulation with exit status `code` (13 here).
 *
 * Only this program defines tohost/fromhost (8-byte aligned, in .tohost),
 * so an emulator can enable HTIF when it finds the symbols.  QEMU's virt
 * machine has no HTIF, so on QEMU this program would spin forever: the
 * manifest marks it as not run on QEMU.
 */
    .option norvc
    .text
    .globl main
main:
    addi    sp, sp, -16
    sd      ra, 0(sp)
    la      a0, msg
    call    puts
    li      t0, (13 << 1) | 1       /* HTIF exit, code 13 */
    la      t1, tohost
    fence   rw, rw                  /* the UART output comes first */
    sd      t0, 0(t1)
1:  wfi
    j       1b

    .section .rodata
msg:
    .asciz  "htif: exiting with status 13 through tohost"

    .section .tohost, "aw", @progbits
    .balign 64
    .globl  tohost
tohost:
    .dword  0
    .balign 64
    .globl  fromhost
fromhost:
    .dword  0
