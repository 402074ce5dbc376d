/*
 * triggers.c - Sdtrig debug triggers (RISC-V Debug Specification 1.0,
 * chapter 5) as a guest programs them: an execute, a load and a store
 * trigger (type 2, mcontrol) each raise a breakpoint exception before the
 * instruction or access, which then has not happened; a trigger for
 * U-mode does not fire in M-mode; writing tdata1 = 0 disables a trigger.
 *
 * M-mode triggers fire only while mstatus.MIE is set when tcontrol is
 * absent (Sdtrig 5.4), so the program sets MIE, with every interrupt
 * disabled in mie. Each guarded instruction is 4 bytes (norvc): the
 * handler resumes after it. mtval may hold the address or 0 (privileged
 * spec 3.1.16): the program checks it is one of the two.
 */
#include "runtime.h"

#define CSR_TSELECT 0x7a0
#define CSR_TDATA1  0x7a1
#define CSR_TDATA2  0x7a2

#define TYPE_MCONTROL (2UL << 60)
#define MC_M        (1UL << 6)
#define MC_U        (1UL << 3)
#define MC_EXECUTE  (1UL << 2)
#define MC_STORE    (1UL << 1)
#define MC_LOAD     (1UL << 0)

static volatile uint64_t data = 7;
static volatile uint64_t traps, cause, epc, tval;

void handle_trap(uint64_t mcause, uint64_t mepc, uint64_t mtval)
{
    traps++;
    cause = mcause;
    epc = mepc;
    tval = mtval;
    write_csr(mepc, mepc + 4);
}

static void arm(uint64_t tdata1, uint64_t tdata2)
{
    __asm__ volatile ("csrw 0x7a2, %0; csrw 0x7a1, %1" :: "r"(tdata2), "r"(tdata1) : "memory");
}

/* What the handler saw since `before` traps: the instruction at `pc`, an
   access (or fetch) at `addr`. */
static void report(const char *what, uint64_t before, uint64_t pc, uint64_t addr)
{
    int tval_ok = tval == 0 || tval == addr;
    printf("%s: traps %d cause %d at the instruction %d tval ok %d\n", what, (int)(traps - before), (int)cause,
           epc == pc, tval_ok);
}

int main(void)
{
    write_csr(mtvec, trap_entry);
    write_csr(mie, 0);
    set_csr(mstatus, 1UL << 3);
    write_csr(0x7a0, 0);
    printf("tselect 0 reads %d\n", (int)read_csr(0x7a0));

    /* Execute: the trigger's instruction does not run. */
    uint64_t flag = 0, at, before = traps;
    __asm__ volatile (".option push; .option norvc\n"
                      "la %1, 1f\n"
                      "csrw 0x7a2, %1\n"
                      "csrw 0x7a1, %2\n"
                      "1: li %0, 1\n"
                      "csrw 0x7a1, zero\n"
                      ".option pop"
                      : "+r"(flag), "=&r"(at) : "r"(TYPE_MCONTROL | MC_M | MC_EXECUTE) : "memory");
    report("execute", before, at, at);
    printf("execute: the instruction ran %d\n", (int)flag);

    /* Load: the destination keeps its value. */
    uint64_t loaded = 99;
    before = traps;
    arm(TYPE_MCONTROL | MC_M | MC_LOAD, (uint64_t)&data);
    __asm__ volatile (".option push; .option norvc\nla %1, 1f\n1: ld %0, 0(%2)\n.option pop"
                      : "+r"(loaded), "=&r"(at) : "r"(&data) : "memory");
    arm(0, 0);
    report("load", before, at, (uint64_t)&data);
    printf("load: destination %d\n", (int)loaded);

    /* Store: memory keeps its value. */
    before = traps;
    arm(TYPE_MCONTROL | MC_M | MC_STORE, (uint64_t)&data);
    __asm__ volatile (".option push; .option norvc\nla %0, 1f\n1: sd %1, 0(%2)\n.option pop"
                      : "=&r"(at) : "r"(42UL), "r"(&data) : "memory");
    arm(0, 0);
    report("store", before, at, (uint64_t)&data);
    printf("store: memory %d\n", (int)data);

    /* A trigger for U-mode only, and a disabled one, do not fire here. */
    before = traps;
    arm(TYPE_MCONTROL | MC_U | MC_LOAD | MC_STORE, (uint64_t)&data);
    data = data + 1;
    arm(0, (uint64_t)&data);
    data = data + 1;
    printf("u-mode and disabled triggers: traps %d data %d\n", (int)(traps - before), (int)data);
    return 0;
}
