/*
 * marker.S - the fast-forward marker (`slti zero, zero, 1`, a HINT with no
 * effect): prints a line, executes the marker, then runs exactly 2005
 * instructions to the test finisher's store, the last of them: `li t0,
 * 1000`, 1000 passes of `addi`/`bnez`, `li a0` (`lui` and `addw`), `li a1`
 * (one `lui`: its low bits are zero), `sw`. The block holding the store
 * goes on to the `j` after it, which polyhart runs before it stops (2006
 * in all). tests/plugins.rs counts them with `--fast-forward marker
 * --plugin insn`.
 */
    .option norvc
    .text
    .globl main
main:
    la      a0, msg
    call    puts
    slti    zero, zero, 1           /* the marker */
    li      t0, 1000
1:  addi    t0, t0, -1
    bnez    t0, 1b
    li      a0, 0x5555              /* test finisher: pass */
    li      a1, 0x100000
    sw      a0, 0(a1)
2:  j       2b

    .section .rodata
msg:
    .asciz  "marker: before the marker"
