/*
 * crt0.S - common start-up code for the polyhart guest test programs.
 *
 * Every hart starts here in M-mode (QEMU virt with -bios none jumps from the
 * reset ROM to 0x80000000 with a0 = mhartid, a1 = DTB; we read mhartid
 * ourselves and do not rely on a0/a1).
 *
 * Hart 0: set up its stack, clear .bss, install the default trap handler,
 *         release the other harts, call main() and exit with its result
 *         through the SiFive test finisher (runtime.c's exit()).
 *
 * Other harts: park in a wfi loop, unless the program defines the (weak)
 *         function secondary_main(hartid); then they wait for hart 0 to
 *         finish clearing .bss and call it on their own stack.
 */
    .section .text.init, "ax", @progbits
    .option norvc
    .globl _start
_start:
    csrr    s0, mhartid
    /* No interrupts and no stale handler until we are set up. */
    csrw    mie, zero
    la      t0, default_trap_entry
    csrw    mtvec, t0

    /* sp = __stack_top - hartid * __stack_size (harts >= __max_harts park) */
    li      t0, 8                   /* keep equal to __max_harts in link.ld */
    bgeu    s0, t0, park
    la      sp, __stack_top
    slli    t0, s0, 14              /* 16 KiB per hart */
    sub     sp, sp, t0

    bnez    s0, secondary

    /* hart 0: clear .bss (both ends are 16-byte aligned by link.ld) */
    la      t0, __bss_start
    la      t1, __bss_end
1:  bgeu    t0, t1, 2f
    sd      zero, 0(t0)
    sd      zero, 8(t0)
    addi    t0, t0, 16
    j       1b
2:
    /* Let secondaries that run code go (boot_done lives in .data, not .bss). */
    fence   rw, rw
    li      t0, 1
    la      t1, __boot_done
    sw      t0, 0(t1)

    call    main
    call    exit                    /* exit(main's return value); never returns */
    j       park

secondary:
    /* The address of secondary_main, 0 when the program does not define it.
       Loaded from a data word, because a pc-relative reference to an
       undefined weak symbol at address 0 is out of reach from 0x80000000. */
    la      t0, secondary_main_ptr
    ld      t1, 0(t0)
    beqz    t1, park
    la      t0, __boot_done
3:  lw      t2, 0(t0)
    beqz    t2, 3b
    fence   rw, rw
    mv      a0, s0
    jalr    t1
park:
    wfi
    j       park

/*
 * Default trap handler: any trap a test did not ask for is a failure.
 * Reports mcause/mepc/mtval and exits with status 255.
 */
    .text
    .balign 4
    .globl default_trap_entry
default_trap_entry:
    /* Use a fresh stack: this hart's stack top (sp may be broken). */
    csrr    t0, mhartid
    andi    t0, t0, 7
    slli    t0, t0, 14
    la      sp, __stack_top
    sub     sp, sp, t0
    csrr    a0, mcause
    csrr    a1, mepc
    csrr    a2, mtval
    call    __unexpected_trap       /* runtime.c; does not return */
    j       park

    .section .rodata
    .balign 8
secondary_main_ptr:
    .dword  secondary_main
    .weak   secondary_main

    .section .data
    .balign 4
    .globl  __boot_done
__boot_done:
    .word   0
