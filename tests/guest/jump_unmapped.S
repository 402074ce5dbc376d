/*
 * jump_unmapped.S - a guest that can make no progress: it removes its trap
 * handler (mtvec = 0, where nothing is mapped) and jumps to an unmapped
 * address.  The instruction fetch faults, the trap goes to 0x0, which cannot
 * be fetched either, and so on forever.  An emulator must notice the loop
 * and stop (polyhart: exit status 125, naming the trap and the handler
 * address) rather than spin.
 *
 * Not in manifest.txt: it never exits by itself, so it has no exit status
 * to compare (QEMU spins forever).  tests/cli.rs runs it.
 */
    .option norvc
    .text
    .globl main
main:
    la      a0, msg
    call    puts
    csrw    mtvec, zero
    li      t0, 0x200
    jr      t0

    .section .rodata
msg:
    .asciz  "jump_unmapped: jumping to 0x200 with mtvec = 0"
